extension Forecaster {
    /// Re-detects the season(s) and refits the smoothing parameters on recent history only
    /// (at most `configuration.historyCapacity` values), minimising the mean absolute forecast
    /// error at `configuration.horizons`; then rebuilds the live state by replaying that history.
    ///
    /// Season detection proposes lengths from autocorrelation peaks of the detrended history
    /// (and, for a second season, of the history differenced at the first season); each
    /// candidate, as well as EWMA and Holt, is fitted on the first two thirds and scored on
    /// the last third, and the simplest within 0.5 % of the lowest error wins.
    ///
    /// Costs O(history × (candidates × search steps + longest season)); call it on a schedule,
    /// off the hot path. With too little history it keeps the current model.
    ///
    /// ```swift
    /// let model = forecaster.learnFromPatterns()
    /// print(model.kind, model.seasons)  // holtWinters [24]
    /// ```
    @discardableResult
    public mutating func learnFromPatterns() -> ForecastModel {
        self.observationsSinceLearning = 0
        let values = self.history.values()
        let learner = PatternLearner(
            values: values,
            horizons: self.configuration.horizons,
            setting: self.configuration.season,
            maximumSeason: self.configuration.effectiveMaximumSeason,
            allowsTwoSeasons: self.configuration.allowsTwoSeasons,
            previous: self.state == nil ? nil : self.model
        )
        guard let result = learner.learn() else { return self.model }
        let scorer = ReplayScorer(values: values, horizons: self.configuration.horizons)
        let maxHorizon = min(256, max(self.configuration.horizons.max() ?? 1, 1))
        guard let replay = scorer.finalState(result.structure, result.parameters, maxHorizon: maxHorizon) else {
            return self.model
        }
        self.state = replay.state
        self.learnedRMSE = replay.rmse
        self.shiftDetector = LevelShiftDetector()
        if let oneStep = replay.rmse.first, self.errorVariance == 0 || oneStep > 0 {
            self.errorVariance = oneStep * oneStep
        }
        return self.model
    }
}
