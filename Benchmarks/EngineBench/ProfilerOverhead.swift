// Profiler overhead: end-to-end throughput of the same typed workload on two engines of the
// same configuration, one with a PerformanceProfiler attached and an interval running
// ("on"), one without ("off"), in interleaved runs of one process.
//
// "On" is what an application that profiles its engine runs: `PerformanceProfiler(conveyor:)`
// (which turns on the engine's per-kind counting: every worker counts each task by kind and
// folds the counts into a shared table every 64 tasks), `startProfiling()` before the first
// submit and `stopProfiling()` (the report built) after the last task, both inside the timed
// window. Both engines keep timing on (queue-wait and service histograms, which the profiler
// reports). A third configuration also wraps every handler in `profile(context:)`: a
// per-task timing of the application's own code, shown for reference (no aim).
//
// The handler does ~250 ns of busy work, so the worker is the bound and whatever profiling
// adds to its per-task path shows in the throughput. With trivial handlers the submitter is
// the bound and a run lands in one of the engine's two throughput modes (see the spread of
// the throughput rows), so an on/off ratio there swings both ways by up to 1.9× and says
// nothing about the profiler's cost.
import BenchSupport
import Conveyor

/// Busy work with a dependent chain the optimizer cannot shorten: `iterations` rounds of
/// xorshift64 (an LCG would not do: the optimizer composes its affine steps when it unrolls,
/// and the time stops growing with the count). Calibrated by ``ProfilerOverhead`` to about
/// 250 ns.
@inline(never)
func busyWork(_ seed: UInt64, iterations: Int) -> UInt64 {
    var value = seed | 1
    for _ in 0..<iterations {
        value ^= value << 13
        value ^= value >> 7
        value ^= value << 17
    }
    return value
}

/// Every run of the profiler-overhead part (`BenchResults.profilerOverhead` in the JSON).
struct ProfilerOverheadResults: Codable, Sendable {
    /// Tasks per run.
    var tasks: Int
    /// What the "work" handler's busy work costs alone, nanoseconds (median of calibration
    /// timings in this process).
    var workHandlerNanoseconds: Double
    /// Configuration key (``ProfilerOverhead/Configuration``: "work.off", "work.on",
    /// "work.on+profile") → nanoseconds for the whole run (first submit → last handler
    /// finished; for "on", `startProfiling()` → report built), per run.
    var runNanoseconds: [String: [UInt64]] = [:]
    /// "work.on" and "work.on+profile" → their throughput ÷ the throughput of "work.off" in
    /// the same round, per run. The aim applies to the median of "work.on".
    var throughputRatios: [String: [Double]] = [:]
    /// The aim: the median of `throughputRatios["work.on"]` at least this.
    var aimMinimumRatio = 0.9

    /// Throughput of `on` ÷ throughput of `off`, per run (runs paired: measured moments apart).
    func ratios(_ on: ProfilerOverhead.Configuration, versus off: ProfilerOverhead.Configuration) -> [Double] {
        zip(self.runNanoseconds[off.rawValue] ?? [], self.runNanoseconds[on.rawValue] ?? []).map { Double($0) / Double($1) }
    }

    /// Recomputes `throughputRatios` from the runs so far.
    mutating func updateRatios() {
        for on in [ProfilerOverhead.Configuration.workOn, .workOnProfiled] {
            self.throughputRatios[on.rawValue] = self.ratios(on, versus: .workOff)
        }
    }
}

/// The two engines and their kinds, kept for the whole process.
final class ProfilerOverhead: @unchecked Sendable {
    // @unchecked: used from the bench command's thread only; the handlers capture only
    // Sendable values.

    /// What one run measures. Keys of ``ProfilerOverheadResults/runNanoseconds``.
    enum Configuration: String, CaseIterable, Codable {
        /// The ~250 ns handler, engine without a profiler.
        case workOff = "work.off"
        /// The ~250 ns handler, profiler attached and an interval running.
        case workOn = "work.on"
        /// As `workOn`, and every handler wrapped in `profile(context:)`.
        case workOnProfiled = "work.on+profile"
    }

