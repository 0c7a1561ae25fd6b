/// One task kind's figures over a profiling interval (counted by the workers when the
/// engine's kind counting is on, see ``Conveyor/enableKindCounting()``).
///
/// ```swift
/// let resize = profiler.metrics().kinds.first { $0.kind == "resize" }
/// print(resize?.throughput ?? 0, resize?.meanServiceTime ?? 0)
/// ```
public struct KindFigures: Sendable, Equatable, Codable {
    /// The kind's name.
    public var kind: String
    /// Handlers that returned.
    public var completed: UInt64
    /// Handlers that threw.
    public var failed: UInt64
    /// Tasks run (completed + failed) per second of the interval.
    public var throughput: Double
    /// Mean service time of the timed tasks, nanoseconds (0 with timing off).
    public var meanServiceTime: Double
}
