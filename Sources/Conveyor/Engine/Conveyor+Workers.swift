import CConveyor
import Foundation

/// How long a worker should spin before parking, from the rate at which tasks came lately.
///
/// A park plus a wake costs tens of microseconds (a futex wait, a wake system call by the
/// submitter, a context switch). When tasks have recently come sooner than that, the worker
/// spins for about one park's cost before it parks, so a steady stream never pays a wake
/// system call; when they come sparsely, it parks almost at once (≈0 % CPU when idle).
///
/// The expected gap is measured between task *arrivals*: the submit times (time-stamp-counter
/// ticks, when timing is on) of the newest task taken at two idle moments, divided by the
/// tasks handled in between. Measuring the worker's own idle time instead feeds back on
/// itself: a parked worker's idle time includes the wake latency, so a worker woken for each
/// task keeps estimating a sparse stream and keeps parking (one wake system call per task).
/// Without submit times (timing off), it falls back to the time between idle moments.
struct IdleEstimator {
    /// Exponentially weighted mean gap between tasks, in nanoseconds (starts as "sparse").
    var averageGap: Double = 1_000_000
    private var lastIdleTicks: UInt64 = 0
    private var lastArrivalTicks: UInt64 = 0
    /// Roughly what a park and a wake cost here.
    static let parkCostNanoseconds: Double = 40_000
    /// One spin round (a CPU pause plus a check of the ring indices), roughly.
    static let spinNanoseconds: Double = 40

    var spins: Int {
        guard self.averageGap < Self.parkCostNanoseconds else { return 16 }
        return Int(Self.parkCostNanoseconds / Self.spinNanoseconds)
    }

    /// Call when the worker finds no work, with the tasks it ran since the previous call and
    /// the submit ticks of the newest of them (0 when unknown).
    mutating func becameIdle(afterRunning tasks: Int, newestArrival: UInt64, now: UInt64) {
        defer {
            self.lastIdleTicks = now
            self.lastArrivalTicks = max(self.lastArrivalTicks, newestArrival)
        }
        guard self.lastIdleTicks != 0 else { return }
        let elapsed: Double
        if tasks > 0, newestArrival != 0, self.lastArrivalTicks != 0, newestArrival > self.lastArrivalTicks {
            elapsed = Double(MonotonicClock.nanoseconds(from: self.lastArrivalTicks, to: newestArrival))
        } else {
            elapsed = Double(MonotonicClock.nanoseconds(from: self.lastIdleTicks, to: now))
        }
        let gap = elapsed / Double(max(tasks, 1))
        self.averageGap = 0.75 * self.averageGap + 0.25 * gap
    }

    /// Call after a park, with how long it lasted and whether a wake (not the timeout) ended
    /// it. A park that a submitter ended within a few park costs was a loss: spinning would
    /// have caught that task without the submitter's wake system call. Without this, the
    /// estimate feeds on itself: each wake system call (~20 µs) slows the submitter, which
    /// spaces the arrivals, which keeps the estimate "sparse" and the worker parking — seen
    /// as a park and a wake per few tasks (7 130 futex calls per 10⁶ tasks, strace) in the
    /// bench's priorities + routing + timing row. Ending the loop: such a park makes the
    /// expected gap at most half the time parked, so the next idle moments spin.
    mutating func parked(nanoseconds: UInt64, woken: Bool) {
        guard woken, Double(nanoseconds) < 4 * Self.parkCostNanoseconds else { return }
        self.averageGap = min(self.averageGap, Double(nanoseconds) / 2)
    }
}

