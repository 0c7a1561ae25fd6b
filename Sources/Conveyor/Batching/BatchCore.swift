import CConveyor
import Synchronization

/// What every record of a batch kind points at: the kind's shared handler (fire-and-forget
/// tasks, kept by the engine's kind table) or a retained per-task waiter (`run`). Both lead to
/// the kind's ``BatchCoreBase``, which accumulates and settles the task.
class BatchTaskHandler: TaskHandler, @unchecked Sendable {
    // @unchecked: immutable after init.
    /// Keeps the core alive (the kind table keeps the kind's handler, which keeps the core).
    let core: BatchCoreBase
    /// The same core without reference counting, for the per-task path.
    let coreReference: Unmanaged<BatchCoreBase>

    init(core: BatchCoreBase) {
        self.core = core
        self.coreReference = Unmanaged.passUnretained(core)
        super.init(kind: core.name)
    }
}

/// The handler of a batch kind's fire-and-forget tasks (one per kind, in the kind table).
/// A task it abandons (cancelled, not started) has no caller waiting: the engine reports it.
final class BatchKindHandler: BatchTaskHandler, @unchecked Sendable {}

/// The handler of one awaited batch task (`run(_:_:)` with a ``BatchKind``): exactly one of
/// the flush, a cancellation and a shutdown resumes the caller (`resumed` guards it).
final class BatchAwaitHandler<Output: Sendable>: BatchTaskHandler, @unchecked Sendable {
    // @unchecked: `continuation` is set once before the record is published (ordered by the
    // ring) and used only by the one resumer that wins `resumed`.
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

/// Tasks of one (group, key) waiting to be flushed, in the order the workers took them.
struct PendingBatch {
    var records: [UInt] = []
    /// `MonotonicClock` ticks at which each was taken by a worker (for the added wait).
    var accepted: [UInt64] = []
    /// Names this batch for its timer: a timer of an older batch finds another epoch.
    var epoch: UInt64 = 0
}

/// A batch taken out of its accumulator, to be flushed (or failed) by whoever took it.
struct TakenBatch {
    var records: [UInt]
    var accepted: [UInt64]
}

struct BatchAccumulators {
    /// The one accumulator of a kind without `groupBy`.
    var single = PendingBatch()
    /// One accumulator per user key (`groupBy`), removed when flushed.
    var keyed: [UInt64: PendingBatch] = [:]
    var nextEpoch: UInt64 = 1
    /// Tasks held in all accumulators.
    var pending = 0
}

/// A batch kind's accumulators, flush logic and statistics; the generic subclass
/// ``BatchCore`` copies payloads, calls the handler and delivers results.
///
/// Batches form on the worker side: a worker that takes a batch kind's record from a lane
/// appends it here (one pthread lock per task, held for an append) instead of running it.
/// The worker whose append fills the batch flushes it on its own thread, so the group's
/// concurrency limit holds for handlers too. The first task of a batch arms a timer on the
/// engine's timer thread; when it fires and the batch is still there, the timer queues a
/// flush marker (a record with `BatchFlags.flush`) in the group's high lane, and the
/// worker that takes the marker flushes the batch.
@usableFromInline
class BatchCoreBase: @unchecked Sendable {
    // @unchecked: mutable state sits behind `accumulators` and `stats` (pthread mutexes,
    // seen by ThreadSanitizer); the rest is immutable after init or atomic.
    let name: String
    let groupIndex: Int
    let groupName: String
    let maxWait: Duration
    let keyed: Bool
    let clock: any CacheClock
    /// The current size limit (``Conveyor/optimizeBatchSize(for:target:)`` may change it).
    let maxBatchSize: Atomic<Int>
    let accumulators = PThreadMutex<BatchAccumulators>(BatchAccumulators())
    let stats = PThreadMutex<BatchStatisticsState>(BatchStatisticsState())
    /// The kind handler as records carry it (unretained: the kind table keeps it); set once
    /// at registration, before any task exists.
    nonisolated(unsafe) var kindHandler: UnsafeMutableRawPointer?

    init(name: String, groupIndex: Int, groupName: String, options: BatchOptions, keyed: Bool) {
        self.name = name
        self.groupIndex = groupIndex
        self.groupName = groupName
        self.maxWait = options.maxWaitTime
        self.keyed = keyed
        self.clock = options.clock
        self.maxBatchSize = Atomic(options.maxBatchSize)
    }

    // MARK: Overridden by BatchCore

    /// The user key of the task in `record` (only called when `keyed`).
    func key(of record: UnsafeMutablePointer<cnv_task_record>) -> UInt64 { 0 }

