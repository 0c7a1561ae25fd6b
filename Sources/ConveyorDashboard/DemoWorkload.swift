import Conveyor
import ConveyorForecasting
import Foundation
import Synchronization

/// The mixed workload of `conveyor demo`: three groups (`cpu`, `io`, `batch`), typed,
/// closure, awaited and batched tasks, an arrival rate that follows a load trace (compressed:
/// one trace row per ``Configuration/step``), the ``PredictiveScaler`` sizing each group
/// ahead of its forecast, an ``AlertMonitor`` whose rules fire and resolve with the demo's
/// simulated incidents, and a ``ResultCache`` in front of a cached task kind, so every
/// chart of the dashboard moves within seconds.
///
/// ```swift
/// let demo = try DemoWorkload(configuration: .init(trace: try DemoWorkload.trace(contentsOf: path)))
/// let dashboard = try Dashboard(conveyor: demo.conveyor, sources: demo.dashboardSources)
/// try await dashboard.start()
/// try await demo.run(for: .seconds(60))
/// await dashboard.stop()
/// await demo.shutdown()
/// ```
///
/// Tasks: `hash` (typed, `cpu`: spins for 40–160 µs), `fetch` (closure, `io`: sleeps 1–5 ms,
/// 0.5 % throw; during an incident 25 % throw and the rest sleep three times as long),
/// `rows` (a batch kind on `batch`: up to 32 rows per call, flushed within 50 ms; a call
/// spins 300 µs plus a fifth of its rows' 100–300 µs), `report` (awaited with `run`, `cpu`: 8 in flight at most) and `price`
/// (cached in ``prices``: pages of 8 concurrent lookups of skewed keys out of 5000; a miss runs
/// on `io` and sleeps 2 ms, and a page asking twice for a key being computed waits for it).
public final class DemoWorkload: Sendable {
    /// The load's shape and size.
    public struct Configuration: Sendable {
        /// Relative arrival rates, one per step (the trace's counts; scaled by their mean).
        public var trace: [Double]
        /// How long one trace row lasts (default 1 s: a day of 30-minute rows in 48 s).
        public var step: Duration
        /// Tasks per second at the trace's mean (1…1 000 000; default 1 500).
        public var baseRate: Double
        /// When the first simulated incident of the `fetch` dependency starts (default 2 s
        /// in), how often one starts again (default every 20 s) and how long each lasts
        /// (default 4 s). The `fetch-errors` alert fires and resolves with each.
        public var incidentStart: Duration
        public var incidentEvery: Duration
        public var incidentLength: Duration
        /// Extra, idle groups shown on the dashboard (tests use one named `<script>`).
        var extraGroups: [String] = []

        public init(
            trace: [Double], step: Duration = .seconds(1), baseRate: Double = 1_500,
            incidentStart: Duration = .seconds(2), incidentEvery: Duration = .seconds(20), incidentLength: Duration = .seconds(4)
        ) {
            self.trace = trace
            self.step = step
            self.baseRate = baseRate
            self.incidentStart = incidentStart
            self.incidentEvery = incidentEvery
            self.incidentLength = incidentLength
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
    /// Sizes `cpu`, `io` and `batch` (active mode, one decision per trace row, at most 1 s
    /// apart… 5 s when rows are long), warmed on the trace rows before the start.
    public let scaler: PredictiveScaler
    /// `fetch-errors` (io error rate above 5 %, critical), `slow-start` (any group's queue
    /// wait p99 above 50 ms for 1 s) and `capacity` (the forecast exceeds a group's capacity
    /// at its maximum workers); cooldown 5 s.
    public let alerts: AlertMonitor
    /// The cache of the `price` kind: 256 entries, fresh for 5 s, swept every 2 s.
    public let prices: ResultCache<UInt32, UInt64>
    private let price: CachedTaskKind<UInt32, UInt64>
    private let lookupsInFlight = Atomic<Int>(0)
    private let hash: TaskKind<Hash>
    private let rows: BatchKind<Hash, Void>
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
        // A batched kind: one call per batch pays a fixed 300 µs (a transaction, say) plus a
        // fifth of each row's own cost, so batching visibly pays.
        self.rows = try self.conveyor.registerBatch(
            "rows", payload: Hash.self, options: BatchOptions(maxBatchSize: 32, maxWaitTime: .milliseconds(50))
        ) { jobs in
            Self.spin(microseconds: 300 + jobs.reduce(0) { $0 + $1.microseconds / 5 }, seed: jobs.first?.seed ?? 0)
        }
        self.prices = try ResultCache(maxEntries: 256, ttl: .seconds(5), reclaimInterval: .seconds(2), name: "prices")
        self.price = self.conveyor.cached(QueueTask(kind: "price", group: "io"), in: self.prices) { (key: UInt32) in
            usleep(2_000)
            return UInt64(key) &* 0x9E37_79B9_7F4A_7C15
        }

        // One scaler interval per trace row when rows are 0.25 s to 5 s long (then the warm-up
        // history below is the trace itself), else the nearest of those.
        let interval = min(.seconds(5), max(.milliseconds(250), configuration.step))
        let shares = ["cpu": 0.4, "io": 0.4, "batch": 0.2]
        let scaling = ["cpu", "io", "batch"].map { name -> GroupScaling in
            let group = groups.first { $0.name == name }!
            var scaling = GroupScaling(group: name, minWorkers: group.minWorkers, maxWorkers: group.maxWorkers)
            scaling.interval = interval
            scaling.horizon = 2
            scaling.latencyTarget = .milliseconds(50)
            scaling.mode = .active
            return scaling
        }
        self.scaler = try PredictiveScaler(conveyor: self.conveyor, groups: scaling)
        if interval == configuration.step {
            // "Yesterday": the week of rows before the start (the trace wraps), so the forecast
            // follows the trace's daily shape from the first interval.
            let rows = min(values.count - 1, 336)
            let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
            let mean = self.mean
            for (name, share) in shares {
                let history = (0..<rows).map { back -> Double? in
                    let row = values[(values.count - rows + back) % values.count]
                    return row / mean * configuration.baseRate * share * seconds
                }
                try self.scaler.warm(group: name, history: history, meanServiceTime: nil)
            }
        }
        self.alerts = try AlertMonitor(
            rules: [
                AlertRule(name: "fetch-errors", group: "io", severity: .critical,
                          condition: .threshold(metric: .errorRate, .above, 0.05, for: .zero)),
                AlertRule(name: "slow-start", condition: .threshold(metric: .queueWaitP99, .above, 0.05, for: .seconds(1))),
                AlertRule(name: "capacity", condition: .capacityForecast),
            ],
            cooldown: .seconds(5))
    }

