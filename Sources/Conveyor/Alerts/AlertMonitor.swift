import Logging
import Metrics

/// Evaluates ``AlertRule``s on a group's metrics and publishes each alert that fires or
/// resolves as an ``AlertEvent``.
///
/// Feed it samples (``evaluate(_:)``), the engine itself (``evaluate(conveyor:)`` reads
/// ``Conveyor/statistics`` and derives the metrics since the previous call) or the scaler's
/// forecasts (``evaluate(prediction:)``). An alert fires once when its condition starts to
/// hold (for a threshold: has held for its duration) and resolves — another event — when the
/// condition clears. After it resolves, the same rule on the same group does not fire again
/// until ``cooldown`` has passed, so a metric that flaps around a threshold does not raise a
/// storm. Events go to ``events``, are counted in swift-metrics (`conveyor_alerts_total`,
/// dimensions `rule`, `group`, `state`) and logged at `debug`. Time comes from the injected
/// ``ScalingClock``.
///
/// ```swift
/// let clock = ManualScalingClock()
/// let monitor = try AlertMonitor(
///     rules: [AlertRule(name: "slow", condition: .threshold(metric: .queueWaitP99, .above, 0.2, for: .seconds(30)))],
///     cooldown: .seconds(60), clock: clock)
/// monitor.evaluate(AlertSample(group: "io", values: [.queueWaitP99: 0.5]))   // pending
/// clock.advance(by: .seconds(30))
/// let events = monitor.evaluate(AlertSample(group: "io", values: [.queueWaitP99: 0.5]))  // firing
/// ```
public final class AlertMonitor: Sendable {
    /// Every event, in order. Buffers the newest 4096 when nobody reads.
    public let events: AsyncStream<AlertEvent>
    public let rules: [AlertRule]
    /// How long after resolving a rule stays quiet for the same group.
    public let cooldown: Duration

    private let continuation: AsyncStream<AlertEvent>.Continuation
    private let clock: any ScalingClock
    private let logger: Logger
    private let state: PThreadMutex<State>
    private let metricsFactory: any MetricsFactory

    private struct Key: Hashable {
        var rule: Int
        var group: String
    }

    private struct RuleState {
        var pendingSince: Duration?
        var firing = false
        var resolvedAt: Duration?
        // Anomaly detection: exponentially weighted mean and variance.
        var samples = 0
        var mean = 0.0
        var variance = 0.0
    }

    private struct State {
        var rules: [Key: RuleState] = [:]
        var samplers: [String: (sampler: GroupSampler, time: Duration)] = [:]
        /// The latest events, oldest first (``AlertMonitor/recentEventLimit``).
        var recent: [AlertEvent] = []
        /// The firing event of each alert firing now.
        var active: [Key: AlertEvent] = [:]
        var firedCount = 0
        var resolvedCount = 0
    }

    /// Creates a monitor. `metricsFactory` receives the event counters (default: the global
    /// `MetricsSystem.factory`, which the application bootstraps).
    ///
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a rule out of range, two
    ///   rules with the same name, or a negative cooldown.
    public init(
        rules: [AlertRule], cooldown: Duration = .seconds(60), clock: any ScalingClock = SystemScalingClock(),
        logger: Logger = Logger(label: "conveyor.alerts"), metricsFactory: (any MetricsFactory)? = nil
    ) throws(ConveyorError) {
        var names = Set<String>()
        for rule in rules {
            try rule.validate()
            guard names.insert(rule.name).inserted else {
                throw .invalidConfiguration(reason: "two alert rules are named \"\(rule.name)\"; names must be unique")
            }
        }
        guard cooldown >= .zero else {
            throw .invalidConfiguration(reason: "the alert cooldown must not be negative (got \(cooldown))")
        }
        self.rules = rules
        self.cooldown = cooldown
        self.clock = clock
        self.logger = logger
        self.state = PThreadMutex(State())
        self.metricsFactory = metricsFactory ?? MetricsSystem.factory
        (self.events, self.continuation) = AsyncStream.makeStream(of: AlertEvent.self, bufferingPolicy: .bufferingNewest(4096))
    }

    deinit {
        self.continuation.finish()
    }

    /// Ends ``events``.
    public func finish() {
        self.continuation.finish()
    }

    /// The alerts firing now: (rule, group) pairs.
    public var firing: [(rule: String, group: String)] {
        self.state.withLock { state in
            state.rules.filter(\.value.firing).map { (self.rules[$0.key.rule].name, $0.key.group) }
                .sorted { ($0.rule, $0.group) < ($1.rule, $1.group) }
        }
    }