    /// Runs the handler on the records (all RUNNING), delivers every result, releases retained
    /// waiters. Returns how many tasks failed.
    func run(_ live: [UInt], group: GroupRuntime, engine: Conveyor) -> Int { 0 }

    // MARK: The worker side

    /// A worker took `record` (a task or a flush marker) from the group's lane.
    final func accept(_ record: UnsafeMutablePointer<cnv_task_record>, group: GroupRuntime, recorder: Recorder?, engine: Conveyor) {
        let flags = record.pointee.flags
        if group.currentMode == .stopping {
            // Only the shutdown sweep of `drain: false` gets here: nothing more may start.
            if flags & BatchFlags.flush != 0 {
                cnv_allocator_free(engine.recordAllocator, record)
            } else {
                self.failNotStarted(record, group: group, recorder: recorder, engine: engine)
            }
            return
        }
        if flags & BatchFlags.flush != 0 {
            let payload = UnsafeRawPointer(cnv_task_payload(record)!)
            let key = payload.load(as: UInt64.self)
            let epoch = payload.load(fromByteOffset: 8, as: UInt64.self)
            cnv_allocator_free(engine.recordAllocator, record)
            if let batch = self.take(key: key, epoch: epoch) {
                self.flush(batch, group: group, recorder: recorder, engine: engine)
            }
            return
        }
        let state = cnv_task_state_word(record)
        guard state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue) else {
            self.settleUnstarted(record, state: state, recorder: recorder, engine: engine)
            return
        }
        let key = self.keyed ? self.key(of: record) : 0
        let now = MonotonicClock.ticks()
        let limit = self.maxBatchSize.load(ordering: .relaxed)
        let address = UInt(bitPattern: record)
        var arm: UInt64 = 0
        let full = self.accumulators.withLock { state -> TakenBatch? in
            state.pending += 1
            if self.keyed {
                let batch = Self.add(address, at: now, limit: limit, to: &state.keyed[key, default: PendingBatch()], arm: &arm, next: &state.nextEpoch)
                if let batch {
                    state.keyed[key] = nil
                    state.pending -= batch.records.count
                }
                return batch
            }
            let batch = Self.add(address, at: now, limit: limit, to: &state.single, arm: &arm, next: &state.nextEpoch)
            if let batch { state.pending -= batch.records.count }
            return batch
        }
        if let full {
            self.flush(full, group: group, recorder: recorder, engine: engine)
        } else if arm != 0 {
            self.armTimer(key: key, epoch: arm, after: self.maxWait, engine: engine)
        }
    }

    /// Appends one task; returns the batch when it is full. Sets `arm` to the new batch's
    /// epoch when this task starts a batch that is not full yet.
    @inline(__always)
    private static func add(
        _ address: UInt, at ticks: UInt64, limit: Int, to batch: inout PendingBatch, arm: inout UInt64, next: inout UInt64
    ) -> TakenBatch? {
        if batch.records.isEmpty {
            batch.epoch = next
            next &+= 1
            let reserve = min(limit, 4096)
            batch.records.reserveCapacity(reserve)
            batch.accepted.reserveCapacity(reserve)
        }
        batch.records.append(address)
        batch.accepted.append(ticks)
        if batch.records.count >= limit {
            let taken = TakenBatch(records: batch.records, accepted: batch.accepted)
            batch.records = []
            batch.accepted = []
            return taken
        }
        if batch.records.count == 1 { arm = batch.epoch }
        return nil
    }

    /// Takes the batch of `key` if it is still the one with `epoch` (its timer fired).
    final func take(key: UInt64, epoch: UInt64) -> TakenBatch? {
        self.accumulators.withLock { state -> TakenBatch? in
            if self.keyed {
                guard let batch = state.keyed[key], batch.epoch == epoch, !batch.records.isEmpty else { return nil }
                state.keyed[key] = nil
                state.pending -= batch.records.count
                return TakenBatch(records: batch.records, accepted: batch.accepted)
            }
            guard state.single.epoch == epoch, !state.single.records.isEmpty else { return nil }
            let taken = TakenBatch(records: state.single.records, accepted: state.single.accepted)
            state.single.records = []
            state.single.accepted = []
            state.pending -= taken.records.count
            return taken
        }
    }

    /// Takes every unflushed batch (drain and shutdown).
    final func takeAll() -> [TakenBatch] {
        self.accumulators.withLock { state -> [TakenBatch] in
            var all: [TakenBatch] = []
            if !state.single.records.isEmpty {
                all.append(TakenBatch(records: state.single.records, accepted: state.single.accepted))
                state.single.records = []
                state.single.accepted = []
            }
            for (_, batch) in state.keyed where !batch.records.isEmpty {
                all.append(TakenBatch(records: batch.records, accepted: batch.accepted))
            }
            state.keyed.removeAll()
            state.pending = 0
            return all
        }
    }

