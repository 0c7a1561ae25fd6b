// Counts per task that do not rest on wall clock (`conveyor-enginebench --counts`):
// - instructions per task (callgrind): the total instructions of a probe run of N2 tasks
//   minus those of a run of N1 tasks, over N2 − N1, so start-up, warm-up and exit cancel out.
//   Every thread is counted: the submitter, the worker (with its idle spinning, which
//   valgrind's serialized threads make a part of) and the submitter's final wait, which
//   polls the statistics every 20 ms.
// - futex system calls per task at saturation with 2 workers (`strace -f -c -e trace=futex`),
//   all threads, start-up and exit included (a few dozen calls).
// Each probe is this executable run again under the tool with `--probe NAME --tasks N`
// (callgrind runs a copy stripped of debug information, which valgrind cannot read).
import BenchSupport
import Conveyor
import ConveyorReport
import Foundation

/// The workloads a counting run measures, each a throughput engine of the table.
enum CountProbe: String, CaseIterable, Sendable {
    /// Typed submit → handler, 1 worker, 1 level, timing off (the "typed" row).
    case typed
    /// 3 priority levels round-robin, a route by kind, timing on (the "everything on" row).
    case everythingOn = "everything-on"
    /// Typed, 2 workers (the futex count at saturation).
    case twoWorkers = "2-workers"

    func makeEngine() throws -> ThroughputEngine {
        switch self {
        case .typed: try BenchEngines.plain()
        case .everythingOn: try BenchEngines.everythingOn()
        case .twoWorkers: try BenchEngines.twoWorkers()
        }
    }

    /// Runs `tasks` tasks once and returns (the caller exits: workers are not joined).
    func run(tasks: Int) throws {
        let engine = try self.makeEngine()
        _ = ThroughputRuns.conveyorTyped(engine, count: tasks, pollNanoseconds: 20_000_000)
    }
}

/// What a counting run found.
struct CountResults: Codable, Sendable {
    /// Probe name → instructions per task (callgrind difference of two runs).
    var instructionsPerTask: [String: Double] = [:]
    /// Probe name → futex calls per task.
    var futexPerTask: [String: Double] = [:]
    var smallTasks: Int
    var largeTasks: Int
    var futexTasks: Int
}

enum Counts {
    static let instructionAim = Aim("instructions per typed task (callgrind, submit → handler) ≤ 150", atMost: 150)
    static let futexAim = Aim("futex calls per task at saturation, 2 workers ≤ 0.01", atMost: 0.01)

    /// Runs every probe under callgrind (two sizes) and strace; throws when a tool is missing.
    static func measure(quick: Bool) throws -> CountResults {
        let executable = try Self.executablePath()
        let (small, large) = quick ? (20_000, 60_000) : (100_000, 300_000)
        let futexTasks = quick ? 200_000 : 2_000_000
        var results = CountResults(smallTasks: small, largeTasks: large, futexTasks: futexTasks)
        // Valgrind cannot read the DWARF of Swift release binaries ("possibly corrupted
        // debuginfo"): it runs a copy without debug information.
        let stripped = NSTemporaryDirectory() + "conveyor-enginebench-\(getpid())-stripped"
        defer { try? FileManager.default.removeItem(atPath: stripped) }
        let (status, errors) = try Self.run("strip", ["--strip-debug", "-o", stripped, executable])
        guard status == 0 else { throw CountsError("strip --strip-debug failed (status \(status)): \(errors.suffix(400))") }
        for probe in [CountProbe.typed, .everythingOn] {
            printError("callgrind: \(probe.rawValue), \(small) and \(large) tasks…\n")
            let few = try Self.callgrindInstructions(stripped, probe, tasks: small)
            let many = try Self.callgrindInstructions(stripped, probe, tasks: large)
            results.instructionsPerTask[probe.rawValue] = (Double(many) - Double(few)) / Double(large - small)
        }
        for probe in [CountProbe.twoWorkers, .typed] {
            printError("strace: \(probe.rawValue), \(futexTasks) tasks…\n")
            let calls = try Self.futexCalls(executable, probe, tasks: futexTasks)
            results.futexPerTask[probe.rawValue] = Double(calls) / Double(futexTasks)
        }
        return results
    }

