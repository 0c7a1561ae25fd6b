/// A figure of a group that alert rules watch.
public enum AlertMetric: String, Sendable, Hashable, Codable, CaseIterable {
    /// Tasks ended (completed or failed) per second.
    case throughput
    /// The 99th percentile of the queue wait (submit → start), in seconds.
    case queueWaitP99
    /// Failed ÷ (completed + failed) tasks, from 0 to 1.
    case errorRate
    /// Tasks waiting to start.
    case queueDepth
    /// Workers the group runs.
    case workers
}

/// Which side of a value a rule fires on.
public enum AlertComparison: String, Sendable, Hashable, Codable {
    /// Fires while the metric is above the value.
    case above
    /// Fires while the metric is below the value.
    case below
    /// Anomaly rules only: fires on either side.
    case either

    func holds(_ value: Double, _ limit: Double) -> Bool {
        switch self {
        case .above: value > limit
        case .below: value < limit
        case .either: abs(value) > abs(limit)
        }
    }
}

/// One alert rule: a threshold held for a while, an anomaly of a metric, or a forecast that
/// exceeds the group's capacity at its maximum worker count.
///
/// ```swift
/// let rules = [
///     AlertRule(name: "slow", condition: .threshold(metric: .queueWaitP99, .above, 0.2, for: .seconds(30))),
///     AlertRule(name: "odd-throughput", group: "io", condition: .anomaly(metric: .throughput)),
///     AlertRule(name: "capacity", severity: .critical, condition: .capacityForecast),
/// ]
/// ```
public struct AlertRule: Sendable, Hashable {
    /// How bad a firing alert is.
    public enum Severity: String, Sendable, Hashable, Codable {
        case warning
        case critical
    }

    /// When the rule fires.
    public enum Condition: Sendable, Hashable {
        /// The metric compares true with `value` for at least `duration` without interruption.
        case threshold(metric: AlertMetric, AlertComparison, Double, for: Duration)
        /// The metric's z-score against its exponentially weighted mean and variance
        /// (smoothing `smoothing` per sample) reaches `zScore` on the `direction` side, after
        /// `warmUp` samples. The standard deviation is floored at 1 % of the mean's magnitude
        /// (and 10⁻⁹), so a metric that was constant does not fire on rounding noise.
        case anomaly(metric: AlertMetric, direction: AlertComparison = .either, zScore: Double = 4, warmUp: Int = 30, smoothing: Double = 0.05)
        /// A ``LoadPrediction``'s upper bound exceeds the group's capacity at its maximum
        /// workers within the prediction's horizon (``LoadPrediction/exceedsCapacityAt``).
        case capacityForecast
    }

    public var name: String
    /// The group the rule watches; `nil` watches every group separately.
    public var group: String?
    public var severity: Severity
    public var condition: Condition

    public init(name: String, group: String? = nil, severity: Severity = .warning, condition: Condition) {
        self.name = name
        self.group = group
        self.severity = severity
        self.condition = condition
    }

    func validate() throws(ConveyorError) {
        func invalid(_ reason: String) -> ConveyorError { .invalidConfiguration(reason: "alert rule \"\(self.name)\": \(reason)") }
        guard !self.name.isEmpty else { throw .invalidConfiguration(reason: "an alert rule needs a non-empty name") }
        switch self.condition {
        case .threshold(_, let comparison, let value, let duration):
            guard comparison != .either else { throw invalid("a threshold compares .above or .below, not .either") }
            guard value.isFinite else { throw invalid("the threshold \(value) must be finite") }
            guard duration >= .zero else { throw invalid("the duration must not be negative (got \(duration)); use .zero to fire at once") }
        case .anomaly(_, _, let zScore, let warmUp, let smoothing):
            guard zScore > 0, zScore.isFinite else { throw invalid("zScore \(zScore) must be positive, e.g. 4") }
            guard warmUp >= 2 else { throw invalid("warmUp \(warmUp) must be at least 2 samples") }
            guard smoothing > 0, smoothing < 1 else { throw invalid("smoothing \(smoothing) must be in (0, 1), e.g. 0.05") }
        case .capacityForecast:
            break
        }
    }
}

/// An alert firing or resolving, as published on ``AlertMonitor/events``.
///
/// ```swift
/// for await event in monitor.events where event.state == .firing {
///     print(event.time, event.rule, event.group, event.message)
/// }
/// ```
public struct AlertEvent: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, Codable {
        case firing
        case resolved
    }

    /// The monitor clock's reading.
    public var time: Duration
    public var rule: String
    public var group: String
    public var severity: AlertRule.Severity
    public var state: State
    /// The metric's value (for a capacity forecast: the provisioned arrivals per interval).
    public var value: Double
    /// What happened, for people: "queueWaitP99 0.35 above 0.2 for 30 s".
    public var message: String
}

/// One reading of a group's metrics, for ``AlertMonitor/evaluate(_:)``. A metric that has no
/// value this time (no task ended, so no queue wait) is left out.
///
/// ```swift
/// monitor.evaluate(AlertSample(group: "io", values: [.queueWaitP99: 0.35, .throughput: 1200]))
/// ```
public struct AlertSample: Sendable, Hashable {
    public var group: String
    public var values: [AlertMetric: Double]

    public init(group: String, values: [AlertMetric: Double]) {
        self.group = group
        self.values = values
    }
}

/// The alerts of an ``AlertMonitor`` now, from ``AlertMonitor/status``.
///
/// ```swift
/// let status = monitor.status
/// print(status.active.map(\.rule), status.recent.filter { $0.state == .resolved }.count)
/// ```
public struct AlertStatus: Sendable, Hashable {
    /// The monitor clock's reading when the status was taken (compare with ``AlertEvent/time``).
    public var now: Duration
    /// The firing event of each alert firing now, oldest first.
    public var active: [AlertEvent]
    /// The latest events, firing and resolved, oldest first (at most ``AlertMonitor/recentEventLimit``).
    public var recent: [AlertEvent]
    /// Alerts fired and resolved so far.
    public var fired: Int
    public var resolved: Int
}
