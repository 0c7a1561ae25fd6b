import CConveyor

/// How long a worker should spin before parking, from the gaps it recently waited.
/// A park plus wake costs tens of microseconds; spinning through a shorter expected gap
/// is cheaper and keeps latency low, while sparse arrivals park at once (≈0 % CPU).
struct IdleEstimator {
    /// Exponentially weighted mean idle gap, in nanoseconds (starts as "sparse").
    var averageGap: Double = 1_000_000
    /// Above this expected gap a worker parks at once.
    static let parkCostNanoseconds: Double = 40_000
    /// One spin round (a CPU pause plus a queue check), roughly.
    static let spinNanoseconds: Double = 60

    var spins: Int {
        guard self.averageGap < Self.parkCostNanoseconds else { return 4 }
        return Int(min(2 * self.averageGap / Self.spinNanoseconds, 2_000))
    }

    mutating func record(gapNanoseconds: UInt64) {
        self.averageGap = 0.75 * self.averageGap + 0.25 * Double(gapNanoseconds)
    }
}

/// What one worker thread owns: its recorder, the service-time samples it has not yet
/// published to the router, and the per-kind counts it has not yet folded into the engine's
/// ``KindCounters`` (only while kind counting is on).
final class WorkerState {
    let recorder: Recorder
    var samples = ServiceTimeSamples()
    var kinds = KindTally()

    init(recorder: Recorder) {
        self.recorder = recorder
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
        if worker.kinds.pending > 0 { worker.kinds.fold(into: self.kindCounters) }
        guard !worker.samples.isEmpty else { return }
        self.router.publish(&worker.samples)
    }

    /// The loop of one worker thread of `group`, in slot `slot`.
    func workerMain(group: GroupRuntime, slot: Int) {
        cnv_set_worker_thread(true)
        defer { cnv_set_worker_thread(false) }
        guard let recorder = try? group.recorders.makeRecorder() else {
            // Sized for maxWorkers + 8 owners at once, so this cannot happen; if it did, the
            // worker would exit and its tasks stay queued for the others and for shutdown.
            return
        }
        let worker = WorkerState(recorder: recorder)
        defer { self.publishSamples(worker) }
        let batch = UnsafeMutableBufferPointer<UInt>.allocate(capacity: group.configuration.batchSize)
        defer { batch.deallocate() }
        var idle = IdleEstimator()
        while true {
            if slot >= group.targetWorkers.load(ordering: .relaxed) { return }
            let mode = group.currentMode
            if mode == .stopping { return }
            let taken = self.takeBatch(from: group, into: batch)
            if taken > 0 {
                for position in 0..<taken {
                    if group.currentMode == .stopping || slot >= group.targetWorkers.load(ordering: .relaxed) {
                        // Retiring or stopping: give the tasks not started back to the group.
                        for rest in position..<taken { self.handBack(batch[rest], to: group, worker: worker) }
                        return
                    }
                    self.execute(batch[position], group: group, worker: worker)
                }
                continue
            }
            if mode == .draining && !group.hasQueuedWork { return }
            self.publishSamples(worker)
            let idleSince = cnv_monotonic_ns()
            group.parker.wait(spinning: idle.spins, timeout: .seconds(1)) {
                group.hasQueuedWork || group.currentMode != .running
                    || slot >= group.targetWorkers.load(ordering: .relaxed)
            }
            idle.record(gapNanoseconds: cnv_monotonic_ns() &- idleSince)
        }
    }

    private func handBack(_ address: UInt, to group: GroupRuntime, worker: WorkerState) {
        // The handoff queue is unbounded; its only failure is running out of memory, and then
        // running the task here is the only way not to lose it.
        if (try? group.handoff.enqueue(address)) == nil {
            self.execute(address, group: group, worker: worker)
        } else {
            group.parker.unpark()
        }
    }