/// What one worker thread owns: its recorder, the service-time samples it has not yet
/// published to the router, and the per-kind counts it has not yet folded into the engine's
/// ``KindCounters`` (only while kind counting is on).
///
/// The samples and the counts sit in manually allocated cells: as stored `var`s of a class,
/// every per-task update would go through the runtime's dynamic exclusivity check
/// (`swift_beginAccess`/`swift_endAccess`, roughly 10–15 ns per task with kind counting on). Only
/// the worker's own thread touches them.
final class WorkerState {
    let recorder: Recorder
    let samples: UnsafeMutablePointer<ServiceTimeSamples>
    let kinds: UnsafeMutablePointer<KindTally>
    /// Where an in-slot task's record is moved when it starts, so its slot goes back to the
    /// ring before the handler runs (see `Conveyor.settle`).
    let started: UnsafeMutablePointer<cnv_task_record>
    /// `started`'s inline payload: where the cheap path copies a started task's payload.
    let startedPayload: UnsafeMutableRawPointer

    init(recorder: Recorder) {
        self.recorder = recorder
        self.started = .allocate(capacity: 1)
        self.startedPayload = UnsafeMutableRawPointer(cnv_task_payload(self.started)!)
        self.samples = .allocate(capacity: 1)
        self.samples.initialize(to: ServiceTimeSamples())
        self.kinds = .allocate(capacity: 1)
        self.kinds.initialize(to: KindTally())
    }

    deinit {
        self.samples.deinitialize(count: 1)
        self.samples.deallocate()
        self.kinds.deinitialize(count: 1)
        self.kinds.deallocate()
        self.started.deallocate()
    }
}

extension Conveyor {
    /// Samples per publish to the router (and kind counts per fold): a lock once per this
    /// many tasks at most.
    static let samplesPerPublish = 64

    /// Publishes the worker's service-time samples to the router and folds its per-kind
    /// counts into ``kindCounters``; called every `samplesPerPublish` tasks, when the worker
    /// goes idle and when it exits.
    func publishSamples(_ worker: WorkerState) {
        if worker.kinds.pointee.pending > 0 { worker.kinds.pointee.fold(into: self.kindCounters) }
        guard !worker.samples.pointee.isEmpty else { return }
        self.router.publish(&worker.samples.pointee)
    }

