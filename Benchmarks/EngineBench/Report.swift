// The `conveyor-enginebench` table (Markdown, also printed to the terminal) and its aims.
import BenchSupport


struct BenchReport {
    let machine: String
    let runs: Int
    let quick: Bool
    let minutes: Double
    let sizes: BenchSizes
    let results: BenchResults
    let workerThreads: Int
    let engines: Int
    let parts: Set<BenchPart>

    // MARK: Figures

    /// Tasks per second of one throughput row, per run.
    func rates(_ row: ThroughputRow) -> [Double] {
        (self.results.throughput[row.rawValue] ?? []).map { Double(self.sizes.throughputTasks) / (Double($0) / 1e9) }
    }

    /// Median over runs of (Dispatch concurrent time ÷ this row's time), runs paired.
    func speedup(_ row: ThroughputRow) -> Double {
        let mine = self.results.throughput[row.rawValue] ?? []
        let peer = self.results.throughput[ThroughputRow.dispatchConcurrent.rawValue] ?? []
        return zip(mine, peer).map { Double($1) / Double($0) }.median
    }

    func latency(_ contender: String, _ rate: Double) -> [OpenLoopResult] {
        self.results.latency["\(contender)@\(Int(rate))"] ?? []
    }

    /// CPU of a contender at the CPU rate minus the generator alone, per run (% of a core).
    func engineCPU(_ contender: String) -> [Double] {
        let mine = self.results.cpu[contender] ?? []
        let generator = self.results.cpu["generator"] ?? []
        return zip(mine, generator).map { max(0, $0.cpuPercent - $1.cpuPercent) }
    }

    func range(_ values: [Double], _ format: (Double) -> String) -> String {
        guard let low = values.min(), let high = values.max() else { return "—" }
        return format(low) + "–" + format(high)
    }

    // MARK: Aims

    var aims: [AimOutcome] {
        var aims: [AimOutcome] = []
        let has = self.parts.contains
        func atLeast(_ text: String, _ value: Double, _ target: Double, _ show: (Double) -> String) {
            aims.append(Aim(text, atLeast: target).judge(value, show: show))
        }
        func atMost(_ text: String, _ value: Double, _ limit: Double, _ show: (Double) -> String) {
            aims.append(Aim(text, atMost: limit).judge(value, show: show))
        }
        if has(.throughput) {
            atLeast("typed tasks with priorities + routing + timing ≥ 8× Dispatch concurrent",
                    self.speedup(.everythingOn), 8, ratio)
            atLeast("closure tasks ≥ 2× Dispatch concurrent", self.speedup(.closure), 2, ratio)
        }
        if has(.latency), self.sizes.latencyRates.contains(100_000) {
            atMost("p99 submit → start ≤ 10 µs at 100 k tasks/s",
                   self.latency("conveyor", 100_000).map(\.latency.p99).median, 10_000) { microseconds($0) + " µs" }
        }
        if has(.cpu) {
            atMost("CPU at 2 k tasks/s < 5 % of a core", self.engineCPU("conveyor").median, 5) { fixed($0, 2) + " %" }
            atMost("p99 ≤ 200 µs at 2 k tasks/s (CPU run)",
                   (self.results.cpu["conveyor"] ?? []).map(\.latency.p99).median, 200_000) { microseconds($0) + " µs" }
        }
        for (key, label) in [("typedPlain", "plain typed submit"), ("typedEverythingOn", "typed, everything on")] {
            if let bytes = self.results.allocationBytesPerTask[key] {
                let worst = bytes.max() ?? 0
                aims.append(AimOutcome(
                    text: "0 allocations per typed task (\(label))", met: worst == 0,
                    result: worst == 0 ? "0 B/task in every run" : "up to \(significant(worst)) B/task"))
            }
        }
        if has(.idle) {
            atMost("idle CPU < 1 % of a core", self.results.idleCPUPercent.median, 1) { fixed($0, 2) + " %" }
        }
        if has(.fairness) {
            atMost("fairness: the other group's queue-wait p99 within 2× of its idle value",
                   self.results.fairness.map(\.ratio).median, 2, ratio)
        }
        if let overhead = self.results.profilerOverhead {
            atLeast("profiler overhead: throughput with profiling on ≥ \(fixed(overhead.aimMinimumRatio, 2)) of off",
                    overhead.ratios(.workOn, versus: .workOff).median, overhead.aimMinimumRatio) { fixed($0, 2) }
        }
        return aims
    }

