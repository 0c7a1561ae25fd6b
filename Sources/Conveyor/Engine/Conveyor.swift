import CConveyor
import Foundation
import Logging
import Synchronization

/// An in-process task queue: routes each task to a ``ResourceGroup`` and runs it on that
/// group's worker threads, with priorities, deadlines, cancellation and graceful shutdown.
///
/// ```swift
/// let conveyor = try Conveyor(groups: [
///     ResourceGroup("cpu", minWorkers: 2),
///     ResourceGroup("io", minWorkers: 1, maxWorkers: 8, initialWorkers: 2, overflow: .spill(memoryLimit: 16 << 20)),
/// ])
///
/// // Typed kinds: registered once, payload stored inline, no allocation per task.
/// struct Ping: BitwiseCopyable, Sendable { var id: UInt64 }
/// let ping = try conveyor.register("ping", payload: Ping.self) { ping in handle(ping) }
/// try conveyor.submit(ping, Ping(id: 1), QueueTask(kind: "ping", group: "cpu"))
///
/// // Closures, fire-and-forget or awaited.
/// try conveyor.submit(QueueTask(kind: "log", group: "io")) { flushLogs() }
/// let result = try await conveyor.run(QueueTask(kind: "sum", group: "cpu")) { (1...100).reduce(0, +) }
/// print(result.value, result.queueWait)
///
/// await conveyor.shutdown(drain: true)
/// ```
///
/// Every accepted task either runs exactly once or is reported as failed (to `run` callers
/// as a thrown error, to everyone through ``failures`` and ``Configuration/onFailure``),
/// also under shutdown. Workers are threads that keep the Conveyor alive until
/// ``shutdown(drain:)``: call it before you let go of the Conveyor. A handler that traps (a Swift runtime error such as a force-unwrap
/// of nil) takes the whole process down: Swift cannot contain it.
public final class Conveyor: @unchecked Sendable {
    // @unchecked: immutable after init except atomics and lock-guarded state.

    /// How a Conveyor is set up.
    public struct Configuration: Sendable {
        public var groups: [ResourceGroup]
        /// Where tasks go that name no group and match no route (default: the first group).
        public var defaultGroup: String?
        /// Shorthand routes, kind → group name, checked before `rules`.
        public var routes: [String: String]
        /// Routing rules for tasks that name no group, first match wins (kind, tags, cost
        /// estimate, learned service time); unmatched tasks go to `defaultGroup`.
        public var rules: [RoutingRule]
        /// How rules on learned service time treat kinds with few samples.
        public var coldStart: Router.ColdStart
        /// How far and how long a kind's service time must cross a threshold before it moves.
        public var hysteresis: Router.Hysteresis
        /// Record submit and start times (for `run` results, queue-wait statistics and deadlines).
        public var timing: Bool
        /// With `timing` on, how many tasks share one timed task in the queue-wait and service
        /// histograms: 1 (the default) times every task; N (rounded up to a power of two, at
        /// most 65 536) makes each worker time one task in N of those it runs, saving two
        /// clock reads and two histogram records on the others. Every task is still stamped
        /// at submit (one time-stamp-counter read, for the idle estimate) and counted;
        /// `run` tasks are always timed (their ``TaskResult`` carries the figures), and so is
        /// every task while kind counting is on or a rule routes on learned service time.
        /// The histograms' counts are then samples: ``GroupStatistics/timingSampleInterval``
        /// says how many tasks each one stands for.
        ///
        /// ```swift
        /// Conveyor.Configuration(groups: [ResourceGroup("cpu", minWorkers: 2)], timingSampleInterval: 64)
        /// ```
        public var timingSampleInterval: Int
        /// Where task records come from: the slab pool (default) or, for comparisons, jemalloc,
        /// glibc or `.process` (plain `malloc`, e.g. an allocator chosen with `LD_PRELOAD`).
        public var recordAllocator: FixedSizeAllocator.Kind
        /// Called on a worker thread for every task that did not complete and that no `run`
        /// caller awaits. Keep it short.
        public var onFailure: (@Sendable (TaskFailure) -> Void)?
        /// Failures kept for ``Conveyor/failures`` when nobody reads it (older ones are
        /// dropped from the stream, never from the counters).
        public var failureBufferSize: Int
        /// Where lifecycle events go (start, resize, shutdown). The library never bootstraps
        /// a logging backend; task failures go to `onFailure` and ``Conveyor/failures``.
        public var logger: Logger

