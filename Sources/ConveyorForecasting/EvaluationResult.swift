/// The outcome of a ``RollingEvaluation``: every prediction, the scored rows, and the
/// accuracies of the forecaster and of the baselines on exactly those rows.
///
/// A row is scored when it is at or after `max(horizon, warmup, longest final season)` and
/// its actual value, its prediction and the values the baselines copy are all present.
/// The seasonal-naive baselines use the season lengths of the final model.
///
/// ```swift
/// let result = try RollingEvaluation(horizon: 1).run(values)
/// for row in result.scoredRows { print(row, result.actuals[row]!, result.predictions[row]!) }
/// print(result.accuracy.value ?? .nan)
/// ```
public struct EvaluationResult: Sendable {
    /// A season choice made at a learning point.
    public struct SeasonChange: Sendable, Hashable {
        /// Index of the last row seen when the choice was made.
        public var afterRow: Int
        /// The season lengths chosen (empty: none).
        public var seasons: [Int]
    }

    /// A seasonal-naive baseline: each row predicted by the value one season earlier.
    public struct SeasonalBaseline: Sendable, Hashable {
        /// The season length in rows.
        public var season: Int
        /// Its accuracy on the scored rows.
        public var accuracy: ForecastAccuracy
    }

    /// The evaluation horizon.
    public let horizon: Int
    /// The input values (`nil` = missing).
    public let actuals: [Double?]
    /// The prediction for each row, made `horizon` rows earlier (`nil` where none was made).
    public let predictions: [Double?]
    /// The rows on which all accuracies are computed.
    public let scoredRows: [Int]
    /// The model in use at the end of the run.
    public let model: ForecastModel
    /// Season choices over the run, in order (the first learning, then every change).
    public let seasonChanges: [SeasonChange]
    /// How many times `learnFromPatterns()` ran.
    public let learningCount: Int

    /// The forecaster's accuracy on the scored rows.
    public let accuracy: ForecastAccuracy
    /// The naive baseline (value `horizon` rows earlier) on the scored rows.
    public let naiveAccuracy: ForecastAccuracy
    /// Seasonal-naive baselines, one per season of the final model, on the scored rows.
    public let seasonalNaive: [SeasonalBaseline]

    init(
        horizon: Int,
        actuals: [Double?],
        predictions: [Double?],
        scoredRows: [Int],
        model: ForecastModel,
        seasonChanges: [SeasonChange],
        learningCount: Int
    ) {
        self.horizon = horizon
        self.actuals = actuals
        self.predictions = predictions
        self.scoredRows = scoredRows
        self.model = model
        self.seasonChanges = seasonChanges
        self.learningCount = learningCount
        var accuracy = ForecastAccuracy()
        var naive = ForecastAccuracy()
        var seasonal = model.seasons.map { SeasonalBaseline(season: $0, accuracy: ForecastAccuracy()) }
        for row in scoredRows {
            guard let actual = actuals[row], let predicted = predictions[row] else { continue }
            accuracy.record(actual: actual, predicted: predicted)
            if let earlier = actuals[row - horizon] { naive.record(actual: actual, predicted: earlier) }
            for i in seasonal.indices {
                if let earlier = actuals[row - seasonal[i].season] {
                    seasonal[i].accuracy.record(actual: actual, predicted: earlier)
                }
            }
        }
        self.accuracy = accuracy
        self.naiveAccuracy = naive
        self.seasonalNaive = seasonal
    }

    /// The forecaster's accuracy over consecutive windows of `window` scored rows
    /// (the last window may be shorter); `nil` for a window whose actuals are all zero.
    ///
    /// ```swift
    /// let weekly = result.rollingAccuracy(window: 168)
    /// ```
    public func rollingAccuracy(window: Int) -> [Double?] {
        guard window >= 1 else { return [] }
        var result: [Double?] = []
        var index = 0
        while index < self.scoredRows.count {
            var accuracy = ForecastAccuracy()
            for row in self.scoredRows[index..<min(index + window, self.scoredRows.count)] {
                if let actual = self.actuals[row], let predicted = self.predictions[row] {
                    accuracy.record(actual: actual, predicted: predicted)
                }
            }
            result.append(accuracy.value)
            index += window
        }
        return result
    }
}
