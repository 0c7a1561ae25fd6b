import Conveyor
import Foundation
import Synchronization
import MetricsTestKit
import Testing

@testable import ConveyorDashboard

/// Runs `tasks` closure tasks of about 50 µs on each group and waits until they completed.
func runTasks(_ conveyor: Conveyor, groups: [String], tasks: Int) async throws {
    for group in groups {
        for _ in 0..<tasks {
            try conveyor.submit(QueueTask(kind: "work.\(group)", group: group)) { _ = DemoWorkload.spin(microseconds: 50, seed: 7) }
        }
    }
    let deadline = ContinuousClock.now + .seconds(20)
    while conveyor.statistics.contains(where: { groups.contains($0.group) && ($0.queued > 0 || $0.completed < tasks) }) {
        guard ContinuousClock.now < deadline else { throw HTTPProbe.Failure(description: "tasks did not finish") }
        try await Task.sleep(for: .milliseconds(5))
    }
}

@Suite("Dashboard snapshot and HTTP endpoints")
struct DashboardTests {
    @Test("snapshots count every task, rates come from the interval, histograms hold every task")
    func snapshots() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 2), ResourceGroup("io", minWorkers: 1, maxWorkers: 3)])
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0))
        #expect(dashboard.snapshot.sequence == 1)
        #expect(dashboard.snapshot.total.completed == 0)
        try await runTasks(conveyor, groups: ["cpu", "io"], tasks: 300)
        try await Task.sleep(for: .milliseconds(100))
        let second = dashboard.sampleNow()
        #expect(second.sequence == 2)
        #expect(second.groups.map(\.name) == ["cpu", "io"])
        #expect(second.groups.map(\.completed) == [300, 300])
        #expect(second.total.completed == 600)
        #expect(second.groups[1].maxWorkers == 3)
        #expect(second.total.throughput > 0)
        #expect(abs(second.total.throughput * second.interval - 600) < 1)
        #expect(second.total.serviceBuckets.reduce(0, +) == 600)
        #expect(second.total.serviceTime.count == 600)
        #expect(second.total.serviceTime.p50 >= 40e-6)
        #expect(second.kinds.map(\.name) == ["work.cpu", "work.io"])
        #expect(second.process.residentBytes > 0 && second.process.heapBytes > 0)
        // Nothing ran since: the next interval has zero throughput, the counts stay.
        let third = dashboard.sampleNow()
        #expect(third.total.throughput == 0)
        #expect(third.total.completed == 600)
        #expect(third.total.serviceTime.count == 0)
        await conveyor.shutdown()
    }

    @Test("each reading publishes the profiler's swift-metrics to the application's factory")
    func swiftMetrics() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1)])
        let factory = TestMetrics()
        let profiler = try PerformanceProfiler(conveyor: conveyor, metricsFactory: factory)
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0), sources: .init(profiler: profiler))
        try await runTasks(conveyor, groups: ["cpu"], tasks: 40)
        dashboard.sampleNow()
        #expect(try factory.expectCounter("conveyor_tasks_total", [("group", "cpu"), ("outcome", "completed")]).totalValue == 40)
        #expect(try factory.expectGauge("conveyor_workers", [("group", "cpu")]).lastValue == 1)
        await conveyor.shutdown()
    }

    @Test("/metrics is Prometheus text with counters, gauges and histograms; OpenMetrics on request")
    func metricsEndpoint() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1), ResourceGroup("we\"ird\\name", minWorkers: 1)])
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0))
        let address = try await dashboard.start()
        try await runTasks(conveyor, groups: ["cpu"], tasks: 200)
        dashboard.sampleNow()
        let reply = try HTTPProbe.get(port: address.port, "/metrics")
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        let text = reply.body
        #expect(text.contains("# TYPE conveyor_tasks_completed_total counter"))
        #expect(text.contains("conveyor_tasks_completed_total{group=\"cpu\"} 200"))
        #expect(text.contains("conveyor_tasks_completed_total{group=\"we\\\"ird\\\\name\"} 0"))
        #expect(text.contains("# TYPE conveyor_service_time_seconds histogram"))
        #expect(text.contains("conveyor_service_time_seconds_bucket{group=\"cpu\",le=\"+Inf\"} 200"))
        #expect(text.contains("conveyor_service_time_seconds_count{group=\"cpu\"} 200"))
        #expect(text.contains("conveyor_resident_memory_bytes "))
        #expect(text.contains("conveyor_workers{group=\"cpu\"} 1"))
        // Cumulative buckets never decrease and end at the count.
        let buckets = text.split(separator: "\n").filter { $0.hasPrefix("conveyor_service_time_seconds_bucket{group=\"cpu\"") }
            .compactMap { Int($0.split(separator: " ").last!) }
        #expect(buckets.count == DashboardSampler.bucketBounds.count + 1)
        #expect(buckets == buckets.sorted())
        #expect(buckets.last == 200)

        let open = try HTTPProbe.get(port: address.port, "/metrics", headers: ["Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"])
        #expect(open.headers["content-type"] == Dashboard.openMetricsType)
        #expect(open.body.hasSuffix("# EOF\n"))
        #expect(open.body.contains("# TYPE conveyor_tasks_completed counter"))
        #expect(open.body.contains("conveyor_tasks_completed_total{group=\"cpu\"} 200"))
        #expect(!open.body.contains("# TYPE conveyor_tasks_completed_total"))
        await dashboard.stop()
        await conveyor.shutdown()
    }

    @Test("promtool check metrics accepts /metrics")
    func promtoolAccepts() async throws {
        let promtool = try #require(findProgram("promtool"), "promtool missing: run scripts/install-dashboard-deps.sh")
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1, maxWorkers: 2), ResourceGroup("<script>", minWorkers: 1)])
        _ = try conveyor.register("typed", payload: UInt64.self) { _ in }
        // Every optional section attached, so their families are checked as well.
        let clock = ManualScalingClock()
        var cpu = GroupScaling(group: "cpu", minWorkers: 1, maxWorkers: 2)
        cpu.assumedServiceTime = .microseconds(50)
        let scaler = try PredictiveScaler(conveyor: conveyor, groups: [cpu], clock: clock)
        let monitor = try AlertMonitor(
            rules: [AlertRule(name: "queue", condition: .threshold(metric: .queueDepth, .above, -1, for: .zero))], clock: clock)
        let cache = try ResultCache<Int, Int>(maxEntries: 8)
        _ = try await cache.value(for: 1) { 1 }
        _ = try await cache.value(for: 1) { 1 }
        let sums = try conveyor.registerBatch("<sums>", payload: UInt64.self, options: BatchOptions(group: "cpu")) { _ in }
        for value in 0..<10 { _ = try conveyor.submit(sums, UInt64(value)) }
        let dashboard = try Dashboard(
            conveyor: conveyor, configuration: .init(port: 0),
            sources: .init(load: { .init(targetPerSecond: 10, offeredPerSecond: 9) }, scaler: scaler, alerts: monitor,
                           caches: [.init(name: "<cache>", cache: cache)]))
        let address = try await dashboard.start()
        await scaler.scalePreemptively()
        monitor.evaluate(conveyor: conveyor)
        try await runTasks(conveyor, groups: ["cpu", "<script>"], tasks: 100)
        clock.advance(by: .seconds(1))
        await scaler.scalePreemptively()
        monitor.evaluate(conveyor: conveyor)
        clock.advance(by: .seconds(1))
        await scaler.scalePreemptively()  // now a forecast was made for the interval
        dashboard.sampleNow()
        let text = try HTTPProbe.get(port: address.port, "/metrics").body
        for family in ["conveyor_batches_total", "conveyor_batch_added_wait_p99_seconds", "conveyor_cache_hits_total", "conveyor_scaler_observed_tasks_per_second", "conveyor_alert_firing", "conveyor_load_forecast_tasks_per_second"] {
            #expect(text.contains("# TYPE \(family) "), "\(family) missing")
        }
        let result = try runProgram(promtool, ["check", "metrics"], input: text)
        #expect(result.status == 0, "promtool: \(result.output)")
        #expect(!result.output.contains("problem"), "promtool lint: \(result.output)")
        // And a broken exposition fails the same check (the check can fail).
        let broken = try runProgram(promtool, ["check", "metrics"], input: text + "conveyor_bad{ 1\n")
        #expect(broken.status != 0)
        await dashboard.stop()
        await conveyor.shutdown()
    }

    @Test("/api/snapshot and /api/history are JSON; / is one page with no external asset")
    func jsonAndPage() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1)])
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0), sources: .init(load: {
            .init(targetPerSecond: 100, offeredPerSecond: 90)
        }))
        let address = try await dashboard.start()
        try await runTasks(conveyor, groups: ["cpu"], tasks: 50)
        dashboard.sampleNow()
        let reply = try HTTPProbe.get(port: address.port, "/api/snapshot")
        #expect(reply.headers["content-type"] == "application/json")
        let snapshot = try JSONDecoder().decode(DashboardSnapshot.self, from: Data(reply.body.utf8))
        #expect(snapshot.groups.first?.completed == 50)
        #expect(snapshot.load == .init(targetPerSecond: 100, offeredPerSecond: 90))
        let history = try JSONDecoder().decode(
            [DashboardSnapshot].self, from: Data(try HTTPProbe.get(port: address.port, "/api/history").body.utf8))
        #expect(history.count >= 2)
        #expect(history.map(\.sequence) == history.map(\.sequence).sorted())
        let page = try HTTPProbe.get(port: address.port, "/")
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.body.contains("<svg class=\"chart\" id=\"chart-throughput\""))
        #expect(page.body.contains("new EventSource(\"/events\")"))
        #expect(!page.body.contains("innerHTML"))
        #expect(!page.body.contains("src=\"http"), "no external script")
        #expect(!page.body.contains("href=\"http"), "no external stylesheet")
        #expect(try HTTPProbe.get(port: address.port, "/nothing").status == 404)
        await dashboard.stop()
        await conveyor.shutdown()
    }

    @Test("a port in use is a clear error naming the port; a remote address needs allowRemote")
    func badAddresses() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1)])
        let first = try Dashboard(conveyor: conveyor, configuration: .init(port: 0))
        let address = try await first.start()
        let second = try Dashboard(conveyor: conveyor, configuration: .init(port: address.port))
        await #expect(throws: DashboardError.portInUse(host: "127.0.0.1", port: address.port)) {
            try await second.start()
        }
        #expect("\(DashboardError.portInUse(host: "127.0.0.1", port: address.port))".contains("port \(address.port)"))
        #expect(throws: DashboardError.remoteAddressNotAllowed(host: "0.0.0.0")) {
            _ = try Dashboard(conveyor: conveyor, configuration: .init(host: "0.0.0.0", port: 0))
        }
        #expect(throws: DashboardError.self) {
            _ = try Dashboard(conveyor: conveyor, configuration: .init(port: 70_000))
        }
        _ = try Dashboard(conveyor: conveyor, configuration: .init(host: "0.0.0.0", port: 0, allowRemote: true))
        await #expect(throws: DashboardError.alreadyStarted) { try await first.start() }
        await first.stop()
        await conveyor.shutdown()
    }
}

