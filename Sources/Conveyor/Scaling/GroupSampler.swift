/// Turns two reads of ``Conveyor/statistics`` into one interval's observations, with nothing
/// written per task: the engine's per-worker recorders are merged on read.
///
/// Arrivals in an interval are Δ(completed + failed + cancelled + expired + queued) between
/// the two reads: every accepted task is queued until a worker takes it and is counted in one
/// of the four totals when it ends. Tasks a worker has taken but not finished are in neither,
/// so an interval's count can be off by at most the tasks running at its two ends (bounded by
/// the worker count); the error does not accumulate, since it cancels over consecutive intervals.
/// Service and queue-wait figures are the differences of the merged histograms.
struct GroupSampler: Sendable {
    /// What one interval showed.
    struct Interval: Sendable {
        var arrivals: Double
        var completed: Int
        var failed: Int
        var queued: Int
        var workers: Int
        var meanServiceTime: Duration?
        var queueWait: LatencyHistogram
    }

    private var previous: Conveyor.GroupStatistics?

    init() { self.previous = nil }

    /// Takes a new reading; `nil` for the first one (it only sets the baseline).
    mutating func sample(_ statistics: Conveyor.GroupStatistics) -> Interval? {
        defer { self.previous = statistics }
        guard let previous = self.previous else { return nil }
        func seen(_ s: Conveyor.GroupStatistics) -> Int { s.completed + s.failed + s.cancelled + s.expired + s.queued }
        let service = statistics.serviceTime.subtracting(previous.serviceTime)
        let ended = (statistics.completed - previous.completed) + (statistics.failed - previous.failed)
        let mean: Duration? = service.count > 0 ? .nanoseconds(Int64(service.mean.rounded())) : nil
        return Interval(
            arrivals: Double(max(0, seen(statistics) - seen(previous))),
            completed: max(0, ended),
            failed: max(0, statistics.failed - previous.failed),
            queued: statistics.queued,
            workers: statistics.workers,
            meanServiceTime: mean,
            queueWait: statistics.queueWait.subtracting(previous.queueWait))
    }
}
