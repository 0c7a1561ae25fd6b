/// One decision of a group's scaler, as published on ``PredictiveScaler/decisions``.
///
/// ```swift
/// for await decision in scaler.decisions {
///     print(decision.time, decision.group, decision.from, "→", decision.to, decision.reason,
///           decision.forecast, decision.observed, decision.applied)
/// }
/// ```
public struct ScalingDecision: Sendable, Hashable, Codable {
    /// Why the worker count changes.
    public enum Reason: String, Sendable, Hashable, Codable {
        /// The forecast (or, for an oracle, the known) load over the lead time needs more workers.
        case forecastLoad
        /// The recently observed load or the queue backlog needs more workers.
        case observedLoad
        /// The observed load and the forecast stayed low for ``GroupScaling/scaleInAfter`` intervals.
        case sustainedLowLoad
        /// The group was outside the scaler's bounds (or the policy is fixed at the maximum).
        case bounds
    }

    /// The scaler clock's reading when the decision was made.
    public var time: Duration
    public var group: String
    /// Workers before.
    public var from: Int
    /// Workers after (always within the group's scaling bounds).
    public var to: Int
    public var reason: Reason
    /// The arrivals per interval the decision provisioned for (the lead-time peak of the load estimate).
    public var forecast: Double
    /// The arrivals observed in the last interval.
    public var observed: Double
    /// Whether the decision was applied (`false` in ``ScalingMode/forecastOnly``, or when the resize failed).
    public var applied: Bool

    public init(
        time: Duration, group: String, from: Int, to: Int, reason: Reason, forecast: Double, observed: Double, applied: Bool
    ) {
        self.time = time
        self.group = group
        self.from = from
        self.to = to
        self.reason = reason
        self.forecast = forecast
        self.observed = observed
        self.applied = applied
    }
}
