import Conveyor
import Foundation
import Testing

@testable import ConveyorDashboard

/// The demo workload with its dashboard on a free loopback port, for the real clients.
struct RunningDemo {
    let demo: DemoWorkload
    let dashboard: Dashboard
    let address: Dashboard.Address
    let work: Task<Void, any Error>

    static func start(extraGroups: [String] = []) async throws -> RunningDemo {
        var configuration = DemoWorkload.Configuration(
            trace: DemoCommandTrace.day, step: .milliseconds(500), baseRate: 600, incidentStart: .seconds(2),
            incidentEvery: .seconds(8), incidentLength: .seconds(3))
        configuration.extraGroups = extraGroups
        let demo = try DemoWorkload(configuration: configuration)
        let dashboard = try Dashboard(
            conveyor: demo.conveyor, configuration: .init(port: 0), sources: demo.dashboardSources)
        let address = try await dashboard.start()
        let work = Task { try await demo.run() }
        return RunningDemo(demo: demo, dashboard: dashboard, address: address, work: work)
    }

    /// Runs `body` with a started demo and stops it afterwards, also when `body` throws.
    static func with<Value>(extraGroups: [String] = [], _ body: (RunningDemo) async throws -> Value) async throws -> Value {
        let running = try await Self.start(extraGroups: extraGroups)
        do {
            let value = try await body(running)
            await running.stop()
            return value
        } catch {
            await running.stop()
            throw error
        }
    }

    func stop() async {
        self.work.cancel()
        _ = try? await self.work.value
        await self.dashboard.stop()
        await self.demo.shutdown()
    }
}

/// A day-shaped trace (the shared electricity trace's first day when it is there).
enum DemoCommandTrace {
    static let day: [Double] = {
        for path in ["../shared/traces/elecdemand_30min.csv", "/work/shared/traces/elecdemand_30min.csv"] {
            if let counts = try? DemoWorkload.trace(contentsOf: path), counts.count >= 48 { return Array(counts.prefix(96)) }
        }
        return (0..<48).map { 1 + 0.5 * sin(Double($0) / 48 * 2 * .pi) }
    }()
}

/// A running program, stopped (SIGTERM, then SIGKILL) when the test ends.
final class Child: @unchecked Sendable {
    let process = Process()
    let log: URL

    init(_ path: String, _ arguments: [String], log: URL) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        self.process.executableURL = URL(fileURLWithPath: path)
        self.process.arguments = arguments
        self.process.standardOutput = handle
        self.process.standardError = handle
        try self.process.run()
    }

    func stop() {
        guard self.process.isRunning else { return }
        self.process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while self.process.isRunning && Date() < deadline { usleep(50_000) }
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        self.process.waitUntilExit()
    }

    var output: String { (try? String(contentsOf: self.log, encoding: .utf8)) ?? "" }
}