    func aimCell(_ prefix: String) -> String {
        guard let aim = self.aims.first(where: { $0.text.hasPrefix(prefix) }) else { return "" }
        return aim.text + ": " + (aim.met ? "**met**" : "**missed**")
    }

    // MARK: Table

    var markdown: String {
        let n = self.runs
        var rows: [[String]] = []
        func section(_ title: String) { rows.append(["**" + title + "**", "", "", "", ""]) }

        let count = self.sizes.throughputTasks
        let countText = count == 1_000_000 ? "10⁶" : String(count)
        if self.parts.contains(.throughput) {
            section("Throughput, \(countText) trivial tasks, first submit → last handler finished")
            let labels: [(ThroughputRow, String, String)] = [
                (.typed, "Conveyor typed, `submit` per task (1 worker; 1 priority level, no routes, timing off)", ""),
                (.closure, "Conveyor closure, `submit(task) { … }` per task (same engine)", "closure tasks"),
                (.everythingOn,
                 "Conveyor typed, priorities + routing + timing on (3 levels round-robin, `routes` by kind, `timing: true`; 1 worker)",
                 "typed tasks with priorities"),
                (.everythingSampled,
                 "Conveyor typed, the same with `timingSampleInterval: 64` (histograms from 1 task in 64; extra)", ""),
                (.typedTwoWorkers, "Conveyor typed, 2 workers (else as the first row; submitter shares the 2 cores)", ""),
                (.bulk, "Conveyor typed, bulk `submit(kind, contentsOf:)` (extra; first row's engine)", ""),
                (.dispatchConcurrent, "`DispatchQueue` concurrent, `async(group:)`", ""),
                (.dispatchSerial, "`DispatchQueue` serial, `async(group:)`", ""),
                (.taskGroup, "`withDiscardingTaskGroup`, `addTask` per task", ""),
                (.asyncStream, "`AsyncStream` (unbounded) producer → one consumer task", ""),
            ]
            for (row, label, aim) in labels {
                let rates = self.rates(row)
                guard !rates.isEmpty else { continue }
                let median = rates.median
                rows.append([
                    label,
                    "\(rateText(median)) (\(significant(1e9 / median)) ns/task)",
                    self.range(rates, rateText),
                    row == .dispatchConcurrent ? "1×" : ratio(self.speedup(row)),
                    aim.isEmpty ? "" : self.aimCell(aim),
                ])
        }
        }

        if self.parts.contains(.latency) {
            section("Queue latency, submit → handler start, open-loop Poisson arrivals (generator spins; from the scheduled time)")
            for rate in self.sizes.latencyRates {
                let dispatchP99 = self.latency("dispatch", rate).map(\.latency.p99).median
                for (contender, name) in [("conveyor", "Conveyor typed (1 worker, default group: 3 levels, timing on)"),
                                          ("dispatch", "`DispatchQueue` concurrent `async(group:)`")] {
                    let runs = self.latency(contender, rate)
                    guard !runs.isEmpty else { continue }
                    let p99 = runs.map(\.latency.p99)
                    rows.append([
                        "\(rateText(rate)) — \(name)",
                        "p50 \(microseconds(runs.map(\.latency.p50).median)) / p99 \(microseconds(p99.median)) / "
                            + "p99.9 \(microseconds(runs.map(\.latency.p999).median)) µs; achieved \(rateText(runs.map(\.achievedRate).median))",
                        "p99 " + self.range(p99, microseconds) + " µs",
                        contender == "dispatch" ? "1×" : "p99 " + ratio(dispatchP99 / p99.median),
                        contender == "conveyor" && rate == 100_000 ? self.aimCell("p99 submit") : "",
                    ])
                }
        }
        }

        if self.parts.contains(.cpu) || self.parts.contains(.idle) {
            section("CPU (getrusage user + sys, % of one core)")
            let generator = (self.results.cpu["generator"] ?? []).map(\.cpuPercent)
            for (contender, name) in [("conveyor", "Conveyor typed (latency engine)"), ("dispatch", "`DispatchQueue` concurrent")] {
                let runs = self.results.cpu[contender] ?? []
                guard !runs.isEmpty else { continue }
                let engine = self.engineCPU(contender)
                rows.append([
                    "\(rateText(self.sizes.cpuRate)) Poisson (generator sleeps) — \(name)",
                    "\(fixed(engine.median, 2)) % (process \(fixed(runs.map(\.cpuPercent).median, 2)) % − generator alone "
                        + "\(fixed(generator.median, 2)) %); p50 \(microseconds(runs.map(\.latency.p50).median)) / "
                        + "p99 \(microseconds(runs.map(\.latency.p99).median)) µs",
                    self.range(engine) { fixed($0, 2) } + " %",
                    contender == "dispatch" ? "1×" : "CPU " + ratio(self.engineCPU("dispatch").median / engine.median),
                    contender == "conveyor" ? self.aimCell("CPU at") + "; " + self.aimCell("p99 ≤ 200") : "",
                ])
        }
        if !self.results.idleCPUPercent.isEmpty {
            rows.append([
                "Idle: \(self.engines) Conveyor engines (\(self.workerThreads) worker threads) alive, "
                    + "\(fixed(self.sizes.idleSettleSeconds * 1000, 0)) ms after a burst, over \(fixed(self.sizes.idleSeconds, 1)) s",
                fixed(self.results.idleCPUPercent.median, 2) + " %",
                self.range(self.results.idleCPUPercent) { fixed($0, 2) } + " %",
                "",
                self.aimCell("idle CPU"),
            ])
        }
        }

        if self.parts.contains(.allocations) {
            section("Allocations on the submitting thread, steady state (jemalloc `thread.allocated`, bytes per task)")
            let allocationLabels: [(String, String, String)] = [
                ("typedPlain", "Conveyor typed, `submit(kind, payload)`", "0 allocations per typed task (plain"),
                ("typedEverythingOn", "Conveyor typed, priorities + routing + timing on", "0 allocations per typed task (typed"),
                ("closure", "Conveyor closure", ""),
                ("dispatch", "`DispatchQueue` concurrent `async(group:)`", ""),
            ]
            for (key, label, aim) in allocationLabels {
                guard let bytes = self.results.allocationBytesPerTask[key], !bytes.isEmpty else { continue }
                rows.append([
                    label, significant(bytes.median) + " B/task", self.range(bytes, significant) + " B", "",
                    aim.isEmpty ? "" : self.aimCell(aim),
                ])
        }
        if self.results.allocationBytesPerTask.isEmpty {
            rows.append(["(jemalloc not linked: allocation counts unavailable)", "", "", "", ""])
        }
        }

        if !self.results.fairness.isEmpty {
            section("Fairness across groups")
            let fairness = self.results.fairness
            let bulkText = self.sizes.fairnessBulkTasks == 1_000_000 ? "10⁶" : String(self.sizes.fairnessBulkTasks)
            rows.append([
                "Group \"interactive\" (1 worker), queue-wait p99 at \(rateText(Fairness.probeRate)) Poisson: group \"bulk\" idle "
                    + "→ holding \(bulkText) queued tasks that sleep \(Fairness.sleepMicroseconds) µs (2 workers)",
                "\(microseconds(fairness.map(\.idle.p99).median)) → \(microseconds(fairness.map(\.loaded.p99).median)) µs "
                    + "(loaded ÷ idle \(ratio(fairness.map(\.ratio).median)); p50 \(microseconds(fairness.map(\.idle.p50).median)) → "
                    + "\(microseconds(fairness.map(\.loaded.p50).median)) µs)",
                "ratio " + self.range(fairness.map(\.ratio), ratio),
                "",
                self.aimCell("fairness"),
            ])
        }

        if let overhead = self.results.profilerOverhead {
            section("Profiler overhead: throughput with profiling on ÷ off, same workload, two engines of one configuration")
            let tasks = overhead.tasks == 1_000_000 ? "10⁶" : String(overhead.tasks)
            let work = "\(fixed(overhead.workHandlerNanoseconds, 0)) ns"
            let labels: [(ProfilerOverhead.Configuration, ProfilerOverhead.Configuration, String, Bool)] = [
                (.workOn, .workOff,
                 "Handler of ~\(work) (busy work), \(tasks) typed tasks, 1 worker, timing on. On = `PerformanceProfiler(conveyor:)` "
                    + "attached (per-kind counting on) and `startProfiling()` … `stopProfiling()` around the run, report built "
                    + "inside the timed window; off = the same engine configuration with no profiler", true),
                (.workOnProfiled, .workOff,
                 "As above, and every handler also wrapped in `profile(context:)` (per-task timing of your own code; "
                    + "not the default, for reference)", false),
            ]
            for (on, off, label, hasAim) in labels {
                let ratios = overhead.ratios(on, versus: off)
                guard !ratios.isEmpty else { continue }
                func rate(_ configuration: ProfilerOverhead.Configuration) -> String {
                    let times = (overhead.runNanoseconds[configuration.rawValue] ?? []).map { Double($0) }
                    return rateText(Double(overhead.tasks) / (times.median / 1e9))
                }
                rows.append([
                    label,
                    "\(fixed(ratios.median, 2)) (on \(rate(on)), off \(rate(off)))",
                    self.range(ratios) { fixed($0, 2) },
                    "",
                    hasAim ? self.aimCell("profiler overhead") : "",
                ])
            }
        }

        var out = "**Machine:** \(self.machine)\n\n"
        out += self.method + "\n\n"
        out += TextTable(
            title: "", header: ["Measurement", "Result (median of \(n) run\(n == 1 ? "" : "s"))", "Range over runs", "× Dispatch concurrent", "Aim"],
            rows: rows, leftAligned: [0, 4]
        ).markdown()
        out += "\n**Aims:**\n\n"
        for aim in self.aims {
            out += "- " + aim.text + ": " + (aim.met ? "**met**" : "**missed**") + " — " + aim.verdict + "\n"
        }
        return out
    }