    /// Tasks waiting in the accumulators.
    final var pendingCount: Int { self.accumulators.withLock { $0.pending } }

    // MARK: Timers

    /// After `delay`, queues a flush marker for the batch `epoch` of `key` if it is still
    /// unflushed. The marker goes to the group's high lane so it does not wait behind the
    /// queue; a full ring retries every millisecond; after shutdown began, the drain flushes.
    final func armTimer(key: UInt64, epoch: UInt64, after delay: Duration, engine: Conveyor) {
        _ = engine.deadlines.schedule(after: delay) { [weak engine] in
            guard let engine else { return }
            self.timerFired(key: key, epoch: epoch, engine: engine)
        }
    }

    private func timerFired(key: UInt64, epoch: UInt64, engine: Conveyor) {
        let due = self.accumulators.withLock { state -> Bool in
            if self.keyed { return state.keyed[key].map { $0.epoch == epoch && !$0.records.isEmpty } ?? false }
            return state.single.epoch == epoch && !state.single.records.isEmpty
        }
        guard due, let handler = self.kindHandler else { return }
        do {
            let record = try engine.makeRecord(handler: handler, retained: false, level: 0, deadline: nil)
            record.pointee.flags |= (BatchFlags.task | BatchFlags.flush)
            let payload = UnsafeMutableRawPointer(cnv_task_payload(record)!)
            payload.storeBytes(of: key, as: UInt64.self)
            payload.storeBytes(of: epoch, toByteOffset: 8, as: UInt64.self)
            do {
                _ = try engine.enqueue(record, level: 0, group: self.groupIndex)
            } catch {
                engine.discard(record)
                throw error
            }
        } catch ConveyorError.shutDown {
            // The drain flushes it (or `drain: false` fails it).
        } catch {
            // The ring is full (or no record memory): try again shortly.
            self.armTimer(key: key, epoch: epoch, after: .milliseconds(1), engine: engine)
        }
    }

    // MARK: Flushing and settling

