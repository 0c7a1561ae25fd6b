import Synchronization

/// What ``Conveyor/optimizeBatchSize(for:target:)`` aims for: the largest batches (the most
/// throughput, since a call's fixed cost is shared by more items) whose predicted p95 added
/// wait stays within ``addedWaitP95``, and never batches so small that the group's workers
/// cannot keep up with the arrivals.
///
/// ```swift
/// let target = BatchSizeTarget(addedWaitP95: .milliseconds(5), sizes: 1...500)
/// ```
public struct BatchSizeTarget: Sendable {
    /// The bound on the wait batching adds to a task (p95), from fill time and the longer call.
    public var addedWaitP95: Duration
    /// The sizes the optimizer may choose.
    public var sizes: ClosedRange<Int>
    /// The share of the group's workers the handler may keep busy (0 < x ≤ 1, default 0.8).
    public var utilisation: Double

    public init(addedWaitP95: Duration, sizes: ClosedRange<Int> = 1...1000, utilisation: Double = 0.8) {
        self.addedWaitP95 = addedWaitP95
        self.sizes = sizes
        self.utilisation = utilisation
    }
}

/// One decision of a ``BatchSizeOptimizer``, with the measurements behind it.
public struct BatchSizeDecision: Sendable, CustomStringConvertible {
    /// The batch size now in force.
    public var size: Int
    /// Fitted handler cost per call (the intercept) and per item (the slope).
    public var fixedCost: Duration
    public var perItemCost: Duration
    /// Tasks per second arriving (through the kind, plus the growth of what waits), on the
    /// kind's clock, smoothed over steps (half the weight on the newest).
    public var arrivalRate: Double
    /// The predicted p95 added wait at `size`: 0.95 (size − 1) / rate + (size − 1) × perItemCost.
    public var predictedAddedWaitP95: Duration
    /// False when the workers need batches larger than the wait bound allows (throughput wins).
    public var meetsTarget: Bool
    /// True while the optimizer tries a second size to separate the fixed from the per-item cost.
    public var probing: Bool

    public var description: String {
        "size \(self.size) (fixed \(self.fixedCost), per item \(self.perItemCost), \(Int(self.arrivalRate)) tasks/s, "
            + "p95 added wait ≈ \(self.predictedAddedWaitP95)\(self.meetsTarget ? "" : ", target missed")\(self.probing ? ", probing" : ""))"
    }
}

/// Adapts one batch kind's `maxBatchSize` from measurement, off the hot path: it fits the
/// handler time per call as `fixed + perItem × size` (least squares over the latest 256
/// calls), measures the arrival rate between steps (tasks through the kind plus the growth of
/// its group's queue and its accumulators, so a kind should have its group to itself), and picks the largest size whose
/// predicted p95 added wait is within the target, raised if the workers would not keep up.
/// All times come from the kind's clock (``BatchOptions/clock``), so tests can drive it.
///
/// ```swift
/// let optimizer = try conveyor.optimizeBatchSize(for: insert, target: BatchSizeTarget(addedWaitP95: .milliseconds(5)))
/// optimizer.start(every: .seconds(1))   // or call step() yourself
/// ```
public final class BatchSizeOptimizer: Sendable {
    private let core: BatchCoreBase
    private let target: BatchSizeTarget
    private let workers: @Sendable () -> Int
    /// Tasks waiting now: the group's queue and the kind's accumulators.
    private let backlog: @Sendable () -> Int
    private let state = PThreadMutex<State>(State())

    struct State: Sendable {
        var lastTime: Duration?
        var lastTasks = 0
        var lastBacklog = 0
        /// Arrival rate, smoothed over steps (half the weight on the newest).
        var rate: Double?
        var last: BatchSizeDecision?
        var loop: Task<Void, Never>?
    }

    init(core: BatchCoreBase, target: BatchSizeTarget, workers: @escaping @Sendable () -> Int, backlog: @escaping @Sendable () -> Int) {
        self.core = core
        self.target = target
        self.workers = workers
        self.backlog = backlog
    }

    deinit {
        self.state.withLock { $0.loop?.cancel() }
    }

    /// The latest decision (nil before the second step).
    public var lastDecision: BatchSizeDecision? { self.state.withLock { $0.last } }

    /// Measures and sets the size once. Returns nil until there is a rate to measure (the
    /// first step only takes the starting point) or while no task has gone through.
    @discardableResult
    public func step() -> BatchSizeDecision? {
        let now = self.core.clock.now()
        let (tasks, samples) = self.core.stats.withLock { ($0.tasks, $0.samples) }
        let backlog = self.backlog()
        let previous = self.state.withLock { state -> (time: Duration?, tasks: Int, backlog: Int) in
            defer {
                state.lastTime = now
                state.lastTasks = tasks
                state.lastBacklog = backlog
            }
            return (state.lastTime, state.lastTasks, state.lastBacklog)
        }
        guard let since = previous.time else { return nil }
        let seconds = Double((now - since).cacheNanoseconds) / 1e9
        // Arrivals = tasks that went through + growth of what waits (a backlog draining after
        // an overload would otherwise look like a higher arrival rate).
        let arrived = tasks - previous.tasks + backlog - previous.backlog
        guard seconds > 0, tasks > previous.tasks, arrived > 0 else { return nil }
        let measured = Double(arrived) / seconds
        let rate = self.state.withLock { state -> Double in
            let smoothed = state.rate.map { 0.5 * $0 + 0.5 * measured } ?? measured
            state.rate = smoothed
            return smoothed
        }
        let decision = self.decide(rate: rate, samples: samples)
        self.core.maxBatchSize.store(decision.size, ordering: .relaxed)
        self.state.withLock { $0.last = decision }
        return decision
    }

