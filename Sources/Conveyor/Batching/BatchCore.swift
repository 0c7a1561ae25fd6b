import CConveyor
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a flush token's record points at: the kind's shared handler (kept by the engine's
/// kind table), which leads to the kind's ``BatchCoreBase``.
class BatchTaskHandler: TaskHandler, @unchecked Sendable {
    // @unchecked: immutable after init.
    /// Keeps the core alive (the kind table keeps the kind's handler, which keeps the core).
    let core: BatchCoreBase
    /// The same core without reference counting, for the worker's path.
    let coreReference: Unmanaged<BatchCoreBase>

    init(core: BatchCoreBase) {
        self.core = core
        self.coreReference = Unmanaged.passUnretained(core)
        super.init(kind: core.name)
    }
}

/// The handler of a batch kind's flush tokens (one per kind, in the kind table). A token
/// that is never queued gives back the reference to its chunk.
final class BatchKindHandler: BatchTaskHandler, @unchecked Sendable {
    override func dispose(_ record: UnsafeMutablePointer<cnv_task_record>) {
        if record.pointee.flags & BatchFlags.flush != 0 {
            BatchChunk.tokenChunk(record).release()
        }
    }
}

/// The waiter of one awaited batch task (`run(_:_:)` with a ``BatchKind``), kept (retained)
/// in the task's slot: exactly one of the flush, a cancellation and a shutdown resumes the
/// caller (`resumed` guards it).
final class BatchAwaitHandler<Output: Sendable>: BatchTaskHandler, @unchecked Sendable {
    // @unchecked: `continuation` is set once before the task is appended (ordered by the
    // accumulator's lock and the token's ring) and used only by the one resumer that wins `resumed`.
    private let resumed = Atomic<Bool>(false)
    var continuation: CheckedContinuation<Output, any Error>?

    func resume(with result: Result<Output, any Error>) {
        guard !self.resumed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        self.continuation?.resume(with: result)
    }

    override func abandon(_ error: ConveyorError) -> Bool {
        let outcome: any Error = if case .cancelled = error { CancellationError() } else { error }
        self.resume(with: .failure(outcome))
        return true
    }
}

/// The slots of one batch: the tasks of one (group, key) in submit order, written in place by
/// the submitters and read in place by the worker that flushes them.
///
/// Each slot has a **state word** in the task-record format of the C core (a generation and a
/// state, `cnv_task_begin`/`cnv_task_transition`), so a ``TaskTicket`` naming the slot's word
/// cancels it through the engine's ordinary `cancel` (the record's `state` is its first
/// field: a ticket's address is the word's address). The payloads are contiguous (the
/// handler's array is one copy of them), beside them the awaited-result waiter and the submit
/// time of each slot.
///
/// Chunks are never freed while their kind lives (a ticket may name a slot long after its
/// batch ran: the generation makes that ticket fail, which needs the word's memory); a
/// flushed chunk goes back to its kind's free list. Memory follows the batches pending and in
/// flight (bounded by the lanes and the overflow policy), not the tasks ever submitted.
final class BatchChunk: @unchecked Sendable {
    // @unchecked: a chunk belongs to whoever holds it: its accumulator (under the kind's
    // lock), then the token's ring and the one worker that flushes it, then the free list
    // (under the lock). Slot state words are only touched through the C atomics.
    let capacity: Int
    let stride: Int
    let states: UnsafeMutablePointer<UInt64>
    let payloads: UnsafeMutableRawPointer
    let waiters: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// `MonotonicClock` ticks at each task's submit; the flush overwrites them in place with
    /// each live task's added wait in nanoseconds.
    let accepted: UnsafeMutablePointer<UInt64>
    /// The chunk's mutable fields and its slots' addresses in raw memory: the submit path
    /// reads and writes them without Swift's dynamic exclusivity checks (a class's stored
    /// `var` is checked at each access) and without retaining the chunk.
    let header: UnsafeMutablePointer<BatchChunkHeader>

    /// Tasks written into the chunk (its owner's to change, see the class comment).
    var count: Int {
        @inline(__always) get { self.header.pointee.count }
        @inline(__always) set { self.header.pointee.count = newValue }
    }

    /// The user key of the chunk's tasks (`groupBy`), 0 without.
    var key: UInt64 {
        @inline(__always) get { self.header.pointee.key }
        @inline(__always) set { self.header.pointee.key = newValue }
    }

    init?(capacity: Int, stride: Int) {
        // calloc: untouched pages of a large batch's slots stay unresident; zero is a valid
        // state word (generation 0, queued: never handed out) and no waiter.
        guard let states = calloc(capacity, 8), let waiters = calloc(capacity, MemoryLayout<UnsafeMutableRawPointer?>.stride),
            let accepted = calloc(capacity, 8)
        else { return nil }
        var payloads: UnsafeMutableRawPointer?
        guard posix_memalign(&payloads, 16, max(16, capacity * stride)) == 0, let payloads else {
            free(states)
            free(waiters)
            free(accepted)
            return nil
        }
        self.capacity = capacity
        self.stride = stride
        self.states = states.bindMemory(to: UInt64.self, capacity: capacity)
        self.waiters = waiters.bindMemory(to: UnsafeMutableRawPointer?.self, capacity: capacity)
        self.accepted = accepted.bindMemory(to: UInt64.self, capacity: capacity)
        self.payloads = payloads
        self.header = .allocate(capacity: 1)
        self.header.initialize(
            to: BatchChunkHeader(
                count: 0, key: 0, capacity: capacity, stride: stride, states: self.states, payloads: payloads, waiters: self.waiters,
                accepted: self.accepted))
    }

    deinit {
        self.header.deinitialize(count: 1)
        self.header.deallocate()
        free(self.states)
        free(self.waiters)
        free(self.accepted)
        free(self.payloads)
    }

    /// Slot `index`'s state word as the C core's state functions take it (`state` is the
    /// record's first field, checked in ``BatchCoreBase/init``; only that field is accessed).
    @inline(__always)
    func stateRecord(_ index: Int) -> UnsafeMutablePointer<cnv_task_record> {
        UnsafeMutableRawPointer(self.states + index).assumingMemoryBound(to: cnv_task_record.self)
    }

    /// The chunk a flush token carries (retained by the token).
    static func tokenChunk(_ record: UnsafeMutablePointer<cnv_task_record>) -> Unmanaged<BatchChunk> {
        Unmanaged.fromOpaque(UnsafeRawPointer(cnv_task_payload(record)!).load(as: UnsafeRawPointer.self))
    }
}

/// A chunk's mutable fields and slot addresses, in raw memory (see ``BatchChunk/header``).
struct BatchChunkHeader {
    var count: Int
    var key: UInt64
    let capacity: Int
    let stride: Int
    let states: UnsafeMutablePointer<UInt64>
    let payloads: UnsafeMutableRawPointer
    let waiters: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    let accepted: UnsafeMutablePointer<UInt64>
}

struct BatchAccumulators {
    /// The accumulating chunk of a kind without `groupBy`.
    var single: BatchChunk? { didSet { self.singleHeader = self.single?.header } }
    /// `single`'s header, for the submit's fast path (no reference counting); the chunk is
    /// kept alive by `single`.
    var singleHeader: UnsafeMutablePointer<BatchChunkHeader>?
    /// One accumulating chunk per user key (`groupBy`), removed when taken.
    var keyed: [UInt64: BatchChunk] = [:]
    /// Keys with a timer armed (at most one timer per key at a time; it re-arms itself).
    var armed: Set<UInt64> = []
    /// Flushed chunks for reuse.
    var free: [BatchChunk] = []
    /// Chunks smaller than the size limit now (the optimizer raised it): kept, never reused.
    var retired: [BatchChunk] = []
    /// Full or due chunks whose token could not be queued (ring full, shutdown): a timer
    /// retries them every millisecond; the drain and the shutdown take them. While any is
    /// parked, submits are refused (memory stays bounded).
    var parked: [BatchChunk] = [] { didSet { self.anyParked = !self.parked.isEmpty } }
    /// `!parked.isEmpty`, for the submit's fast path.
    var anyParked = false
    /// Why the newest chunk was parked: what a refused submit reports (out of memory is not a
    /// full ring).
    var parkedBecause: ConveyorError?
    var retryArmed = false
    /// Chunks taken out whose token is being queued right now (the shutdown waits for them).
    var inTransit = 0
    /// Tasks in the accumulating and parked chunks.
    var pending = 0
}

/// A batch kind's ``BatchAccumulators`` behind a pthread mutex (seen by ThreadSanitizer), in
/// raw memory, with the lock and unlock callable directly: the submit's fast path locks,
/// writes its slot through the state's pointer and unlocks, with no closure, no reference
/// counting and no dynamic exclusivity check (the state is not a class's stored `var`).
final class BatchAccumulatorLock: @unchecked Sendable {
    // @unchecked: `state` is read and written only between lock and unlock.
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let state: UnsafeMutablePointer<BatchAccumulators>

    init() {
        self.mutex = .allocate(capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        // A default (non-robust, non-recursive) mutex cannot fail to initialize on Linux.
        pthread_mutex_init(self.mutex, nil)
        self.state = .allocate(capacity: 1)
        self.state.initialize(to: BatchAccumulators())
    }

    deinit {
        self.state.deinitialize(count: 1)
        self.state.deallocate()
        pthread_mutex_destroy(self.mutex)
        self.mutex.deinitialize(count: 1)
        self.mutex.deallocate()
    }

    /// Runs `body` with the state while holding the lock.
    func withLock<Result, Failure: Error>(_ body: (inout BatchAccumulators) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        return try body(&self.state.pointee)
    }
}

/// A batch kind's accumulators, flush logic and statistics; the generic subclass
/// ``BatchCore`` copies payloads, calls the handler and delivers results.
///
/// Batches form at submit: a submit writes its task into a slot of the accumulating chunk of
/// its key (one pthread lock, held for the slot's writes) and gets a ticket naming that slot.
/// Only the submit that fills a chunk queues a **flush token** (one task record carrying the
/// chunk) in the group's lane; the worker that takes the token flushes the chunk in place, so
/// handlers run on the group's workers under its concurrency limit. The first task of an empty
/// accumulator arms a timer (one per key at a time) on the engine's timer thread; when it fires
/// and the oldest task has waited `maxWaitTime`, it takes the chunk and queues its token in the
/// group's **high** lane; otherwise it re-arms for the rest of the wait.
@usableFromInline
class BatchCoreBase: @unchecked Sendable {
    // @unchecked: mutable state sits behind `accumulators` and `stats` (pthread mutexes,
    // seen by ThreadSanitizer); the rest is immutable after init or atomic.
    let name: String
    let groupIndex: Int
    let groupName: String
    let maxWait: Duration
    let maxWaitNanoseconds: UInt64
    let keyed: Bool
    let clock: any CacheClock
    let payloadSize: Int
    let payloadStride: Int
    /// The current size limit (``Conveyor/optimizeBatchSize(for:target:)`` may change it).
    let maxBatchSize: Atomic<Int>
    let accumulators = BatchAccumulatorLock()
    /// `accumulators`' mutex and state, for the submit's fast path (owned by `accumulators`).
    let accumulatorMutex: UnsafeMutablePointer<pthread_mutex_t>
    let accumulatorState: UnsafeMutablePointer<BatchAccumulators>
    /// Tasks of chunks taken out for a token and not flushed yet (the optimizer's backlog:
    /// the group's queue counts tokens, not tasks).
    let queuedTasks = Atomic<Int>(0)
    let stats = PThreadMutex<BatchStatisticsState>(BatchStatisticsState())
    /// The kind handler as tokens carry it (unretained: the kind table keeps it); set once
    /// at registration, before any task exists.
    /// Unchecked exclusivity: written once before the kind is handed out, then only read.
    @exclusivity(unchecked) nonisolated(unsafe) var kindHandler: UnsafeMutableRawPointer?

    init(
        name: String, groupIndex: Int, groupName: String, options: BatchOptions, keyed: Bool, payloadSize: Int, payloadStride: Int
    ) {
        // Tickets name a slot's state word as a record address: `state` must be the record's first field.
        precondition(MemoryLayout<cnv_task_record>.offset(of: \cnv_task_record.state) == 0, "cnv_task_record.state moved")
        self.name = name
        self.groupIndex = groupIndex
        self.groupName = groupName
        self.maxWait = options.maxWaitTime
        self.maxWaitNanoseconds = UInt64(max(1, options.maxWaitTime.clampedForEngine.nanoseconds))
        self.keyed = keyed
        self.clock = options.clock
        self.payloadSize = payloadSize
        self.payloadStride = max(1, payloadStride)
        self.maxBatchSize = Atomic(options.maxBatchSize)
        self.accumulatorMutex = self.accumulators.mutex
        self.accumulatorState = self.accumulators.state
    }

    // MARK: Overridden by BatchCore

    /// The user key of a payload (only called when `keyed`).
    func key(of payload: UnsafeRawPointer) -> UInt64 { 0 }

    /// Runs the handler on the first `count` slots of `chunk` (all RUNNING, compacted),
    /// delivers every result, releases the waiters. Returns how many tasks failed.
    func run(_ chunk: BatchChunk, count: Int, group: GroupRuntime, engine: Conveyor) -> Int { 0 }

    // MARK: Submitting

    private enum Appended {
        case accepted(TaskTicket, full: BatchChunk?, arm: Bool)
        case refused(ConveyorError)
    }

    /// Appends one task to its key's chunk; the submit that fills the chunk queues its token.
    /// `waiter` is a retained `BatchAwaitHandler` (`run`) or nil; on a throw it is released.
    /// `blocking`: a synchronous submit (the `.wait` policy blocks this thread for room);
    /// otherwise an awaited one (waits for room in a Swift task, never blocking the thread).
    ///
    /// The common case — a kind without `groupBy`, a chunk accumulating, this task neither its
    /// first nor its last — is the fast path: lock, write the slot through raw pointers,
    /// unlock. Everything else (a new chunk, the timer to arm, a full chunk, a parked chunk,
    /// a keyed kind, shutdown) takes ``append(_:state:key:now:limit:waiter:engine:)`` under
    /// the same lock hold.
    final func submit(_ payload: UnsafeRawBufferPointer, waiter: UnsafeMutableRawPointer?, engine: Conveyor, blocking: Bool) throws
        -> TaskTicket
    {
        let key = self.keyed ? self.key(of: payload.baseAddress!) : 0
        let now = MonotonicClock.ticks()
        let limit = self.maxBatchSize.load(ordering: .relaxed)
        let state = self.accumulatorState
        pthread_mutex_lock(self.accumulatorMutex)
        // No gate (issue 10): the check is inside the accumulators' lock. Shutdown stops
        // accepting (the gate's `open` word) before it settles the batches, and the settle
        // takes this lock: an append that still saw "accepting" here holds the lock before
        // the settle does, so the settle finds its task; one after the settle sees "not
        // accepting" (the store happens before the settle's lock, which happens before this load).
        if !self.keyed, engine.isAccepting, !state.pointee.anyParked, let header = state.pointee.singleHeader {
            let index = header.pointee.count
            // Not the first task (which arms the timer) nor the one that fills the chunk.
            if index > 0, index &+ 1 < min(limit, header.pointee.capacity) {
                // Relaxed inside: the lock's release (or the token's ring) publishes the slot.
                let word = cnv_task_begin(
                    UnsafeMutableRawPointer(header.pointee.states + index).assumingMemoryBound(to: cnv_task_record.self))
                Self.copyPayload(payload, to: header.pointee.payloads + index &* header.pointee.stride)
                header.pointee.waiters[index] = waiter
                header.pointee.accepted[index] = now
                header.pointee.count = index &+ 1
                state.pointee.pending &+= 1
                pthread_mutex_unlock(self.accumulatorMutex)
                return TaskTicket(recordAddress: UInt(bitPattern: header.pointee.states + index), stateWord: word)
            }
        }
        let appended = self.append(payload, state: &state.pointee, key: key, now: now, limit: limit, waiter: waiter, engine: engine)
        pthread_mutex_unlock(self.accumulatorMutex)
        switch appended {
        case .refused(let error):
            if let waiter { Unmanaged<TaskHandler>.fromOpaque(waiter).release() }
            throw error
        case .accepted(let ticket, let full, let arm):
            if arm { self.armTimer(key: key, after: self.maxWait, engine: engine) }
            if let full { try self.queueFull(full, engine: engine, blocking: blocking) }
            return ticket
        }
    }

    /// Copies a payload into its slot: the common small sizes as one load and store, the
    /// rest with `memcpy`. Either side may be unaligned for the payload's type.
    @inline(__always)
    private static func copyPayload(_ payload: UnsafeRawBufferPointer, to slot: UnsafeMutableRawPointer) {
        let source = payload.baseAddress!
        switch payload.count {
        case 8: slot.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
        case 16:
            slot.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
            (slot + 8).storeBytes(of: (source + 8).loadUnaligned(as: UInt64.self), as: UInt64.self)
        case 4: slot.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
        default: slot.copyMemory(from: source, byteCount: payload.count)
        }
    }

    /// The submit's general path, under the accumulators' lock: refuses (shutdown, a parked
    /// chunk, out of memory), or appends to the key's chunk — a new one when there is none —
    /// and takes the chunk out when this task fills it.
    private func append(
        _ payload: UnsafeRawBufferPointer, state: inout BatchAccumulators, key: UInt64, now: UInt64, limit: Int,
        waiter: UnsafeMutableRawPointer?, engine: Conveyor
    ) -> Appended {
        guard engine.isAccepting else { return .refused(.shutDown) }
        guard state.parked.isEmpty else {
            let group = engine.groups[self.groupIndex]
            return .refused(
                state.parkedBecause
                    ?? .queueFull(group: group.name, capacity: group.configuration.capacity, exhausted: .ring(level: 1)))
        }
        let chunk: BatchChunk
        if self.keyed, let current = state.keyed[key] {
            chunk = current
        } else if !self.keyed, let current = state.single {
            chunk = current
        } else {
            guard let fresh = Self.freshChunk(&state, limit: limit, stride: self.payloadStride) else {
                return .refused(.outOfMemory(what: "a batch of \(limit) slots for kind \"\(self.name)\""))
            }
            fresh.key = key
            if self.keyed { state.keyed[key] = fresh } else { state.single = fresh }
            chunk = fresh
        }
        let index = chunk.count
        let arm = index == 0 && state.armed.insert(key).inserted
        // Relaxed inside: the lock's release (or the token's ring) publishes the slot.
        let word = cnv_task_begin(chunk.stateRecord(index))
        Self.copyPayload(payload, to: chunk.payloads + index * chunk.stride)
        chunk.waiters[index] = waiter
        chunk.accepted[index] = now
        chunk.count = index + 1
        state.pending += 1
        let ticket = TaskTicket(recordAddress: UInt(bitPattern: chunk.states + index), stateWord: word)
        guard chunk.count >= min(limit, chunk.capacity) else { return .accepted(ticket, full: nil, arm: arm) }
        if self.keyed { state.keyed[key] = nil } else { state.single = nil }
        state.pending -= chunk.count
        state.inTransit += 1
        self.queuedTasks.add(chunk.count, ordering: .relaxed)
        return .accepted(ticket, full: chunk, arm: arm)
    }

    /// A chunk for a new batch: a free one big enough, else a new one.
    private static func freshChunk(_ state: inout BatchAccumulators, limit: Int, stride: Int) -> BatchChunk? {
        if let reused = state.free.popLast() {
            if reused.capacity >= limit { return reused }
            state.retired.append(reused)
        }
        return BatchChunk(capacity: limit, stride: stride)
    }

    /// Queues the token of a chunk its last submit filled (normal lane, the group's policy).
    /// When that fails, the filling task (the chunk's last) is taken out again and its submit
    /// throws; the rest of the chunk is parked and retried.
    private func queueFull(_ chunk: BatchChunk, engine: Conveyor, blocking: Bool) throws {
        do {
            let record = try self.makeToken(chunk, engine: engine)
            if blocking {
                _ = try engine.enqueueOrFree(record, level: 1, group: self.groupIndex)
            } else {
                do {
                    _ = try engine.enqueue(record, level: 1, group: self.groupIndex)
                } catch ConveyorError.queueFull(_, _, .ring) where engine.groups[self.groupIndex].waitTimeout != nil {
                    // `.wait` for an awaited task: wait for room in a Swift task; the task
                    // stays accepted (its caller awaits the batch).
                    let address = UInt(bitPattern: record)
                    Task {
                        do {
                            _ = try await engine.enqueueWaiting(
                                UnsafeMutablePointer(bitPattern: address)!, level: 1, group: self.groupIndex)
                            self.transitEnded()
                        } catch {
                            self.park(chunk, after: error, engine: engine)
                        }
                    }
                    return
                } catch {
                    engine.discard(record)
                    throw error
                }
            }
            self.transitEnded()
        } catch {
            let last = chunk.count - 1
            let record = chunk.stateRecord(last)
            // This submit's own task: its ticket was not handed out, nobody else can settle it.
            _ = cnv_task_transition(record, cnv_task_state_word(record), CNV_TASK_CANCELLED)
            if let waiter = chunk.waiters[last] {
                Unmanaged<TaskHandler>.fromOpaque(waiter).release()
                chunk.waiters[last] = nil
            }
            chunk.count = last
            self.queuedTasks.subtract(1, ordering: .relaxed)
            self.park(chunk, after: error, engine: engine)
            throw error
        }
    }

    /// A token record carrying `chunk` (retained by the token until it is taken or disposed).
    private func makeToken(_ chunk: BatchChunk, engine: Conveyor) throws -> UnsafeMutablePointer<cnv_task_record> {
        let record = try engine.makeRecord(handler: self.kindHandler!, retained: false, level: 1, deadline: nil)
        record.pointee.flags |= (BatchFlags.task | BatchFlags.flush)
        UnsafeMutableRawPointer(cnv_task_payload(record)!).storeBytes(
            of: UnsafeRawPointer(Unmanaged.passRetained(chunk).toOpaque()), as: UnsafeRawPointer.self)
        return record
    }

    private func transitEnded() {
        self.accumulators.withLock { $0.inTransit -= 1 }
    }

    /// A taken chunk's token could not be queued: parks it (or recycles it when it is empty)
    /// and, unless the engine is shutting down (the drain or the settle takes it), retries.
    private func park(_ chunk: BatchChunk, after error: any Error, engine: Conveyor) {
        self.queuedTasks.subtract(chunk.count, ordering: .relaxed)
        let retry = self.accumulators.withLock { state -> Bool in
            state.inTransit -= 1
            if chunk.count == 0 {
                state.free.append(chunk)
                return false
            }
            state.parked.append(chunk)
            state.parkedBecause = error as? ConveyorError
            state.pending += chunk.count
            if case ConveyorError.shutDown = error { return false }
            guard !state.retryArmed else { return false }
            state.retryArmed = true
            return true
        }
        if retry { self.scheduleRetry(engine: engine) }
    }

    private func scheduleRetry(engine: Conveyor) {
        let scheduled = engine.deadlines.schedule(after: .milliseconds(1)) { [weak engine] in
            guard let engine else { return }
            self.retryParked(engine: engine)
        }
        if scheduled == nil { self.accumulators.withLock { $0.retryArmed = false } }
    }

    /// Queues the parked chunks' tokens in the high lane (a timer, every millisecond while any is parked).
    private func retryParked(engine: Conveyor) {
        let chunks = self.accumulators.withLock { state -> [BatchChunk] in
            state.retryArmed = false
            let chunks = state.parked
            state.parked.removeAll()
            for chunk in chunks {
                state.pending -= chunk.count
                self.queuedTasks.add(chunk.count, ordering: .relaxed)
            }
            state.inTransit += chunks.count
            return chunks
        }
        for chunk in chunks { self.queueDue(chunk, engine: engine) }
    }

    /// Queues a due chunk's token in the high lane without blocking (the timer thread).
    private func queueDue(_ chunk: BatchChunk, engine: Conveyor) {
        do {
            let record = try self.makeToken(chunk, engine: engine)
            do {
                _ = try engine.enqueue(record, level: 0, group: self.groupIndex)
            } catch {
                engine.discard(record)
                throw error
            }
            self.transitEnded()
        } catch {
            self.park(chunk, after: error, engine: engine)
        }
    }

    // MARK: Timers

    /// After `delay`, flushes the chunk of `key` if its oldest task has waited maxWaitTime,
    /// else re-arms for the rest; disarms when the key has nothing pending.
    final func armTimer(key: UInt64, after delay: Duration, engine: Conveyor) {
        let scheduled = engine.deadlines.schedule(after: delay) { [weak engine] in
            guard let engine else { return }
            self.timerFired(key: key, engine: engine)
        }
        if scheduled == nil {
            // The engine stopped: its shutdown settled every task.
            self.accumulators.withLock { _ = $0.armed.remove(key) }
        }
    }

    private enum TimerAction {
        case none
        case rearm(UInt64)
        case flush(BatchChunk)
    }

    private func timerFired(key: UInt64, engine: Conveyor) {
        let now = MonotonicClock.ticks()
        let action = self.accumulators.withLock { state -> TimerAction in
            let current = self.keyed ? state.keyed[key] : state.single
            guard let chunk = current, chunk.count > 0 else {
                state.armed.remove(key)
                return .none
            }
            let waited = MonotonicClock.nanoseconds(from: chunk.accepted[0], to: now)
            guard waited >= self.maxWaitNanoseconds else { return .rearm(self.maxWaitNanoseconds - waited) }
            if self.keyed { state.keyed[key] = nil } else { state.single = nil }
            state.armed.remove(key)
            state.pending -= chunk.count
            state.inTransit += 1
            self.queuedTasks.add(chunk.count, ordering: .relaxed)
            return .flush(chunk)
        }
        switch action {
        case .none: return
        case .rearm(let rest): self.armTimer(key: key, after: .nanoseconds(Int64(clamping: rest)), engine: engine)
        case .flush(let chunk): self.queueDue(chunk, engine: engine)
        }
    }

    // MARK: The worker side

    /// A worker took a flush token from the group's lane: flushes its chunk (or, when the
    /// group is stopping, fails its tasks as not started).
    final func accept(_ record: UnsafeMutablePointer<cnv_task_record>, group: GroupRuntime, recorder: Recorder?, engine: Conveyor) {
        let chunk = BatchChunk.tokenChunk(record).takeRetainedValue()
        cnv_allocator_free(engine.recordAllocator, record)
        self.queuedTasks.subtract(chunk.count, ordering: .relaxed)
        if group.currentMode == .stopping {
            // Only the shutdown sweep of `drain: false` gets here: nothing more may start.
            self.failNotStarted(chunk, group: group, recorder: recorder, engine: engine)
        } else {
            self.flush(chunk, group: group, recorder: recorder, engine: engine)
        }
        self.recycle(chunk)
    }

    /// Takes every unflushed chunk (drain and shutdown), and how many are in transit.
    final func takeAll() -> (chunks: [BatchChunk], inTransit: Int) {
        self.accumulators.withLock { state in
            var all = state.parked
            state.parked.removeAll()
            if let single = state.single {
                // A chunk is never dropped: a ticket may still name one of its slots.
                if single.count > 0 { all.append(single) } else { state.free.append(single) }
            }
            state.single = nil
            for (_, chunk) in state.keyed {
                if chunk.count > 0 { all.append(chunk) } else { state.free.append(chunk) }
            }
            state.keyed.removeAll()
            state.pending = 0
            return (all, state.inTransit)
        }
    }

    /// Tasks waiting in the accumulators (and parked).
    final var pendingCount: Int { self.accumulators.withLock { $0.pending } }

    final func recycle(_ chunk: BatchChunk) {
        chunk.count = 0
        self.accumulators.withLock { $0.free.append(chunk) }
    }

    // MARK: Flushing and settling

    /// Starts every task still queued (a cancelled one is removed and settled), compacting the
    /// live ones to the front, calls the handler once, delivers each result, records statistics.
    final func flush(_ chunk: BatchChunk, group: GroupRuntime, recorder: Recorder?, engine: Conveyor) {
        let start = MonotonicClock.ticks()
        let count = chunk.count
        let timing = engine.timing
        var live = 0
        var removed = 0
        for index in 0..<count {
            let record = chunk.stateRecord(index)
            let state = cnv_task_state_word(record)
            if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue), cnv_task_transition(record, state, CNV_TASK_RUNNING) {
                if live != index {
                    (chunk.payloads + live * chunk.stride).copyMemory(from: chunk.payloads + index * chunk.stride, byteCount: self.payloadSize)
                    chunk.waiters[live] = chunk.waiters[index]
                    chunk.waiters[index] = nil
                }
                let wait = MonotonicClock.nanoseconds(from: chunk.accepted[index], to: start)
                chunk.accepted[live] = wait
                if timing, let recorder { recorder.record(wait, in: RecorderLayout.Tasks.queueWait) }
                live += 1
            } else {
                // Cancelled while it waited in the batch: removed before the call.
                removed += 1
                self.settleCancelled(chunk.waiters[index], recorder: recorder)
                chunk.waiters[index] = nil
            }
        }
        chunk.count = live
        if live == 0 {
            if removed > 0 { self.stats.withLock { $0.removed += removed } }
            return
        }
        let before = self.clock.now()
        let failed = self.run(chunk, count: live, group: group, engine: engine)
        let elapsed = self.clock.now() - before
        let handlerNanoseconds = UInt64(max(0, elapsed.cacheNanoseconds))
        if let recorder {
            recorder.increment(RecorderLayout.Tasks.completed, by: UInt64(live - failed))
            if failed > 0 { recorder.increment(RecorderLayout.Tasks.failed, by: UInt64(failed)) }
            recorder.record(handlerNanoseconds, in: RecorderLayout.Tasks.service)
        }
        let now = cnv_monotonic_ns()
        let waits = UnsafeBufferPointer(start: chunk.accepted, count: live)
        self.stats.withLock {
            $0.add(size: live, waits: waits, handlerNanoseconds: handlerNanoseconds, failed: failed, removed: removed, at: now)
        }
    }

    /// Settles a task a cancel stopped before its batch was flushed (`waiter`: its retained
    /// awaiting handler, if any, released here).
    final func settleCancelled(_ waiter: UnsafeMutableRawPointer?, recorder: Recorder?) {
        recorder?.increment(RecorderLayout.Tasks.cancelled)
        guard let waiter else { return }
        let handler = Unmanaged<TaskHandler>.fromOpaque(waiter)
        _ = handler._withUnsafeGuaranteedRef { $0.abandon(.cancelled(kind: self.name)) }
        handler.release()
    }

    /// Fails every task of `chunk` that will never start (`shutdown(drain: false)`) as not
    /// started; a cancelled one is settled as cancelled.
    final func failNotStarted(_ chunk: BatchChunk, group: GroupRuntime, recorder: Recorder?, engine: Conveyor) {
        for index in 0..<chunk.count {
            let record = chunk.stateRecord(index)
            let state = cnv_task_state_word(record)
            let waiter = chunk.waiters[index]
            chunk.waiters[index] = nil
            guard state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue), cnv_task_transition(record, state, CNV_TASK_CANCELLED) else {
                self.settleCancelled(waiter, recorder: recorder)
                continue
            }
            engine.notStarted.add(1, ordering: .relaxed)
            if let waiter {
                let handler = Unmanaged<TaskHandler>.fromOpaque(waiter)
                _ = handler._withUnsafeGuaranteedRef { $0.abandon(.notStarted(kind: self.name)) }
                handler.release()
            } else {
                engine.report(TaskFailure(kind: self.name, group: group.name, error: ConveyorError.notStarted(kind: self.name)))
            }
        }
        chunk.count = 0
    }
}

