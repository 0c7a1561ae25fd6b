import Foundation

/// Everything the profiler reads at one moment; figures over an interval are the difference
/// of two samples (recorders and counters only grow).
struct ProfilerSample: Sendable {
    struct Group: Sendable {
        var name: String
        var workers: Int
        var queued: Int
        var tasks: RecorderSnapshot
    }

    var nanoseconds: UInt64
    var date: Date
    var userSeconds: Double
    var systemSeconds: Double
    var groups: [Group]
    var kinds: [String: KindTotals]
    var contexts: [String: RecorderSnapshot]
    var memory: MemoryUsage
    /// Batch kinds' statistics by kind (Batching/).
    var batches: [String: BatchStatistics] = [:]
    /// Attached pipelines' per-stage statistics by attach name (filled by the profiler).
    var pipelines: [String: [PipelineStageStatistics]] = [:]

    /// Reads the engine (if any), the contexts and the process now.
    static func take(conveyor: Conveyor?, contexts: ProfilerContexts) -> ProfilerSample {
        let times = CPUUsage.processTimes()
        let groups = conveyor?.groups.map {
            Group(name: $0.name, workers: $0.workerCount, queued: $0.queuedCount, tasks: $0.recorders.snapshot())
        }
        return ProfilerSample(
            nanoseconds: MonotonicClock.nowNanoseconds(), date: Date(),
            userSeconds: times.user, systemSeconds: times.system,
            groups: groups ?? [], kinds: conveyor?.kindStatistics ?? [:],
            contexts: contexts.snapshots(),
            memory: MemoryUsage.current(external: conveyor?.reservedBytes ?? 0),
            batches: conveyor?.batchStatistics ?? [:])
    }
}

extension PerformanceMetrics {
    /// The figures from `earlier` to `later` (two samples of the same profiler).
    init(from earlier: ProfilerSample, to later: ProfilerSample) {
        let seconds = Double(later.nanoseconds &- earlier.nanoseconds) / 1e9
        func perSecond(_ count: UInt64) -> Double { seconds > 0 ? Double(count) / seconds : 0 }
        var groups: [GroupFigures] = []
        var queueWait = LatencyHistogram()
        var service = LatencyHistogram()
        for group in later.groups {
            let before = earlier.groups.first { $0.name == group.name }
            let interval = before.map { group.tasks.subtracting($0.tasks) } ?? group.tasks
            let counter = { (index: Int) in interval.counters[index] }
            queueWait.merge(interval.histograms[RecorderLayout.Tasks.queueWait])
            service.merge(interval.histograms[RecorderLayout.Tasks.service])
            let ran = counter(RecorderLayout.Tasks.completed) &+ counter(RecorderLayout.Tasks.failed)
            groups.append(
                GroupFigures(
                    group: group.name, workers: group.workers, queueDepth: group.queued,
                    completed: counter(RecorderLayout.Tasks.completed), failed: counter(RecorderLayout.Tasks.failed),
                    cancelled: counter(RecorderLayout.Tasks.cancelled), expired: counter(RecorderLayout.Tasks.expired),
                    throughput: perSecond(ran),
                    queueWait: LatencySummary(interval.histograms[RecorderLayout.Tasks.queueWait]),
                    serviceTime: LatencySummary(interval.histograms[RecorderLayout.Tasks.service])))
        }
        let kinds: [KindFigures] = later.kinds.keys.sorted().compactMap { kind in
            let now = later.kinds[kind] ?? KindTotals()
            let interval = earlier.kinds[kind].map { now.subtracting($0) } ?? now
            guard interval.tasks > 0 else { return nil }
            return KindFigures(
                kind: kind, completed: interval.completed, failed: interval.failed,
                throughput: perSecond(interval.tasks),
                meanServiceTime: Double(interval.serviceNanoseconds) / Double(interval.tasks))
        }
        let contexts: [ContextSummary] = later.contexts.keys.sorted().compactMap { name in
            guard let now = later.contexts[name] else { return nil }
            let interval = earlier.contexts[name].map { now.subtracting($0) } ?? now
            let summary = ContextSummary(context: name, snapshot: interval)
            return summary.calls > 0 || summary.errors > 0 ? summary : nil
        }
        let ran = groups.reduce(UInt64(0)) { $0 &+ $1.completed &+ $1.failed }
        let cpuSeconds = (later.userSeconds - earlier.userSeconds) + (later.systemSeconds - earlier.systemSeconds)
        self.init(
            interval: seconds,
            throughput: Throughput(
                overall: perSecond(ran),
                perGroup: Dictionary(uniqueKeysWithValues: groups.map { ($0.group, $0.throughput) }),
                perKind: Dictionary(uniqueKeysWithValues: kinds.map { ($0.kind, $0.throughput) })),
            latency: Latency(queueWait: LatencySummary(queueWait), serviceTime: LatencySummary(service)),
            memory: later.memory,
            cpuUsage: CPUUsage(
                userSeconds: max(0, later.userSeconds - earlier.userSeconds),
                systemSeconds: max(0, later.systemSeconds - earlier.systemSeconds),
                percentOfCore: seconds > 0 ? max(0, cpuSeconds) / seconds * 100 : 0),
            queueDepths: Dictionary(uniqueKeysWithValues: later.groups.map { ($0.name, $0.queued) }),
            groups: groups, kinds: kinds, contexts: contexts,
            batches: later.batches.keys.sorted().map { BatchFigures(from: earlier.batches[$0], to: later.batches[$0]!, seconds: seconds) },
            pipelines: PipelineFigures.figures(from: earlier.pipelines, to: later.pipelines, seconds: seconds))
    }
}
