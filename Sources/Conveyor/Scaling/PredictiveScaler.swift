import ConveyorForecasting
import Logging
import Metrics

/// Sizes each configured ``ResourceGroup``'s workers ahead of its forecast load.
///
/// Once per interval per group (``run()``, or ``scalePreemptively()`` called by hand) the
/// scaler reads ``Conveyor/statistics`` (nothing is written per task: arrivals are the change
/// of the group's totals, see ``GroupScaling``), feeds the group's forecaster, and lets its
/// ``ScalingPlanner`` decide: scale out ahead of the forecast by the horizon plus the workers'
/// start delay, scale in only after the observed load stayed low, always within bounds.
/// Every decision is a ``ScalingDecision`` on ``decisions``, counted in swift-metrics
/// (`conveyor_scaler_decisions_total`, dimensions `group`, `direction`, `applied`) and logged
/// at `debug`. ``learnFromPatterns()`` refits the forecasters off the hot path; ``run()``
/// calls it on each group's schedule.
///
/// ```swift
/// let conveyor = try Conveyor(groups: [ResourceGroup("io", minWorkers: 1, maxWorkers: 16)])
/// var io = GroupScaling(group: "io", minWorkers: 1, maxWorkers: 16)
/// io.workerStartDelay = .seconds(2)
/// io.latencyTarget = .milliseconds(50)
/// let scaler = try PredictiveScaler(conveyor: conveyor, groups: [io])
/// let loop = Task { await scaler.run() }          // cancel it to stop
/// Task { for await decision in scaler.decisions { print(decision) } }
/// let next = try scaler.predictLoad(for: "io", horizon: 6)
/// print(next.recommendedWorkers)
/// ```
public final class PredictiveScaler: Sendable {
    /// The engine whose groups are sized.
    public let conveyor: Conveyor
    /// Every decision, in the order made. Buffers the newest 4096 when nobody reads.
    public let decisions: AsyncStream<ScalingDecision>

    private let continuation: AsyncStream<ScalingDecision>.Continuation
    private let groups: [String: GroupRuntime]
    private let order: [String]
    private let clock: any ScalingClock
    private let logger: Logger
    private let apply: @Sendable (String, Int) async throws -> Void

    private final class GroupRuntime: Sendable {
        struct State: Sendable {
            var planner: ScalingPlanner
            var sampler = GroupSampler()
            var mode: ScalingMode
            /// The worker count a forecast-only scaler would have set, or the last count an
            /// active scaler applied (the group's count as far as the scaler is concerned: a
            /// custom `apply` may bring the workers in later, after a start delay).
            var shadowWorkers: Int?
            /// The latest decisions, oldest first (``PredictiveScaler/recentDecisionLimit``).
            var recent: [ScalingDecision] = []
            /// Decisions per direction: (out, in, applied out, applied in).
            var counts = (out: 0, in: 0, appliedOut: 0, appliedIn: 0)
        }

        let state: PThreadMutex<State>
        let counters: [String: Counter]

        init(_ scaling: GroupScaling, factory: any MetricsFactory) throws(ConveyorError) {
            self.state = PThreadMutex(State(planner: try ScalingPlanner(scaling), mode: scaling.mode))
            var counters: [String: Counter] = [:]
            for direction in ["out", "in"] {
                for applied in [true, false] {
                    counters["\(direction).\(applied)"] = Counter(
                        label: "conveyor_scaler_decisions_total",
                        dimensions: [("group", scaling.group), ("direction", direction), ("applied", "\(applied)")],
                        factory: factory)
                }
            }
            self.counters = counters
        }
    }