    /// Takes a batch: handed-back tasks first, then the highest non-empty lane, unless a
    /// lower non-empty lane has waited longer than the aging bound.
    func takeBatch(from group: GroupRuntime, into batch: UnsafeMutableBufferPointer<UInt>) -> Int {
        if group.handoff.count > 0, let taken = try? group.handoff.drain(into: batch), taken > 0 {
            return taken
        }
        let lanes = group.lanes
        let workers = group.targetWorkers.load(ordering: .relaxed)
        if lanes.count == 1 { return lanes[0].take(into: batch, workers: workers) }
        let now = cnv_monotonic_ns()
        var starving: Lane?
        var oldestService = UInt64.max
        var sawWork = false
        for lane in lanes {
            let served = lane.lastServedNanoseconds.load(ordering: .relaxed)
            if lane.isEmpty {
                // An empty lane is not starving: keep its clock near now (written rarely), so
                // the aging bound counts from when its tasks arrive.
                if now &- served > group.agingNanoseconds / 2 {
                    lane.lastServedNanoseconds.store(now, ordering: .relaxed)
                }
                continue
            }
            if !sawWork {
                sawWork = true
                continue
            }
            if now &- served > group.agingNanoseconds, served < oldestService {
                starving = lane
                oldestService = served
            }
        }
        if !sawWork { return 0 }
        if let starving {
            let taken = starving.take(into: batch, workers: workers)
            if taken > 0 {
                starving.lastServedNanoseconds.store(now, ordering: .relaxed)
                return taken
            }
        }
        for lane in lanes {
            let taken = lane.take(into: batch, workers: workers)
            if taken > 0 {
                lane.lastServedNanoseconds.store(now, ordering: .relaxed)
                return taken
            }
        }
        return 0
    }

    /// Runs (or settles) one task record, then frees it.
    func execute(_ address: UInt, group: GroupRuntime, worker: WorkerState) {
        let recorder = worker.recorder
        let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!
        let handler = Unmanaged<TaskHandler>.fromOpaque(record.pointee.handler!)
        let retained = record.pointee.flags & 1 != 0
        defer {
            if retained { handler.release() }
            self.records.deallocate(record)
        }
        let task = handler.takeUnretainedValue()
        var state = cnv_task_state_word(record)
        if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue) {
            let deadline = record.pointee.deadline_ns
            if deadline != 0, cnv_monotonic_ns() > deadline {
                if cnv_task_transition(record, state, CNV_TASK_EXPIRED) {
                    recorder.increment(RecorderLayout.Tasks.expired)
                    if !task.abandon(.deadlineExceeded(kind: task.kind)) {
                        self.report(TaskFailure(kind: task.kind, group: group.name, error: ConveyorError.deadlineExceeded(kind: task.kind)))
                    }
                    return
                }
            } else if cnv_task_transition(record, state, CNV_TASK_RUNNING) {
                let submitted = record.pointee.submit_ticks
                let timed = submitted != 0 || self.learnsServiceTime
                let start = timed ? MonotonicClock.ticks() : 0
                let queueWait = submitted != 0 ? MonotonicClock.nanoseconds(from: submitted, to: start) : 0
                if submitted != 0 { recorder.record(queueWait, in: RecorderLayout.Tasks.queueWait) }
                let error = task.run(record, context: RunContext(group: group.name, queueWaitNanoseconds: queueWait))
                var service: UInt64 = 0
                if timed {
                    service = MonotonicClock.nanoseconds(from: start, to: MonotonicClock.ticks())
                    if submitted != 0 { recorder.record(service, in: RecorderLayout.Tasks.service) }
                    if self.learnsServiceTime {
                        worker.samples.record(kind: task.kind, nanoseconds: Double(service))
                        if worker.samples.count >= Self.samplesPerPublish { self.publishSamples(worker) }
                    }
                }
                if self.countsKinds.load(ordering: .relaxed) {
                    worker.kinds.record(kind: task.kind, failed: error != nil, serviceNanoseconds: service)
                    if worker.kinds.pending >= Self.samplesPerPublish { worker.kinds.fold(into: self.kindCounters) }
                }
                if let error {
                    recorder.increment(RecorderLayout.Tasks.failed)
                    self.report(TaskFailure(kind: task.kind, group: group.name, error: error))
                } else {
                    recorder.increment(RecorderLayout.Tasks.completed)
                }
                return
            }
            state = cnv_task_state_word(record)  // a cancel or a deadline timer won the race
        }
        self.settleUnstarted(task, state: state, group: group, recorder: recorder)
    }

    /// Counts a task that a cancel or a deadline timer stopped before it started.
    private func settleUnstarted(_ task: TaskHandler, state: UInt64, group: GroupRuntime, recorder: Recorder) {
        if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_EXPIRED.rawValue) {
            recorder.increment(RecorderLayout.Tasks.expired)
            if !task.abandon(.deadlineExceeded(kind: task.kind)) {
                self.report(TaskFailure(kind: task.kind, group: group.name, error: ConveyorError.deadlineExceeded(kind: task.kind)))
            }
        } else {
            // Cancelled on request: the caller knows; `run` callers were resumed at once.
            recorder.increment(RecorderLayout.Tasks.cancelled)
            _ = task.abandon(.cancelled(kind: task.kind))
        }
    }

    func report(_ failure: TaskFailure) {
        self.configuration.onFailure?(failure)
        self.failureSink.yield(failure)
    }
}
