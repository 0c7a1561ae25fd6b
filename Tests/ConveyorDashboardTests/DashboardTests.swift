import Conveyor
import Foundation
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
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1), ResourceGroup("<script>", minWorkers: 1)])
        _ = try conveyor.register("typed", payload: UInt64.self) { _ in }
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0))
        let address = try await dashboard.start()
        try await runTasks(conveyor, groups: ["cpu", "<script>"], tasks: 100)
        dashboard.sampleNow()
        let text = try HTTPProbe.get(port: address.port, "/metrics").body
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