    /// Creates a scaler for `groups` of `conveyor`.
    ///
    /// - Parameters:
    ///   - metricsFactory: receives the decision counters (default: the global `MetricsSystem.factory`).
    ///   - apply: applies a decision; default ``Conveyor/resize(group:workers:)``. A simulation
    ///     passes its own (for example to model the workers' start delay). Once a decision is
    ///     applied, the scaler takes its count as the group's: resize a scaled group by hand
    ///     only with its mode ``ScalingMode/off`` (``setMode(_:for:)`` forgets the count).
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a bad ``GroupScaling``,
    ///   bounds outside the group's own `minWorkers...maxWorkers`, or a group named twice;
    ///   ``ConveyorError/unknownGroup(name:)`` for a group the engine does not have.
    public init(
        conveyor: Conveyor, groups: [GroupScaling], logger: Logger = Logger(label: "conveyor.scaler"),
        clock: any ScalingClock = SystemScalingClock(), metricsFactory: (any MetricsFactory)? = nil,
        apply: (@Sendable (_ group: String, _ workers: Int) async throws -> Void)? = nil
    ) throws {
        var runtimes: [String: GroupRuntime] = [:]
        for scaling in groups {
            guard let group = conveyor.configuration.groups.first(where: { $0.name == scaling.group }) else {
                throw ConveyorError.unknownGroup(name: scaling.group)
            }
            guard runtimes[scaling.group] == nil else {
                throw ConveyorError.invalidConfiguration(reason: "group \"\(scaling.group)\" has two scaling configurations")
            }
            guard scaling.minWorkers >= group.minWorkers, scaling.maxWorkers <= group.maxWorkers else {
                throw ConveyorError.invalidConfiguration(
                    reason: "scaling of group \"\(scaling.group)\": \(scaling.minWorkers)...\(scaling.maxWorkers) workers is outside "
                        + "the group's own \(group.minWorkers)...\(group.maxWorkers); narrow the scaling bounds or widen the group")
            }
            runtimes[scaling.group] = try GroupRuntime(scaling, factory: metricsFactory ?? MetricsSystem.factory)
        }
        self.conveyor = conveyor
        self.groups = runtimes
        self.order = groups.map(\.group)
        self.clock = clock
        self.logger = logger
        self.apply = apply ?? { [conveyor] group, workers in try await conveyor.resize(group: group, workers: workers) }
        (self.decisions, self.continuation) = AsyncStream.makeStream(of: ScalingDecision.self, bufferingPolicy: .bufferingNewest(4096))
    }

    deinit {
        self.continuation.finish()
    }

    private func runtime(_ group: String) throws(ScalingError) -> GroupRuntime {
        guard let runtime = self.groups[group] else { throw .unknownGroup(name: group) }
        return runtime
    }

    /// The expected arrivals per interval over `horizon` intervals, their prediction
    /// interval and the recommended worker count (see ``LoadPrediction``).
    ///
    /// - Throws: ``ScalingError/invalidHorizon(_:)`` for `horizon < 1`,
    ///   ``ScalingError/unknownGroup(name:)``, ``ScalingError/noObservations(group:)`` before
    ///   the first sampled interval, ``ScalingError/noServiceTime(group:)``.
    public func predictLoad(for group: String, horizon: Int) throws(ScalingError) -> LoadPrediction {
        guard horizon >= 1 else { throw .invalidHorizon(horizon) }
        let runtime = try self.runtime(group)
        return try runtime.state.withLock { (state) throws(ScalingError) -> LoadPrediction in
            try state.planner.predictLoad(horizon: horizon)
        }
    }

    /// How many decisions per group ``status(for:)`` keeps.
    public static let recentDecisionLimit = 32