    /// What a ``Dashboard`` shows of the demo: arrivals, the scaler, the alerts and the cache.
    public var dashboardSources: Dashboard.Sources {
        .init(
            load: { [self] in self.load() }, scaler: self.scaler, alerts: self.alerts,
            caches: [.init(name: "prices", cache: self.prices)])
    }

    /// Whether a simulated incident of the `fetch` dependency is on `elapsed` into the run.
    func incident(at elapsed: Duration) -> Bool {
        let configuration = self.configuration
        guard elapsed >= configuration.incidentStart, configuration.incidentLength > .zero else { return false }
        let since = elapsed - configuration.incidentStart
        guard configuration.incidentEvery > .zero else { return since < configuration.incidentLength }
        let phase = since - configuration.incidentEvery * Int(since / configuration.incidentEvery)
        return phase < configuration.incidentLength
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

    /// Runs the load, the scaler and the alert monitor for `duration` (`nil`: until the
    /// calling task is cancelled). Returns without error when cancelled.
    public func run(for duration: Duration? = nil) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let interval = try self.scaler.status(for: "cpu").interval
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.scaler.run() }
            group.addTask { await self.alerts.watch(conveyor: self.conveyor, scaler: self.scaler, horizon: 6, every: interval) }
            await self.generate(start: start, duration: duration)
            group.cancelAll()
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

    /// Submits at the trace's rate in 10 ms ticks: 40 % `hash`, 40 % `fetch`, 20 % `rows` (a batch
    /// kind: up to 32 rows per call, flushed within 50 ms), plus `report` tasks awaited by child tasks and `price` lookups (a fifth
    /// of the rate) in pages of 8 concurrent lookups, at most 32 pages in flight.
    private func generate(start: ContinuousClock.Instant, duration: Duration?) async {
        var random = SystemRandomNumberGenerator()
        var credit = 0.0
        var lookupCredit = 0.0
        var last = ContinuousClock.now
        await withTaskGroup(of: Void.self) { awaited in
            while !self.finished(start, duration) {
                try? await Task.sleep(for: .milliseconds(10))
                let now = ContinuousClock.now
                let tick = now - last
                last = now
                let rate = self.targetRate(at: now - start)
                let incident = self.incident(at: now - start)
                let tickSeconds = Double(tick.components.seconds) + Double(tick.components.attoseconds) / 1e18
                credit += rate * tickSeconds
                lookupCredit += rate * 0.2 * tickSeconds
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
                            let sleep = useconds_t.random(in: 1_000...5_000, using: &random) * (incident ? 3 : 1)
                            let fails = Int.random(in: 0..<200, using: &random) < (incident ? 50 : 1)
                            try self.conveyor.submit(QueueTask(kind: "fetch", group: "io")) {
                                usleep(sleep)
                                if fails { throw DemoFailure.fetchTimedOut }
                            }
                            submitted.io += 1
                        } else {
                            try self.conveyor.submit(
                                self.rows, Hash(seed: random.next(), microseconds: .random(in: 100...300, using: &random)))
                            submitted.batch += 1
                        }
                    } catch {
                        submitted.rejected += 1
                    }
                }
                // Cache lookups: a page needs 8 prices at once, of skewed keys (the cube of a
                // uniform number: key 0 is 6 % of lookups), looked up concurrently.
                while lookupCredit >= 8, self.lookupsInFlight.load(ordering: .relaxed) < 32 {
                    lookupCredit -= 8
                    self.lookupsInFlight.add(1, ordering: .relaxed)
                    let keys = (0..<8).map { _ in UInt32(pow(Double.random(in: 0..<1, using: &random), 3) * 5_000) }
                    awaited.addTask {
                        await withTaskGroup(of: Void.self) { page in
                            for key in keys { page.addTask { _ = try? await self.price(key) } }
                        }
                        self.lookupsInFlight.subtract(1, ordering: .relaxed)
                    }
                }
                lookupCredit = min(lookupCredit, 64)
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
}

/// The demo's simulated failure (0.5 % of `fetch` tasks).
enum DemoFailure: Error, CustomStringConvertible {
    case fetchTimedOut
    var description: String { "fetch timed out (simulated)" }
}