        public init(
            groups: [ResourceGroup],
            defaultGroup: String? = nil,
            routes: [String: String] = [:],
            rules: [RoutingRule] = [],
            coldStart: Router.ColdStart = .init(),
            hysteresis: Router.Hysteresis = .init(),
            timing: Bool = true,
            timingSampleInterval: Int = 1,
            recordAllocator: FixedSizeAllocator.Kind = .slabPool,
            onFailure: (@Sendable (TaskFailure) -> Void)? = nil,
            failureBufferSize: Int = 10_000,
            logger: Logger = Logger(label: "conveyor")
        ) {
            self.groups = groups
            self.defaultGroup = defaultGroup
            self.routes = routes
            self.rules = rules
            self.coldStart = coldStart
            self.hysteresis = hysteresis
            self.timing = timing
            self.timingSampleInterval = timingSampleInterval
            self.recordAllocator = recordAllocator
            self.onFailure = onFailure
            self.failureBufferSize = failureBufferSize
            self.logger = logger
        }
    }

    public let configuration: Configuration

    /// The largest ``Configuration/timingSampleInterval``.
    static let longestTimingSampleInterval = 1 << 16

    /// Bytes of one task record: the block ``Configuration/recordAllocator`` hands out for
    /// every task (header, timestamps and the inline payload).
    ///
    /// ```swift
    /// let pool = try SlabPool(objectSize: Conveyor.taskRecordSize)  // sized like the engine's records
    /// ```
    public static var taskRecordSize: Int { MemoryLayout<cnv_task_record>.stride }

    /// The kind table behind ``Conveyor/registeredKinds``.
    struct RegisteredKinds: Sendable {
        var handlers: [TaskHandler] = []
        var indexByName: [String: Int] = [:]
    }

    let groups: [GroupRuntime]
    let groupIndex: [String: Int]
    let defaultGroupIndex: Int
    let router: Router
    /// Whether any rule uses learned service time (then workers report samples).
    let learnsServiceTime: Bool
    let records: FixedSizeAllocator
    /// `records`' C descriptor, for the per-task calls.
    let recordAllocator: UnsafeMutablePointer<cnv_allocator>
    /// Each group's hot-path pointers, by group index (never changes after init).
    let hot: UnsafeMutableBufferPointer<GroupHotPath>
    let gate: OpaquePointer
    let timing: Bool

    /// Tasks that did not complete and that no `run` caller awaited.
    public let failures: AsyncStream<TaskFailure>
    let failureSink: AsyncStream<TaskFailure>.Continuation

    enum Lifecycle: Int {
        case running = 0
        case shuttingDown = 1
        case stopped = 2
    }

    let lifecycle = Atomic<Int>(Lifecycle.running.rawValue)
    /// pthread-based (ThreadSanitizer sees it; it does not see `Synchronization.Mutex`).
    let stopWaiters = PThreadMutex<[CheckedContinuation<Void, Never>]>([])
    /// Tasks failed as not started by `shutdown(drain: false)` (rare: a plain atomic).
    let notStarted = Atomic<Int>(0)
    /// Whether workers count tasks per kind (see ``enableKindCounting()``).
    let countsKinds = Atomic<Bool>(false)
    /// Per-kind totals, folded in by the workers in batches while ``countsKinds`` is on.
    let kindCounters = KindCounters()
    /// Every registered kind's handler, in registration order (a ``TaskKind`` holds its
    /// index). Appended to, never shrunk: records point at these handlers unretained, and the
    /// table keeps them alive until the Conveyor itself is released.
    let registeredKinds = PThreadMutex<RegisteredKinds>(RegisteredKinds())
    /// The deadline timers of `run` tasks (one thread, started with the first deadline).
    let deadlines = DeadlineTimers()
    /// The handler of every fire-and-forget closure task (the closure lives in the record).
    let closureTasks = ClosureTaskHandler()
    /// `closureTasks` as the opaque pointer records carry (unretained: this engine owns it).
    let closureHandler: UnsafeMutableRawPointer

