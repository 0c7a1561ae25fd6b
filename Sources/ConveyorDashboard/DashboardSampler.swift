import Conveyor
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Takes a ``DashboardSnapshot`` of the engine on a timer and keeps the recent ones. Readers
/// (HTTP handlers) only copy the latest snapshot or its pre-encoded JSON out of a mutex; the
/// engine is read by this timer alone (its counters and histograms, which workers never wait
/// for), so no client, fast or slow, ever touches the engine.
final class DashboardSampler: Sendable {
    /// Upper bounds of the latency buckets (seconds): 10 µs to 10 s in 1–2.5–5 steps.
    static let bucketBounds: [Double] = [
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
        0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    /// What one group looked like at the previous reading (cumulative figures).
    struct GroupMark {
        var done: UInt64 = 0
        var queueWait = LatencyHistogram()
        var service = LatencyHistogram()
        /// Cumulative bucket counts of the last readings, oldest first (for the histogram window).
        var serviceHistory: [[UInt64]] = []
        var queueWaitHistory: [[UInt64]] = []
    }

    struct State {
        var latest: DashboardSnapshot?
        /// The latest snapshot as JSON, and as one Server-Sent Events frame.
        var latestJSON: [UInt8] = Array("{}".utf8)
        var latestEvent: [UInt8] = []
        var history: [DashboardSnapshot] = []
        var marks: [String: GroupMark] = [:]
        var totalMark = GroupMark()
        var kindMarks: [String: KindTotals] = [:]
        var cacheMarks: [String: CacheStatistics] = [:]
        var batchMarks: [String: Int] = [:]
        var cpuSeconds: Double
        var lastTick: ContinuousClock.Instant
        var sequence: UInt64 = 0
        var started: ContinuousClock.Instant
    }

    let conveyor: Conveyor
    let historyLimit: Int
    let histogramWindow: Int
    let loadSource: (@Sendable () -> DashboardSnapshot.Load?)?
    let profiler: PerformanceProfiler?
    let scaler: PredictiveScaler?
    let alerts: AlertMonitor?
    let caches: [Dashboard.CacheSource]
    let exposition: PrometheusExposition
    private let state: Mutex<State>
    /// The latest sequence number, read by event streams without taking the mutex.
    let sequence = Atomic<UInt64>(0)

    init(
        conveyor: Conveyor, historyLimit: Int, histogramWindow: Int, sources: Dashboard.Sources
    ) {
        conveyor.enableKindCounting()
        self.conveyor = conveyor
        self.historyLimit = historyLimit
        self.histogramWindow = histogramWindow
        self.loadSource = sources.load
        self.profiler = sources.profiler
        self.scaler = sources.scaler
        self.alerts = sources.alerts
        self.caches = sources.caches
        self.exposition = PrometheusExposition()
        let now = ContinuousClock.now
        self.state = Mutex(State(cpuSeconds: Self.cpuSeconds(), lastTick: now, started: now))
    }

    /// Seconds of user and system CPU this process used so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        guard getrusage(Int32(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Cumulative counts at or below each bound, then the total (the open bucket's cumulative
    /// count). A histogram bucket (within 1/128 of its values) counts under a bound when its
    /// midpoint is at or below it.
    static func cumulativeBuckets(_ histogram: LatencyHistogram) -> [UInt64] {
        var counts = [UInt64](repeating: 0, count: Self.bucketBounds.count + 1)
        for bucket in histogram.nonEmptyBuckets {
            let middle = (Double(bucket.values.lowerBound) + Double(bucket.values.upperBound)) / 2 / 1e9
            var index = Self.bucketBounds.firstIndex { middle <= $0 } ?? Self.bucketBounds.count
            while index < counts.count {
                counts[index] += bucket.count
                index += 1
            }
        }
        return counts
    }

    static func percentiles(_ histogram: LatencyHistogram) -> DashboardSnapshot.Percentiles {
        guard !histogram.isEmpty else { return .init(count: 0, p50: 0, p95: 0, p99: 0, max: 0) }
        return .init(
            count: histogram.count, p50: Double(histogram.p50) / 1e9, p95: Double(histogram.p95) / 1e9,
            p99: Double(histogram.p99) / 1e9, max: Double(histogram.max) / 1e9)
    }

    /// Per-bucket (not cumulative) counts between two cumulative readings.
    static func window(_ now: [UInt64], _ before: [UInt64]?) -> [UInt64] {
        var result = [UInt64](repeating: 0, count: now.count)
        for index in now.indices {
            let cumulative = now[index] &- (before?[index] ?? 0)
            let below = index == 0 ? 0 : now[index - 1] &- (before?[index - 1] ?? 0)
            result[index] = cumulative >= below ? cumulative - below : 0
        }
        return result
    }

    /// Takes one reading: updates the Prometheus registry, the latest snapshot and the history.
    @discardableResult
    func sample() -> DashboardSnapshot {
        let statistics = self.conveyor.statistics
        let kinds = self.conveyor.kindStatistics
        let memory = MemoryMetrics.process()
        let cpu = Self.cpuSeconds()
        var load = self.loadSource?()
        let scaling = self.scaler.map { Self.scaling($0, statistics: statistics) }
        if let scaling, var reading = load, reading.forecastPerSecond == nil, !scaling.groups.isEmpty {
            let forecasts = scaling.groups.compactMap(\.forecastPerSecond)
            if forecasts.count == scaling.groups.count {
                reading.forecastPerSecond = forecasts.reduce(0, +)
                load = reading
            }
        }
        let alerts = self.alerts.map { Self.alerts($0.status) }
        let cacheStatistics = self.caches.map { ($0.name, $0.statistics()) }
        let batchStatistics = self.conveyor.batchStatistics.values.sorted { $0.kind < $1.kind }
        let configured = Dictionary(
            self.conveyor.configuration.groups.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let now = ContinuousClock.now
        let wall = Date().timeIntervalSince1970

        let snapshot = self.state.withLock { state -> DashboardSnapshot in
            let elapsed = now - state.lastTick
            let interval = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 1e-6)
            let first = state.sequence == 0
            state.sequence += 1
            state.lastTick = now

            func reading(
                name: String, workers: Int, minWorkers: Int, maxWorkers: Int, queued: Int,
                completed: UInt64, failed: UInt64, cancelled: UInt64, expired: UInt64,
                queueWait: LatencyHistogram, service: LatencyHistogram, mark: inout GroupMark
            ) -> DashboardSnapshot.Group {
                let done = completed &+ failed
                let throughput = first ? 0 : Double(done &- min(mark.done, done)) / interval
                let waitNow = Self.cumulativeBuckets(queueWait)
                let serviceNow = Self.cumulativeBuckets(service)
                mark.serviceHistory.append(serviceNow)
                mark.queueWaitHistory.append(waitNow)
                if mark.serviceHistory.count > self.histogramWindow + 1 { mark.serviceHistory.removeFirst() }
                if mark.queueWaitHistory.count > self.histogramWindow + 1 { mark.queueWaitHistory.removeFirst() }
                let group = DashboardSnapshot.Group(
                    name: name, workers: workers, minWorkers: minWorkers, maxWorkers: maxWorkers, queued: queued,
                    completed: completed, failed: failed, cancelled: cancelled, expired: expired,
                    throughput: throughput,
                    queueWait: Self.percentiles(queueWait.subtracting(mark.queueWait)),
                    serviceTime: Self.percentiles(service.subtracting(mark.service)),
                    serviceBuckets: Self.window(serviceNow, mark.serviceHistory.count > 1 ? mark.serviceHistory.first : nil),
                    queueWaitBuckets: Self.window(waitNow, mark.queueWaitHistory.count > 1 ? mark.queueWaitHistory.first : nil))
                mark.done = done
                mark.queueWait = queueWait
                mark.service = service
                return group
            }

            var groups: [DashboardSnapshot.Group] = []
            var allWait = LatencyHistogram()
            var allService = LatencyHistogram()
            var sums = (workers: 0, minWorkers: 0, maxWorkers: 0, queued: 0)
            var counts: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            for group in statistics {
                let bounds = configured[group.group]
                var mark = state.marks[group.group] ?? GroupMark()
                groups.append(
                    reading(
                        name: group.group, workers: group.workers, minWorkers: bounds?.minWorkers ?? group.workers,
                        maxWorkers: bounds?.maxWorkers ?? group.workers, queued: group.queued,
                        completed: UInt64(group.completed), failed: UInt64(group.failed),
                        cancelled: UInt64(group.cancelled), expired: UInt64(group.expired),
                        queueWait: group.queueWait, service: group.serviceTime, mark: &mark))
                state.marks[group.group] = mark
                allWait.merge(group.queueWait)
                allService.merge(group.serviceTime)
                sums.workers += group.workers
                sums.minWorkers += bounds?.minWorkers ?? group.workers
                sums.maxWorkers += bounds?.maxWorkers ?? group.workers
                sums.queued += group.queued
                counts.0 += UInt64(group.completed)
                counts.1 += UInt64(group.failed)
                counts.2 += UInt64(group.cancelled)
                counts.3 += UInt64(group.expired)
            }
            let total = reading(
                name: "all", workers: sums.workers, minWorkers: sums.minWorkers, maxWorkers: sums.maxWorkers,
                queued: sums.queued, completed: counts.0, failed: counts.1, cancelled: counts.2, expired: counts.3,
                queueWait: allWait, service: allService, mark: &state.totalMark)

            let kindReadings = kinds.keys.sorted().map { name -> DashboardSnapshot.Kind in
                let totals = kinds[name]!
                let before = state.kindMarks[name] ?? KindTotals()
                let tasks = totals.tasks &- min(before.tasks, totals.tasks)
                let nanoseconds = totals.serviceNanoseconds &- min(before.serviceNanoseconds, totals.serviceNanoseconds)
                state.kindMarks[name] = totals
                return .init(
                    name: name, completed: totals.completed, failed: totals.failed,
                    throughput: first ? 0 : Double(tasks) / interval,
                    meanServiceTime: tasks == 0 ? 0 : Double(nanoseconds) / Double(tasks) / 1e9)
            }
            let caches = cacheStatistics.map { entry -> DashboardSnapshot.Cache in
                let (name, now) = entry
                let before = state.cacheMarks[name]
                state.cacheMarks[name] = now
                func lookups(_ s: CacheStatistics) -> UInt64 { s.hits &+ s.misses &+ s.coalesced }
                let recent = before.map { lookups(now) &- min(lookups($0), lookups(now)) } ?? 0
                let recentHits = before.map { now.hits &- min($0.hits, now.hits) } ?? 0
                return .init(
                    name: name, hits: now.hits, misses: now.misses, coalesced: now.coalesced, evictions: now.evictions,
                    expirations: now.expirations, rejections: now.rejections, entries: now.entries, bytes: now.bytes,
                    hitRatio: now.hitRatio, intervalHitRatio: recent == 0 ? nil : Double(recentHits) / Double(recent),
                    lookupsPerSecond: first || before == nil ? 0 : Double(recent) / interval)
            }
            let batches = batchStatistics.map { now -> DashboardSnapshot.Batch in
                let before = state.batchMarks[now.kind]
                state.batchMarks[now.kind] = now.batches
                let recent = before.map { now.batches - min($0, now.batches) } ?? 0
                return .init(
                    kind: now.kind, group: now.group, batches: now.batches, tasks: now.tasks, failedTasks: now.failedTasks,
                    removedCancelled: now.removedCancelled, pending: now.pending, maxBatchSize: now.maxBatchSize,
                    meanBatchSize: now.meanBatchSize, batchesPerSecond: first || before == nil ? 0 : Double(recent) / interval,
                    addedWait: Self.percentiles(now.addedWait))
            }
            let cpuPercent = first ? 0 : max(0, cpu - state.cpuSeconds) / interval * 100
            state.cpuSeconds = cpu
            let uptime = now - state.started

            let snapshot = DashboardSnapshot(
                sequence: state.sequence, time: wall,
                uptime: Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18,
                interval: interval, bucketBounds: Self.bucketBounds, groups: groups, total: total,
                kinds: kindReadings,
                process: .init(
                    cpuPercent: cpuPercent, cpuSeconds: cpu, heapBytes: memory.heapAllocated,
                    residentBytes: memory.residentSetSize, peakResidentBytes: memory.peakResidentSetSize),
                load: load, scaling: scaling, alerts: alerts, caches: self.caches.isEmpty ? nil : caches,
                batches: batches.isEmpty ? nil : batches)
            state.latest = snapshot
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = (try? encoder.encode(snapshot)).map(Array.init) ?? Array("{}".utf8)
            state.latestJSON = json
            state.latestEvent = Array("id: \(snapshot.sequence)\nevent: snapshot\ndata: ".utf8) + json + Array("\n\n".utf8)
            state.history.append(snapshot)
            if state.history.count > self.historyLimit { state.history.removeFirst(state.history.count - self.historyLimit) }
            return snapshot
        }
        self.exposition.update(snapshot, queueWait: statistics.map { ($0.group, $0.queueWait) },
                               service: statistics.map { ($0.group, $0.serviceTime) })
        self.exposition.updateKindService(kinds)
        self.profiler?.exportMetrics()
        self.sequence.store(snapshot.sequence, ordering: .releasing)
        return snapshot
    }

    /// Seconds of a duration.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// The scaler's section: every group's status, and the latest decisions of all groups.
    static func scaling(_ scaler: PredictiveScaler, statistics: [Conveyor.GroupStatistics]) -> DashboardSnapshot.Scaling {
        let wall = Date().timeIntervalSince1970
        let statuses = scaler.statuses
        var decisions: [DashboardSnapshot.Decision] = []
        let groups = statuses.map { status -> DashboardSnapshot.ScaledGroup in
            let interval = max(Self.seconds(status.interval), 1e-9)
            for decision in status.recentDecisions {
                decisions.append(.init(
                    time: wall - Self.seconds(status.now - decision.time), group: decision.group, from: decision.from,
                    to: decision.to, reason: decision.reason.rawValue,
                    forecastPerSecond: Self.finite(decision.forecast / interval) ?? 0,
                    observedPerSecond: Self.finite(decision.observed / interval) ?? 0, applied: decision.applied))
            }
            return .init(
                name: status.group, mode: status.mode.rawValue, interval: interval, minWorkers: status.minWorkers,
                maxWorkers: status.maxWorkers,
                workers: statistics.first { $0.group == status.group }?.workers ?? status.decidedWorkers ?? 0,
                decidedWorkers: status.decidedWorkers, observedPerSecond: status.lastObserved / interval,
                forecastPerSecond: Self.finite(status.lastForecast.map { $0 / interval }),
                nextForecastPerSecond: Self.finite(status.next.map { $0.value / interval }),
                nextUpperPerSecond: Self.finite(status.next.map { $0.upper / interval }),
                accuracy: Self.finite(status.nextIntervalAccuracy),
                meanServiceTime: status.meanServiceTime.map(Self.seconds), scaleOuts: status.scaleOuts,
                scaleIns: status.scaleIns, appliedScaleOuts: status.appliedScaleOuts, appliedScaleIns: status.appliedScaleIns)
        }
        decisions.sort { $0.time < $1.time }
        return .init(groups: groups, decisions: Array(decisions.suffix(24)))
    }

    /// `value` when it is finite (JSON has no NaN or infinity), else `nil`.
    static func finite(_ value: Double?) -> Double? {
        guard let value, value.isFinite else { return nil }
        return value
    }

    /// The alerts' section: the active alerts and the latest events, newest first.
    static func alerts(_ status: AlertStatus) -> DashboardSnapshot.Alerts {
        let wall = Date().timeIntervalSince1970
        func alert(_ event: AlertEvent) -> DashboardSnapshot.Alert {
            .init(
                rule: event.rule, group: event.group, severity: event.severity.rawValue, state: event.state.rawValue,
                time: wall - Self.seconds(status.now - event.time), value: event.value.isFinite ? event.value : 0,
                message: event.message)
        }
        return .init(
            active: status.active.map(alert), recent: status.recent.suffix(24).reversed().map(alert),
            fired: status.fired, resolved: status.resolved)
    }

    var latest: DashboardSnapshot? { self.state.withLock { $0.latest } }
    var latestJSON: [UInt8] { self.state.withLock { $0.latestJSON } }
    /// The latest Server-Sent Events frame and its sequence number (0: none yet).
    var latestEvent: (sequence: UInt64, bytes: [UInt8]) {
        self.state.withLock { ($0.sequence, $0.latestEvent) }
    }
    var history: [DashboardSnapshot] { self.state.withLock { $0.history } }
}
