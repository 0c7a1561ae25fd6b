/// An attached pipeline's figures over a profiling interval, in ``PerformanceMetrics/pipelines``
/// (see ``PerformanceProfiler/attach(_:name:)``).
///
/// ```swift
/// for pipeline in profiler.metrics().pipelines ?? [] {
///     for stage in pipeline.stages {
///         print(pipeline.name, stage.stage, stage.throughput, stage.queued, stage.serviceTime.p99)
///     }
/// }
/// ```
public struct PipelineFigures: Sendable, Equatable, Codable {
    /// The name the pipeline was attached under.
    public var name: String
    /// One entry per stage, in stage order.
    public var stages: [PipelineStageFigures]
}

/// One pipeline stage's figures over a profiling interval: counts and latencies are deltas
/// over the interval (or since the pipeline was attached, if that is later); `queued` and
/// `running` are readings at its end.
///
/// ```swift
/// let parse = profiler.metrics().pipelines?.first?.stages.first
/// print(parse?.processed ?? 0, parse?.queueWait.p95 ?? 0)
/// ```
public struct PipelineStageFigures: Sendable, Equatable, Codable {
    /// The stage's name and its position (0 = the first stage).
    public var stage: String
    public var stageIndex: Int
    public var workers: Int
    /// Items the stage finished (passed on or delivered) and items it failed, in the interval.
    public var processed: Int
    public var failed: Int
    /// Items finished per second over the interval (`processed / interval`).
    public var throughput: Double
    /// Items waiting in the stage's input ring at the end of the interval (its queue depth).
    public var queued: Int
    /// Items the stage's workers held at the end of the interval (running, or waiting for
    /// room downstream).
    public var running: Int
    /// Queue wait (pushed into this stage's ring → taken) and service time of the items the
    /// stage ran in the interval, nanoseconds (count, mean, p50, p95, p99, p99.9, max).
    public var queueWait: LatencySummary
    public var serviceTime: LatencySummary

    /// The figures from `earlier` (nil: since the pipeline started) to `later`, over `seconds`.
    init(index: Int, from earlier: PipelineStageStatistics?, to later: PipelineStageStatistics, seconds: Double) {
        let processed = later.processed - (earlier?.processed ?? 0)
        self.stage = later.name
        self.stageIndex = index
        self.workers = later.workers
        self.processed = processed
        self.failed = later.failed - (earlier?.failed ?? 0)
        self.throughput = seconds > 0 ? Double(processed) / seconds : 0
        self.queued = later.queued
        self.running = later.running
        self.queueWait = LatencySummary(earlier.map { later.queueWait.subtracting($0.queueWait) } ?? later.queueWait)
        self.serviceTime = LatencySummary(earlier.map { later.serviceTime.subtracting($0.serviceTime) } ?? later.serviceTime)
    }
}

extension PipelineFigures {
    /// The figures of every pipeline in `later`, against the same pipeline in `earlier`.
    static func figures(
        from earlier: [String: [PipelineStageStatistics]], to later: [String: [PipelineStageStatistics]], seconds: Double
    ) -> [PipelineFigures]? {
        guard !later.isEmpty else { return nil }
        return later.keys.sorted().map { name in
            let before = earlier[name]
            let stages = later[name]!.enumerated().map { index, stage in
                PipelineStageFigures(
                    index: index, from: before.flatMap { index < $0.count ? $0[index] : nil }, to: stage, seconds: seconds)
            }
            return PipelineFigures(name: name, stages: stages)
        }
    }
}