/// Submits `count` closure tasks of about 50 µs to `group` (`failing` of them throw) and waits
/// until the group's completed + failed total reached `until`.
func runMore(_ conveyor: Conveyor, group: String, count: Int, failing: Int = 0, until: Int) async throws {
    struct Failure: Error {}
    for index in 0..<count {
        try conveyor.submit(QueueTask(kind: "more.\(group)", group: group)) {
            _ = DemoWorkload.spin(microseconds: 50, seed: 7)
            if index < failing { throw Failure() }
        }
    }
    let deadline = ContinuousClock.now + .seconds(20)
    while let statistics = try? conveyor.statistics(for: group), statistics.completed + statistics.failed < until {
        guard ContinuousClock.now < deadline else { throw HTTPProbe.Failure(description: "tasks did not finish") }
        try await Task.sleep(for: .milliseconds(5))
    }
}

@Suite("Dashboard sections: scaler, alerts, cache, batches")
struct DashboardSectionTests {
    @Test("the snapshot, its JSON and /metrics carry the scaler, the alerts and the cache from a running engine")
    func sections() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("io", minWorkers: 1, maxWorkers: 4, initialWorkers: 3)])
        let clock = ManualScalingClock()
        var io = GroupScaling(group: "io", minWorkers: 1, maxWorkers: 4)
        io.scaleInAfter = 1
        io.assumedServiceTime = .microseconds(50)
        let scaler = try PredictiveScaler(conveyor: conveyor, groups: [io], clock: clock)
        let monitor = try AlertMonitor(
            rules: [AlertRule(name: "errors", group: "io", severity: .critical, condition: .threshold(metric: .errorRate, .above, 0.2, for: .zero))],
            cooldown: .zero, clock: clock)
        let cache = try ResultCache<Int, Int>(maxEntries: 2, shards: 1)
        let square = conveyor.cached(QueueTask(kind: "square", group: "io"), in: cache) { (value: Int) in value * value }
        let dashboard = try Dashboard(
            conveyor: conveyor, configuration: .init(port: 0),
            sources: .init(scaler: scaler, alerts: monitor, caches: [.init(name: "squares", cache: cache)]))
        #expect(dashboard.snapshot.scaling?.groups.map(\.name) == ["io"])
        #expect(dashboard.snapshot.alerts?.active == [])
        #expect(dashboard.snapshot.caches?.map(\.hits) == [0])

        // Interval 1: 40 tasks, 20 of them fail (error rate 0.5: the alert fires); the group's
        // 3 workers are more than the load needs (the scaler scales in at once: scaleInAfter 1).
        await scaler.scalePreemptively()
        monitor.evaluate(conveyor: conveyor)
        try await runMore(conveyor, group: "io", count: 40, failing: 20, until: 40)
        clock.advance(by: .seconds(1))
        let decided = await scaler.scalePreemptively()
        monitor.evaluate(conveyor: conveyor)
        #expect(decided.map(\.to) == [1])
        let firing = dashboard.sampleNow()
        let scaled = try #require(firing.scaling?.groups.first)
        #expect(scaled.observedPerSecond == 40)
        #expect(scaled.workers == 1 && scaled.decidedWorkers == 1 && scaled.mode == "active")
        #expect(scaled.scaleIns == 1 && scaled.appliedScaleIns == 1 && scaled.scaleOuts == 0)
        let decision = try #require(firing.scaling?.decisions.last)
        #expect(decision.group == "io" && decision.from == 3 && decision.to == 1 && decision.applied)
        #expect(decision.reason == "sustainedLowLoad")
        #expect(decision.observedPerSecond == 40)
        #expect(abs(decision.time - firing.time) < 5)
        let active = try #require(firing.alerts?.active.first)
        #expect(active.rule == "errors" && active.group == "io" && active.severity == "critical" && active.state == "firing")
        #expect(active.value == 0.5)

        // Interval 2: 60 tasks, none fails: the alert resolves; the forecast made for this
        // interval (after interval 1) is reported next to the 60 that arrived.
        try await runMore(conveyor, group: "io", count: 60, until: 100)
        clock.advance(by: .seconds(1))
        await scaler.scalePreemptively()
        monitor.evaluate(conveyor: conveyor)
        for key in [1, 2, 1, 1, 3] { _ = try await square(key) }
        let resolved = dashboard.sampleNow()
        let later = try #require(resolved.scaling?.groups.first)
        #expect(later.observedPerSecond == 60)
        let forecast = try #require(later.forecastPerSecond, "no forecast for the second interval")
        #expect(forecast.isFinite && forecast >= 0)
        #expect(later.nextForecastPerSecond != nil)
        let alerts = try #require(resolved.alerts)
        #expect(alerts.active.isEmpty)
        #expect(alerts.recent.map(\.state) == ["resolved", "firing"])
        #expect(alerts.fired == 1 && alerts.resolved == 1)
        #expect(alerts.recent[0].time - alerts.recent[1].time > 0.9)
        let squares = try #require(resolved.caches?.first)
        #expect(squares.name == "squares")
        #expect(squares.hits == 2 && squares.misses == 3 && squares.coalesced == 0)
        #expect(squares.evictions == 1 && squares.entries == 2 && squares.bytes == 2 * MemoryLayout<Int>.size)
        #expect(abs(squares.hitRatio - 0.4) < 1e-12 && squares.intervalHitRatio.map { abs($0 - 0.4) < 1e-12 } == true)
        #expect(squares.lookupsPerSecond > 0)

        // The same figures through HTTP: the JSON sections and the Prometheus families.
        let address = try await dashboard.start()
        let json = try HTTPProbe.get(port: address.port, "/api/snapshot").body
        let decoded = try JSONDecoder().decode(DashboardSnapshot.self, from: Data(json.utf8))
        #expect(decoded.scaling == resolved.scaling && decoded.alerts == resolved.alerts && decoded.caches == resolved.caches)
        let metrics = try HTTPProbe.get(port: address.port, "/metrics").body
        let expected: [(String, Double)] = [
            ("conveyor_cache_hits_total{cache=\"squares\"}", 2), ("conveyor_cache_misses_total{cache=\"squares\"}", 3),
            ("conveyor_cache_coalesced_total{cache=\"squares\"}", 0), ("conveyor_cache_evictions_total{cache=\"squares\"}", 1),
            ("conveyor_cache_entries{cache=\"squares\"}", 2), ("conveyor_cache_bytes{cache=\"squares\"}", 16),
            ("conveyor_cache_hit_ratio{cache=\"squares\"}", 0.4),
            ("conveyor_scaler_observed_tasks_per_second{group=\"io\"}", 60),
            ("conveyor_scaler_forecast_tasks_per_second{group=\"io\"}", forecast),
            ("conveyor_scaler_decided_workers{group=\"io\"}", 1),
            ("conveyor_scaler_decisions_total{group=\"io\",direction=\"in\",applied=\"true\"}", 1),
            ("conveyor_scaler_decisions_total{group=\"io\",direction=\"out\",applied=\"true\"}", 0),
            ("conveyor_alert_firing{rule=\"errors\",group=\"io\",severity=\"critical\"}", 0),
            ("conveyor_alert_events_total{state=\"firing\"}", 1), ("conveyor_alert_events_total{state=\"resolved\"}", 1),
        ]
        for (series, value) in expected {
            let line = metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }
            #expect(line.flatMap { Double($0.dropFirst(series.count + 1)) } == value, "\(series): \(line ?? "missing")")
        }
        await dashboard.stop()
        await conveyor.shutdown()
    }

    @Test("a batch kind's figures are in the snapshot, its JSON, /metrics and the page")
    func batchSection() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("batch", minWorkers: 1)])
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0))
        #expect(dashboard.snapshot.batches == nil)
        // 10 tasks awaited in groups of 4 (4 + 4 + 2), batches of at most 4: 3 batches when
        // each group arrives within the 20 ms wait (more on a slow machine), every item summed once.
        let total = Mutex<UInt64>(0)
        let sums = try conveyor.registerBatch(
            "sums", payload: UInt64.self, output: UInt64.self,
            options: BatchOptions(maxBatchSize: 4, maxWaitTime: .milliseconds(20))
        ) { items in
            total.withLock { $0 += items.reduce(0, +) }
            return items
        }
        let address = try await dashboard.start()
        for start in stride(from: 0, to: 10, by: 4) {
            try await withThrowingTaskGroup(of: UInt64.self) { tasks in
                for value in start..<min(start + 4, 10) { tasks.addTask { try await conveyor.run(sums, UInt64(value)) } }
                for try await _ in tasks {}
            }
        }
        #expect(total.withLock { $0 } == 45)
        // Statistics are recorded just after a batch's results are delivered: wait for them.
        for _ in 0..<200 where (try? conveyor.batchStatistics(for: sums).tasks) != 10 { try await Task.sleep(for: .milliseconds(5)) }
        let reading = dashboard.sampleNow()
        let batch = try #require(reading.batches?.first)
        #expect(batch.kind == "sums" && batch.group == "batch")
        #expect((3...10).contains(batch.batches) && batch.tasks == 10 && batch.failedTasks == 0 && batch.pending == 0)
        #expect(batch.maxBatchSize == 4 && abs(batch.meanBatchSize - 10.0 / Double(batch.batches)) < 1e-9)
        #expect(batch.addedWait.count == 10 && batch.addedWait.p99 >= batch.addedWait.p50)
        let json = try HTTPProbe.get(port: address.port, "/api/snapshot").body
        let decoded = try JSONDecoder().decode(DashboardSnapshot.self, from: Data(json.utf8))
        #expect(decoded.batches == reading.batches)
        let metrics = try HTTPProbe.get(port: address.port, "/metrics").body
        for (series, value) in [
            ("conveyor_batches_total{kind=\"sums\",group=\"batch\"}", Double(batch.batches)), ("conveyor_batch_tasks_total{kind=\"sums\",group=\"batch\"}", 10),
            ("conveyor_batch_pending{kind=\"sums\",group=\"batch\"}", 0), ("conveyor_batch_max_size{kind=\"sums\",group=\"batch\"}", 4),
        ] {
            let line = metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }
            #expect(line.flatMap { Double($0.dropFirst(series.count + 1)) } == value, "\(series): \(line ?? "missing")")
        }
        let page = try HTTPProbe.get(port: address.port, "/").body
        #expect(page.contains("id=\"section-batches\" hidden>") && page.contains("<table id=\"batches\">"))
        await dashboard.stop()
        await conveyor.shutdown()
    }

    @Test("without a scaler, alerts or caches their sections are absent from the JSON, the metrics and the page")
    func absentSections() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1)])
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0))
        let address = try await dashboard.start()
        dashboard.sampleNow()
        let json = try HTTPProbe.get(port: address.port, "/api/snapshot").body
        for key in ["\"scaling\"", "\"alerts\"", "\"caches\"", "\"batches\"", "\"load\""] { #expect(!json.contains(key), "\(key) present") }
        let metrics = try HTTPProbe.get(port: address.port, "/metrics").body
        #expect(!metrics.contains("conveyor_cache_") && !metrics.contains("conveyor_scaler_") && !metrics.contains("conveyor_alert_"))
        #expect(!metrics.contains("conveyor_batch"))
        let page = try HTTPProbe.get(port: address.port, "/").body
        #expect(page.contains("<figure id=\"section-forecast\" hidden>"))
        #expect(page.contains("id=\"section-alerts\" hidden>"))
        await dashboard.stop()
        await conveyor.shutdown()
    }

    @Test("the demo warms its scaler on the trace rows before the start and schedules its incidents")
    func demoParts() async throws {
        let trace = (0..<96).map { 1 + 0.5 * sin(Double($0) / 48 * 2 * .pi) }
        let demo = try DemoWorkload(configuration: .init(
            trace: trace, step: .seconds(1), baseRate: 100, incidentStart: .seconds(2), incidentEvery: .seconds(10),
            incidentLength: .seconds(3)))
        let io = try demo.scaler.status(for: "io")
        #expect(io.intervals == 95)
        #expect(io.interval == .seconds(1))
        // The forecast for the first interval follows the trace's last row (io's 40 % share).
        let next = try #require(io.next)
        let expected = trace[95] / (trace.reduce(0, +) / 96) * 100 * 0.4
        #expect(abs(next.value - expected) < 0.25 * expected, "forecast \(next.value), trace \(expected)")
        #expect(demo.dashboardSources.caches.map(\.name) == ["prices"])
        let on = [0, 1.9, 2, 4.9, 5, 11.9, 12, 14.9, 15].map { demo.incident(at: .milliseconds(Int($0 * 1000))) }
        #expect(on == [false, false, true, true, false, false, true, true, false])
        // Rows longer than 5 s: the scaler's interval stays at 5 s and nothing is warmed.
        let slow = try DemoWorkload(configuration: .init(trace: trace, step: .seconds(30)))
        #expect(try slow.scaler.status(for: "cpu").intervals == 0)
        #expect(try slow.scaler.status(for: "cpu").interval == .seconds(5))
        await demo.shutdown()
        await slow.shutdown()
    }
}

