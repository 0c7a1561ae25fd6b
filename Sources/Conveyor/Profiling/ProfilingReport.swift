import Foundation

/// What happened between ``PerformanceProfiler/startProfiling()`` and
/// ``PerformanceProfiler/stopProfiling()``: the interval's figures and the memory at both ends.
///
/// ```swift
/// profiler.startProfiling()
/// runWorkload()
/// let report = try profiler.stopProfiling()
/// print(report)                                   // text tables
/// try report.jsonData().write(to: URL(fileURLWithPath: "profile.json"))
/// print(report.metrics.throughput.overall, report.memoryAtEnd.heap - report.memoryAtStart.heap)
/// ```
public struct ProfilingReport: Sendable, Equatable, Codable, CustomStringConvertible {
    /// When profiling started (wall clock).
    public var startedAt: Date
    /// When profiling stopped (wall clock).
    public var stoppedAt: Date
    /// The interval's figures (counts and latencies are deltas over it).
    public var metrics: PerformanceMetrics
    /// Memory when profiling started.
    public var memoryAtStart: MemoryUsage
    /// Memory when profiling stopped (equal to `metrics.memory`).
    public var memoryAtEnd: MemoryUsage

    /// The report as pretty-printed JSON (keys sorted, dates in ISO 8601).
    public func jsonData() throws -> Data {
        try PerformanceMetrics.encoder.encode(self)
    }

    public var description: String {
        let start = self.memoryAtStart
        let end = self.memoryAtEnd
        return "Profiling report: \(self.startedAt.formatted(.iso8601)) to \(self.stoppedAt.formatted(.iso8601))\n\n"
            + self.metrics.description + "\n\n"
            + "Memory at start and end\n"
            + ReportText.table(
                ["when", "heap", "external", "peak", "resident"],
                [["start"] + [start.heap, start.external, start.peak, start.resident].map(ReportText.bytes),
                 ["end"] + [end.heap, end.external, end.peak, end.resident].map(ReportText.bytes)])
    }
}