    private static func executablePath() throws -> String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw CountsError("cannot find this executable (\(path)) to run the probes")
        }
        return path
    }

    /// Runs `tool arguments…` and returns (exit status, standard error).
    private static func run(_ tool: String, _ arguments: [String]) throws -> (Int32, String) {
        guard let path = ["/usr/bin/\(tool)", "/usr/local/bin/\(tool)"].first(where: FileManager.default.isExecutableFile) else {
            throw CountsError("\(tool) is not installed (make deps installs it: scripts/install-deps.sh \(tool))")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Total instructions (all threads) of one probe run under callgrind.
    static func callgrindInstructions(_ executable: String, _ probe: CountProbe, tasks: Int) throws -> UInt64 {
        let output = NSTemporaryDirectory() + "conveyor-callgrind-\(getpid())-\(probe.rawValue)-\(tasks).out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (status, errors) = try Self.run(
            "valgrind",
            ["--tool=callgrind", "--callgrind-out-file=\(output)", executable, "--probe", probe.rawValue, "--tasks", "\(tasks)"])
        guard status == 0, let collected = Self.callgrindCollected(errors) else {
            throw CountsError("callgrind run of \(probe.rawValue) failed (status \(status)): \(errors.suffix(400))")
        }
        return collected
    }

    /// The "Collected : N" figure of callgrind's summary.
    static func callgrindCollected(_ text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.contains("Collected :") {
            if let last = line.split(separator: " ").last, let value = UInt64(last) { return value }
        }
        return nil
    }

    /// futex calls (all threads) of one probe run under strace.
    static func futexCalls(_ executable: String, _ probe: CountProbe, tasks: Int) throws -> Int {
        let output = NSTemporaryDirectory() + "conveyor-strace-\(getpid())-\(probe.rawValue).txt"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (status, errors) = try Self.run(
            "strace", ["-f", "-c", "-e", "trace=futex", "-o", output, executable, "--probe", probe.rawValue, "--tasks", "\(tasks)"])
        guard status == 0, let summary = try? String(contentsOfFile: output, encoding: .utf8) else {
            throw CountsError("strace run of \(probe.rawValue) failed (status \(status)): \(errors.suffix(400))")
        }
        return Self.straceCalls(summary, syscall: "futex") ?? 0
    }

    /// The calls column of `syscall`'s row in an `strace -c` summary.
    static func straceCalls(_ summary: String, syscall: String) -> Int? {
        for line in summary.split(separator: "\n") {
            let columns = line.split(separator: " ")
            guard columns.last == Substring(syscall), columns.count >= 5 else { continue }
            // % time, seconds, usecs/call, calls, [errors], syscall
            return Int(columns[3])
        }
        return nil
    }

    static func markdown(_ results: CountResults) -> String {
        var lines = [
            "| count | value | aim |", "| --- | ---: | --- |",
        ]
        for probe in [CountProbe.typed, .everythingOn] {
            guard let value = results.instructionsPerTask[probe.rawValue] else { continue }
            let outcome = probe == .typed ? Self.instructionAim.judge(value, show: { fixed($0, 0) }).verdict : "—"
            lines.append("| instructions per task, \(probe.rawValue) (callgrind, \(results.largeTasks) − \(results.smallTasks) tasks) | \(fixed(value, 0)) | \(outcome) |")
        }
        for probe in [CountProbe.twoWorkers, .typed] {
            guard let value = results.futexPerTask[probe.rawValue] else { continue }
            let outcome = probe == .twoWorkers ? Self.futexAim.judge(value, show: { fixed($0, 4) }).verdict : "—"
            lines.append("| futex calls per task, \(probe.rawValue) (strace -f -c, \(results.futexTasks) tasks) | \(fixed(value, 4)) | \(outcome) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func document(_ results: CountResults, machine: String, date: String, revision: String) -> BenchDocument {
        var figures: [BenchFigure] = []
        var aims: [BenchAim] = []
        for (probe, value) in results.instructionsPerTask.sorted(by: { $0.key < $1.key }) {
            figures.append(BenchFigure(
                key: "engine.counts.instructions.\(probe)", label: "instructions per task, \(probe) (callgrind)",
                unit: "instructions/task", runs: [value]))
            if probe == CountProbe.typed.rawValue { aims.append(Self.instructionAim.judge(value, show: { fixed($0, 0) }).benchAim) }
        }
        for (probe, value) in results.futexPerTask.sorted(by: { $0.key < $1.key }) {
            figures.append(BenchFigure(
                key: "engine.counts.futex.\(probe)", label: "futex calls per task, \(probe) (strace)", unit: "calls/task",
                runs: [value]))
            if probe == CountProbe.twoWorkers.rawValue { aims.append(Self.futexAim.judge(value, show: { fixed($0, 4) }).benchAim) }
        }
        let table = BenchTable(
            title: "Engine counts per task",
            note: "callgrind: instructions of a \(results.largeTasks)-task run minus a \(results.smallTasks)-task run, all threads; strace: futex calls of a \(results.futexTasks)-task run, all threads.",
            header: ["count", "value", "aim"],
            rows: Self.markdown(results).split(separator: "\n").dropFirst(2).map { line in
                line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            })
        return BenchDocument(
            id: "engine-counts", title: "Engine: instructions and futex calls per task",
            machine: machine, date: date, revision: revision,
            method: "One run per count under the tool (counts, not times: callgrind's instruction count is deterministic up to thread interleaving).",
            figures: figures, aims: aims, tables: [table])
    }
}

struct CountsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