    /// A group's current state: mode, the last interval against its forecast, the next
    /// forecast, the latest decisions (see ``ScalingStatus``). Takes the group's lock once and
    /// never waits on the engine.
    ///
    /// - Throws: ``ScalingError/unknownGroup(name:)``.
    public func status(for group: String) throws(ScalingError) -> ScalingStatus {
        let runtime = try self.runtime(group)
        let now = self.clock.now
        return runtime.state.withLock { state in
            let planner = state.planner
            return ScalingStatus(
                group: group, now: now, mode: state.mode, interval: planner.scaling.interval,
                minWorkers: planner.scaling.minWorkers, maxWorkers: planner.scaling.maxWorkers,
                intervals: planner.intervals, lastObserved: planner.lastObserved, lastForecast: planner.lastForecast,
                next: (try? planner.forecaster.forecast(step: 1)).map {
                    Forecast(step: 1, value: max(0, $0.value), lower: max(0, $0.lower), upper: max(0, $0.upper))
                },
                decidedWorkers: state.shadowWorkers, meanServiceTime: planner.meanServiceTime,
                nextIntervalAccuracy: planner.nextIntervalAccuracy.value, recentDecisions: state.recent,
                scaleOuts: state.counts.out, scaleIns: state.counts.in,
                appliedScaleOuts: state.counts.appliedOut, appliedScaleIns: state.counts.appliedIn)
        }
    }

    /// The statuses of every scaled group, in configuration order.
    public var statuses: [ScalingStatus] {
        self.order.compactMap { try? self.status(for: $0) }
    }

    /// Changes a group's mode at run time (for example from `forecastOnly` to `active`).
    public func setMode(_ mode: ScalingMode, for group: String) throws(ScalingError) {
        try self.runtime(group).state.withLock { state in
            state.mode = mode
            state.shadowWorkers = nil
        }
    }

    /// A group's current mode.
    public func mode(for group: String) throws(ScalingError) -> ScalingMode {
        try self.runtime(group).state.withLock { $0.mode }
    }

    /// Samples one interval of every group, decides and (in `active` mode) applies; returns
    /// the decisions made. ``run()`` calls it once per interval; call it yourself to drive
    /// the scaler from your own schedule. The first call only takes the baseline reading.
    @discardableResult
    public func scalePreemptively() async -> [ScalingDecision] {
        var made: [ScalingDecision] = []
        for group in self.order {
            if let decision = await self.step(group) { made.append(decision) }
        }
        return made
    }

    /// Refits every group's forecaster on its bounded recent history (seasons and
    /// parameters). Runs on the caller's task, never on a worker; the scaler keeps deciding
    /// meanwhile (the refit works on a copy, which then catches up on the intervals it missed).
    public func learnFromPatterns() {
        for group in self.order { self.learn(group) }
    }

    /// Runs the scaler until the calling task is cancelled: each group on its own interval,
    /// with ``learnFromPatterns()`` for a group whenever its schedule says so.
    public func run() async {
        await withTaskGroup(of: Void.self) { tasks in
            for group in self.order {
                guard let runtime = self.groups[group] else { continue }
                let interval = runtime.state.withLock { $0.planner.scaling.interval }
                tasks.addTask {
                    while !Task.isCancelled {
                        _ = await self.step(group)
                        if runtime.state.withLock({ $0.planner.isLearningDue }) { self.learn(group) }
                        do { try await Task.sleep(for: interval) } catch { return }
                    }
                }
            }
        }
    }

    /// Refits the forecasters of the groups whose learning schedule is due (see
    /// ``ScalingPlanner/isLearningDue``): for a caller that steps the scaler itself.
    public func learnFromPatternsIfDue() {
        for group in self.order where self.groups[group]?.state.withLock({ $0.planner.isLearningDue }) == true {
            self.learn(group)
        }
    }

    /// Feeds a group's forecaster past intervals (arrivals per interval, `nil` for a gap) before
    /// sampling starts, for example from a previous run, then learns from them once, so the
    /// scaler forecasts from the first interval. Decides nothing, and is not scored in
    /// ``forecastAccuracy(for:)``.
    ///
    /// ```swift
    /// try scaler.warm(group: "io", history: yesterday, meanServiceTime: .milliseconds(20))
    /// ```
    public func warm(group: String, history: [Double?], meanServiceTime: Duration?) throws(ScalingError) {
        let runtime = try self.runtime(group)
        runtime.state.withLock { state in
            for arrivals in history {
                state.planner.record(.init(arrivals: arrivals, meanServiceTime: meanServiceTime, completed: 1, queued: 0))
                if state.planner.isLearningDue, state.planner.intervals < history.count { state.planner.learnFromPatterns() }
            }
            if !history.isEmpty { state.planner.learnFromPatterns() }
            state.planner.resetAccuracy()
        }
    }

