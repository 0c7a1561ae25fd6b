import ConveyorForecasting

/// A group's expected load over a horizon and the workers it needs.
///
/// `arrivals[i]` is the forecast for the interval `i + 1` intervals ahead (tasks per
/// interval, with its prediction interval). The worker counts come from ``WorkerSizing``:
/// the highest provisioned arrivals over the horizon (the upper bound at the group's
/// ``GroupScaling/provisioningCoverage``), Little's law for the busy workers and Erlang C for
/// the queue wait against the latency target.
///
/// ```swift
/// let prediction = try scaler.predictLoad(for: "io", horizon: 6)
/// print(prediction.arrivals.map(\.value), prediction.recommendedWorkers)
/// if let step = prediction.exceedsCapacityAt { print("over capacity in \(step) intervals") }
/// ```
public struct LoadPrediction: Sendable, Hashable {
    /// The group predicted.
    public var group: String
    /// The sampling interval the arrivals are counted in.
    public var interval: Duration
    /// Forecast arrivals per interval, steps 1…horizon.
    public var arrivals: [Forecast]
    /// The arrivals provisioned for: the highest upper bound over the horizon.
    public var provisionedArrivals: Double
    /// The observed mean service time the counts are based on.
    public var meanServiceTime: Duration
    /// Workers the provisioned load needs, unbounded (may exceed the group's maximum).
    public var requiredWorkers: Int
    /// ``requiredWorkers`` within the group's scaling bounds.
    public var recommendedWorkers: Int
    /// Arrivals per interval that the maximum worker count serves within the latency target.
    public var capacityAtMaximum: Double
    /// The first step whose upper bound exceeds ``capacityAtMaximum`` (`nil`: none does).
    public var exceedsCapacityAt: Int?

    /// How many intervals the prediction covers.
    public var horizon: Int { self.arrivals.count }
}

/// Runtime failures of the scaler (configuration errors are ``ConveyorError/invalidConfiguration(reason:)``).
///
/// ```swift
/// do { _ = try scaler.predictLoad(for: "io", horizon: 0) }
/// catch { print(error) }  // horizon 0 is invalid: ask for at least 1 interval
/// ```
public enum ScalingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The scaler has no configuration for this group.
    case unknownGroup(name: String)
    /// A horizon below 1 interval was asked for.
    case invalidHorizon(Int)
    /// No interval has been observed for the group yet.
    case noObservations(group: String)
    /// The group has not completed a timed task yet and no ``GroupScaling/assumedServiceTime`` is set.
    case noServiceTime(group: String)

    public var description: String {
        switch self {
        case .unknownGroup(let name):
            "the scaler has no configuration for group \"\(name)\": add a GroupScaling for it or correct the name"
        case .invalidHorizon(let horizon): "horizon \(horizon) is invalid: ask for at least 1 interval"
        case .noObservations(let group):
            "no interval of group \"\(group)\" observed yet: predict after the scaler has sampled at least one interval"
        case .noServiceTime(let group):
            "group \"\(group)\" has no observed service time yet: turn timing on, wait for completed tasks, "
                + "or set GroupScaling.assumedServiceTime"
        }
    }
}