    /// Creates the groups and starts their workers.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` (no groups, duplicate names,
    ///   bad worker counts or capacities, …), ``ConveyorError/unknownGroup(name:)`` for a
    ///   default group or route that names no group.
    public init(configuration: Configuration) throws {
        guard !configuration.groups.isEmpty else {
            throw ConveyorError.invalidConfiguration(reason: "a Conveyor needs at least one ResourceGroup")
        }
        guard configuration.failureBufferSize >= 0 else {
            throw ConveyorError.invalidConfiguration(reason: "failureBufferSize must not be negative")
        }
        guard (1...Self.longestTimingSampleInterval).contains(configuration.timingSampleInterval) else {
            throw ConveyorError.invalidConfiguration(
                reason: "timingSampleInterval \(configuration.timingSampleInterval) must be from 1 (time every task) to "
                    + "\(Self.longestTimingSampleInterval) (one task in that many)")
        }
        var index: [String: Int] = [:]
        for (position, group) in configuration.groups.enumerated() {
            try group.validate()
            guard index.updateValue(position, forKey: group.name) == nil else {
                throw ConveyorError.invalidConfiguration(reason: "two groups are named \"\(group.name)\"; names must be unique")
            }
        }
        let defaultIndex: Int
        if let name = configuration.defaultGroup {
            guard let position = index[name] else { throw ConveyorError.unknownGroup(name: name) }
            defaultIndex = position
        } else {
            defaultIndex = 0
        }
        let shorthand = configuration.routes.sorted { $0.key < $1.key }.map {
            RoutingRule(when: .kind($0.key), to: $0.value)
        }
        self.router = try Router(
            groups: configuration.groups.map(\.name), rules: shorthand + configuration.rules,
            fallbackGroup: configuration.groups[defaultIndex].name,
            coldStart: configuration.coldStart, hysteresis: configuration.hysteresis)
        self.learnsServiceTime = !self.router.thresholds.isEmpty
        self.closureHandler = Unmanaged.passUnretained(self.closureTasks).toOpaque()
        self.configuration = configuration
        self.groupIndex = index
        self.defaultGroupIndex = defaultIndex
        self.timing = configuration.timing
        _ = MonotonicClock.initialize()
        self.records = try FixedSizeAllocator(
            configuration.recordAllocator, objectSize: MemoryLayout<cnv_task_record>.stride)
        self.recordAllocator = self.records.descriptor
        var gate: OpaquePointer?
        let status = cnv_gate_create(&gate)
        guard status == CNV_OK.rawValue, let gate else {
            throw ConveyorError.fromStatus(status, context: "the submission gate")
        }
        self.gate = gate
        (self.failures, self.failureSink) = AsyncStream.makeStream(
            of: TaskFailure.self, bufferingPolicy: .bufferingNewest(configuration.failureBufferSize))
        do {
            self.groups = try configuration.groups.map {
                try GroupRuntime(
                    configuration: $0, timing: configuration.timing, sampleInterval: configuration.timingSampleInterval)
            }
        } catch {
            cnv_gate_destroy(gate)
            throw error
        }
        self.hot = .allocate(capacity: self.groups.count)
        _ = self.hot.initialize(from: self.groups.map(\.hot))
        for group in self.groups {
            group.startWorkers(upTo: group.configuration.initialWorkers, engine: self)
        }
        EngineRegistry.shared.add(self)
        configuration.logger.debug(
            "conveyor started",
            metadata: ["groups": "\(configuration.groups.map { "\($0.name)×\($0.initialWorkers)" })"])
    }

    /// Creates a Conveyor with these groups and default settings.
    public convenience init(groups: [ResourceGroup]) throws {
        try self.init(configuration: Configuration(groups: groups))
    }

    deinit {
        // Workers hold a strong reference while they run, so reaching here means they exited.
        self.deadlines.stop()
        cnv_gate_destroy(self.gate)
        self.hot.deallocate()
    }

    // MARK: Registration

    /// Registers a typed task kind. Its payload is copied into the task record: submitting
    /// allocates nothing once the record pool is warm. The Conveyor keeps the handler until
    /// it is released itself, so the returned ``TaskKind`` may be dropped while its tasks wait.
    ///
    /// ```swift
    /// struct Ping: BitwiseCopyable, Sendable { var id: UInt64 }
    /// let ping = try conveyor.register("ping", payload: Ping.self) { print($0.id) }
    /// ```
    /// - Parameters:
    ///   - name: the kind's name (for routing, statistics and failures): not blank, and not
    ///     registered before with this Conveyor.
    ///   - payload: a `BitwiseCopyable` type of at most ``TaskKind/inlinePayloadCapacity`` bytes.
    ///   - handler: runs synchronously on a worker thread; an error it throws is reported.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a blank or repeated name
    ///   or a payload too large to store inline.
    public func register<Payload: BitwiseCopyable & Sendable>(
        _ name: String,
        payload: Payload.Type = Payload.self,
        handler: @escaping @Sendable (Payload) throws -> Void
    ) throws -> TaskKind<Payload> {
        try self.addKind(name, TypedKindHandler(kind: name, handler: handler))
    }

