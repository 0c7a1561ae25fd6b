import BenchSupport
import ArgumentParser
import Conveyor
import Dispatch
import Foundation

/// `conveyor-enginebench`: the engine against Dispatch and Swift Concurrency, in one process.
@main
struct EngineBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor-enginebench",
        abstract: "Compare the Conveyor engine with Dispatch, TaskGroup and AsyncStream (one table).",
        discussion: """
            Measures, in one process and in interleaved runs: end-to-end throughput of trivial \
            tasks, submit → handler-start latency under open-loop Poisson arrivals, CPU at a low \
            rate and when idle, allocations per task, fairness across groups, and the profiler's \
            overhead (throughput with profiling on ÷ off). Every figure is the median over --runs \
            runs. Build with -c release; takes about 2–3 minutes on 2 cores.
            """
    )

    @OptionGroup var measurement: MeasurementOptions
    @OptionGroup var report: ReportDocumentOption

    @Option(name: .long, help: "Measure only these parts (comma-separated: \(BenchPart.allCases.map(\.rawValue).joined(separator: ","))).")
    var only: String?

    @Option(name: .long, help: ArgumentHelp("Throughput rows to run (comma-separated keys), for profiling.", visibility: .hidden))
    var rows: String?

    @Flag(name: .long, help: "Instead of the table: instructions per task (callgrind) and futex calls per task (strace), each from probe runs of this executable under the tool.")
    var counts = false

    @Option(name: .long, help: ArgumentHelp("Run one probe workload (\(CountProbe.allCases.map(\.rawValue).joined(separator: ", "))) of --tasks tasks and exit (what --counts runs under the tools).", visibility: .hidden))
    var probe: String?

    @Option(name: .long, help: ArgumentHelp("Tasks of a --probe run.", visibility: .hidden))
    var tasks: Int = 100_000

    func validate() throws {
        _ = try self.parts()
    }

    func parts() throws -> Set<BenchPart> {
        guard let only = self.only else { return Set(BenchPart.allCases) }
        return Set(try only.split(separator: ",").map { name in
            guard let part = BenchPart(rawValue: String(name)) else {
                throw ValidationError("--only: unknown part \"\(name)\"; known: \(BenchPart.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return part
        })
    }

    func run() throws {
        if let name = self.probe {
            guard let probe = CountProbe(rawValue: name) else { throw ValidationError("--probe: unknown probe \"\(name)\"") }
            try probe.run(tasks: self.tasks)
            Foundation.exit(0)  // the engine's workers are not joined
        }
        if self.counts {
            let machine = machineDescription()
            let date = utcTimestamp()
            let results = try Counts.measure(quick: self.measurement.quick)
            let table = Counts.markdown(results)
            print(table)
            if let path = self.measurement.markdown { try writeOutput(table, to: path) }
            if let path = self.measurement.json { try writeJSON(results, to: path) }
            if let path = self.report.document {
                try Counts.document(results, machine: machine, date: date, revision: gitRevision()).write(to: path)
                printError("Report document written to \(path)\n")
            }
            return
        }
        let (runs, quick) = (self.measurement.runs, self.measurement.quick)
        let sizes = BenchSizes(quick: quick)
        let machine = machineDescription()
        let date = utcTimestamp()
        printError("conveyor-enginebench: \(runs) runs\(quick ? " (quick: numbers not meaningful)" : "")\n\(machine)\n")
        if let note = self.measurement.fewRunsNote { printError(note) }
        let started = nowNanoseconds()
        var suite = try BenchSuite(sizes: sizes, seed: self.measurement.seed, parts: try self.parts(),
                                   rows: self.rows.map { Set($0.split(separator: ",").compactMap { ThroughputRow(rawValue: String($0)) }) })
        printError("warm-up…\n")
        try suite.warmUp()
        for round in 1...runs {
            printError("run \(round)/\(runs)…\n")
            try suite.measureRound()
        }
        let minutes = Double(nowNanoseconds() - started) / 60e9
        let report = BenchReport(
            machine: machine, runs: runs, quick: quick, minutes: minutes, sizes: sizes, results: suite.results,
            workerThreads: suite.workerThreads, engines: suite.engineCount, parts: suite.parts)
        let table = report.markdown
        print(table)
        if let path = self.measurement.markdown {
            try writeOutput(table, to: path)
            printError("Markdown written to \(path)\n")
        }
        if let path = self.measurement.json {
            try writeJSON(report.results, to: path)
            printError("JSON written to \(path)\n")
        }
        if let path = self.report.document {
            try report.document(date: date, revision: gitRevision()).write(to: path)
            printError("Report document written to \(path)\n")
        }
    }
}

/// Sizes of every workload (full or quick).
struct BenchSizes: Codable, Sendable {
    var throughputTasks: Int
    /// Arrival rates (tasks/s) and how long each latency run lasts (seconds, warm-up included).
    var latencyRates: [Double]
    var latencySeconds: [Double]
    var cpuRate: Double
    var cpuSeconds: Double
    var idleSettleSeconds: Double
    var idleSeconds: Double
    var allocationRounds: Int
    var fairnessBulkTasks: Int
    var fairnessSeconds: Double
    /// Share of each open-loop run not measured (warm-up).
    var warmupShare = 0.1

    init(quick: Bool) {
        self.latencyRates = [2_000, 100_000, 1_000_000]
        self.cpuRate = 2_000
        if quick {
            self.throughputTasks = 50_000
            self.latencySeconds = [0.2, 0.1, 0.05]
            self.cpuSeconds = 0.2
            self.idleSettleSeconds = 0.1
            self.idleSeconds = 0.2
            self.allocationRounds = 1
            self.fairnessBulkTasks = 50_000
            self.fairnessSeconds = 0.1
        } else {
            self.throughputTasks = 1_000_000
            self.latencySeconds = [1.5, 1.1, 0.55]
            self.cpuSeconds = 1.1
            self.idleSettleSeconds = 0.2
            self.idleSeconds = 1.0
            self.allocationRounds = 2
            self.fairnessBulkTasks = 1_000_000
            self.fairnessSeconds = 1.1
        }
    }
}

/// The parts of the table (`--only` picks some).
enum BenchPart: String, CaseIterable {
    case throughput, latency, cpu, idle, allocations, fairness, profiler
}

/// Every run's raw results.
struct BenchResults: Codable, Sendable {
    /// Throughput row key → nanoseconds for the whole run, per run.
    var throughput: [String: [UInt64]] = [:]
    /// "conveyor@100000" → per run.
    var latency: [String: [OpenLoopResult]] = [:]
    /// "conveyor" / "dispatch" / "generator" → per run, at the CPU rate (generator sleeps).
    var cpu: [String: [OpenLoopResult]] = [:]
    var idleCPUPercent: [Double] = []
    var allocationBytesPerTask: [String: [Double]] = [:]
    var fairness: [FairnessResult] = []
    /// Profiling on vs off (absent when the `profiler` part was not measured).
    var profilerOverhead: ProfilerOverheadResults?
}

/// The throughput rows, in table order.
enum ThroughputRow: String, CaseIterable {
    case typed = "conveyor.typed"
    case closure = "conveyor.closure"
    case everythingOn = "conveyor.typed.everything-on"
    /// Everything on, with the histograms fed by one task in 64 (`timingSampleInterval`).
    case everythingSampled = "conveyor.typed.everything-on.sampled-64"
    case typedTwoWorkers = "conveyor.typed.2-workers"
    case bulk = "conveyor.typed.bulk"
    case dispatchConcurrent = "dispatch.concurrent"
    case dispatchSerial = "dispatch.serial"
    case taskGroup = "swift.taskgroup"
    case asyncStream = "swift.asyncstream"
}

/// The engines and peers, kept for the whole process, and the results so far.
struct BenchSuite {
    let sizes: BenchSizes
    let plain: ThroughputEngine
    let everythingOn: ThroughputEngine
    /// The same with `timingSampleInterval: 64` (only when its row is measured).
    let everythingSampled: ThroughputEngine?
    let twoWorkers: ThroughputEngine
    let latencyEngine: Conveyor
    let conveyorLatency: ConveyorLatency
    let dispatchLatency: DispatchLatency
    let allocations: AllocationProbe
    /// Only when the `profiler` part is measured (its two engines add workers to the idle row).
    let overhead: ProfilerOverhead?
    let concurrent = DispatchQueue(label: "bench.concurrent", attributes: .concurrent)
    let serial = DispatchQueue(label: "bench.serial")
    let schedules: [[UInt64]]
    let cpuSchedule: [UInt64]
    let fairnessSchedule: [UInt64]
    let parts: Set<BenchPart>
    let rows: [ThroughputRow]
    var results = BenchResults()

    var engines: [Conveyor] {
        [self.plain.conveyor, self.everythingOn.conveyor, self.twoWorkers.conveyor, self.latencyEngine,
         self.allocations.engine.conveyor] + (self.everythingSampled.map { [$0.conveyor] } ?? [])
            + (self.overhead?.engines ?? [])
    }
    var engineCount: Int { self.engines.count }
    /// Worker threads of all engines alive in the process (for the idle figure).
    var workerThreads: Int {
        self.engines.reduce(0) { $0 + $1.statistics.reduce(0) { $0 + $1.workers } }
    }

    init(sizes: BenchSizes, seed: UInt64, parts: Set<BenchPart>, rows: Set<ThroughputRow>? = nil) throws {
        self.sizes = sizes
        self.parts = parts
        self.rows = ThroughputRow.allCases.filter { rows?.contains($0) ?? true }
        self.plain = try BenchEngines.plain()
        self.everythingOn = try BenchEngines.everythingOn()
        self.everythingSampled = rows?.contains(.everythingSampled) ?? true ? try BenchEngines.everythingOn(sampleInterval: 64) : nil
        self.twoWorkers = try BenchEngines.twoWorkers()
        // Latency: a group with the default settings (3 priority levels, timing on), spilling
        // instead of rejecting if the generator outruns the worker.
        self.schedules = zip(sizes.latencyRates, sizes.latencySeconds).enumerated().map { position, pair in
            poissonSchedule(rate: pair.0, count: Int(pair.0 * pair.1), seed: seed &+ UInt64(position))
        }
        self.cpuSchedule = poissonSchedule(rate: sizes.cpuRate, count: Int(sizes.cpuRate * sizes.cpuSeconds), seed: seed &+ 100)
        self.fairnessSchedule = poissonSchedule(
            rate: Fairness.probeRate, count: Int(Fairness.probeRate * sizes.fairnessSeconds), seed: seed &+ 200)
        let samples = (self.schedules + [self.cpuSchedule]).map(\.count).max()!
        self.latencyEngine = try Conveyor(configuration: Conveyor.Configuration(groups: [
            ResourceGroup("latency", minWorkers: 1, capacity: 1 << 16, overflow: .spill(memoryLimit: 1 << 30))
        ]))
        self.conveyorLatency = try ConveyorLatency(
            conveyor: self.latencyEngine, kindName: "bench.latency", task: QueueTask(kind: "bench.latency"),
            group: "latency", capacity: samples)
        self.dispatchLatency = DispatchLatency(capacity: samples)
        self.allocations = try AllocationProbe()
        if parts.contains(.profiler) {
            let overhead = try ProfilerOverhead()
            self.overhead = overhead
            self.results.profilerOverhead = ProfilerOverheadResults(
                tasks: sizes.throughputTasks, workHandlerNanoseconds: overhead.workNanoseconds)
        } else {
            self.overhead = nil
        }
    }

    func runThroughput(_ row: ThroughputRow, count: Int) -> UInt64 {
        switch row {
        case .typed: ThroughputRuns.conveyorTyped(self.plain, count: count)
        case .closure: ThroughputRuns.conveyorClosure(self.plain, count: count)
        case .everythingOn: ThroughputRuns.conveyorTyped(self.everythingOn, count: count)
        case .everythingSampled: ThroughputRuns.conveyorTyped(self.everythingSampled!, count: count)
        case .typedTwoWorkers: ThroughputRuns.conveyorTyped(self.twoWorkers, count: count)
        case .bulk: ThroughputRuns.conveyorBulk(self.plain, count: count)
        case .dispatchConcurrent: ThroughputRuns.dispatch(self.concurrent, count: count)
        case .dispatchSerial: ThroughputRuns.dispatch(self.serial, count: count)
        case .taskGroup: ThroughputRuns.taskGroup(count: count)
        case .asyncStream: ThroughputRuns.asyncStream(count: count)
        }
    }

    func warmUp() throws {
        if self.parts.contains(.throughput) {
            for row in self.rows { _ = self.runThroughput(row, count: self.sizes.throughputTasks) }
        }
        if let overhead = self.overhead {
            for configuration in ProfilerOverhead.Configuration.allCases {
                _ = try overhead.run(configuration, count: self.sizes.throughputTasks)
            }
        }
        guard self.parts.contains(.latency) else { return }
        for (rate, schedule) in zip(self.sizes.latencyRates, self.schedules) {
            let short = Array(schedule.prefix(max(10, schedule.count / 4)))
            for contender in [self.conveyorLatency, self.dispatchLatency] as [any LatencyContender] {
                _ = OpenLoop.run(contender, rate: rate, schedule: short, warmup: 0, spin: true)
            }
        }
    }

    mutating func measureRound() throws {
        if self.parts.contains(.throughput) {
            for row in self.rows {
                self.results.throughput[row.rawValue, default: []].append(
                    self.runThroughput(row, count: self.sizes.throughputTasks))
            }
        }
        if self.parts.contains(.latency) {
            for (rate, schedule) in zip(self.sizes.latencyRates, self.schedules) {
                let warmup = Int(Double(schedule.count) * self.sizes.warmupShare)
                let contenders: [(String, any LatencyContender)] = [
                    ("conveyor", self.conveyorLatency), ("dispatch", self.dispatchLatency),
                ]
                for (name, contender) in contenders {
                    let result = OpenLoop.run(contender, rate: rate, schedule: schedule, warmup: warmup, spin: true)
                    self.results.latency["\(name)@\(Int(rate))", default: []].append(result)
                }
            }
        }
        if self.parts.contains(.cpu) {
            let warmup = Int(Double(self.cpuSchedule.count) * self.sizes.warmupShare)
            let contenders: [(String, any LatencyContender)] = [
                ("generator", NoContender()), ("conveyor", self.conveyorLatency), ("dispatch", self.dispatchLatency),
            ]
            for (name, contender) in contenders {
                let result = OpenLoop.run(
                    contender, rate: self.sizes.cpuRate, schedule: self.cpuSchedule, warmup: warmup, spin: false)
                self.results.cpu[name, default: []].append(result)
            }
        }
        if self.parts.contains(.idle) {
            let idle = idleCPUPercent(
                after: { _ = ThroughputRuns.conveyorTyped(self.plain, count: min(100_000, self.sizes.throughputTasks)) },
                settleNanoseconds: UInt64(self.sizes.idleSettleSeconds * 1e9),
                windowNanoseconds: UInt64(self.sizes.idleSeconds * 1e9))
            self.results.idleCPUPercent.append(idle)
        }
        if self.parts.contains(.allocations) {
            for which in AllocationProbe.Case.allCases {
                if let bytes = self.allocations.bytesPerTask(which, rounds: self.sizes.allocationRounds) {
                    self.results.allocationBytesPerTask[which.rawValue, default: []].append(bytes)
                }
            }
        }
        if self.parts.contains(.fairness) {
            let warmup = Int(Double(self.fairnessSchedule.count) * self.sizes.warmupShare)
            self.results.fairness.append(
                try Fairness.run(bulkTasks: self.sizes.fairnessBulkTasks, schedule: self.fairnessSchedule, warmup: warmup))
        }
        if let overhead = self.overhead {
            // Each "on" run next to its "off" run; which goes first alternates between rounds,
            // so a machine getting busier or quieter within a round favours neither.
            let round = self.results.profilerOverhead?.runNanoseconds[ProfilerOverhead.Configuration.workOff.rawValue]?.count ?? 0
            var order = ProfilerOverhead.Configuration.allCases
            if round % 2 == 1 { order = [.workOn, .workOff, .workOnProfiled] }
            for configuration in order {
                let nanoseconds = try overhead.run(configuration, count: self.sizes.throughputTasks)
                self.results.profilerOverhead?.runNanoseconds[configuration.rawValue, default: []].append(nanoseconds)
            }
            self.results.profilerOverhead?.updateRatios()
        }
    }
}