    /// The loop of one worker thread of `group`, in slot `slot`.
    func workerMain(group: GroupRuntime, slot: Int) {
        cnv_set_worker_thread(true)
        defer { cnv_set_worker_thread(false) }
        // The set is sized for maxWorkers + 8 owners at once, but the recorder's memory can run
        // out. A worker that gave up here left its group's tasks queued with nobody to run
        // them (a group of one worker hung `shutdown(drain: true)`; found by the engine
        // fault-injection loop, Fuzz/EngineFault): it waits and retries instead.
        var made = try? group.recorders.makeRecorder()
        var retryMicroseconds: UInt32 = 1_000
        while made == nil {
            if retryMicroseconds == 1_000 {
                self.configuration.logger.debug("worker cannot allocate its recorder; retrying", metadata: ["group": "\(group.name)"])
            }
            usleep(retryMicroseconds)
            retryMicroseconds = min(retryMicroseconds * 2, 100_000)
            made = try? group.recorders.makeRecorder()
        }
        let recorder = made.unsafelyUnwrapped
        let worker = WorkerState(recorder: recorder)
        defer { self.publishSamples(worker) }
        let hot = group.hot
        let batch = UnsafeMutableBufferPointer<UInt>.allocate(capacity: group.configuration.batchSize)
        defer { batch.deallocate() }
        var idle = IdleEstimator()
        var ranSinceIdle = 0
        var newestArrival: UInt64 = 0
        // Whether this idle period's magazines were flushed already (see the park below).
        var flushedWhileIdle = false
        let parker = hot.parker
        // A worker counts as searching from its start, and again after every wake-up, until
        // it finds work or parks: submitters make no wake system call while one searches
        // (see cnv_parker.h for why no wake-up is lost).
        var searching = true
        cnv_parker_begin_search(parker)
        defer { if searching { _ = cnv_parker_end_search(parker) } }
        @inline(__always) func ready() -> Bool {
            hot.hasQueuedWork || group.currentMode != .running || slot >= group.targetWorkers.load(ordering: .relaxed)
        }
        while true {
            if slot >= group.targetWorkers.load(ordering: .relaxed) { return }
            let mode = group.currentMode
            if mode == .stopping { return }
            let taken = self.takeBatch(group, workers: group.targetWorkers.load(ordering: .relaxed), into: batch)
            if taken > 0 {
                flushedWhileIdle = false
                // The newest arrival seen since the last idle moment (lanes are served out of
                // submit order, so a later batch may hold older tasks).
                newestArrival = max(
                    newestArrival, UnsafeMutablePointer<cnv_task_record>(bitPattern: batch[taken - 1])!.pointee.submit_ticks)
                if searching {
                    searching = false
                    // The last searcher to stop hands any work left to a sleeper, so it does
                    // not wait behind this batch.
                    if cnv_parker_end_search(parker) == 1, hot.hasQueuedWork { cnv_parker_pass_on(parker) }
                }
                // One clock read per timed task: the end of one task of the batch is the start
                // of the next (`mark`, 0 when the previous task did not leave one).
                var mark: UInt64 = 0
                for position in 0..<taken {
                    if group.currentMode == .stopping || slot >= group.targetWorkers.load(ordering: .relaxed) {
                        // Retiring or stopping: give the tasks not started back to the group.
                        for rest in position..<taken { self.handBack(batch[rest], to: group, worker: worker) }
                        return
                    }
                    mark = self.executeInBatch(batch[position], group: group, worker: worker, mark: mark)
                }
                ranSinceIdle &+= taken
                continue
            }
            if mode == .draining && !hot.hasQueuedWork {
                // Batching hook: a draining worker flushes its group's unflushed batches.
                if self.flushPendingBatches(of: group, worker: worker) { continue }
                return
            }
            if !searching {
                searching = true
                cnv_parker_begin_search(parker)
            }
            self.publishSamples(worker)
            idle.becameIdle(afterRunning: ranSinceIdle, newestArrival: newestArrival, now: MonotonicClock.ticks())
            ranSinceIdle = 0
            newestArrival = 0
            var found = false
            for _ in 0..<idle.spins {
                if ready() {
                    found = true
                    break
                }
                cnv_cpu_relax()
            }
            if found { continue }
            // Park: stop searching first, then announce the sleeper and re-check (Dekker with
            // cnv_parker_notify). The timeout is a second line of defence only.
            searching = false
            _ = cnv_parker_end_search(parker)
            let epoch = cnv_parker_prepare(parker)
            if ready() {
                cnv_parker_cancel(parker)
            } else {
                let parkedAt = MonotonicClock.ticks()
                let woken = cnv_parker_park(parker, epoch, 1_000_000_000)
                idle.parked(nanoseconds: MonotonicClock.nanoseconds(from: parkedAt, to: MonotonicClock.ticks()), woken: woken)
                // Idle for a whole park timeout: give the free records cached in this
                // thread's magazines back, once per idle period, so releasing memory can
                // return their slabs (Conveyor+Memory.swift, flushWorkerCaches).
                if !woken && !flushedWhileIdle {
                    self.flushWorkerCaches()
                    flushedWhileIdle = true
                }
            }
            searching = true
            cnv_parker_begin_search(parker)
        }
    }

    private func handBack(_ address: UInt, to group: GroupRuntime, worker: WorkerState) {
        // The handoff queue is unbounded; its only failure is running out of memory, and then
        // running the task here is the only way not to lose it.
        if cnv_overflow_queue_enqueue(group.hot.handoff, address) != CNV_OK.rawValue {
            self.execute(address, group: group, worker: worker)
        } else {
            cnv_parker_notify(group.hot.parker)
        }
    }