    /// Validates `name` and `Payload` and appends `handler` to the kind table.
    func addKind<Payload: BitwiseCopyable & Sendable>(_ name: String, _ handler: TaskHandler) throws -> TaskKind<Payload> {
        guard name.contains(where: { !$0.isWhitespace }) else {
            throw ConveyorError.invalidConfiguration(
                reason: "a task kind needs a name with at least one visible character (got \"\(name)\")")
        }
        let capacity = TaskKind<Payload>.inlinePayloadCapacity
        guard MemoryLayout<Payload>.size <= capacity, MemoryLayout<Payload>.alignment <= 16 else {
            throw ConveyorError.invalidConfiguration(
                reason: "payload \(Payload.self) of kind \"\(name)\" is \(MemoryLayout<Payload>.size) bytes "
                    + "(alignment \(MemoryLayout<Payload>.alignment)); inline payloads hold at most \(capacity) "
                    + "bytes aligned to 16: store larger data elsewhere and pass an index or use a closure task")
        }
        let index = try self.registeredKinds.withLock { kinds -> Int in
            guard kinds.indexByName[name] == nil else {
                throw ConveyorError.invalidConfiguration(
                    reason: "kind \"\(name)\" is already registered with this Conveyor; register each kind once and "
                        + "reuse its TaskKind (or pick another name)")
            }
            kinds.indexByName[name] = kinds.handlers.count
            kinds.handlers.append(handler)
            return kinds.handlers.count - 1
        }
        // Routing resolved once: the kind's router slot (created now), whose word holds the
        // group for every task of the kind when its rules do not look at the task.
        let routeSlot =
            self.router.rules.isEmpty
            ? 0 : UInt(bitPattern: Unmanaged.passUnretained(self.router.slot(forKind: name)).toOpaque())
        return TaskKind(
            name: name, index: index, handlerAddress: UInt(bitPattern: Unmanaged.passUnretained(handler).toOpaque()),
            engine: ObjectIdentifier(self), routeSlot: routeSlot)
    }

    // MARK: Routing

    /// The index of the group a task goes to.
    func route(_ task: QueueTask) throws -> Int {
        if let name = task.group {
            guard let position = self.groupIndex[name] else { throw ConveyorError.unknownGroup(name: name) }
            return position
        }
        if self.router.rules.isEmpty { return self.defaultGroupIndex }
        return try self.router.route(kind: task.kind, tags: task.tags, costEstimate: task.costEstimate)
    }

    /// The group of a task that only has a kind (the typed fast path).
    @inline(__always)
    func route(kind: String) throws -> Int {
        if self.router.rules.isEmpty { return self.defaultGroupIndex }
        return try self.router.route(kind: kind)
    }

    /// The group of a task of a registered kind that only has its kind: the decision cached
    /// in the kind's router slot (`slot`, from ``TaskKind/routeSlot``) when its rules decide
    /// without looking at the task, otherwise the router's full path.
    @inline(__always)
    func route(kind: String, slot: UInt) throws -> Int {
        if self.router.rules.isEmpty { return self.defaultGroupIndex }
        if let pointer = UnsafeRawPointer(bitPattern: slot),
            let cached = Unmanaged<KindSlot>.fromOpaque(pointer)._withUnsafeGuaranteedRef({ self.router.cachedDecision(slot: $0) })
        {
            return cached
        }
        return try self.router.route(kind: kind)
    }

    /// The group of a typed task of a registered kind: `task` routed by the kind's cached
    /// decision when it names no group, tags or cost estimate and its kind is the registered
    /// one (the common case), otherwise by the full path.
    @inline(__always)
    func route(_ task: QueueTask, kind: String, slot: UInt) throws -> Int {
        if task.group == nil, task.costEstimate == nil, task.tags.isEmpty, task.kind == kind {
            return try self.route(kind: kind, slot: slot)
        }
        return try self.route(task)
    }
}
