extension Conveyor {
    /// A group's counters, summed over its workers when read.
    public struct GroupStatistics: Sendable, Hashable {
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
    }

    /// Counters of every group, in configuration order.
    public var statistics: [GroupStatistics] {
        self.groups.map { group in
            var stats = GroupStatistics(
                group: group.name, workers: group.workerCount, queued: group.queuedCount,
                completed: 0, failed: 0, cancelled: 0, expired: 0)
            for counters in group.counters {
                stats.completed += counters.completed.load(ordering: .relaxed)
                stats.failed += counters.failed.load(ordering: .relaxed)
                stats.cancelled += counters.cancelled.load(ordering: .relaxed)
                stats.expired += counters.expired.load(ordering: .relaxed)
            }
            return stats
        }
    }

    /// Counters of one group.
    public func statistics(for group: String) throws -> GroupStatistics {
        guard let position = self.groupIndex[group] else { throw ConveyorError.unknownGroup(name: group) }
        return self.statistics[position]
    }

    /// Tasks failed as not started by `shutdown(drain: false)`, and tasks settled by the
    /// shutdown sweep itself (summed over all groups).
    public var shutdownCounts: (notStarted: Int, completed: Int, failed: Int) {
        (
            self.sweepCounters.notStarted.load(ordering: .relaxed),
            self.sweepCounters.completed.load(ordering: .relaxed),
            self.sweepCounters.failed.load(ordering: .relaxed)
        )
    }
}