    /// Takes up to a fair share (`queued / workers`, at most the batch) from a ring lane, then
    /// from its spilled tasks (whose bytes stop counting against the spill limit). The one
    /// lane-take of the engine: workers and the shutdown sweep use it.
    @inline(__always)
    func take(lane: Int, of group: GroupRuntime, workers: Int, into batch: UnsafeMutableBufferPointer<UInt>) -> Int {
        let hot = group.hot
        let ring = hot.rings[lane]
        var want = batch.count
        var taken = 0
        // The fair share needs the count, which reads the producers' line: only for a lane
        // that is not empty by the consumer-side test.
        if cnv_slot_ring_may_have_entries(ring) {
            if workers > 1, want > 1 {
                let share = (Int(cnv_slot_ring_count(ring)) + workers - 1) / workers
                want = max(1, min(want, share))
            }
            // In-slot tasks stay in their slots (run in place, released by `finish`); an
            // indirect slot's record is taken out and its slot released at once.
            taken = cnv_slot_ring_take_records(ring, batch.baseAddress!, want)
        }
        if taken > 0 || !hot.hasSpilled(lane) { return taken }
        var drained = 0
        _ = cnv_overflow_queue_drain(hot.overflows[lane]!, batch.baseAddress!, batch.count, &drained)
        // 0 also when another worker is draining it (busy).
        var released = 0
        for position in 0..<drained {
            let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: batch[position])!
            released += Int(record.pointee.spill_charge)
            record.pointee.spill_charge = 0
        }
        if released > 0 { group.spilledBytes.wrappingSubtract(released, ordering: .relaxed) }
        return drained
    }

    /// Takes a batch: handed-back tasks first, then the highest non-empty lane, unless a
    /// lower non-empty lane has waited longer than the aging bound.
    func takeBatch(_ group: GroupRuntime, workers: Int, into batch: UnsafeMutableBufferPointer<UInt>) -> Int {
        let hot = group.hot
        if cnv_overflow_queue_count(hot.handoff) > 0 {
            var handed = 0
            if cnv_overflow_queue_drain(hot.handoff, batch.baseAddress!, batch.count, &handed) == CNV_OK.rawValue,
                handed > 0
            {
                return handed
            }
        }
        if hot.laneCount == 1 { return self.take(lane: 0, of: group, workers: workers, into: batch) }
        let now = MonotonicClock.ticks()
        var starving = -1
        var oldestService = UInt64.max
        // Aging: only a lower lane whose service clock is older than half the bound is looked
        // at (most batches read no lane's state here). Lane 0 is served first anyway.
        for lane in 1..<hot.laneCount {
            let served = cnv_load_relaxed_u64(hot.lastServed + lane)
            guard now &- served > hot.agingTicks / 2 else { continue }
            if !cnv_slot_ring_may_have_entries(hot.rings[lane]) && !hot.hasSpilled(lane) {
                // An empty lane is not starving: keep its clock near now (written at most
                // once per half bound), so the aging bound counts from when its tasks arrive.
                cnv_store_relaxed_u64(hot.lastServed + lane, now)
                continue
            }
            if now &- served > hot.agingTicks, served < oldestService {
                starving = lane
                oldestService = served
            }
        }
        if starving >= 0 {
            let taken = self.take(lane: starving, of: group, workers: workers, into: batch)
            if taken > 0 {
                cnv_store_relaxed_u64(hot.lastServed + starving, now)
                return taken
            }
        }
        // The highest lane that is not empty (tested from the consumers' side: an empty lane
        // costs a read of its head and one slot, not of the producers' line).
        for lane in 0..<hot.laneCount {
            let taken = self.take(lane: lane, of: group, workers: workers, into: batch)
            if taken > 0 {
                if lane > 0 { cnv_store_relaxed_u64(hot.lastServed + lane, now) }
                return taken
            }
        }
        return 0
    }

    /// Gives back a settled task's storage: the slot of an in-slot task (to its lane's ring:
    /// from here on a producer may rewrite it), or the slab record.
    @inline(__always)
    func finish(_ record: UnsafeMutablePointer<cnv_task_record>, group: GroupRuntime) {
        if record.pointee.flags & UInt16(CNV_TASK_FLAG_IN_SLOT) != 0 {
            self.releaseSlot(record, group: group)
        } else {
            cnv_allocator_free(self.recordAllocator, record)
        }
    }

    /// Releases the slot of an in-slot task to its lane's ring (the lane is its priority's).
    @inline(__always)
    func releaseSlot(_ record: UnsafeMutablePointer<cnv_task_record>, group: GroupRuntime) {
        let hot = group.hot
        cnv_slot_ring_release_record(hot.rings[hot.lane(forLevel: Int(record.pointee.priority))], record)
    }

    /// Runs one task of a batch: the cheap path when the task allows it, else ``execute``.
    /// `mark` is the clock reading the previous task of the batch ended at (0: none); returns
    /// the reading this task ended at, or 0.
    ///
    /// The cheap path (issue 10) is for an in-slot task of a typed kind with no deadline, while
    /// nothing is counted per kind and no rule learns service times — what a plain typed
    /// `submit` queues. It wins QUEUED→RUNNING (the one CAS: the ticket can still cancel it),
    /// copies the 64-byte payload out, releases the slot and calls the handler through
    /// ``TaskHandler/runPayload(_:)``: no record copy, no `TaskOutcome`, no kind name (read
    /// only if the handler throws). A cancelled task goes to ``execute``, which settles it.
    ///
    /// Timing (when the task is sampled): one clock read, after the handler. The task starts at
    /// `mark` (the end of the previous task of the batch) when there is one, else at a read
    /// taken here; so its queue wait ends when the previous handler returned and its service
    /// time includes the engine's work between the two handlers (recording the previous task,
    /// this task's CAS, payload copy and slot release: tens of nanoseconds).
    @inline(__always)
    func executeInBatch(_ address: UInt, group: GroupRuntime, worker: WorkerState, mark: UInt64) -> UInt64 {
        let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address).unsafelyUnwrapped
        guard record.pointee.flags == UInt16(CNV_TASK_FLAG_IN_SLOT), record.pointee.deadline_ns == 0,
            !self.learnsServiceTime, let handler = record.pointee.handler,
            Unmanaged<TaskHandler>.fromOpaque(handler)._withUnsafeGuaranteedRef({ $0.runsFromPayload }),
            !self.countsKinds.load(ordering: .relaxed)
        else {
            self.execute(address, group: group, worker: worker)
            return 0
        }
        let state = cnv_task_state_word(record)
        guard state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue), cnv_task_transition(record, state, CNV_TASK_RUNNING)
        else {
            // Cancelled: the general path settles it (counts it, releases the slot).
            self.execute(address, group: group, worker: worker)
            return 0
        }
        let submitted = record.pointee.submit_ticks
        Self.copyInlinePayload(from: UnsafeRawPointer(cnv_task_payload(record)!), to: worker.startedPayload)
        // From here on the slot is the ring's again (a long handler does not hold it).
        self.releaseSlot(record, group: group)
        let recorder = worker.recorder
        let sampled = submitted != 0 && recorder.shouldTime()
        var start: UInt64 = 0
        if sampled {
            start = mark != 0 ? mark : MonotonicClock.ticks()
            recorder.record(MonotonicClock.nanoseconds(from: submitted, to: start), in: RecorderLayout.Tasks.queueWait)
        }
        return Unmanaged<TaskHandler>.fromOpaque(handler)._withUnsafeGuaranteedRef { task in
            var failure: (any Error)? = nil
            do {
                try task.runPayload(UnsafeRawPointer(worker.startedPayload))
            } catch {
                failure = error
            }
            var end: UInt64 = 0
            if sampled {
                end = MonotonicClock.ticks()
                recorder.record(MonotonicClock.nanoseconds(from: start, to: end), in: RecorderLayout.Tasks.service)
            }
            if let failure {
                recorder.increment(RecorderLayout.Tasks.failed)
                self.report(TaskFailure(kind: task.kind, group: group.name, error: failure))
            } else {
                recorder.increment(RecorderLayout.Tasks.completed)
            }
            return end
        }
    }

    /// Copies a record's whole inline payload (64 bytes, both ends 16-byte aligned) in four
    /// 16-byte moves: a bitwise move, which every payload a slot holds allows.
    @inline(__always)
    static func copyInlinePayload(from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer) {
        for offset in stride(from: 0, to: Int(CNV_TASK_INLINE_PAYLOAD), by: 16) {
            destination.storeBytes(
                of: source.load(fromByteOffset: offset, as: SIMD2<UInt64>.self), toByteOffset: offset, as: SIMD2<UInt64>.self)
        }
    }

    /// Runs (or settles) one task record, then frees it (or releases its slot).
    func execute(_ address: UInt, group: GroupRuntime, worker: WorkerState) {
        let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!
        // Batching hook: a batch kind's task goes to its accumulator (Batching/), which settles it.
        if record.pointee.flags & BatchFlags.task != 0 {
            self.acceptBatchTask(record, group: group, worker: worker)
            return
        }
        let handler = Unmanaged<TaskHandler>.fromOpaque(record.pointee.handler!)
        // Async tasks take one of the group's async slots first; without one the record waits
        // in the group's admission list (still queued) and this worker goes on.
        if handler._withUnsafeGuaranteedRef({ $0.isAsync }), !self.admitAsync(record, group: group) { return }
        let retained = record.pointee.flags & UInt16(CNV_TASK_FLAG_RETAINED) != 0
        // An in-slot task's slot is released inside `settle`, on every path.
        let inSlot = record.pointee.flags & UInt16(CNV_TASK_FLAG_IN_SLOT) != 0
        defer {
            if retained { handler.release() }
            if !inSlot { cnv_allocator_free(self.recordAllocator, record) }
        }
        // The handler is alive (retained by the record, or a registered kind that the engine's
        // kind table keeps): use it without touching its reference count.
        handler._withUnsafeGuaranteedRef { task in
            self.settle(record, task: task, group: group, worker: worker)
        }
    }

    @inline(__always)
    private func settle(
        _ record: UnsafeMutablePointer<cnv_task_record>, task: TaskHandler, group: GroupRuntime, worker: WorkerState
    ) {
        let recorder = worker.recorder
        let inSlot = record.pointee.flags & UInt16(CNV_TASK_FLAG_IN_SLOT) != 0
        var state = cnv_task_state_word(record)
        if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue) {
            let deadline = record.pointee.deadline_ns
            if deadline != 0, cnv_monotonic_ns() > deadline {
                if cnv_task_transition(record, state, CNV_TASK_EXPIRED) {
                    self.settleUnstarted(record, task: task, state: state | UInt64(CNV_TASK_EXPIRED.rawValue), group: group, recorder: recorder)
                    if inSlot { self.releaseSlot(record, group: group) }
                    return
                }
            } else if cnv_task_transition(record, state, CNV_TASK_RUNNING) {
                // Started: an in-slot task moves to the worker's own record and its slot goes
                // back to the ring now, so a long handler does not hold it (the ring keeps its
                // full capacity for queued tasks, as with records). The ticket is spent (its
                // state word says RUNNING until the slot's next claim bumps the generation);
                // the payload is moved bitwise, which every Swift type allows.
                let record = inSlot ? Self.moveOut(record, to: worker.started, group: group, conveyor: self) : record
                // Closure tasks carry their kind in the payload, which `run` consumes.
                let kind = task.kindPerTask ? task.kindName(record) : task.kind
                let submitted = record.pointee.submit_ticks
                let counting = self.countsKinds.load(ordering: .relaxed)
                // Sampled timing (Configuration.timingSampleInterval): the histograms get one
                // task in N of this worker's, a uniform sample. `run` tasks (retained
                // handlers, whose result carries the timings), kind counting and learned
                // routes still time every task, without recording the unsampled ones.
                let sampled = submitted != 0 && recorder.shouldTime()
                let timed =
                    sampled || self.learnsServiceTime
                    || (submitted != 0 && (counting || record.pointee.flags & UInt16(CNV_TASK_FLAG_RETAINED) != 0))
                let start = timed ? MonotonicClock.ticks() : 0
                let queueWait = submitted != 0 && timed ? MonotonicClock.nanoseconds(from: submitted, to: start) : 0
                if sampled { recorder.record(queueWait, in: RecorderLayout.Tasks.queueWait) }
                let outcome = task.run(record, context: RunContext(group: group, queueWaitNanoseconds: queueWait))
                let failed: Bool
                switch outcome {
                case .completed, .startedAsync, .executorJob: failed = false
                case .failed, .failedAndDelivered: failed = true
                }
                var service: UInt64 = 0
                var async = false
                if case .startedAsync = outcome { async = true }  // its service time is not this call's
                if timed, !async {
                    service = MonotonicClock.nanoseconds(from: start, to: MonotonicClock.ticks())
                    if sampled { recorder.record(service, in: RecorderLayout.Tasks.service) }
                    if self.learnsServiceTime {
                        worker.samples.pointee.record(kind: kind, nanoseconds: Double(service))
                        if worker.samples.pointee.count >= Self.samplesPerPublish { self.publishSamples(worker) }
                    }
                }
                if counting {
                    worker.kinds.pointee.record(kind: kind, failed: failed, serviceNanoseconds: service)
                    if worker.kinds.pointee.pending >= Self.samplesPerPublish { worker.kinds.pointee.fold(into: self.kindCounters) }
                }
                switch outcome {
                case .completed:
                    recorder.increment(RecorderLayout.Tasks.completed)
                case .failed(let error):
                    recorder.increment(RecorderLayout.Tasks.failed)
                    self.report(TaskFailure(kind: kind, group: group.name, error: error))
                case .failedAndDelivered:
                    // Counted; the `run` caller got the error thrown, so it is not reported again.
                    recorder.increment(RecorderLayout.Tasks.failed)
                case .startedAsync:
                    break  // counted by the group's AsyncAdmission when its body ends
                case .executorJob:
                    recorder.increment(RecorderLayout.Tasks.executorJobs)
                }
                return
            }
            state = cnv_task_state_word(record)  // a cancel or a deadline timer won the race
        }
        self.settleUnstarted(record, task: task, state: state, group: group, recorder: recorder)
        if inSlot { self.releaseSlot(record, group: group) }
    }

    /// Copies a started in-slot task's record to `destination` and releases its slot.
    @inline(__always)
    static func moveOut(
        _ record: UnsafeMutablePointer<cnv_task_record>, to destination: UnsafeMutablePointer<cnv_task_record>,
        group: GroupRuntime, conveyor: Conveyor
    ) -> UnsafeMutablePointer<cnv_task_record> {
        UnsafeMutableRawPointer(destination).copyMemory(from: record, byteCount: MemoryLayout<cnv_task_record>.size)
        conveyor.releaseSlot(record, group: group)
        return destination
    }

    /// Counts a task that a cancel or a deadline stopped before it started, tells its caller
    /// or reports it, and destroys what its payload owns.
    private func settleUnstarted(
        _ record: UnsafeMutablePointer<cnv_task_record>, task: TaskHandler, state: UInt64, group: GroupRuntime, recorder: Recorder
    ) {
        let kind = task.kindPerTask ? task.kindName(record) : task.kind
        task.dispose(record)
        self.releaseAsyncSlot(record, group: group)
        if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_EXPIRED.rawValue) {
            recorder.increment(RecorderLayout.Tasks.expired)
            if !task.abandon(.deadlineExceeded(kind: kind)) {
                self.report(TaskFailure(kind: kind, group: group.name, error: ConveyorError.deadlineExceeded(kind: kind)))
            }
        } else {
            // Cancelled on request: the caller knows; `run` callers were resumed at once.
            recorder.increment(RecorderLayout.Tasks.cancelled)
            _ = task.abandon(.cancelled(kind: kind))
        }
    }

    func report(_ failure: TaskFailure) {
        self.configuration.onFailure?(failure)
        self.failureSink.yield(failure)
    }
}
