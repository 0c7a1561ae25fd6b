/// A batch kind's figures over a profiling interval, in ``PerformanceMetrics/batches``.
///
/// ```swift
/// for batch in profiler.metrics().batches ?? [] {
///     print(batch.kind, batch.batchesPerSecond, batch.meanBatchSize, batch.addedWait.p99)
/// }
/// ```
public struct BatchFigures: Sendable, Equatable, Codable {
    public var kind: String
    public var group: String
    /// Handler calls and the tasks they took, in the interval.
    public var batches: Int
    public var tasks: Int
    public var batchesPerSecond: Double
    public var meanBatchSize: Double
    /// Batch size → batches of that size, in the interval.
    public var sizeHistogram: [Int: Int]
    /// The wait batching added (a worker taking a task → its batch's call), nanoseconds.
    public var addedWait: LatencySummary
    /// The size limit at the end of the interval.
    public var maxBatchSize: Int

    /// The figures from `earlier` (nil: since registration) to `later`, over `seconds`.
    init(from earlier: BatchStatistics?, to later: BatchStatistics, seconds: Double) {
        let batches = later.batches - (earlier?.batches ?? 0)
        let tasks = later.tasks - (earlier?.tasks ?? 0)
        var sizes = later.sizeHistogram
        for (size, count) in earlier?.sizeHistogram ?? [:] {
            sizes[size, default: 0] -= count
            if sizes[size] == 0 { sizes[size] = nil }
        }
        self.kind = later.kind
        self.group = later.group
        self.batches = batches
        self.tasks = tasks
        self.batchesPerSecond = seconds > 0 ? Double(batches) / seconds : 0
        self.meanBatchSize = batches > 0 ? Double(tasks) / Double(batches) : 0
        self.sizeHistogram = sizes
        self.addedWait = LatencySummary(earlier.map { later.addedWait.subtracting($0.addedWait) } ?? later.addedWait)
        self.maxBatchSize = later.maxBatchSize
    }
}
