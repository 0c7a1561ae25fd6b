/// A batch kind's figures since it was registered: batches flushed, their sizes, the wait
/// that batching added to each task, and the handler's time per call.
///
/// ```swift
/// let figures = try conveyor.batchStatistics(for: insert)
/// print(figures.batches, figures.meanBatchSize, figures.addedWait.p99)
/// ```
public struct BatchStatistics: Sendable {
    public var kind: String
    public var group: String
    /// Handler calls so far.
    public var batches: Int
    /// Tasks that went through a handler call (succeeded or failed).
    public var tasks: Int
    /// Tasks whose item failed (the handler threw, reported an error for it, or returned
    /// the wrong number of results).
    public var failedTasks: Int
    /// Tasks cancelled while they waited in a batch, removed before the call.
    public var removedCancelled: Int
    /// Tasks waiting in the accumulators now.
    public var pending: Int
    /// The size limit in force now.
    public var maxBatchSize: Int
    /// Batches per second between the first and the latest flush (0 before the second).
    public var batchesPerSecond: Double
    /// Batch size → number of batches of that size.
    public var sizeHistogram: [Int: Int]
    /// From a worker taking a task to its batch's handler call, nanoseconds: the wait that
    /// batching adds (the queue wait before is in the group's statistics).
    public var addedWait: LatencyHistogram
    /// Handler time per call, nanoseconds, on the kind's clock.
    public var handlerTime: LatencyHistogram

    /// Mean tasks per batch.
    public var meanBatchSize: Double { self.batches == 0 ? 0 : Double(self.tasks) / Double(self.batches) }
}

/// What a core counts, once per batch, under its lock.
struct BatchStatisticsState: Sendable {
    var batches = 0
    var tasks = 0
    var failed = 0
    var removed = 0
    var sizes: [Int: Int] = [:]
    var addedWait = LatencyHistogram()
    var handlerTime = LatencyHistogram()
    var firstFlushNanoseconds: UInt64 = 0
    var lastFlushNanoseconds: UInt64 = 0
    /// The latest (size, handler nanoseconds) pairs, for the optimizer's fit.
    var samples: [(size: Int, nanoseconds: Double)] = []
    var nextSample = 0
    static let sampleCapacity = 256

    mutating func add(
        size: Int, waits: UnsafeBufferPointer<UInt64>, handlerNanoseconds: UInt64, failed: Int, removed: Int, at now: UInt64
    ) {
        self.batches += 1
        self.tasks += size
        self.failed += failed
        self.removed += removed
        self.sizes[size, default: 0] += 1
        for wait in waits { self.addedWait.record(wait) }
        self.handlerTime.record(handlerNanoseconds)
        if self.firstFlushNanoseconds == 0 { self.firstFlushNanoseconds = now }
        self.lastFlushNanoseconds = now
        let sample = (size: size, nanoseconds: Double(handlerNanoseconds))
        if self.samples.count < Self.sampleCapacity {
            self.samples.append(sample)
        } else {
            self.samples[self.nextSample] = sample
            self.nextSample = (self.nextSample + 1) % Self.sampleCapacity
        }
    }
}
