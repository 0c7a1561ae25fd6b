import CoreMetrics

/// Publishes a profiler's figures to swift-metrics. Each gauge and counter is created once
/// per label and dimensions and cached; nothing is created or emitted per task. The library
/// never bootstraps a backend: the factory is the one given to the profiler, or the global
/// `MetricsSystem.factory` when the profiler was made.
///
/// Labels (all prefixed `conveyor_`): gauges `throughput_tasks_per_second` (no dimension),
/// `group_throughput_tasks_per_second` (`group`), `kind_throughput_tasks_per_second`
/// (`kind`), `queue_depth` (`group`), `workers` (`group`), `latency_nanoseconds` (`group`,
/// `stage` = queue_wait/service, `quantile` = 0.5/0.95/0.99/0.999/1), `memory_bytes`
/// (`type` = heap/external/peak/resident), `cpu_usage_percent`,
/// `profile_duration_nanoseconds` (`context`, `quantile`); counters `tasks_total` (`group`,
/// `outcome` = completed/failed) and `profile_calls_total` (`context`), incremented by what
/// ran since the previous export.
final class MetricsExporter: Sendable {
    private struct Key: Hashable, Sendable {
        var label: String
        var dimensions: [String]
    }

    private struct Cache: Sendable {
        var gauges: [Key: Gauge] = [:]
        var counters: [Key: Counter] = [:]
        /// The cumulative value each counter had at the previous export.
        var exported: [Key: UInt64] = [:]
    }

    let factory: any MetricsFactory
    private let cache = PThreadMutex(Cache())

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    private static func quantiles(_ summary: LatencySummary) -> [(String, UInt64)] {
        [("0.5", summary.p50), ("0.95", summary.p95), ("0.99", summary.p99), ("0.999", summary.p999), ("1", summary.max)]
    }

    /// Sets the gauges from `metrics` and advances the counters to its (cumulative) counts.
    func export(_ metrics: PerformanceMetrics) {
        self.cache.withLock { cache in
            func gauge(_ label: String, _ dimensions: [(String, String)], _ value: Double) {
                let key = Key(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
                let gauge = cache.gauges[key] ?? {
                    let made = Gauge(label: label, dimensions: dimensions, factory: self.factory)
                    cache.gauges[key] = made
                    return made
                }()
                gauge.record(value)
            }
            func counter(_ label: String, _ dimensions: [(String, String)], total: UInt64) {
                let key = Key(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
                let counter = cache.counters[key] ?? {
                    let made = Counter(label: label, dimensions: dimensions, factory: self.factory)
                    cache.counters[key] = made
                    return made
                }()
                let previous = cache.exported[key] ?? 0
                // A total below the previous one means the window was reset: count it afresh.
                let delta = total >= previous ? total - previous : total
                if delta > 0 { counter.increment(by: Int64(clamping: delta)) }
                cache.exported[key] = total
            }
            gauge("conveyor_throughput_tasks_per_second", [], metrics.throughput.overall)
            for group in metrics.groups {
                let name = ("group", group.group)
                gauge("conveyor_group_throughput_tasks_per_second", [name], group.throughput)
                gauge("conveyor_queue_depth", [name], Double(group.queueDepth))
                gauge("conveyor_workers", [name], Double(group.workers))
                counter("conveyor_tasks_total", [name, ("outcome", "completed")], total: group.completed)
                counter("conveyor_tasks_total", [name, ("outcome", "failed")], total: group.failed)
                for (stage, summary) in [("queue_wait", group.queueWait), ("service", group.serviceTime)] {
                    for (quantile, value) in Self.quantiles(summary) {
                        gauge("conveyor_latency_nanoseconds", [name, ("stage", stage), ("quantile", quantile)],
                              Double(value))
                    }
                }
            }
            for kind in metrics.kinds {
                gauge("conveyor_kind_throughput_tasks_per_second", [("kind", kind.kind)], kind.throughput)
            }
            let memory = metrics.memory
            for (type, bytes) in [("heap", memory.heap), ("external", memory.external),
                                  ("peak", memory.peak), ("resident", memory.resident)] {
                gauge("conveyor_memory_bytes", [("type", type)], Double(bytes))
            }
            gauge("conveyor_cpu_usage_percent", [], metrics.cpuUsage.percentOfCore)
            for context in metrics.contexts {
                let name = ("context", context.context)
                counter("conveyor_profile_calls_total", [name], total: context.calls)
                for (quantile, value) in Self.quantiles(context.duration) {
                    gauge("conveyor_profile_duration_nanoseconds", [name, ("quantile", quantile)], Double(value))
                }
            }
        }
    }
}
