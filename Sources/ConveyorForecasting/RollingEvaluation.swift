/// Rolling-origin evaluation of the ``Forecaster`` on a series, with naive and
/// seasonal-naive baselines on the same rows.
///
/// The forecaster runs online over the rows. After observing row `t` (and, on schedule,
/// calling `learnFromPatterns()`), it predicts row `t + horizon`. So the prediction for row
/// `t` is made from rows `0…t − horizon` only: season detection and refits see only the past.
///
/// Learning happens after `firstLearning` rows, then each time the row count doubles, until
/// it reaches `refitInterval`; from then on every `refitInterval` rows.
///
/// ```swift
/// let trace = try LoadTrace.load(contentsOf: "load.csv")
/// let evaluation = try RollingEvaluation(horizon: 6)
/// let result = evaluation.run(trace.counts)
/// print(result.accuracy.value ?? .nan, result.naiveAccuracy.value ?? .nan, result.model.seasons)
/// ```
public struct RollingEvaluation: Sendable {
    /// How many rows ahead each prediction is made.
    public var horizon: Int
    /// The forecaster's configuration (its `horizons` are set to `[horizon]`).
    public var configuration: Forecaster.Configuration
    /// Rows observed before the first `learnFromPatterns()`.
    public var firstLearning: Int
    /// Rows between refits once the doubling schedule reaches this interval.
    public var refitInterval: Int
    /// Rows never scored, whatever the horizon and season (the warm-up).
    public var warmup: Int

    /// Creates an evaluation.
    ///
    /// - Throws: ``ForecastError`` for a horizon below 1, a non-positive `firstLearning` or
    ///   `refitInterval`, a negative `warmup`, or an invalid configuration.
    public init(
        horizon: Int,
        configuration: Forecaster.Configuration = Forecaster.Configuration(),
        firstLearning: Int = 32,
        refitInterval: Int = 512,
        warmup: Int = 0
    ) throws(ForecastError) {
        guard horizon >= 1 else { throw .invalidHorizon(horizon) }
        guard firstLearning >= 1 else {
            throw .invalidConfiguration("firstLearning \(firstLearning) must be at least 1")
        }
        guard refitInterval >= 1 else {
            throw .invalidConfiguration("refitInterval \(refitInterval) must be at least 1")
        }
        guard warmup >= 0 else { throw .invalidConfiguration("warmup \(warmup) must not be negative") }
        var configuration = configuration
        configuration.horizons = [horizon]
        try configuration.validate()
        self.horizon = horizon
        self.configuration = configuration
        self.firstLearning = firstLearning
        self.refitInterval = refitInterval
        self.warmup = warmup
    }

    /// Whether the forecaster learns right after observing `count` rows.
    func learnsAfter(count: Int) -> Bool {
        if count >= self.refitInterval { return count % self.refitInterval == 0 }
        var point = self.firstLearning
        while point < count { point *= 2 }
        return point == count
    }

    /// Runs the evaluation over `values` (`nil` = missing interval).
    public func run(_ values: [Double?]) -> EvaluationResult {
        let n = values.count
        let h = self.horizon
        var predictions = [Double?](repeating: nil, count: n)
        var seasonChanges: [EvaluationResult.SeasonChange] = []
        var learningCount = 0
        // The configuration was validated in init, so this cannot fail; stay total anyway.
        guard var forecaster = try? Forecaster(configuration: self.configuration) else {
            return EvaluationResult(
                horizon: h, actuals: values, predictions: predictions, scoredRows: [],
                model: ForecastModel(seasons: [], hasTrend: false, parameters: .initial(seasons: 0)),
                seasonChanges: [], learningCount: 0)
        }
        var currentSeasons: [Int] = []
        for t in 0..<n {
            forecaster.observe(values[t] ?? .nan)
            if self.learnsAfter(count: t + 1) {
                let model = forecaster.learnFromPatterns()
                learningCount += 1
                if model.seasons != currentSeasons || seasonChanges.isEmpty {
                    currentSeasons = model.seasons
                    seasonChanges.append(.init(afterRow: t, seasons: model.seasons))
                }
            }
            if t + h < n, let forecast = try? forecaster.forecast(step: h) {
                predictions[t + h] = forecast.value
            }
        }
        let model = forecaster.model
        let start = max(h, self.warmup, model.seasons.max() ?? 0)
        var scored: [Int] = []
        if start < n {
            for t in start..<n {
                guard values[t] != nil, predictions[t] != nil, values[t - h] != nil,
                    model.seasons.allSatisfy({ values[t - $0] != nil })
                else { continue }
                scored.append(t)
            }
        }
        return EvaluationResult(
            horizon: h,
            actuals: values,
            predictions: predictions,
            scoredRows: scored,
            model: model,
            seasonChanges: seasonChanges,
            learningCount: learningCount
        )
    }
}
