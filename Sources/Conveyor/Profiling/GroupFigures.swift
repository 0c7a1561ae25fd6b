/// One ResourceGroup's figures over a profiling interval.
///
/// ```swift
/// for group in profiler.metrics().groups {
///     print(group.group, group.throughput, group.queueWait.p99, group.queueDepth)
/// }
/// ```
public struct GroupFigures: Sendable, Equatable, Codable {
    /// The group's name.
    public var group: String
    /// Worker threads when sampled.
    public var workers: Int
    /// Tasks waiting to start when sampled.
    public var queueDepth: Int
    /// Handlers that returned in the interval.
    public var completed: UInt64
    /// Handlers that threw in the interval.
    public var failed: UInt64
    /// Tasks cancelled before they started, in the interval.
    public var cancelled: UInt64
    /// Tasks that missed their start deadline, in the interval.
    public var expired: UInt64
    /// Tasks run (completed + failed) per second of the interval.
    public var throughput: Double
    /// Submit to handler start.
    public var queueWait: LatencySummary
    /// Handler start to end.
    public var serviceTime: LatencySummary
}