    /// Starts every task still queued (a cancelled one is removed and settled), calls the
    /// handler once, delivers each result, records statistics and frees the records.
    final func flush(_ batch: TakenBatch, group: GroupRuntime, recorder: Recorder?, engine: Conveyor) {
        let start = MonotonicClock.ticks()
        var live: [UInt] = []
        live.reserveCapacity(batch.records.count)
        var waits: [UInt64] = []
        waits.reserveCapacity(batch.records.count)
        var removed = 0
        for (position, address) in batch.records.enumerated() {
            let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!
            let state = cnv_task_state_word(record)
            if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue),
                cnv_task_transition(record, state, CNV_TASK_RUNNING)
            {
                live.append(address)
                waits.append(MonotonicClock.nanoseconds(from: batch.accepted[position], to: start))
                let submitted = record.pointee.submit_ticks
                if submitted != 0, let recorder {
                    recorder.record(MonotonicClock.nanoseconds(from: submitted, to: start), in: RecorderLayout.Tasks.queueWait)
                }
            } else {
                // Cancelled while it waited in the batch: removed before the call.
                removed += 1
                self.settleUnstarted(record, state: cnv_task_state_word(record), recorder: recorder, engine: engine)
            }
        }
        if live.isEmpty {
            if removed > 0 { self.stats.withLock { $0.removed += removed } }
            return
        }
        let before = self.clock.now()
        let failed = self.run(live, group: group, engine: engine)
        let elapsed = self.clock.now() - before
        let handlerNanoseconds = UInt64(max(0, elapsed.cacheNanoseconds))
        for address in live {
            cnv_allocator_free(engine.recordAllocator, UnsafeMutableRawPointer(bitPattern: address))
        }
        if let recorder {
            recorder.increment(RecorderLayout.Tasks.completed, by: UInt64(live.count - failed))
            if failed > 0 { recorder.increment(RecorderLayout.Tasks.failed, by: UInt64(failed)) }
            recorder.record(handlerNanoseconds, in: RecorderLayout.Tasks.service)
        }
        let now = cnv_monotonic_ns()
        self.stats.withLock {
            $0.add(
                size: live.count, waits: waits, handlerNanoseconds: handlerNanoseconds, failed: failed,
                removed: removed, at: now)
        }
    }

    /// Settles a task a cancel stopped before its batch was flushed.
    final func settleUnstarted(
        _ record: UnsafeMutablePointer<cnv_task_record>, state: UInt64, recorder: Recorder?, engine: Conveyor
    ) {
        let handler = Unmanaged<TaskHandler>.fromOpaque(record.pointee.handler!)
        let retained = record.pointee.flags & UInt16(CNV_TASK_FLAG_RETAINED) != 0
        if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_EXPIRED.rawValue) {
            recorder?.increment(RecorderLayout.Tasks.expired)
            if !handler._withUnsafeGuaranteedRef({ $0.abandon(.deadlineExceeded(kind: self.name)) }) {
                engine.report(TaskFailure(kind: self.name, group: self.groupName, error: ConveyorError.deadlineExceeded(kind: self.name)))
            }
        } else {
            recorder?.increment(RecorderLayout.Tasks.cancelled)
            _ = handler._withUnsafeGuaranteedRef { $0.abandon(.cancelled(kind: self.name)) }
        }
        if retained { handler.release() }
        cnv_allocator_free(engine.recordAllocator, record)
    }

    /// Fails a task that will never start (`shutdown(drain: false)`) as not started.
    final func failNotStarted(_ record: UnsafeMutablePointer<cnv_task_record>, group: GroupRuntime, recorder: Recorder?, engine: Conveyor) {
        let state = cnv_task_state_word(record)
        guard state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue),
            cnv_task_transition(record, state, CNV_TASK_CANCELLED)
        else {
            self.settleUnstarted(record, state: cnv_task_state_word(record), recorder: recorder, engine: engine)
            return
        }
        let handler = Unmanaged<TaskHandler>.fromOpaque(record.pointee.handler!)
        engine.notStarted.add(1, ordering: .relaxed)
        if !handler._withUnsafeGuaranteedRef({ $0.abandon(.notStarted(kind: self.name)) }) {
            engine.report(TaskFailure(kind: self.name, group: group.name, error: ConveyorError.notStarted(kind: self.name)))
        }
        if record.pointee.flags & UInt16(CNV_TASK_FLAG_RETAINED) != 0 { handler.release() }
        cnv_allocator_free(engine.recordAllocator, record)
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
        super.init(name: name, groupIndex: groupIndex, groupName: groupName, options: options, keyed: groupBy != nil)
    }

    override func key(of record: UnsafeMutablePointer<cnv_task_record>) -> UInt64 {
        self.groupBy?(UnsafeRawPointer(cnv_task_payload(record)!).loadUnaligned(as: Payload.self)) ?? 0
    }

    override func run(_ live: [UInt], group: GroupRuntime, engine: Conveyor) -> Int {
        // One copy per item, from its record into one contiguous array (records are not contiguous).
        let size = MemoryLayout<Payload>.size
        let stride = MemoryLayout<Payload>.stride
        let payloads = [Payload](unsafeUninitializedCapacity: live.count) { buffer, count in
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)
            for (position, address) in live.enumerated() {
                let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!
                (base + position * stride).copyMemory(from: cnv_task_payload(record)!, byteCount: size)
            }
            count = live.count
        }
        let outcome: Result<[Result<Output, any Error>]?, any Error>
        switch self.body {
        case .void(let handler):
            outcome = Result { try handler(payloads) }.map { nil }
        case .results(let handler):
            outcome = Result { try handler(payloads) }.map { $0.map { .success($0) } }
        case .perItem(let handler):
            outcome = Result { try handler(payloads) }
        }
        var results: [Result<Output, any Error>]? = nil
        var shared: Result<Output, any Error>
        switch outcome {
        case .success(let perItem?):
            if perItem.count == live.count {
                results = perItem
                shared = .failure(ConveyorError.shutDown)  // unused
            } else {
                shared = .failure(ConveyorError.batchResultCount(kind: self.name, expected: live.count, got: perItem.count))
            }
        case .success(nil):
            // Output == Void (registered through the Void handler only).
            shared = .success(() as! Output)
        case .failure(let error):
            shared = .failure(error)
        }
        var failed = 0
        for (position, address) in live.enumerated() {
            let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!
            let result = results?[position] ?? shared
            if case .failure = result { failed += 1 }
            if record.pointee.flags & UInt16(CNV_TASK_FLAG_RETAINED) != 0 {
                Unmanaged<BatchAwaitHandler<Output>>.fromOpaque(record.pointee.handler!).takeRetainedValue().resume(with: result)
            } else if case .failure(let error) = result {
                engine.report(TaskFailure(kind: self.name, group: group.name, error: error))
            }
        }
        return failed
    }
}