    let off: Conveyor
    let on: Conveyor
    let profiler: PerformanceProfiler
    let workIterations: Int
    let workNanoseconds: Double
    private let offWork: TaskKind<Tiny>
    private let onWork: TaskKind<Tiny>
    private let onWorkProfiled: TaskKind<Tiny>

    init() throws {
        (self.workIterations, self.workNanoseconds) = Self.calibrate(targetNanoseconds: 250)
        // One worker (the submitter needs the other core), one priority level, rings large
        // enough that every submit takes the plain path; timing on in both.
        func engine() throws -> Conveyor {
            try Conveyor(configuration: Conveyor.Configuration(
                groups: [ResourceGroup("bench", minWorkers: 1, capacity: 1 << 20, priorityLevels: 1)], timing: true))
        }
        self.off = try engine()
        self.on = try engine()
        self.profiler = try PerformanceProfiler(conveyor: self.on)
        let iterations = self.workIterations
        let profiler = self.profiler
        self.offWork = try self.off.register("bench.work", payload: Tiny.self) {
            blackHole(busyWork($0.value, iterations: iterations))
        }
        self.onWork = try self.on.register("bench.work", payload: Tiny.self) {
            blackHole(busyWork($0.value, iterations: iterations))
        }
        self.onWorkProfiled = try self.on.register("bench.work.profiled", payload: Tiny.self) { tiny in
            profiler.profile(context: "bench.work") { blackHole(busyWork(tiny.value, iterations: iterations)) }
        }
    }

    var engines: [Conveyor] { [self.off, self.on] }

    /// Runs `count` tasks of one configuration; nanoseconds from the first submit until the
    /// engine's counters show the last task finished (and, when on, the report is built).
    func run(_ configuration: Configuration, count: Int) throws -> UInt64 {
        switch configuration {
        case .workOff: try Self.run(self.off, self.offWork, count: count, profiler: nil)
        case .workOn: try Self.run(self.on, self.onWork, count: count, profiler: self.profiler)
        case .workOnProfiled: try Self.run(self.on, self.onWorkProfiled, count: count, profiler: self.profiler)
        }
    }

    private static func run(_ conveyor: Conveyor, _ kind: TaskKind<Tiny>, count: Int, profiler: PerformanceProfiler?) throws
        -> UInt64
    {
        func completed() -> Int { conveyor.statistics.reduce(0) { $0 + $1.completed } }
        let base = completed()
        let start = nowNanoseconds()
        profiler?.startProfiling()
        for index in 0..<count {
            retrying { try conveyor.submit(kind, Tiny(value: UInt64(index))) }
        }
        while completed() < base + count { sleep(nanoseconds: 20_000) }
        guard let profiler else { return nowNanoseconds() - start }
        let report = try profiler.stopProfiling()
        let elapsed = nowNanoseconds() - start
        // The interval must have seen the run: each worker folds its per-kind counts every
        // 64 tasks and when it goes idle, so at most 63 may not be in yet.
        let counted = report.metrics.kinds.first { $0.kind == kind.name }?.completed ?? 0
        guard counted + 64 > UInt64(count) else {
            fatalError("conveyor-enginebench: the profiler counted \(counted) of \(count) \(kind.name) tasks")
        }
        return elapsed
    }

    /// Iterations of ``busyWork(_:iterations:)`` that take about `targetNanoseconds`, and what
    /// they took: the median of 15 timings of 2000 calls.
    static func calibrate(targetNanoseconds: Double) -> (iterations: Int, nanoseconds: Double) {
        func measure(_ iterations: Int) -> Double {
            (0..<15).map { round in
                let start = nowNanoseconds()
                var sink: UInt64 = 0
                for index in 0..<2_000 { sink &+= busyWork(UInt64(index &+ round), iterations: iterations) }
                blackHole(sink)
                return Double(nowNanoseconds() - start) / 2_000
            }.median
        }
        let probe = 256
        let perIteration = measure(probe) / Double(probe)
        let iterations = max(1, Int((targetNanoseconds / perIteration).rounded()))
        return (iterations, measure(iterations))
    }
}
