import Conveyor
import ConveyorForecasting
import Foundation
import Synchronization

/// The mixed workload of `conveyor demo`: three groups (`cpu`, `io`, `batch`), typed,
/// closure, awaited and batched tasks, an arrival rate that follows a load trace (compressed:
/// one trace row per ``Configuration/step``), and a simple scaler that resizes each group
/// from the load it observes, so every chart of the dashboard moves within seconds.
///
/// ```swift
/// let demo = try DemoWorkload(configuration: .init(trace: try DemoWorkload.trace(contentsOf: path)))
/// let dashboard = try Dashboard(conveyor: demo.conveyor, sources: .init(load: { demo.load() }))
/// try await dashboard.start()
/// try await demo.run(for: .seconds(60))
/// await dashboard.stop()
/// await demo.shutdown()
/// ```
///
/// Tasks: `hash` (typed, `cpu`: spins for 40–160 µs), `fetch` (closure, `io`: sleeps 1–5 ms,
/// 0.5 % throw), `rows` (typed, submitted 16 at a time with `submit(_:contentsOf:)`, `batch`:
/// spins 100–300 µs) and `report` (awaited with `run`, `cpu`: 8 in flight at most).
public final class DemoWorkload: Sendable {
    /// The load's shape and size.
    public struct Configuration: Sendable {
        /// Relative arrival rates, one per step (the trace's counts; scaled by their mean).
        public var trace: [Double]
        /// How long one trace row lasts (default 1 s: a day of 30-minute rows in 48 s).
        public var step: Duration
        /// Tasks per second at the trace's mean (1…1 000 000; default 1 500).
        public var baseRate: Double
        /// Extra, idle groups shown on the dashboard (tests use one named `<script>`).
        var extraGroups: [String] = []

        public init(trace: [Double], step: Duration = .seconds(1), baseRate: Double = 1_500) {
            self.trace = trace
            self.step = step
            self.baseRate = baseRate
        }
    }

    /// The counts of a `timestamp,count` CSV (missing counts are skipped).
    /// - Throws: ``ForecastError`` when the file cannot be read or parsed.
    public static func trace(contentsOf path: String) throws(ForecastError) -> [Double] {
        try LoadTrace.load(contentsOf: path).counts.compactMap { $0 }
    }

    struct Hash: BitwiseCopyable, Sendable {
        var seed: UInt64
        var microseconds: UInt32
    }

    private struct Counters {
        var submitted: [String: Int] = ["cpu": 0, "io": 0, "batch": 0]
        var rejected = 0
        var reportedAt = ContinuousClock.now
        var reportedTotal = 0
        var offered: Double = 0
        var target: Double = 0
    }

    public let configuration: Configuration
    /// The engine the demo drives (hand it to a ``Dashboard``).
    public let conveyor: Conveyor
    private let hash: TaskKind<Hash>
    private let rows: TaskKind<Hash>
    private let counters = Mutex(Counters())
    private let mean: Double
    private let awaitedInFlight = Atomic<Int>(0)

    /// Creates the engine and registers the demo's task kinds.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for an empty trace, a
    ///   non-positive step or a base rate out of range; engine errors.
    public init(configuration: Configuration) throws {
        let values = configuration.trace.filter { $0.isFinite && $0 >= 0 }
        guard !values.isEmpty, values.contains(where: { $0 > 0 }) else {
            throw ConveyorError.invalidConfiguration(reason: "the demo trace has no positive count; pass a trace with load")
        }
        guard configuration.step >= .milliseconds(10) else {
            throw ConveyorError.invalidConfiguration(reason: "step \(configuration.step) must be at least 10 ms")
        }
        guard (1...1_000_000).contains(configuration.baseRate) else {
            throw ConveyorError.invalidConfiguration(
                reason: "baseRate \(configuration.baseRate) must be from 1 to 1000000 tasks per second")
        }
        var configuration = configuration
        configuration.trace = values
        self.configuration = configuration
        self.mean = values.reduce(0, +) / Double(values.count)
        let spill = OverflowPolicy.spill(memoryLimit: 64 << 20)
        var groups = [
            ResourceGroup("cpu", minWorkers: 1, maxWorkers: 4, initialWorkers: 1, overflow: spill),
            ResourceGroup("io", minWorkers: 1, maxWorkers: 16, initialWorkers: 2, overflow: spill),
            ResourceGroup("batch", minWorkers: 1, maxWorkers: 4, initialWorkers: 1, overflow: spill),
        ]
        groups += configuration.extraGroups.map { ResourceGroup($0, minWorkers: 1) }
        self.conveyor = try Conveyor(
            configuration: .init(
                groups: groups, defaultGroup: "cpu",
                routes: ["hash": "cpu", "report": "cpu", "fetch": "io", "rows": "batch"]))
        self.hash = try self.conveyor.register("hash", payload: Hash.self) { job in
            Self.spin(microseconds: job.microseconds, seed: job.seed)
        }
        self.rows = try self.conveyor.register("rows", payload: Hash.self) { job in
            Self.spin(microseconds: job.microseconds, seed: job.seed)
        }
    }

