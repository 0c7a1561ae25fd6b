/// How a batch kind groups its tasks: when a batch is flushed, which group runs it, and the
/// clock its handler is timed with.
///
/// A batch is flushed to the handler when it holds ``maxBatchSize`` tasks or when its oldest
/// task has waited ``maxWaitTime``, whichever comes first (a lone task starts within
/// `maxWaitTime` + about 10 ms), and on `shutdown(drain: true)`.
///
/// ```swift
/// let options = BatchOptions(maxBatchSize: 100, maxWaitTime: .milliseconds(20), group: "db")
/// let insert = try conveyor.registerBatch("insert", payload: Row.self, options: options) { rows in
///     try database.insert(rows)
/// }
/// ```
public struct BatchOptions: Sendable {
    /// The most tasks one handler call receives (default 50). At least 1, at most
    /// ``BatchOptions/largestBatchSize``. ``Conveyor/optimizeBatchSize(for:target:)`` may
    /// change the kind's size later, within its target's bounds.
    public var maxBatchSize: Int
    /// How long the oldest task of a batch waits for more before the batch is flushed anyway
    /// (default 100 ms). Must be positive.
    public var maxWaitTime: Duration
    /// The group whose workers run the handler; nil routes by the kind's name like any task.
    public var group: String?
    /// The clock handler calls are timed with (for statistics and the batch-size optimizer);
    /// tests inject one they move by hand. Nil in `init` means ``MonotonicCacheClock``.
    public var clock: any CacheClock

    /// The largest `maxBatchSize` accepted.
    public static let largestBatchSize = 1 << 20

    public init(
        maxBatchSize: Int = 50, maxWaitTime: Duration = .milliseconds(100), group: String? = nil,
        clock: (any CacheClock)? = nil
    ) {
        self.maxBatchSize = maxBatchSize
        self.maxWaitTime = maxWaitTime
        self.group = group
        self.clock = clock ?? MonotonicCacheClock()
    }

    /// Refuses sizes and waits that cannot work, saying what to use instead.
    func validate(kind: String) throws {
        guard self.maxBatchSize >= 1, self.maxBatchSize <= Self.largestBatchSize else {
            throw ConveyorError.invalidConfiguration(
                reason: "batch kind \"\(kind)\": maxBatchSize \(self.maxBatchSize) is outside 1...\(Self.largestBatchSize); "
                    + "use at least 1 (50 is the default)")
        }
        guard self.maxWaitTime > .zero else {
            throw ConveyorError.invalidConfiguration(
                reason: "batch kind \"\(kind)\": maxWaitTime \(self.maxWaitTime) must be positive; use e.g. "
                    + ".milliseconds(100) (the default), or maxBatchSize 1 for no batching")
        }
    }
}

/// The `flags` bits of a task record (`cnv_task_record.flags`) that batching uses, beside the
/// C core's `CNV_TASK_FLAG_RETAINED` (bit 0).
enum BatchFlags {
    /// A task of a batch kind: a worker hands it to the kind's accumulator instead of running it.
    static let task: UInt16 = 1 << 1
    /// With `task`: not a task but a flush marker, queued by the timer thread when a batch's
    /// oldest task has waited maxWaitTime.
    static let flush: UInt16 = 1 << 2
}