    /// The accuracy (1 − WAPE) of a group's forecasts so far: made ``GroupScaling/leadIntervals``
    /// ahead (what scale-outs use) and one interval ahead.
    public func forecastAccuracy(for group: String) throws(ScalingError) -> (lead: ForecastAccuracy, nextInterval: ForecastAccuracy) {
        try self.runtime(group).state.withLock { ($0.planner.leadAccuracy, $0.planner.nextIntervalAccuracy) }
    }

    /// Ends ``decisions`` (for readers waiting on it); the scaler can still be stepped.
    public func finish() {
        self.continuation.finish()
    }

    private func learn(_ group: String) {
        guard let runtime = self.groups[group] else { return }
        let (copy, copiedAt) = runtime.state.withLock { ($0.planner.forecaster, $0.planner.intervals) }
        var learned = copy
        let model = learned.learnFromPatterns()
        let adopted = runtime.state.withLock { $0.planner.adopt(learned, copiedAt: copiedAt) }
        self.logger.debug(
            "scaler learned patterns",
            metadata: ["group": "\(group)", "model": "\(model)", "adopted": "\(adopted)"])
    }

    private func step(_ group: String) async -> ScalingDecision? {
        guard let runtime = self.groups[group], let statistics = try? self.conveyor.statistics(for: group) else { return nil }
        let now = self.clock.now
        let planned: (ScalingPlanner.Plan, ScalingMode)? = runtime.state.withLock { state in
            guard let interval = state.sampler.sample(statistics) else { return nil }
            state.planner.record(.init(
                arrivals: interval.arrivals, meanServiceTime: interval.meanServiceTime,
                completed: interval.completed, queued: interval.queued))
            switch state.mode {
            case .off:
                return nil
            case .active:
                return state.planner.plan(currentWorkers: state.shadowWorkers ?? statistics.workers).map { ($0, .active) }
            case .forecastOnly:
                let current = state.shadowWorkers ?? statistics.workers
                guard let plan = state.planner.plan(currentWorkers: current) else { return nil }
                state.shadowWorkers = plan.to
                return (plan, .forecastOnly)
            }
        }
        guard let (plan, mode) = planned else { return nil }
        var applied = false
        if mode == .active {
            do {
                try await self.apply(group, plan.to)
                applied = true
            } catch {
                self.logger.debug("scaler resize failed", metadata: ["group": "\(group)", "error": "\(error)"])
            }
            // After a failed resize the engine's own count is the truth again.
            runtime.state.withLock { $0.shadowWorkers = applied ? plan.to : nil }
        }
        let decision = ScalingDecision(
            time: now, group: group, from: plan.from, to: plan.to, reason: plan.reason,
            forecast: plan.forecast, observed: plan.observed, applied: applied)
        runtime.counters["\(plan.to > plan.from ? "out" : "in").\(applied)"]?.increment()
        runtime.state.withLock { state in
            state.recent.append(decision)
            if state.recent.count > Self.recentDecisionLimit { state.recent.removeFirst(state.recent.count - Self.recentDecisionLimit) }
            if plan.to > plan.from {
                state.counts.out += 1
                if applied { state.counts.appliedOut += 1 }
            } else {
                state.counts.in += 1
                if applied { state.counts.appliedIn += 1 }
            }
        }
        self.continuation.yield(decision)
        self.logger.debug(
            "scaler decision",
            metadata: [
                "group": "\(group)", "from": "\(plan.from)", "to": "\(plan.to)", "reason": "\(plan.reason.rawValue)",
                "forecast": "\(plan.forecast)", "observed": "\(plan.observed)", "mode": "\(mode.rawValue)",
                "applied": "\(applied)",
            ])
        return decision
    }
}