    /// Busy work for about `microseconds`: a hash chain until the clock passes the deadline.
    @discardableResult
    static func spin(microseconds: UInt32, seed: UInt64) -> UInt64 {
        let end = ContinuousClock.now + .microseconds(Int(microseconds))
        var value = seed | 1
        repeat {
            for _ in 0..<64 {
                value ^= value << 13
                value ^= value >> 7
                value ^= value << 17
            }
        } while ContinuousClock.now < end
        return value
    }

    /// The trace's arrival rate (tasks per second) `elapsed` into the run, linearly
    /// interpolated between rows, wrapping around at the end of the trace.
    func targetRate(at elapsed: Duration) -> Double {
        let steps = elapsed / self.configuration.step
        let trace = self.configuration.trace
        let index = Int(steps.rounded(.down))
        let fraction = steps - Double(index)
        let here = trace[index % trace.count]
        let next = trace[(index + 1) % trace.count]
        return (here + (next - here) * fraction) / self.mean * self.configuration.baseRate
    }

    /// Offered against target arrivals since the previous call (for ``Dashboard/Sources/load``).
    public func load() -> DashboardSnapshot.Load {
        self.counters.withLock { counters in
            let now = ContinuousClock.now
            let total = counters.submitted.values.reduce(0, +)
            let elapsed = now - counters.reportedAt
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if seconds >= 0.2 {
                counters.offered = Double(total - counters.reportedTotal) / seconds
                counters.reportedTotal = total
                counters.reportedAt = now
            }
            return .init(targetPerSecond: counters.target, offeredPerSecond: counters.offered)
        }
    }

    /// Tasks the engine refused so far (a full group; the demo's groups spill, so normally 0).
    public var rejected: Int { self.counters.withLock { $0.rejected } }

