import Foundation

/// An online load forecaster: additive Holt-Winters with automatically detected seasons.
///
/// Feed it one value per interval with ``observe(_:)`` (O(1) per value); ask for the next
/// 1…H intervals with ``forecast(horizon:)``; call ``learnFromPatterns()`` on a schedule
/// (never on a hot path) to re-detect the season(s) and refit the smoothing parameters on
/// bounded recent history.
///
/// The model is Holt-Winters in error-correction form with a level, a damped trend, zero,
/// one or two additive seasons and an AR(1) correction of the last one-step error. Before
/// the first `learnFromPatterns()`, and whenever no season is found, it is EWMA or Holt.
/// A CUSUM on the one-step errors moves the level at once after a sustained level shift.
///
/// ```swift
/// var forecaster = try Forecaster(configuration: .init(horizons: [1, 6]))
/// for (i, arrivals) in arrivalsPerSecond.enumerated() {
///     forecaster.observe(arrivals)
///     if (i + 1) % 512 == 0 { forecaster.learnFromPatterns() }  // e.g. from a background task
/// }
/// let next = try forecaster.forecast(horizon: 6)
/// print(next[5].value, next[5].lower, next[5].upper)
/// print(forecaster.model.seasons)  // e.g. [24, 168]
/// ```
public struct Forecaster: Sendable {
    /// The configuration this forecaster was created with.
    public let configuration: Configuration

    /// The live model; `nil` until the first finite value.
    var state: HoltWintersState?
    /// Recent values for `learnFromPatterns()`.
    var history: HistoryBuffer
    /// Exponentially weighted mean of squared one-step errors.
    var errorVariance: Double
    /// Root-mean-square errors by horizon (index h − 1) measured by the last learning.
    var learnedRMSE: [Double]
    /// Flags sustained level shifts in the one-step errors.
    var shiftDetector: LevelShiftDetector
    /// Normal quantile for the interval coverage.
    let intervalQuantile: Double

    /// Values observed so far, missing ones included.
    public private(set) var observationCount: Int
    /// Values observed since the last `learnFromPatterns()` (or since creation).
    public internal(set) var observationsSinceLearning: Int

    /// Creates a forecaster.
    ///
    /// - Throws: ``ForecastError/invalidConfiguration(_:)`` (or a more specific case)
    ///   naming the first out-of-range setting.
    public init(configuration: Configuration = Configuration()) throws(ForecastError) {
        try configuration.validate()
        var configuration = configuration
        if case .fixed(let periods) = configuration.season {
            configuration.season = .fixed(periods.sorted())
        }
        self.configuration = configuration
        self.state = nil
        self.history = HistoryBuffer(capacity: configuration.historyCapacity)
        self.errorVariance = 0
        self.learnedRMSE = []
        self.shiftDetector = LevelShiftDetector()
        self.intervalQuantile = Self.normalQuantile(0.5 + configuration.intervalCoverage / 2)
        self.observationCount = 0
        self.observationsSinceLearning = 0
    }

    /// The model currently in use.
    public var model: ForecastModel {
        guard let state = self.state else {
            return ForecastModel(seasons: [], hasTrend: false, parameters: .initial(seasons: 0))
        }
        return ForecastModel(seasons: state.periods, hasTrend: state.hasTrend, parameters: state.parameters)
    }

    /// Feeds the value of the next interval. O(1).
    ///
    /// A non-finite value (NaN, ±infinity) is treated as a missing interval, like ``observeMissing()``.
    public mutating func observe(_ value: Double) {
        let finite = value.isFinite
        self.history.append(finite ? value : .nan)
        self.observationCount += 1
        self.observationsSinceLearning += 1
        guard var state = self.state else {
            if finite {
                self.state = HoltWintersState(
                    periods: [],
                    hasTrend: false,
                    parameters: .initial(seasons: 0),
                    level: value,
                    trend: 0,
                    seasonal: []
                )
            }
            return
        }
        // Release the stored state first so the update mutates uniquely referenced storage.
        self.state = nil
        let error = state.update(finite ? value : .nan)
        if finite {
            if let shift = self.shiftDetector.observe(error: error, sigma: self.errorVariance.squareRoot()) {
                state.shiftLevel(by: shift)
            }
            let weight = 1 / Double(min(self.observationCount, 200))
            self.errorVariance += weight * (error * error - self.errorVariance)
        }
        self.state = state
    }

    /// Records that the next interval's value is missing: the model advances on its own forecast.
    public mutating func observeMissing() {
        self.observe(.nan)
    }

    /// Forecasts the next `horizon` intervals (steps 1…`horizon`), each with a prediction interval.
    ///
    /// - Throws: ``ForecastError/invalidHorizon(_:)`` for `horizon < 1`,
    ///   ``ForecastError/noObservations`` before the first finite value.
    public func forecast(horizon: Int) throws(ForecastError) -> [Forecast] {
        guard horizon >= 1 else { throw .invalidHorizon(horizon) }
        guard let state = self.state else { throw .noObservations }
        return (1...horizon).map { self.makeForecast(step: $0, state: state) }
    }

    /// Forecasts the single interval `step` intervals ahead (1 = the next one).
    ///
    /// ```swift
    /// let sixAhead = try forecaster.forecast(step: 6).value
    /// ```
    public func forecast(step: Int) throws(ForecastError) -> Forecast {
        guard step >= 1 else { throw .invalidHorizon(step) }
        guard let state = self.state else { throw .noObservations }
        return self.makeForecast(step: step, state: state)
    }

    private func makeForecast(step: Int, state: HoltWintersState) -> Forecast {
        let value = state.forecast(step)
        let spread = self.intervalQuantile * self.standardError(step: step)
        return Forecast(step: step, value: value, lower: value - spread, upper: value + spread)
    }

    /// Standard error of the `step`-ahead forecast: the learned error growth by horizon,
    /// scaled to the current one-step error level (√step growth before any learning).
    func standardError(step: Int) -> Double {
        let oneStep = self.errorVariance.squareRoot()
        guard let first = self.learnedRMSE.first, first > 0, let last = self.learnedRMSE.last else {
            return oneStep * Double(step).squareRoot()
        }
        let ratio: Double
        if step <= self.learnedRMSE.count {
            ratio = self.learnedRMSE[step - 1] / first
        } else {
            ratio = last / first * (Double(step) / Double(self.learnedRMSE.count)).squareRoot()
        }
        return oneStep * ratio
    }

    /// The standard normal quantile for probability `p` in (0, 1), by bisection on `erf`.
    static func normalQuantile(_ p: Double) -> Double {
        var low = -10.0
        var high = 10.0
        for _ in 0..<100 {
            let middle = (low + high) / 2
            if 0.5 * (1 + erf(middle / 2.0.squareRoot())) < p { low = middle } else { high = middle }
        }
        return (low + high) / 2
    }
}