    /// How many events ``status`` keeps.
    public static let recentEventLimit = 64

    /// The alerts firing now (each one's firing event: when it fired, its value and message)
    /// and the latest events, firing and resolved (see ``AlertStatus``). One lock; cheap
    /// enough for a dashboard's timer.
    ///
    /// ```swift
    /// let status = monitor.status
    /// for alert in status.active { print(alert.rule, alert.group, status.now - alert.time, alert.message) }
    /// ```
    public var status: AlertStatus {
        let now = self.clock.now
        return self.state.withLock { state in
            AlertStatus(
                now: now,
                active: state.active.values.sorted { ($0.time, $0.rule, $0.group) < ($1.time, $1.rule, $1.group) },
                recent: state.recent, fired: state.firedCount, resolved: state.resolvedCount)
        }
    }

    /// Evaluates the threshold and anomaly rules on one reading; returns the events it caused.
    @discardableResult
    public func evaluate(_ sample: AlertSample) -> [AlertEvent] {
        let now = self.clock.now
        let events = self.state.withLock { state -> [AlertEvent] in
            var events: [AlertEvent] = []
            for (index, rule) in self.rules.enumerated() where rule.group == nil || rule.group == sample.group {
                let key = Key(rule: index, group: sample.group)
                var ruleState = state.rules[key] ?? RuleState()
                switch rule.condition {
                case .threshold(let metric, let comparison, let limit, let duration):
                    guard let value = sample.values[metric] else { continue }
                    let holds = comparison.holds(value, limit)
                    if holds, ruleState.pendingSince == nil { ruleState.pendingSince = now }
                    if !holds { ruleState.pendingSince = nil }
                    let held = ruleState.pendingSince.map { now - $0 >= duration } ?? false
                    let message = "\(metric.rawValue) \(Self.format(value)) \(comparison.rawValue) \(Self.format(limit))"
                        + (duration > .zero ? " for \(duration)" : "")
                    if let event = self.transition(&ruleState, active: held, rule: rule, group: sample.group, value: value, now: now, message: message) {
                        events.append(event)
                    }
                case .anomaly(let metric, let direction, let threshold, let warmUp, let smoothing):
                    guard let value = sample.values[metric], value.isFinite else { continue }
                    var anomalous = false
                    var z = 0.0
                    if ruleState.samples >= warmUp {
                        let spread = max(ruleState.variance.squareRoot(), abs(ruleState.mean) * 0.01, 1e-9)
                        z = (value - ruleState.mean) / spread
                        anomalous = direction.holds(z, threshold)
                    }
                    // Update the baseline after scoring (an anomaly is judged against what came before).
                    if ruleState.samples == 0 {
                        ruleState.mean = value
                    } else {
                        let difference = value - ruleState.mean
                        ruleState.mean += smoothing * difference
                        ruleState.variance = (1 - smoothing) * (ruleState.variance + smoothing * difference * difference)
                    }
                    ruleState.samples += 1
                    let message = "\(metric.rawValue) \(Self.format(value)) is \(Self.format(z)) standard deviations from its mean \(Self.format(ruleState.mean))"
                    if let event = self.transition(&ruleState, active: anomalous, rule: rule, group: sample.group, value: value, now: now, message: message) {
                        events.append(event)
                    }
                case .capacityForecast:
                    continue
                }
                state.rules[key] = ruleState
            }
            self.record(events, in: &state)
            return events
        }
        self.publish(events)
        return events
    }

    /// Evaluates the ``AlertRule/Condition/capacityForecast`` rules on a prediction.
    ///
    /// ```swift
    /// monitor.evaluate(prediction: try scaler.predictLoad(for: "io", horizon: 12))
    /// ```
    @discardableResult
    public func evaluate(prediction: LoadPrediction) -> [AlertEvent] {
        let now = self.clock.now
        let events = self.state.withLock { state -> [AlertEvent] in
            var events: [AlertEvent] = []
            for (index, rule) in self.rules.enumerated() where rule.group == nil || rule.group == prediction.group {
                guard case .capacityForecast = rule.condition else { continue }
                let key = Key(rule: index, group: prediction.group)
                var ruleState = state.rules[key] ?? RuleState()
                let over = prediction.exceedsCapacityAt
                let message = over.map {
                    "forecast \(Self.format(prediction.provisionedArrivals)) arrivals per interval exceeds the capacity "
                        + "\(Self.format(prediction.capacityAtMaximum)) at the maximum workers in \($0) intervals"
                } ?? "forecast within the capacity at the maximum workers"
                if let event = self.transition(
                    &ruleState, active: over != nil, rule: rule, group: prediction.group,
                    value: prediction.provisionedArrivals, now: now, message: message)
                {
                    events.append(event)
                }
                state.rules[key] = ruleState
            }
            self.record(events, in: &state)
            return events
        }
        self.publish(events)
        return events
    }