    var method: String {
        var text = "`conveyor-enginebench --runs \(self.runs)\(self.quick ? " --quick" : "")`: one process, every figure the median of "
        text += "\(self.runs) runs interleaved round-robin over all workloads (after one warm-up pass); "
        text += "measuring took \(fixed(self.minutes, 1)) min. "
        text += "**Throughput**: wall time from the first submit until the contender's own completion signal says the last "
        text += "handler finished (Conveyor: its per-worker `completed` counters, polled every ~20 µs by the submitter after "
        text += "its last submit; Dispatch: `DispatchGroup.wait`; TaskGroup: end of the group scope; AsyncStream: the "
        text += "consumer loop ending) — no contender pays an extra shared counter per task. Every handler makes the same "
        text += "opaque call with its payload; the submitter is the main thread (TaskGroup and AsyncStream: a task on the "
        text += "cooperative pool). × Dispatch concurrent: median over runs of the paired ratio of times (> 1: faster). "
        text += "**Latency**: a generator thread submits at Poisson times (seeded exponential gaps), spinning on "
        text += "CLOCK_MONOTONIC to each; the handler records start − scheduled time (no coordinated omission); "
        text += "the first \(fixed(self.sizes.warmupShare * 100, 0)) % of each run is warm-up; percentiles are nearest-rank "
        text += "over every measured task; \"achieved\" = measured tasks ÷ (last submit − first measured scheduled time). "
        text += "For latency and CPU rows × Dispatch is Dispatch's figure ÷ Conveyor's (> 1: Conveyor lower). "
        text += "**CPU**: getrusage(RUSAGE_SELF) over the measured window with the generator sleeping to each arrival "
        text += "(clock_nanosleep); the generator's own cost (same loop, submitting nothing) is subtracted; latency there "
        text += "counts from just before each submit. "
        if self.results.profilerOverhead != nil {
            text += "**Profiler overhead**: the same typed workload on two engines of one configuration (1 worker, timing on), "
            text += "one with a `PerformanceProfiler` attached; per round each \"on\" run is next to its \"off\" run (which "
            text += "goes first alternates); the ratio is the median over runs of the paired (off time ÷ on time), i.e. "
            text += "throughput on ÷ off. "
        }
        text += "Workers are not pinned."
        return text
    }
}
