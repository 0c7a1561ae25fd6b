import CConveyor

extension Conveyor {
    /// A group's counters and latency histograms, merged over its workers when read.
    public struct GroupStatistics: Sendable {
        public var group: String
        public var workers: Int
        /// Tasks waiting to start (rings, spilled and handed back).
        public var queued: Int
        public var completed: Int
        /// Handlers that threw.
        public var failed: Int
        public var cancelled: Int
        /// Tasks that missed their start deadline.
        public var expired: Int
        /// Submit to handler start (empty when `Configuration.timing` is off). For a task that
        /// followed another in a worker's batch, "start" is the clock reading taken when the
        /// previous handler returned (one read per task), so the engine's few tens of
        /// nanoseconds between the two handlers count as service, not wait.
        public var queueWait: LatencyHistogram
        /// Handler start to end, where start is as for ``queueWait``: for a task that followed
        /// another in a batch it includes the engine's own work between the two handlers
        /// (recording the previous task, this task's start CAS and slot release).
        public var serviceTime: LatencyHistogram
        /// Tasks each recorded one of `queueWait` and `serviceTime` stands for: 1 when every
        /// task is timed, N under ``Configuration/timingSampleInterval`` (rounded up to a power
        /// of two), 0 with timing off. Percentiles are those of the sample; counts × this
        /// approximate the tasks that ran.
        public var timingSampleInterval: Int
        /// Wake system calls (futex) made so far to wake this group's parked workers: submitters
        /// make one only when no worker of the group is searching for work and one sleeps.
        public var wakeSystemCalls: Int
        /// Async tasks in flight now (suspended ones included) and at most so far, against
        /// ``ResourceGroup/asyncLimit``.
        public var asyncInFlight: Int
        public var asyncPeakInFlight: Int
        /// Swift jobs run on this group's workers for its ``GroupExecutor`` (not counted as tasks).
        public var executorJobs: Int
    }

    /// Statistics of every group, in configuration order.
    public var statistics: [GroupStatistics] {
        self.groups.map { group in
            let recorders = group.recorders
            return GroupStatistics(
                group: group.name,
                workers: group.workerCount,
                queued: group.queuedCount,
                completed: Int(recorders.counter(RecorderLayout.Tasks.completed))
                    + group.admission.completed.load(ordering: .relaxed),
                failed: Int(recorders.counter(RecorderLayout.Tasks.failed)) + group.admission.failed.load(ordering: .relaxed),
                cancelled: Int(recorders.counter(RecorderLayout.Tasks.cancelled))
                    + group.admission.cancelled.load(ordering: .relaxed),
                expired: Int(recorders.counter(RecorderLayout.Tasks.expired)) + group.admission.expired.load(ordering: .relaxed),
                queueWait: recorders.histogram(RecorderLayout.Tasks.queueWait),
                serviceTime: recorders.histogram(RecorderLayout.Tasks.service),
                timingSampleInterval: Int(clamping: cnv_recorder_set_timing_period(recorders.set)),
                wakeSystemCalls: group.parker.wakeSystemCalls,
                asyncInFlight: group.admission.inFlight, asyncPeakInFlight: group.admission.peakInFlight,
                executorJobs: Int(recorders.counter(RecorderLayout.Tasks.executorJobs)))
        }
    }

    /// Statistics of one group.
    public func statistics(for group: String) throws -> GroupStatistics {
        guard let position = self.groupIndex[group] else { throw ConveyorError.unknownGroup(name: group) }
        return self.statistics[position]
    }

    /// Starts counting tasks per kind (completed, failed, total service time), read with
    /// ``kindStatistics``. Off by default; a ``PerformanceProfiler`` made for this engine turns
    /// it on. Each worker keeps its own counts and folds them into a shared table every 64
    /// tasks and whenever it goes idle, so the figures lag the truth by at most 63 tasks per
    /// busy worker and are exact once the workers are idle. Calling it again does nothing.
    ///
    /// ```swift
    /// conveyor.enableKindCounting()
    /// // … tasks run …
    /// print(conveyor.kindStatistics["resize"]?.completed ?? 0)
    /// ```
    public func enableKindCounting() {
        self.countsKinds.store(true, ordering: .relaxed)
    }

    /// Whether tasks are counted per kind (see ``enableKindCounting()``).
    public var isCountingKinds: Bool { self.countsKinds.load(ordering: .relaxed) }

    /// Tasks per kind that ran since ``enableKindCounting()`` (empty while counting is off).
    public var kindStatistics: [String: KindTotals] {
        self.kindCounters.snapshot()
    }

    /// Bytes the engine holds in its own structures: the task-record slab pool (when records
    /// come from one), the lanes' ring slots, and the overflow and hand-off queues' nodes.
    var reservedBytes: Int {
        var bytes = self.records.reservedBytes ?? 0
        let slot = MemoryLayout<cnv_slot>.stride
        for group in self.groups {
            bytes += group.handoff.bytesUsed
            for lane in group.lanes {
                bytes += lane.ring.capacity * slot + (lane.overflow?.bytesUsed ?? 0)
            }
        }
        return bytes
    }

    /// Tasks that `shutdown(drain: false)` failed because they had not started.
    public var notStartedCount: Int {
        self.notStarted.load(ordering: .relaxed)
    }
}