/// A batch kind's core for its payload and output types.
final class BatchCore<Payload: BitwiseCopyable & Sendable, Output: Sendable>: BatchCoreBase, @unchecked Sendable {
    enum Body: Sendable {
        case results(@Sendable ([Payload]) throws -> [Output])
        case perItem(@Sendable ([Payload]) throws -> [Result<Output, any Error>])
        /// Output is Void: every item succeeds unless the call throws.
        case void(@Sendable ([Payload]) throws -> Void)
    }

    let body: Body
    let groupBy: (@Sendable (Payload) -> UInt64)?

    init(name: String, groupIndex: Int, groupName: String, options: BatchOptions, groupBy: (@Sendable (Payload) -> UInt64)?, body: Body) {
        self.body = body
        self.groupBy = groupBy
        super.init(
            name: name, groupIndex: groupIndex, groupName: groupName, options: options, keyed: groupBy != nil,
            payloadSize: MemoryLayout<Payload>.size, payloadStride: MemoryLayout<Payload>.stride)
    }

    override func key(of payload: UnsafeRawPointer) -> UInt64 {
        self.groupBy?(payload.loadUnaligned(as: Payload.self)) ?? 0
    }

    override func run(_ chunk: BatchChunk, count: Int, group: GroupRuntime, engine: Conveyor) -> Int {
        // One copy of the contiguous slots into the handler's array (not one per item).
        let payloads = [Payload](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: chunk.payloads, byteCount: count * chunk.stride)
            initialized = count
        }
        // No `Result` values on the success paths: in this unspecialized generic class each
        // generic type used costs a metadata lookup per batch (measured ≈ 50 instructions per
        // task at batches of 50 when the calls were wrapped in `Result`).
        switch self.body {
        case .void(let handler):
            do { try handler(payloads) } catch { return self.fail(chunk, count: count, error: error, group: group, engine: engine) }
            // Output == Void (registered through the Void handler only): every item succeeded.
            for index in 0..<count {
                guard let waiter = chunk.waiters[index] else { continue }
                chunk.waiters[index] = nil
                Unmanaged<BatchAwaitHandler<Output>>.fromOpaque(waiter).takeRetainedValue().resume(with: .success(() as! Output))
            }
            return 0
        case .results(let handler):
            let outputs: [Output]
            do { outputs = try handler(payloads) } catch { return self.fail(chunk, count: count, error: error, group: group, engine: engine) }
            guard outputs.count == count else {
                let error = ConveyorError.batchResultCount(kind: self.name, expected: count, got: outputs.count)
                return self.fail(chunk, count: count, error: error, group: group, engine: engine)
            }
            for index in 0..<count {
                guard let waiter = chunk.waiters[index] else { continue }
                chunk.waiters[index] = nil
                Unmanaged<BatchAwaitHandler<Output>>.fromOpaque(waiter).takeRetainedValue().resume(with: .success(outputs[index]))
            }
            return 0
        case .perItem(let handler):
            let results: [Result<Output, any Error>]
            do { results = try handler(payloads) } catch { return self.fail(chunk, count: count, error: error, group: group, engine: engine) }
            guard results.count == count else {
                let error = ConveyorError.batchResultCount(kind: self.name, expected: count, got: results.count)
                return self.fail(chunk, count: count, error: error, group: group, engine: engine)
            }
            var failed = 0
            for index in 0..<count {
                let result = results[index]
                if case .failure = result { failed += 1 }
                if let waiter = chunk.waiters[index] {
                    chunk.waiters[index] = nil
                    Unmanaged<BatchAwaitHandler<Output>>.fromOpaque(waiter).takeRetainedValue().resume(with: result)
                } else if case .failure(let error) = result {
                    engine.report(TaskFailure(kind: self.name, group: group.name, error: error))
                }
            }
            return failed
        }
    }

    /// Fails every task of the call with `error` (the handler threw, or returned a wrong
    /// number of results): thrown to each awaiting caller, reported for the rest.
    private func fail(_ chunk: BatchChunk, count: Int, error: any Error, group: GroupRuntime, engine: Conveyor) -> Int {
        for index in 0..<count {
            if let waiter = chunk.waiters[index] {
                chunk.waiters[index] = nil
                Unmanaged<BatchAwaitHandler<Output>>.fromOpaque(waiter).takeRetainedValue().resume(with: .failure(error))
            } else {
                engine.report(TaskFailure(kind: self.name, group: group.name, error: error))
            }
        }
        return count
    }
}
