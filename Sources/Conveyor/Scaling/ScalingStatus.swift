import ConveyorForecasting

/// What a group's scaler knows now: its mode, the last interval's arrivals against the
/// forecast made for it, the forecast for the next interval, the worker count it set, its
/// latest decisions and how many it made. Read with ``PredictiveScaler/status(for:)`` (one
/// lock, no sampling, no forecasting beyond one step): cheap enough for a dashboard's timer.
///
/// ```swift
/// let status = try scaler.status(for: "io")
/// print(status.lastObserved, status.lastForecast ?? .nan, status.next?.upper ?? .nan)
/// for decision in status.recentDecisions { print(status.now - decision.time, decision.from, "→", decision.to, decision.reason) }
/// ```
public struct ScalingStatus: Sendable, Hashable {
    /// The group.
    public var group: String
    /// The scaler clock's reading when the status was taken (compare with ``ScalingDecision/time``).
    public var now: Duration
    /// The group's mode.
    public var mode: ScalingMode
    /// The sampling interval: arrivals and forecasts are tasks per interval.
    public var interval: Duration
    /// The group's scaling bounds.
    public var minWorkers: Int
    public var maxWorkers: Int
    /// Intervals sampled so far (warm-up history included).
    public var intervals: Int
    /// Tasks that arrived in the last sampled interval (0 before any).
    public var lastObserved: Double
    /// The one-interval-ahead forecast that was made for that interval (`nil` before the
    /// forecaster could forecast).
    public var lastForecast: Double?
    /// The forecast for the coming interval, with its prediction interval (`nil` before any
    /// observation).
    public var next: Forecast?
    /// The worker count the scaler set last (active), or would have set (forecast-only);
    /// `nil` before its first decision.
    public var decidedWorkers: Int?
    /// The observed mean service time the sizing uses (`nil` before one is known).
    public var meanServiceTime: Duration?
    /// 1 − WAPE of the one-interval-ahead forecasts so far (`nil` while undefined).
    public var nextIntervalAccuracy: Double?
    /// The latest decisions, oldest first (at most ``PredictiveScaler/recentDecisionLimit``).
    public var recentDecisions: [ScalingDecision]
    /// Decisions made so far that added workers, and those that removed workers.
    public var scaleOuts: Int
    public var scaleIns: Int
    /// Of those, the ones that were applied.
    public var appliedScaleOuts: Int
    public var appliedScaleIns: Int
}
