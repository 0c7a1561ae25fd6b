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
            self.recordAllocator = recordAllocator
            self.onFailure = onFailure
            self.failureBufferSize = failureBufferSize
            self.logger = logger
        }
    }

    public let configuration: Configuration

    /// Bytes of one task record: the block ``Configuration/recordAllocator`` hands out for
    /// every task (header, timestamps and the inline payload).
    ///
    /// ```swift
    /// let pool = try SlabPool(objectSize: Conveyor.taskRecordSize)  // sized like the engine's records
    /// ```
    public static var taskRecordSize: Int { MemoryLayout<cnv_task_record>.stride }

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
            self.groups = try configuration.groups.enumerated().map {
                try GroupRuntime(configuration: $1, index: $0, timing: configuration.timing)
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
        cnv_gate_destroy(self.gate)
        self.hot.deallocate()
    }

    // MARK: Registration

    /// Registers a typed task kind. Its payload is copied into the task record: submitting
    /// allocates nothing once the record pool is warm.
    /// - Parameters:
    ///   - name: the kind's name (for routing, statistics and failures).
    ///   - payload: a `BitwiseCopyable` type of at most ``TaskKind/inlinePayloadCapacity`` bytes.
    ///   - handler: runs synchronously on a worker thread; an error it throws is reported.
    public func register<Payload: BitwiseCopyable & Sendable>(
        _ name: String,
        payload: Payload.Type = Payload.self,
        handler: @escaping @Sendable (Payload) throws -> Void
    ) throws -> TaskKind<Payload> {
        let capacity = TaskKind<Payload>.inlinePayloadCapacity
        guard MemoryLayout<Payload>.size <= capacity, MemoryLayout<Payload>.alignment <= 16 else {
            throw ConveyorError.invalidConfiguration(
                reason: "payload \(Payload.self) of kind \"\(name)\" is \(MemoryLayout<Payload>.size) bytes "
                    + "(alignment \(MemoryLayout<Payload>.alignment)); inline payloads hold at most \(capacity) "
                    + "bytes aligned to 16: store larger data elsewhere and pass an index or use a closure task")
        }
        return TaskKind(name: name, handler: TypedKindHandler(kind: name, handler: handler))
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

    // MARK: Submitting

    /// Queues one task of a registered kind at normal priority, routed by its kind. Never
    /// waits: a full group with the `.wait` policy rejects here (``submitWaitingForRoom(_:_:_:)``
    /// waits). Allocates nothing once the record pool is warm.
    @discardableResult
    public func submit<Payload>(_ kind: TaskKind<Payload>, _ payload: Payload) throws -> TaskTicket {
        let index = try self.route(kind: kind.name)
        let record = try self.makeRecord(handler: kind.handlerPointer, retained: false, level: 1, deadline: nil)
        UnsafeMutableRawPointer(cnv_task_payload(record)!).storeBytes(of: payload, as: Payload.self)
        return try self.enqueueOrFree(record, level: 1, group: index)
    }

    /// Queues one task of a registered kind with explicit options (group, priority, tags,
    /// deadline). Never waits.
    @discardableResult
    public func submit<Payload>(_ kind: TaskKind<Payload>, _ payload: Payload, _ task: QueueTask) throws -> TaskTicket {
        let index = try self.route(task)
        let record = try self.makeRecord(
            handler: kind.handlerPointer, retained: false, level: task.priority.level, deadline: task.deadline)
        UnsafeMutableRawPointer(cnv_task_payload(record)!).storeBytes(of: payload, as: Payload.self)
        return try self.enqueueOrFree(record, level: task.priority.level, group: index)
    }

    /// Queues one task of a registered kind, waiting (suspended, not blocking a thread) for
    /// room when the group's policy is `.wait(timeout:)`; other policies behave as `submit`.
    @discardableResult
    public func submitWaitingForRoom<Payload>(_ kind: TaskKind<Payload>, _ payload: Payload, _ task: QueueTask? = nil) async throws
        -> TaskTicket
    {
        let task = task ?? QueueTask(kind: kind.name)
        let index = try self.route(task)
        let record = try self.makeRecord(
            handler: kind.handlerPointer, retained: false, level: task.priority.level, deadline: task.deadline)
        UnsafeMutableRawPointer(cnv_task_payload(record)!).storeBytes(of: payload, as: Payload.self)
        return try await self.enqueueWaiting(record, level: task.priority.level, group: index)
    }

    /// Queues many tasks of one kind with as few ring operations as possible. Returns how many
    /// were accepted, in order; with the `.reject` policy a full ring stops the batch early.
    @discardableResult
    public func submit<Payload, Payloads: Collection<Payload>>(
        _ kind: TaskKind<Payload>, contentsOf payloads: Payloads, _ task: QueueTask? = nil
    ) throws -> Int {
        let task = task ?? QueueTask(kind: kind.name)
        let index = try self.route(task)
        let group = self.groups[index]
        let hot = self.hot[index]
        let lane = hot.lane(forLevel: task.priority.level)
        let shard = cnv_gate_enter(self.gate)
        guard shard >= 0 else { throw ConveyorError.shutDown }
        defer { cnv_gate_leave(self.gate, shard) }
        var accepted = 0
        var batch = (UInt(0), UInt(0), UInt(0), UInt(0), UInt(0), UInt(0), UInt(0), UInt(0),
                     UInt(0), UInt(0), UInt(0), UInt(0), UInt(0), UInt(0), UInt(0), UInt(0))
        let batchCapacity = 16
        var iterator = payloads.makeIterator()
        var exhausted = false
        while !exhausted {
            let filled = try withUnsafeMutableBytes(of: &batch) { raw -> Int in
                let slots = raw.bindMemory(to: UInt.self)
                var count = 0
                while count < batchCapacity, let payload = iterator.next() {
                    let record: UnsafeMutablePointer<cnv_task_record>
                    do {
                        record = try self.makeRecord(
                            handler: kind.handlerPointer, retained: false, level: task.priority.level,
                            deadline: task.deadline)
                    } catch {
                        // Out of record memory: give back this batch's records, report what was accepted.
                        for made in 0..<count { cnv_allocator_free(self.recordAllocator, UnsafeMutableRawPointer(bitPattern: slots[made])!) }
                        throw error
                    }
                    UnsafeMutableRawPointer(cnv_task_payload(record)!).storeBytes(of: payload, as: Payload.self)
                    _ = cnv_task_begin(record)
                    slots[count] = UInt(bitPattern: record)
                    count += 1
                }
                return count
            }
            if filled < batchCapacity { exhausted = true }
            if filled == 0 { break }
            let sent = withUnsafeBytes(of: &batch) { raw in
                if hot.hasSpilled(lane) { return 0 }
                return cnv_mpmc_enqueue_burst(hot.rings[lane], raw.bindMemory(to: UInt.self).baseAddress!, filled)
            }
            var placed = sent
            var refused: (any Error)?
            withUnsafeBytes(of: &batch) { raw in
                let slots = raw.bindMemory(to: UInt.self)
                while placed < filled {
                    let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: slots[placed])!
                    do {
                        try self.placeAfterFullRing(record, lane: lane, group: group, hot: hot)
                        placed += 1
                    } catch {
                        refused = error
                        break
                    }
                }
                for rest in placed..<filled {
                    cnv_allocator_free(self.recordAllocator, UnsafeMutableRawPointer(bitPattern: slots[rest])!)
                }
            }
            accepted += placed
            if placed > 0 { cnv_parker_unpark(hot.parker, Int32(min(placed, Int(Int32.max)))) }
            if refused != nil { return accepted }
        }
        return accepted
    }

    /// Queues a closure. Never waits (``submitWaitingForRoom(_:_:)`` waits under the `.wait` policy).
    @discardableResult
    public func submit(_ task: QueueTask = QueueTask(), _ body: @escaping @Sendable () throws -> Void) throws
        -> TaskTicket
    {
        let index = try self.route(task)
        let record = try self.makeRecord(
            handler: Unmanaged.passRetained(ClosureHandler(kind: task.kind, body: body)).toOpaque(), retained: true,
            level: task.priority.level, deadline: task.deadline)
        return try self.enqueueOrFree(record, level: task.priority.level, group: index)
    }

    /// Queues a closure, waiting (suspended, not blocking a thread) for room when the group's
    /// policy is `.wait(timeout:)`; other policies behave as `submit`.
    @discardableResult
    public func submitWaitingForRoom(_ task: QueueTask = QueueTask(), _ body: @escaping @Sendable () throws -> Void) async throws
        -> TaskTicket
    {
        let index = try self.route(task)
        let record = try self.makeRecord(
            handler: Unmanaged.passRetained(ClosureHandler(kind: task.kind, body: body)).toOpaque(), retained: true,
            level: task.priority.level, deadline: task.deadline)
        return try await self.enqueueWaiting(record, level: task.priority.level, group: index)
    }

    /// Runs a closure on a worker and returns its value with timings, or rethrows its error.
    /// Cancelling the calling Swift task cancels the task if it has not started. A task with
    /// a deadline that has not started by then throws ``ConveyorError/deadlineExceeded(kind:)``
    /// at the deadline.
    public func run<Value: Sendable>(
        _ task: QueueTask = QueueTask(), _ body: @escaping @Sendable () throws -> Value
    ) async throws -> TaskResult<Value> {
        let index = try self.route(task)
        let handler = AwaitedHandler(kind: task.kind, body: body)
        let ticketBox = PendingTicket()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                handler.continuation = continuation
                let record: UnsafeMutablePointer<cnv_task_record>
                do {
                    record = try self.makeRecord(
                        handler: Unmanaged.passRetained(handler).toOpaque(), retained: true,
                        level: task.priority.level, deadline: task.deadline)
                } catch {
                    handler.resume(with: .failure(error))
                    return
                }
                let queued: @Sendable (TaskTicket) -> Void = { ticket in
                    if ticketBox.publish(ticket), self.cancel(ticket) {
                        // Cancelled while we were queueing.
                        _ = handler.abandon(.cancelled(kind: task.kind))
                    }
                    if let deadline = task.deadline {
                        self.expire(ticket, handler: handler, kind: task.kind, after: deadline)
                    }
                }
                if case .wait = self.groups[index].configuration.overflow {
                    let address = UInt(bitPattern: record)
                    Task {
                        do {
                            let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!
                            queued(try await self.enqueueWaiting(record, level: task.priority.level, group: index))
                        } catch {
                            handler.resume(with: .failure(error))
                        }
                    }
                } else {
                    do {
                        queued(try self.enqueueOrFree(record, level: task.priority.level, group: index))
                    } catch {
                        handler.resume(with: .failure(error))
                    }
                }
            }
        } onCancel: {
            if let ticket = ticketBox.requestCancel(), self.cancel(ticket) {
                _ = handler.abandon(.cancelled(kind: task.kind))
            }
        }
    }

    /// Cancels a task that has not started. Returns true when it will not run (its `run`
    /// caller, if any, gets `CancellationError`); false when it already started, finished,
    /// expired or was cancelled.
    @discardableResult
    public func cancel(_ ticket: TaskTicket) -> Bool {
        cnv_task_transition(ticket.record, ticket.stateWord, CNV_TASK_CANCELLED)
    }

    private func expire(_ ticket: TaskTicket, handler: TaskHandler, kind: String, after deadline: Duration) {
        Task {
            try? await Task.sleep(for: deadline)
            if cnv_task_transition(ticket.record, ticket.stateWord, CNV_TASK_EXPIRED) {
                _ = handler.abandon(.deadlineExceeded(kind: kind))
            }
        }
    }

    // MARK: Records

    /// Takes a record and fills all but the payload. `handler` is an opaque `TaskHandler`
    /// reference, retained for closures (`retained`), unretained for registered kinds.
    @inline(__always)
    func makeRecord(
        handler: UnsafeMutableRawPointer, retained: Bool, level: Int, deadline: Duration?
    ) throws -> UnsafeMutablePointer<cnv_task_record> {
        guard let memory = cnv_allocator_alloc(self.recordAllocator) else {
            if retained { Unmanaged<TaskHandler>.fromOpaque(handler).release() }
            throw ConveyorError.outOfMemory(what: "a task record")
        }
        let record = memory.assumingMemoryBound(to: cnv_task_record.self)
        record.pointee.submit_ticks = self.timing ? MonotonicClock.ticks() : 0
        if let deadline {
            record.pointee.deadline_ns = cnv_monotonic_ns() &+ UInt64(max(1, deadline.nanoseconds))
        } else {
            record.pointee.deadline_ns = 0
        }
        record.pointee.handler = handler
        record.pointee.flags = retained ? 1 : 0
        record.pointee.priority = UInt16(clamping: level)
        return record
    }

    /// Gives back a record that was never queued (and the handler reference it held).
    func discard(_ record: UnsafeMutablePointer<cnv_task_record>) {
        if record.pointee.flags & 1 != 0, let handler = record.pointee.handler {
            Unmanaged<TaskHandler>.fromOpaque(handler).release()
        }
        cnv_allocator_free(self.recordAllocator, record)
    }

    private func ticket(for record: UnsafeMutablePointer<cnv_task_record>, state: UInt64) -> TaskTicket {
        TaskTicket(recordAddress: UInt(bitPattern: record), stateWord: state)
    }

    /// Queues a prepared record; on failure the record is still the caller's.
    @inline(__always)
    private func enqueue(_ record: UnsafeMutablePointer<cnv_task_record>, level: Int, group index: Int) throws -> TaskTicket {
        let shard = cnv_gate_enter(self.gate)
        guard shard >= 0 else { throw ConveyorError.shutDown }
        defer { cnv_gate_leave(self.gate, shard) }
        let state = cnv_task_begin(record)
        let hot = self.hot[index]
        let lane = hot.lane(forLevel: level)
        if hot.hasSpilled(lane) || !cnv_mpmc_try_enqueue(hot.rings[lane], UInt(bitPattern: record)) {
            try self.placeAfterFullRing(record, lane: lane, group: self.groups[index], hot: hot)
        }
        cnv_parker_unpark(hot.parker, 1)
        return self.ticket(for: record, state: state)
    }

    @inline(__always)
    private func enqueueOrFree(_ record: UnsafeMutablePointer<cnv_task_record>, level: Int, group index: Int) throws -> TaskTicket {
        do {
            return try self.enqueue(record, level: level, group: index)
        } catch {
            self.discard(record)
            throw error
        }
    }

    /// Queues a record, waiting (with a growing sleep, never blocking a thread) for room when
    /// the group's policy is `.wait`. Workers never wait: they could be waiting for themselves.
    private func enqueueWaiting(_ record: UnsafeMutablePointer<cnv_task_record>, level: Int, group index: Int) async throws
        -> TaskTicket
    {
        guard case .wait(let timeout) = self.groups[index].configuration.overflow, !cnv_on_worker_thread() else {
            return try self.enqueueOrFree(record, level: level, group: index)
        }
        let deadline = ContinuousClock.now + timeout
        var delay: UInt64 = 20_000
        while true {
            do {
                return try self.enqueue(record, level: level, group: index)
            } catch ConveyorError.queueFull where ContinuousClock.now < deadline {
                // Room may come; try again after a pause.
            } catch {
                self.discard(record)
                throw error
            }
            do {
                try await Task.sleep(nanoseconds: delay)
            } catch {
                self.discard(record)
                throw error
            }
            delay = min(delay * 2, 1_000_000)
        }
    }

    /// The ring of `lane` was full (or the lane has spilled): apply the overflow policy.
    private func placeAfterFullRing(
        _ record: UnsafeMutablePointer<cnv_task_record>, lane: Int, group: GroupRuntime, hot: GroupHotPath
    ) throws {
        guard case .spill(let limit) = group.configuration.overflow, let overflow = group.lanes[lane].overflow else {
            throw ConveyorError.queueFull(group: group.name, capacity: group.configuration.capacity)
        }
        // While older tasks of this lane sit in the overflow queue, newer ones follow them there.
        if !hot.hasSpilled(lane), cnv_mpmc_try_enqueue(hot.rings[lane], UInt(bitPattern: record)) { return }
        guard overflow.bytesUsed < limit else {
            throw ConveyorError.queueFull(group: group.name, capacity: group.configuration.capacity)
        }
        try overflow.enqueue(UInt(bitPattern: record))
    }
}

/// The ticket of a `run` task, shared between the submitting task and its cancellation handler.
final class PendingTicket: Sendable {
    private let state = PThreadMutex<PendingState>(PendingState())

    struct PendingState: Sendable {
        var ticket: TaskTicket?
        var cancelRequested = false
    }

    /// Stores the ticket; returns true when cancellation was already requested.
    func publish(_ ticket: TaskTicket) -> Bool {
        self.state.withLock {
            $0.ticket = ticket
            return $0.cancelRequested
        }
    }

    /// Marks cancellation; returns the ticket if it is known already.
    func requestCancel() -> TaskTicket? {
        self.state.withLock {
            $0.cancelRequested = true
            return $0.ticket
        }
    }
}