    /// Reads every group of `conveyor` and evaluates the rules on the metrics since the
    /// previous call (the first call only takes the baseline). Throughput is per second of the
    /// monitor's clock; queue wait p99 and error rate are left out when no task ended.
    @discardableResult
    public func evaluate(conveyor: Conveyor) -> [AlertEvent] {
        let now = self.clock.now
        var samples: [AlertSample] = []
        self.state.withLock { state in
            for statistics in conveyor.statistics {
                var entry = state.samplers[statistics.group] ?? (GroupSampler(), now)
                let elapsed = (now - entry.time).scalingSeconds
                if let interval = entry.sampler.sample(statistics) {
                    var values: [AlertMetric: Double] = [.queueDepth: Double(interval.queued), .workers: Double(interval.workers)]
                    if elapsed > 0 { values[.throughput] = Double(interval.completed) / elapsed }
                    if interval.completed > 0 { values[.errorRate] = Double(interval.failed) / Double(interval.completed) }
                    if !interval.queueWait.isEmpty { values[.queueWaitP99] = Double(interval.queueWait.p99) / 1e9 }
                    samples.append(AlertSample(group: statistics.group, values: values))
                }
                entry.time = now
                state.samplers[statistics.group] = entry
            }
        }
        return samples.flatMap { self.evaluate($0) }
    }

    /// Evaluates `conveyor` (and, with a scaler, the capacity forecasts of its groups over
    /// `horizon` intervals) every `interval` until the calling task is cancelled.
    public func watch(conveyor: Conveyor, scaler: PredictiveScaler? = nil, horizon: Int = 6, every interval: Duration) async {
        while !Task.isCancelled {
            self.evaluate(conveyor: conveyor)
            if let scaler {
                for group in conveyor.configuration.groups {
                    if let prediction = try? scaler.predictLoad(for: group.name, horizon: max(1, horizon)) {
                        self.evaluate(prediction: prediction)
                    }
                }
            }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// Moves a rule between quiet and firing; returns the event, if any.
    private func transition(
        _ ruleState: inout RuleState, active: Bool, rule: AlertRule, group: String, value: Double, now: Duration, message: String
    ) -> AlertEvent? {
        if active, !ruleState.firing {
            if let resolved = ruleState.resolvedAt, now - resolved < self.cooldown { return nil }
            ruleState.firing = true
            return AlertEvent(time: now, rule: rule.name, group: group, severity: rule.severity, state: .firing, value: value, message: message)
        }
        if !active, ruleState.firing {
            ruleState.firing = false
            ruleState.resolvedAt = now
            return AlertEvent(time: now, rule: rule.name, group: group, severity: rule.severity, state: .resolved, value: value, message: message)
        }
        return nil
    }

    /// Keeps `events` for ``status``; called under the lock that made them, so the active set
    /// follows the transitions in their order even with concurrent evaluations.
    private func record(_ events: [AlertEvent], in state: inout State) {
        guard !events.isEmpty else { return }
        for event in events {
            let key = self.rules.firstIndex { $0.name == event.rule }.map { Key(rule: $0, group: event.group) }
            switch event.state {
            case .firing:
                state.firedCount += 1
                if let key { state.active[key] = event }
            case .resolved:
                state.resolvedCount += 1
                if let key { state.active[key] = nil }
            }
            state.recent.append(event)
        }
        if state.recent.count > Self.recentEventLimit { state.recent.removeFirst(state.recent.count - Self.recentEventLimit) }
    }

    private func publish(_ events: [AlertEvent]) {
        for event in events {
            self.continuation.yield(event)
            Counter(
                label: "conveyor_alerts_total", dimensions: [("rule", event.rule), ("group", event.group), ("state", event.state.rawValue)],
                factory: self.metricsFactory)
                .increment()
            self.logger.debug(
                "alert \(event.state.rawValue)",
                metadata: ["rule": "\(event.rule)", "group": "\(event.group)", "severity": "\(event.severity.rawValue)",
                           "value": "\(event.value)", "message": "\(event.message)"])
        }
    }

    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        let rounded = (value * 1000).rounded() / 1000
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int(rounded)) : String(rounded)
    }
}