    /// Calls ``step()`` every `interval` on a background task until ``stop()``.
    public func start(every interval: Duration) {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                self.step()
            }
        }
        self.state.withLock {
            $0.loop?.cancel()
            $0.loop = task
        }
    }

    /// Stops the background steps (the size stays as last set).
    public func stop() {
        self.state.withLock {
            $0.loop?.cancel()
            $0.loop = nil
        }
    }

    private func decide(rate: Double, samples: [(size: Int, nanoseconds: Double)]) -> BatchSizeDecision {
        let bounds = self.target.sizes
        let current = self.core.maxBatchSize.load(ordering: .relaxed)
        let sizes = Set(samples.map(\.size))
        guard sizes.count >= 2 else {
            // One size seen: the fixed and per-item costs cannot be told apart yet; try another.
            let probe = current / 2 >= bounds.lowerBound && current > 1 ? current / 2 : min(bounds.upperBound, current * 2)
            return BatchSizeDecision(
                size: max(bounds.lowerBound, min(bounds.upperBound, probe)), fixedCost: .zero, perItemCost: .zero,
                arrivalRate: rate, predictedAddedWaitP95: .zero, meetsTarget: true, probing: true)
        }
        // Least squares: nanoseconds = fixed + perItem × size.
        let count = Double(samples.count)
        let meanSize = samples.reduce(0.0) { $0 + Double($1.size) } / count
        let meanTime = samples.reduce(0.0) { $0 + $1.nanoseconds } / count
        var covariance = 0.0
        var variance = 0.0
        for sample in samples {
            let dx = Double(sample.size) - meanSize
            covariance += dx * (sample.nanoseconds - meanTime)
            variance += dx * dx
        }
        let perItem = max(0, covariance / variance) / 1e9  // seconds
        let fixed = max(0, meanTime / 1e9 - perItem * meanSize)
        let bound = Double(self.target.addedWaitP95.cacheNanoseconds) / 1e9
        // Items of a batch wait uniformly from 0 to (n − 1) / rate to fill it, and all of them
        // wait (n − 1) × perItem longer for the call: p95 ≈ (n − 1)(0.95 / rate + perItem).
        let waitSize = 1 + bound / (0.95 / rate + perItem)
        // Keeping up: rate × (fixed / n + perItem) ≤ utilisation × workers.
        let capacity = self.target.utilisation * Double(max(1, self.workers()))
        let neededSize = capacity > rate * perItem ? rate * fixed / (capacity - rate * perItem) : Double(bounds.upperBound)
        let chosen = max(waitSize.rounded(.down), neededSize.rounded(.up))
        let size = Int(max(Double(bounds.lowerBound), min(Double(bounds.upperBound), chosen)))
        let predicted = Double(size - 1) * (0.95 / rate + perItem)
        return BatchSizeDecision(
            size: size, fixedCost: .nanoseconds(Int64(fixed * 1e9)), perItemCost: .nanoseconds(Int64(perItem * 1e9)),
            arrivalRate: rate, predictedAddedWaitP95: .nanoseconds(Int64(min(predicted, 3600) * 1e9)),
            meetsTarget: neededSize <= waitSize.rounded(.down) + 0.5, probing: false)
    }
}

extension Conveyor {
    /// Starts adapting a batch kind's `maxBatchSize` to measurement (see
    /// ``BatchSizeOptimizer``). Nothing runs until you call ``BatchSizeOptimizer/step()`` or
    /// ``BatchSizeOptimizer/start(every:)``. The default target bounds the p95 added wait by
    /// the kind's `maxWaitTime`.
    ///
    /// ```swift
    /// let optimizer = try conveyor.optimizeBatchSize(for: insert)
    /// optimizer.start(every: .seconds(1))
    /// ```
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a kind of another
    ///   Conveyor, a non-positive wait bound, sizes below 1 or a utilisation outside (0, 1].
    public func optimizeBatchSize<Payload, Output>(
        for kind: BatchKind<Payload, Output>, target: BatchSizeTarget? = nil
    ) throws -> BatchSizeOptimizer {
        guard kind.engine == ObjectIdentifier(self) else {
            throw ConveyorError.invalidConfiguration(
                reason: "batch kind \"\(kind.name)\" was registered with another Conveyor; optimize it there")
        }
        let target = target ?? BatchSizeTarget(addedWaitP95: kind.maxWaitTime)
        guard target.addedWaitP95 > .zero else {
            throw ConveyorError.invalidConfiguration(reason: "BatchSizeTarget.addedWaitP95 must be positive")
        }
        guard target.sizes.lowerBound >= 1, target.sizes.upperBound <= BatchOptions.largestBatchSize else {
            throw ConveyorError.invalidConfiguration(
                reason: "BatchSizeTarget.sizes \(target.sizes) must lie within 1...\(BatchOptions.largestBatchSize)")
        }
        guard target.utilisation > 0, target.utilisation <= 1 else {
            throw ConveyorError.invalidConfiguration(
                reason: "BatchSizeTarget.utilisation \(target.utilisation) must be in (0, 1]; 0.8 is the default")
        }
        let group = self.groups[kind.core.groupIndex]
        let core = kind.core
        return BatchSizeOptimizer(core: core, target: target, workers: { group.workerCount }, backlog: { group.queuedCount + core.pendingCount + core.queuedTasks.load(ordering: .relaxed) })
    }
}
