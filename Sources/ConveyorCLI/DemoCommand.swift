#if canImport(ConveyorDashboard)
import ArgumentParser
import Conveyor
import ConveyorDashboard
import Foundation
import Synchronization

extension ConveyorCommand {
    /// Subcommands that need the dashboard product (absent from CONVEYOR_CORE_ONLY=1 builds).
    static var dashboardCommands: [any ParsableCommand.Type] { [DemoCommand.self] }
}

/// A failure of the demo at run time (printed without the usage text).
struct DemoError: Error, CustomStringConvertible {
    var description: String
}

/// `conveyor demo`: a realistic mixed workload with the live dashboard.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a mixed workload (groups cpu, io, batch) with the live dashboard and /metrics.",
        discussion: """
            Typed, closure, awaited, batched and cached tasks arrive at a rate that follows a load \
            trace (one 30-minute row per second: a day in 48 s); the predictive scaler sizes each \
            group ahead of its forecast, and alert rules fire and resolve with simulated incidents \
            of the io dependency (every 20 s, 4 s long). Open the printed URL; Prometheus scrapes /metrics. The dashboard has \
            no authentication: it binds 127.0.0.1 unless --allow-remote is given. Stop with Ctrl-C \
            or let --duration run out.
            """
    )

    @Option(name: .long, help: "How long to run: 90s, 10m, 1h (default: until interrupted).")
    var duration: String?

    @Option(name: .long, help: "Where the dashboard listens, HOST:PORT (port 0 picks a free one).")
    var dashboard: String = "127.0.0.1:9464"

    @Flag(name: .long, help: "Allow a non-loopback --dashboard address (there is no authentication).")
    var allowRemote = false

    @Option(name: .long, help: "A timestamp,count CSV for the arrival rate (default: the shared electricity trace).")
    var trace: String?

    @Option(name: .long, help: "Tasks per second at the trace's mean.")
    var rate: Double = 1_500

    @Option(name: .long, help: "How long one trace row lasts: 1s, 500ms, …")
    var step: String = "1s"

    /// Where the default trace is looked for, in order.
    static let defaultTraces = [
        "../shared/traces/elecdemand_30min.csv", "shared/traces/elecdemand_30min.csv",
        "/work/shared/traces/elecdemand_30min.csv",
    ]

    static func address(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65_535).contains(port), colon != text.startIndex
        else {
            throw ValidationError("--dashboard '\(text)' is not HOST:PORT; write 127.0.0.1:9464 (port 0 picks a free one)")
        }
        return (String(text[..<colon]), port)
    }

    /// A day-shaped fallback (48 half-hours) when no trace file is found.
    static let builtInDay: [Double] = (0..<48).map { index in
        let hour = Double(index) / 2
        return 1 + 0.45 * sin((hour - 9) / 24 * 2 * .pi) + 0.2 * sin((hour - 6) / 12 * 2 * .pi)
    }

    func run() async throws {
        let (host, port) = try Self.address(self.dashboard)
        let duration = try self.duration.map { text throws(SimulationError) in try parseDuration(text, option: "--duration") }
        let step = try parseDuration(self.step, option: "--step")
        guard duration.map({ $0 > .zero }) ?? true, step > .zero else {
            throw ValidationError("--duration and --step must be longer than 0 (got \(self.duration ?? "none"), \(self.step))")
        }
        let counts: [Double]
        let source: String
        if let path = self.trace ?? Self.defaultTraces.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            do {
                counts = try DemoWorkload.trace(contentsOf: path)
            } catch {
                throw ValidationError("--trace \(path): \(error)")
            }
            source = "\(path) (\(counts.count) rows)"
        } else {
            counts = Self.builtInDay
            source = "built-in day shape (no trace file found; pass --trace FILE.csv)"
        }
        let demo = try DemoWorkload(configuration: .init(trace: counts, step: step, baseRate: self.rate))
        let dashboard: Dashboard
        do {
            dashboard = try Dashboard(
                conveyor: demo.conveyor,
                configuration: .init(host: host, port: port, allowRemote: self.allowRemote),
                sources: demo.dashboardSources)
        } catch {
            await demo.shutdown()
            throw DemoError(description: "\(error)")
        }
        let address: Dashboard.Address
        do {
            address = try await dashboard.start()
        } catch {
            await demo.shutdown()
            throw DemoError(description: "\(error)")
        }
        print("Conveyor demo: dashboard \(address.url)  metrics \(address.url)metrics  JSON \(address.url)api/snapshot")
        print("trace: \(source), one row per \(step), \(Int(self.rate)) tasks/s at its mean")
        if !Dashboard.Configuration.isLoopback(host) {
            print("warning: listening on \(host) without authentication")
        }
        Self.flush()

        Self.catchInterrupts()
        let work = Task { try await demo.run(for: duration) }
        let ticker = Task {
            // One line per new reading of the dashboard's sampler.
            let started = ContinuousClock.now
            var printed = dashboard.snapshot.sequence
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                let snapshot = dashboard.snapshot
                guard snapshot.sequence != printed else { continue }
                printed = snapshot.sequence
                Self.printLine(snapshot, elapsed: ContinuousClock.now - started, duration: duration)
            }
        }
        let stopOnSignal = Task {
            while !Task.isCancelled, !Self.interrupted.load(ordering: .relaxed) {
                try? await Task.sleep(for: .milliseconds(100))
            }
            work.cancel()
        }
        _ = try? await work.value
        ticker.cancel()
        stopOnSignal.cancel()
        _ = await ticker.value
        print("")
        print("stopping: draining the queues …")
        await dashboard.stop()
        await demo.shutdown()
        let final = dashboard.sampleNow()
        print("done: \(final.total.completed) tasks completed, \(final.total.failed) failed (simulated), \(demo.rejected) rejected")
    }

    /// Set by SIGINT and SIGTERM while the demo runs (the handler only stores).
    static let interrupted = Atomic<Bool>(false)

    static func catchInterrupts() {
        signal(SIGINT) { _ in DemoCommand.interrupted.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in DemoCommand.interrupted.store(true, ordering: .relaxed) }
    }

    static func flush() {
        fflush(nil)
    }

    static func printLine(_ snapshot: DashboardSnapshot, elapsed: Duration, duration: Duration?) {
        func rate(_ value: Double) -> String {
            value >= 10_000 ? String(format: "%.1fk", value / 1_000) : String(format: "%.0f", value)
        }
        func time(_ seconds: Double) -> String {
            seconds < 1e-3 ? String(format: "%.0fµs", seconds * 1e6) : String(format: "%.1fms", seconds * 1e3)
        }
        var line = ""
        let seconds = Double(elapsed.components.seconds)
        if let duration {
            let total = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            let done = min(1, seconds / max(total, 1))
            let filled = Int((done * 20).rounded())
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled) + "] "
            line += String(format: "%3.0fs/%.0fs  ", seconds, total)
        } else {
            line += String(format: "%4.0fs  ", seconds)
        }
        for group in snapshot.groups {
            line += "\(group.name) \(group.workers)w \(rate(group.throughput))/s q\(group.queued)  "
        }
        line += "p99 \(time(snapshot.total.serviceTime.p99))  "
        if let cache = snapshot.caches?.first {
            line += String(format: "cache %.0f%%  ", cache.hitRatio * 100)
        }
        if let alerts = snapshot.alerts {
            line += "alerts \(alerts.active.count)  "
        }
        line += "cpu \(Int(snapshot.process.cpuPercent))%  rss \(snapshot.process.residentBytes >> 20)MiB"
        if isatty(1) != 0 {
            print("\r" + line + "\u{1B}[K", terminator: "")
        } else {
            print(line)
        }
        Self.flush()
    }
}
#else
import ArgumentParser

extension ConveyorCommand {
    /// Empty: this build leaves the dashboard out (CONVEYOR_CORE_ONLY=1).
    static var dashboardCommands: [any ParsableCommand.Type] { [] }
}
#endif