    /// Runs the load and the scaler for `duration` (`nil`: until the calling task is cancelled).
    /// Returns without error when cancelled.
    public func run(for duration: Duration? = nil) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.generate(start: start, duration: duration) }
            group.addTask { await self.scale(start: start, duration: duration) }
            try await group.waitForAll()
        }
    }

    /// Shuts the engine down (draining what was accepted).
    public func shutdown() async {
        await self.conveyor.shutdown(drain: true)
    }

    private func finished(_ start: ContinuousClock.Instant, _ duration: Duration?) -> Bool {
        if Task.isCancelled { return true }
        guard let duration else { return false }
        return ContinuousClock.now - start >= duration
    }

    /// Submits at the trace's rate in 10 ms ticks: 40 % `hash`, 40 % `fetch`, 20 % `rows` in
    /// batches of 16, plus `report` tasks awaited by child tasks.
    private func generate(start: ContinuousClock.Instant, duration: Duration?) async {
        var random = SystemRandomNumberGenerator()
        var credit = 0.0
        var last = ContinuousClock.now
        var pendingRows: [Hash] = []
        await withTaskGroup(of: Void.self) { awaited in
            while !self.finished(start, duration) {
                try? await Task.sleep(for: .milliseconds(10))
                let now = ContinuousClock.now
                let tick = now - last
                last = now
                let rate = self.targetRate(at: now - start)
                credit += rate * (Double(tick.components.seconds) + Double(tick.components.attoseconds) / 1e18)
                var submitted = (cpu: 0, io: 0, batch: 0, rejected: 0)
                while credit >= 1 {
                    credit -= 1
                    let choice = Int.random(in: 0..<10, using: &random)
                    do {
                        if choice < 4 {
                            try self.conveyor.submit(
                                self.hash, Hash(seed: random.next(), microseconds: .random(in: 40...160, using: &random)))
                            submitted.cpu += 1
                        } else if choice < 8 {
                            let sleep = useconds_t.random(in: 1_000...5_000, using: &random)
                            let fails = Int.random(in: 0..<200, using: &random) == 0
                            try self.conveyor.submit(QueueTask(kind: "fetch", group: "io")) {
                                usleep(sleep)
                                if fails { throw DemoFailure.fetchTimedOut }
                            }
                            submitted.io += 1
                        } else {
                            pendingRows.append(Hash(seed: random.next(), microseconds: .random(in: 100...300, using: &random)))
                            if pendingRows.count == 16 {
                                let accepted = try self.conveyor.submit(self.rows, contentsOf: pendingRows)
                                submitted.batch += accepted
                                submitted.rejected += pendingRows.count - accepted
                                pendingRows.removeAll(keepingCapacity: true)
                            }
                        }
                    } catch {
                        submitted.rejected += 1
                    }
                }
                // Awaited tasks: one per tick while fewer than 8 are in flight.
                if self.awaitedInFlight.load(ordering: .relaxed) < 8 {
                    self.awaitedInFlight.add(1, ordering: .relaxed)
                    submitted.cpu += 1
                    let seed = random.next()
                    awaited.addTask {
                        _ = try? await self.conveyor.run(QueueTask(kind: "report", group: "cpu")) {
                            Self.spin(microseconds: 200, seed: seed)
                        }
                        self.awaitedInFlight.subtract(1, ordering: .relaxed)
                    }
                }
                self.counters.withLock { counters in
                    counters.submitted["cpu", default: 0] += submitted.cpu
                    counters.submitted["io", default: 0] += submitted.io
                    counters.submitted["batch", default: 0] += submitted.batch
                    counters.rejected += submitted.rejected
                    counters.target = rate
                }
            }
            await awaited.waitForAll()
        }
    }

    /// Once a second, sizes each group for the load it saw: busy workers needed (arrivals ×
    /// mean service time) plus draining the queue within a second, at 70 % utilisation,
    /// within the group's range.
    private func scale(start: ContinuousClock.Instant, duration: Duration?) async {
        var previous = Dictionary(uniqueKeysWithValues: self.conveyor.statistics.map { ($0.group, $0) })
        var submittedBefore = self.counters.withLock { $0.submitted }
        var last = ContinuousClock.now
        while !self.finished(start, duration) {
            try? await Task.sleep(for: .seconds(1))
            let now = ContinuousClock.now
            let elapsed = now - last
            last = now
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let submitted = self.counters.withLock { $0.submitted }
            for group in self.conveyor.statistics {
                guard let before = previous[group.group], let bounds = self.conveyor.configuration.groups.first(where: { $0.name == group.group }),
                    bounds.maxWorkers > bounds.minWorkers
                else { continue }
                let service = group.serviceTime.subtracting(before.serviceTime)
                let meanService = service.isEmpty ? 0 : service.mean / 1e9
                let arrivals = Double((submitted[group.group] ?? 0) - (submittedBefore[group.group] ?? 0)) / seconds
                let busy = arrivals * meanService + Double(group.queued) * meanService
                let wanted = min(bounds.maxWorkers, max(bounds.minWorkers, Int((busy / 0.7).rounded(.up))))
                if wanted != group.workers {
                    try? await self.conveyor.resize(group: group.group, workers: wanted)
                }
            }
            previous = Dictionary(uniqueKeysWithValues: self.conveyor.statistics.map { ($0.group, $0) })
            submittedBefore = submitted
        }
    }
}

/// The demo's simulated failure (0.5 % of `fetch` tasks).
enum DemoFailure: Error, CustomStringConvertible {
    case fetchTimedOut
    var description: String { "fetch timed out (simulated)" }
}
