import Foundation

/// The figures of a profiled Conveyor over an interval: throughput, latency, memory, CPU,
/// queue depths, and the profiled contexts. Live from ``PerformanceProfiler/metrics()``
/// (since the profiler was created or last reset) or inside a ``ProfilingReport``.
///
/// ```swift
/// let metrics = profiler.metrics()
/// print(metrics.throughput.overall, metrics.throughput.perGroup["io"] ?? 0)
/// print(metrics.latency.queueWait.p99, metrics.latency.serviceTime.p999)
/// print(metrics.memory.heap, metrics.memory.external, metrics.cpuUsage.percentOfCore)
/// print(metrics)                                  // a readable table
/// let json = try metrics.jsonData()               // or JSONEncoder: it is Codable
/// ```
///
/// Counts and latencies are deltas over the interval; queue depths, workers and memory are
/// readings at its end (memory `peak` is the process's peak since it started).
public struct PerformanceMetrics: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Seconds the figures cover.
    public var interval: Double
    /// Tasks per second.
    public var throughput: Throughput
    /// Queue wait and service time over all groups.
    public var latency: Latency
    /// Memory at the end of the interval.
    public var memory: MemoryUsage
    /// Processor time over the interval.
    public var cpuUsage: CPUUsage
    /// Tasks waiting to start per group, at the end of the interval.
    public var queueDepths: [String: Int]
    /// Per-group figures, in the engine's group order.
    public var groups: [GroupFigures]
    /// Per-kind figures, by kind name.
    public var kinds: [KindFigures]
    /// Per-context figures from ``PerformanceProfiler/profile(_:context:)``, by name.
    public var contexts: [ContextSummary]
    /// Per batch kind (``Conveyor/registerBatch(_:payload:options:groupBy:handler:)``): batches
    /// per second, the batch-size histogram and the added wait, over the interval; nil in
    /// metrics saved before batching existed.
    public var batches: [BatchFigures]? = nil
    /// Per pipeline attached with ``PerformanceProfiler/attach(_:name:)``, by name: each
    /// stage's throughput and counts over the interval, its queue depth at the end, and its
    /// queue wait and service time (p50/p95/p99); nil when no pipeline is attached.
    public var pipelines: [PipelineFigures]? = nil

    /// Tasks run (completed + failed) in the interval, over all groups.
    public var tasks: UInt64 { self.groups.reduce(0) { $0 &+ $1.completed &+ $1.failed } }

    /// The figures as pretty-printed JSON (keys sorted).
    public func jsonData() throws -> Data {
        try Self.encoder.encode(self)
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public var description: String {
        var sections: [String] = []
        sections.append(
            String(format: "Throughput over %.3f s: %@ tasks/s (%llu tasks)", self.interval,
                   ReportText.rate(self.throughput.overall), self.tasks))
        if !self.groups.isEmpty {
            sections.append(
                "Groups\n"
                    + ReportText.table(
                        ["group", "workers", "queued", "completed", "failed", "tasks/s"],
                        self.groups.map {
                            [$0.group, "\($0.workers)", "\($0.queueDepth)", "\($0.completed)", "\($0.failed)",
                             ReportText.rate($0.throughput)]
                        }))
            var rows: [[String]] = [["all: queue wait"] + self.latency.queueWait.cells,
                                    ["all: service"] + self.latency.serviceTime.cells]
            for group in self.groups {
                rows.append(["\(group.group): queue wait"] + group.queueWait.cells)
                rows.append(["\(group.group): service"] + group.serviceTime.cells)
            }
            sections.append("Latency\n" + ReportText.table(["stage"] + LatencySummary.headers, rows))
        }
        if !self.kinds.isEmpty {
            sections.append(
                "Kinds\n"
                    + ReportText.table(
                        ["kind", "completed", "failed", "tasks/s", "mean service"],
                        self.kinds.map {
                            [$0.kind, "\($0.completed)", "\($0.failed)", ReportText.rate($0.throughput),
                             ReportText.duration(nanoseconds: $0.meanServiceTime)]
                        }))
        }
        if !self.contexts.isEmpty {
            sections.append(
                "Contexts\n"
                    + ReportText.table(
                        ["context", "errors"] + LatencySummary.headers,
                        self.contexts.map { [$0.context, "\($0.errors)"] + $0.duration.cells }))
        }
        if let pipelines = self.pipelines, !pipelines.isEmpty {
            sections.append(
                "Pipelines\n"
                    + ReportText.table(
                        ["pipeline: stage", "workers", "queued", "running", "processed", "failed", "items/s",
                         "wait p50", "wait p99", "service p50", "service p95", "service p99"],
                        pipelines.flatMap { pipeline in
                            pipeline.stages.map {
                                ["\(pipeline.name): \($0.stage)", "\($0.workers)", "\($0.queued)", "\($0.running)",
                                 "\($0.processed)", "\($0.failed)", ReportText.rate($0.throughput)]
                                    + [$0.queueWait.p50, $0.queueWait.p99, $0.serviceTime.p50, $0.serviceTime.p95, $0.serviceTime.p99]
                                    .map { ReportText.duration(nanoseconds: $0) }
                            }
                        }))
        }
        sections.append(
            "Memory\n"
                + ReportText.table(
                    ["heap", "external", "peak", "resident"],
                    [[self.memory.heap, self.memory.external, self.memory.peak, self.memory.resident].map(ReportText.bytes)]))
        sections.append(
            String(format: "CPU: %.1f %% of a core (user %.3f s, system %.3f s)",
                   self.cpuUsage.percentOfCore, self.cpuUsage.userSeconds, self.cpuUsage.systemSeconds))
        return sections.joined(separator: "\n\n")
    }
}
