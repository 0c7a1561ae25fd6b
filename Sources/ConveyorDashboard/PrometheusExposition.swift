import Conveyor
import Prometheus
import Synchronization

/// The `/metrics` text: counters and gauges through swift-prometheus's
/// `PrometheusCollectorRegistry`, set from each snapshot (never per task), and the latency
/// histograms written from the engine's own histograms.
///
/// The histograms are rendered here because swift-prometheus's `Histogram` takes one
/// `record(_:)` per observation under a lock: feeding it the engine's counts would cost one
/// call per task per bucket at every scrape interval. The engine already holds every latency
/// in a log-bucketed histogram, so its cumulative counts per Prometheus bound are exact up to
/// the engine histogram's 1/128 precision, and `_sum`/`_count` are exact.
final class PrometheusExposition: Sendable {
    /// Counters, gauges and what each counter has been advanced to so far.
    private struct Metrics: @unchecked Sendable {
        // @unchecked: Counter and Gauge are Sendable classes of swift-prometheus; the
        // dictionaries are only touched under `state`'s lock.
        var counters: [String: Counter] = [:]
        var counted: [String: Double] = [:]
        var gauges: [String: Gauge] = [:]
        var histograms: String = ""
        /// Alert series seen so far (rule, group, severity): they stay, at 0 once resolved.
        var alertSeries = Set<[String]>()
    }

    let registry = PrometheusCollectorRegistry()
    private let state = Mutex(Metrics())

    static let help: [String: String] = [
        "conveyor_tasks_completed_total": "Tasks whose handler returned, per group.",
        "conveyor_tasks_failed_total": "Tasks whose handler threw, per group.",
        "conveyor_tasks_cancelled_total": "Tasks cancelled before they started, per group.",
        "conveyor_tasks_expired_total": "Tasks that missed their start deadline, per group.",
        "conveyor_kind_tasks_completed_total": "Tasks of each kind whose handler returned.",
        "conveyor_kind_tasks_failed_total": "Tasks of each kind whose handler threw.",
        "conveyor_kind_service_seconds_total": "Handler run time of each kind, summed.",
        "conveyor_queue_depth": "Tasks waiting to start, per group.",
        "conveyor_workers": "Worker threads a group runs now.",
        "conveyor_workers_min": "Fewest workers a group may run.",
        "conveyor_workers_max": "Most workers a group may run.",
        "conveyor_process_cpu_seconds_total": "User and system CPU time of the process.",
        "conveyor_heap_allocated_bytes": "Heap bytes allocated (jemalloc or glibc statistics).",
        "conveyor_resident_memory_bytes": "Resident set size of the process.",
        "conveyor_resident_memory_peak_bytes": "Peak resident set size of the process.",
        "conveyor_load_target_tasks_per_second": "Arrival rate the workload aims at.",
        "conveyor_load_offered_tasks_per_second": "Arrival rate the workload submitted over the last interval.",
        "conveyor_load_forecast_tasks_per_second": "Forecast arrival rate for the last interval (the scaler's, summed over its groups).",
        "conveyor_scaler_observed_tasks_per_second": "Arrivals of a scaled group in the scaler's last interval.",
        "conveyor_scaler_forecast_tasks_per_second": "The one-interval-ahead forecast made for the scaler's last interval.",
        "conveyor_scaler_next_forecast_tasks_per_second": "The scaler's forecast for the coming interval.",
        "conveyor_scaler_decided_workers": "Workers the scaler set (or would set, forecast-only) last.",
        "conveyor_scaler_forecast_accuracy_ratio": "1 - WAPE of the scaler's one-interval-ahead forecasts so far.",
        "conveyor_scaler_decisions_total": "Scaler decisions, per group, direction (out, in) and whether applied.",
        "conveyor_alert_firing": "1 while the alert fires, 0 once it resolved.",
        "conveyor_alert_events_total": "Alert events (firing, resolved) of the monitor.",
        "conveyor_cache_hits_total": "Lookups answered from a fresh entry.",
        "conveyor_cache_misses_total": "Lookups that started a computation.",
        "conveyor_cache_coalesced_total": "Lookups that joined a computation already running for their key.",
        "conveyor_cache_evictions_total": "Entries removed to stay within capacity.",
        "conveyor_cache_expirations_total": "Stale entries removed by reclamation.",
        "conveyor_cache_rejections_total": "Results too large to store.",
        "conveyor_cache_entries": "Entries stored now.",
        "conveyor_cache_bytes": "Bytes stored now, as the cache's size function measures them.",
        "conveyor_cache_hit_ratio": "Hits over lookups since the cache was made.",
        "conveyor_batches_total": "Batch handler calls of a batch kind.",
        "conveyor_batch_tasks_total": "Tasks that went through a batch handler call.",
        "conveyor_batch_failed_tasks_total": "Batched tasks whose item failed.",
        "conveyor_batch_pending": "Tasks waiting in a batch kind's accumulators now.",
        "conveyor_batch_max_size": "The batch size limit in force now.",
        "conveyor_batch_mean_size": "Tasks per batch handler call since registration.",
        "conveyor_batch_added_wait_p99_seconds": "99th percentile of the wait batching added (a worker taking a task to its batch's call).",
    ]

