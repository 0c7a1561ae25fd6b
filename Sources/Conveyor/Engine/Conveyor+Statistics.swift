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
        /// Submit to handler start (empty when `Configuration.timing` is off).
        public var queueWait: LatencyHistogram
        /// Handler start to end.
        public var serviceTime: LatencyHistogram
    }

    /// Statistics of every group, in configuration order.
    public var statistics: [GroupStatistics] {
        self.groups.map { group in
            let recorders = group.recorders
            return GroupStatistics(
                group: group.name,
                workers: group.workerCount,
                queued: group.queuedCount,
                completed: Int(recorders.counter(RecorderLayout.Tasks.completed)),
                failed: Int(recorders.counter(RecorderLayout.Tasks.failed)),
                cancelled: Int(recorders.counter(RecorderLayout.Tasks.cancelled)),
                expired: Int(recorders.counter(RecorderLayout.Tasks.expired)),
                queueWait: recorders.histogram(RecorderLayout.Tasks.queueWait),
                serviceTime: recorders.histogram(RecorderLayout.Tasks.service))
        }
    }

    /// Statistics of one group.
    public func statistics(for group: String) throws -> GroupStatistics {
        guard let position = self.groupIndex[group] else { throw ConveyorError.unknownGroup(name: group) }
        return self.statistics[position]
    }

    /// Tasks that `shutdown(drain: false)` failed because they had not started.
    public var notStartedCount: Int {
        self.notStarted.load(ordering: .relaxed)
    }
}