@Suite("Dashboard with real clients: Prometheus and Chromium")
struct RealClientsTests {
    /// The value of the first series a Prometheus instant query returns.
    static func query(prometheus port: Int, _ expression: String) throws -> Double? {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        let reply = try HTTPProbe.get(port: port, "/api/v1/query?query=\(encoded)")
        guard reply.status == 200,
            let json = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any],
            let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
            let first = result.first, let value = first["value"] as? [Any], value.count == 2,
            let text = value[1] as? String
        else { return nil }
        return Double(text)
    }

    /// The package root (scripts/ lives there).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// Where the screenshot goes (CONVEYOR_SCREENSHOT=docs/images/dashboard.png renews the docs' one).
    static let screenshot = ProcessInfo.processInfo.environment["CONVEYOR_SCREENSHOT"]
        ?? FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-dashboard-\(getpid()).png").path

    @Test("a real Prometheus scrapes the demo at 1 s and conveyor_tasks_completed_total rises")
    func prometheusScrapes() async throws {
        let prometheus = try #require(findProgram("prometheus"), "prometheus missing: run scripts/install-dashboard-deps.sh")
        try await RunningDemo.with { running in try await Self.scrape(running, prometheus: prometheus) }
    }

    static func scrape(_ running: RunningDemo, prometheus: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-prometheus-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 900ms
            scrape_configs:
              - job_name: conveyor-demo
                static_configs:
                  - targets: ['127.0.0.1:\(running.address.port)']
            """
        try config.write(to: directory.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let port = try freePort()
        let server = try Child(
            prometheus,
            [
                "--config.file=\(directory.appendingPathComponent("prometheus.yml").path)",
                "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
                "--web.listen-address=127.0.0.1:\(port)",
            ], log: directory.appendingPathComponent("prometheus.log"))
        defer { server.stop() }

        let expression = "sum(conveyor_tasks_completed_total{job=\"conveyor-demo\"})"
        var first: Double?
        let deadline = ContinuousClock.now + .seconds(40)
        while first == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            first = try? Self.query(prometheus: port, expression)
        }
        let firstValue = try #require(first, "no conveyor_tasks_completed_total in Prometheus; its log: \(server.output.suffix(2_000))")
        var later = firstValue
        let rising = ContinuousClock.now + .seconds(20)
        while later <= firstValue, ContinuousClock.now < rising {
            try await Task.sleep(for: .seconds(1))
            later = (try? Self.query(prometheus: port, expression)) ?? later
        }
        #expect(later > firstValue, "conveyor_tasks_completed_total stayed at \(firstValue)")
        // Prometheus saw the target up, and every group's series.
        #expect(try Self.query(prometheus: port, "up{job=\"conveyor-demo\"}") == 1)
        #expect(try Self.query(prometheus: port, "count(conveyor_tasks_completed_total)") == 3)
        #expect(try Self.query(prometheus: port, "count(conveyor_service_time_seconds_bucket{group=\"io\"})") ?? 0 >= 10)
        // The scaler's, the cache's and the alerts' families reach Prometheus too.
        #expect(try Self.query(prometheus: port, "count(conveyor_scaler_observed_tasks_per_second)") == 3)
        #expect(try Self.query(prometheus: port, "sum(conveyor_cache_misses_total{cache=\"prices\"})") ?? 0 > 0)
        #expect(try Self.query(prometheus: port, "count(conveyor_alert_events_total)") == 2)
    }

    @Test("headless Chromium: charts have data, the throughput figure moves without reload, <script> shows as text")
    func browser() async throws {
        _ = try #require(findProgram("chromium"), "chromium missing: run scripts/install-dashboard-deps.sh")
        _ = try #require(findProgram("chromedriver"), "chromedriver missing: run scripts/install-dashboard-deps.sh")
        let python = try #require(findProgram("python3"))
        let result = try await RunningDemo.with(extraGroups: ["<script>alert(1)</script>"]) { running in
            try await Task.sleep(for: .seconds(3))
            return try runProgram(
                python, [Self.root.appendingPathComponent("scripts/dashboard-browser-check.py").path, running.address.url, Self.screenshot])
        }
        #expect(result.status == 0, "browser check: \(result.output.suffix(3_000))")
        let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "output: \(result.output)")
        let charts = try #require(json["charts"] as? [String: Int])
        for chart in [
            "chart-throughput", "chart-queue", "chart-latency", "chart-histogram", "chart-workers", "chart-cpu", "chart-memory", "chart-load",
            "chart-forecast", "chart-cache",
        ] {
            #expect((charts[chart] ?? 0) > 0, "\(chart) has no data: \(charts)")
        }
        // The lists: the scaled groups, the scaler's decisions, alert events, the cache.
        let rows = try #require(json["rows"] as? [String: Int])
        #expect(rows["scaled-groups"] == 3, "rows: \(rows)")
        #expect((rows["decisions"] ?? 0) > 0, "no scaler decision listed: \(rows)")
        #expect((rows["alerts-recent"] ?? 0) > 0, "no alert event listed: \(rows)")
        #expect(rows["caches"] == 1, "rows: \(rows)")
        #expect(rows["batches"] == 1, "the demo's batch kind is not listed: \(rows)")
        #expect((json["markers"] as? Int ?? 0) > 0, "no decision marker on the workers chart")
        let reads = try #require(json["reads"] as? [[Any]])
        let figures = reads.compactMap { $0.first as? String }
        let sequences = reads.compactMap { Int($0[1] as? String ?? "") }
        #expect(reads.count == 5 && figures.count == 5 && sequences.count == 5, "reads: \(reads)")
        #expect(Set(figures).count >= 2, "the throughput figure never changed: \(figures)")
        #expect(sequences == sequences.sorted() && sequences.first! < sequences.last!, "no new reading arrived: \(sequences)")
        #expect(reads.allSatisfy { $0.last as? Int == 1 }, "one navigation: no reload")
        let escaped = try #require(json["escaped"] as? [String: Any])
        let cells = escaped["cells"] as? [String] ?? []
        #expect(cells.contains("<script>alert(1)</script>"), "group name not shown as text: \(cells)")
        #expect(escaped["scripts"] as? Int == 1, "the group name became an element")
        #expect(escaped["status"] as? String == "live")
        let shot = try #require(json["screenshot"] as? [String: Any])
        #expect((shot["colours"] as? Int ?? 0) >= 16, "screenshot looks blank: \(shot)")
        #expect((shot["bytes"] as? Int ?? 0) > 20_000)
    }
}