    /// The full name as the metric name (the unit is already part of it), with its help text.
    static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: Self.help[name] ?? name)
    }

    /// Advances a counter to a cumulative `total` (counters only go up; a lower total, which
    /// the engine never reports, is ignored).
    private func count(_ metrics: inout Metrics, _ name: String, _ labels: [(String, String)], total: Double) {
        let key = name + labels.map { "\u{0}\($0.0)=\($0.1)" }.joined()
        let counter = metrics.counters[key] ?? {
            let made = self.registry.makeCounter(descriptor: Self.descriptor(name), labels: labels)
            metrics.counters[key] = made
            return made
        }()
        let before = metrics.counted[key] ?? 0
        if total > before {
            counter.increment(by: total - before)
            metrics.counted[key] = total
        }
    }

    private func set(_ metrics: inout Metrics, _ name: String, _ labels: [(String, String)], _ value: Double) {
        let key = name + labels.map { "\u{0}\($0.0)=\($0.1)" }.joined()
        let gauge = metrics.gauges[key] ?? {
            let made = self.registry.makeGauge(descriptor: Self.descriptor(name), labels: labels)
            metrics.gauges[key] = made
            return made
        }()
        gauge.set(value)
    }

    func update(
        _ snapshot: DashboardSnapshot, queueWait: [(String, LatencyHistogram)], service: [(String, LatencyHistogram)]
    ) {
        let histograms =
            Self.histogram(
                "conveyor_queue_wait_seconds", help: "Time from submit to handler start, per group.", queueWait)
            + Self.histogram("conveyor_service_time_seconds", help: "Handler run time, per group.", service)
        self.state.withLock { metrics in
            for group in snapshot.groups {
                let labels = [("group", group.name)]
                self.count(&metrics, "conveyor_tasks_completed_total", labels, total: Double(group.completed))
                self.count(&metrics, "conveyor_tasks_failed_total", labels, total: Double(group.failed))
                self.count(&metrics, "conveyor_tasks_cancelled_total", labels, total: Double(group.cancelled))
                self.count(&metrics, "conveyor_tasks_expired_total", labels, total: Double(group.expired))
                self.set(&metrics, "conveyor_queue_depth", labels, Double(group.queued))
                self.set(&metrics, "conveyor_workers", labels, Double(group.workers))
                self.set(&metrics, "conveyor_workers_min", labels, Double(group.minWorkers))
                self.set(&metrics, "conveyor_workers_max", labels, Double(group.maxWorkers))
            }
            for kind in snapshot.kinds {
                let labels = [("kind", kind.name)]
                self.count(&metrics, "conveyor_kind_tasks_completed_total", labels, total: Double(kind.completed))
                self.count(&metrics, "conveyor_kind_tasks_failed_total", labels, total: Double(kind.failed))
            }
            self.count(&metrics, "conveyor_process_cpu_seconds_total", [], total: snapshot.process.cpuSeconds)
            self.set(&metrics, "conveyor_heap_allocated_bytes", [], Double(snapshot.process.heapBytes))
            self.set(&metrics, "conveyor_resident_memory_bytes", [], Double(snapshot.process.residentBytes))
            self.set(&metrics, "conveyor_resident_memory_peak_bytes", [], Double(snapshot.process.peakResidentBytes))
            if let load = snapshot.load {
                self.set(&metrics, "conveyor_load_target_tasks_per_second", [], load.targetPerSecond)
                self.set(&metrics, "conveyor_load_offered_tasks_per_second", [], load.offeredPerSecond)
                if let forecast = load.forecastPerSecond {
                    self.set(&metrics, "conveyor_load_forecast_tasks_per_second", [], forecast)
                }
            }
            if let scaling = snapshot.scaling { self.updateScaling(&metrics, scaling) }
            if let alerts = snapshot.alerts { self.updateAlerts(&metrics, alerts) }
            for cache in snapshot.caches ?? [] {
                let labels = [("cache", cache.name)]
                self.count(&metrics, "conveyor_cache_hits_total", labels, total: Double(cache.hits))
                self.count(&metrics, "conveyor_cache_misses_total", labels, total: Double(cache.misses))
                self.count(&metrics, "conveyor_cache_coalesced_total", labels, total: Double(cache.coalesced))
                self.count(&metrics, "conveyor_cache_evictions_total", labels, total: Double(cache.evictions))
                self.count(&metrics, "conveyor_cache_expirations_total", labels, total: Double(cache.expirations))
                self.count(&metrics, "conveyor_cache_rejections_total", labels, total: Double(cache.rejections))
                self.set(&metrics, "conveyor_cache_entries", labels, Double(cache.entries))
                self.set(&metrics, "conveyor_cache_bytes", labels, Double(cache.bytes))
                self.set(&metrics, "conveyor_cache_hit_ratio", labels, cache.hitRatio)
            }
            for batch in snapshot.batches ?? [] {
                let labels = [("kind", batch.kind), ("group", batch.group)]
                self.count(&metrics, "conveyor_batches_total", labels, total: Double(batch.batches))
                self.count(&metrics, "conveyor_batch_tasks_total", labels, total: Double(batch.tasks))
                self.count(&metrics, "conveyor_batch_failed_tasks_total", labels, total: Double(batch.failedTasks))
                self.set(&metrics, "conveyor_batch_pending", labels, Double(batch.pending))
                self.set(&metrics, "conveyor_batch_max_size", labels, Double(batch.maxBatchSize))
                self.set(&metrics, "conveyor_batch_mean_size", labels, batch.meanBatchSize)
                self.set(&metrics, "conveyor_batch_added_wait_p99_seconds", labels, batch.addedWait.p99)
            }
            metrics.histograms = histograms
        }
    }

    private func updateScaling(_ metrics: inout Metrics, _ scaling: DashboardSnapshot.Scaling) {
        for group in scaling.groups {
            let labels = [("group", group.name)]
            self.set(&metrics, "conveyor_scaler_observed_tasks_per_second", labels, group.observedPerSecond)
            if let forecast = group.forecastPerSecond {
                self.set(&metrics, "conveyor_scaler_forecast_tasks_per_second", labels, forecast)
            }
            if let next = group.nextForecastPerSecond {
                self.set(&metrics, "conveyor_scaler_next_forecast_tasks_per_second", labels, next)
            }
            if let workers = group.decidedWorkers {
                self.set(&metrics, "conveyor_scaler_decided_workers", labels, Double(workers))
            }
            if let accuracy = group.accuracy {
                self.set(&metrics, "conveyor_scaler_forecast_accuracy_ratio", labels, accuracy)
            }
            for (direction, total, applied) in [
                ("out", group.scaleOuts, group.appliedScaleOuts), ("in", group.scaleIns, group.appliedScaleIns),
            ] {
                self.count(
                    &metrics, "conveyor_scaler_decisions_total", labels + [("direction", direction), ("applied", "true")],
                    total: Double(applied))
                self.count(
                    &metrics, "conveyor_scaler_decisions_total", labels + [("direction", direction), ("applied", "false")],
                    total: Double(total - applied))
            }
        }
    }

    private func updateAlerts(_ metrics: inout Metrics, _ alerts: DashboardSnapshot.Alerts) {
        self.count(&metrics, "conveyor_alert_events_total", [("state", "firing")], total: Double(alerts.fired))
        self.count(&metrics, "conveyor_alert_events_total", [("state", "resolved")], total: Double(alerts.resolved))
        var firing = Set<[String]>()
        for alert in alerts.active { firing.insert([alert.rule, alert.group, alert.severity]) }
        for alert in alerts.active + alerts.recent { metrics.alertSeries.insert([alert.rule, alert.group, alert.severity]) }
        for series in metrics.alertSeries {
            self.set(
                &metrics, "conveyor_alert_firing", [("rule", series[0]), ("group", series[1]), ("severity", series[2])],
                firing.contains(series) ? 1 : 0)
        }
    }

    /// Kind service time is a sum of durations: kept apart so the registry keeps one family.
    func updateKindService(_ totals: [String: KindTotals]) {
        self.state.withLock { metrics in
            for (name, total) in totals {
                self.count(
                    &metrics, "conveyor_kind_service_seconds_total", [("kind", name)],
                    total: Double(total.serviceNanoseconds) / 1e9)
            }
        }
    }

    /// Escapes a label value for the text formats (backslash, double quote, line feed).
    static func escape(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// Formats a bound or sum as Prometheus expects (`0.00025`, `1.0`, `+Inf`).
    static func number(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return "\(value)"
    }

    static func histogram(_ name: String, help: String, _ groups: [(String, LatencyHistogram)]) -> String {
        guard !groups.isEmpty else { return "" }
        var text = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (group, histogram) in groups {
            let label = "group=\"\(Self.escape(group))\""
            let cumulative = DashboardSampler.cumulativeBuckets(histogram)
            for (index, bound) in DashboardSampler.bucketBounds.enumerated() {
                text += "\(name)_bucket{\(label),le=\"\(Self.number(bound))\"} \(cumulative[index])\n"
            }
            text += "\(name)_bucket{\(label),le=\"+Inf\"} \(histogram.count)\n"
            text += "\(name)_sum{\(label)} \(Self.number(Double(histogram.sum) / 1e9))\n"
            text += "\(name)_count{\(label)} \(histogram.count)\n"
        }
        return text
    }

    /// The Prometheus text exposition format (version 0.0.4).
    func text() -> String {
        let histograms = self.state.withLock { $0.histograms }
        return self.registry.emitToString() + histograms
    }

    /// The OpenMetrics 1.0 text format: counter families are named without their `_total`
    /// suffix in `# TYPE`/`# HELP` lines, and the exposition ends with `# EOF`.
    func openMetricsText() -> String {
        var lines: [Substring] = []
        for line in self.text().split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                if parts.count >= 3, parts[2].hasSuffix("_total") {
                    let family = parts[2].dropLast("_total".count)
                    lines.append(Substring(([parts[0], parts[1], family] + parts.dropFirst(3)).joined(separator: " ")))
                    continue
                }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n# EOF\n"
    }
}
