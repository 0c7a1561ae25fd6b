/// Tasks of one kind that ran: how many completed, how many threw, and their total
/// service time (nanoseconds; only tasks that were timed add to it).
///
/// ```swift
/// let profiler = try PerformanceProfiler(conveyor: conveyor)
/// // … tasks run …
/// let resize = profiler.metrics().kinds.first { $0.kind == "resize" }
/// ```
public struct KindTotals: Sendable, Equatable, Codable {
    /// Tasks whose handler returned.
    public var completed: UInt64 = 0
    /// Tasks whose handler threw.
    public var failed: UInt64 = 0
    /// Sum of the timed tasks' service times, nanoseconds.
    public var serviceNanoseconds: UInt64 = 0

    /// Empty totals.
    public init() {}

    /// Tasks that ran (completed or failed).
    public var tasks: UInt64 { self.completed &+ self.failed }

    mutating func add(failed: Bool, serviceNanoseconds: UInt64) {
        if failed { self.failed &+= 1 } else { self.completed &+= 1 }
        self.serviceNanoseconds &+= serviceNanoseconds
    }

    mutating func add(_ other: KindTotals) {
        self.completed &+= other.completed
        self.failed &+= other.failed
        self.serviceNanoseconds &+= other.serviceNanoseconds
    }

    /// What ran since `earlier`, older totals of the same kind.
    func subtracting(_ earlier: KindTotals) -> KindTotals {
        var interval = KindTotals()
        interval.completed = self.completed > earlier.completed ? self.completed - earlier.completed : 0
        interval.failed = self.failed > earlier.failed ? self.failed - earlier.failed : 0
        interval.serviceNanoseconds =
            self.serviceNanoseconds > earlier.serviceNanoseconds ? self.serviceNanoseconds - earlier.serviceNanoseconds : 0
        return interval
    }
}
