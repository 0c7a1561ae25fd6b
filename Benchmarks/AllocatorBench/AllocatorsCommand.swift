import BenchSupport
import ArgumentParser
import Conveyor
import Foundation

/// `conveyor-allocators`: the same workloads on glibc malloc, jemalloc, mimalloc, tcmalloc
/// and Conveyor's slab pool, each run in a child process of its own.
@main
struct AllocatorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor-allocators",
        abstract: "Compare glibc malloc, jemalloc, mimalloc, tcmalloc and the slab pool (one child process per run).",
        discussion: """
            Runs same-thread churn of task records, producer-allocates/consumer-frees, a mixed-size \
            burst (fragmentation, then memory returned by the allocator's release call) and the engine \
            at 100 k tasks/s, each in a child process of this binary with the allocator put in front \
            by LD_PRELOAD (none for glibc and slab). Runs are interleaved round-robin; figures are \
            medians. Needs a release build WITHOUT jemalloc linked:
              swift build -c release --package-path Benchmarks --disable-default-traits \\
                --scratch-path Benchmarks/.build-allocators --product conveyor-allocators
            """
    )

    @OptionGroup var measurement: MeasurementOptions
    @OptionGroup var report: ReportDocumentOption

    @Option(name: .long, help: "Allocators to measure (comma-separated: \(AllocatorContender.allCases.map(\.rawValue).joined(separator: ","))).")
    var allocators: String?

    @Option(name: .long, help: "Workloads to run (comma-separated: \(AllocatorWorkload.allCases.map(\.rawValue).joined(separator: ","))).")
    var workloads: String?

    @Flag(name: .long, help: ArgumentHelp("Run one measurement in this process and print it as JSON (used by the parent).", visibility: .hidden))
    var child = false

    @Option(name: .long, help: ArgumentHelp("The child's allocator.", visibility: .hidden))
    var allocator: String?

    @Option(name: .long, help: ArgumentHelp("The child's workload.", visibility: .hidden))
    var workload: String?

    func validate() throws {
        _ = try self.selectedContenders()
        _ = try self.selectedWorkloads()
        if self.child {
            guard self.allocator.flatMap(AllocatorContender.init(rawValue:)) != nil,
                self.workload.flatMap(AllocatorWorkload.init(rawValue:)) != nil
            else { throw ValidationError("--child needs a known --allocator and --workload") }
        }
    }

    func run() throws {
        if self.child {
            try self.runChild()
        } else {
            try self.runParent()
        }
    }

    // MARK: Child

    private func runChild() throws {
        let contender = AllocatorContender(rawValue: self.allocator!)!
        let workload = AllocatorWorkload(rawValue: self.workload!)!
        let runtime = MallocRuntime.current()
        try AllocatorChild.verify(contender, runtime: runtime)
        let sample = try AllocatorChild.measure(
            workload, on: contender, sizes: AllocatorBenchSizes(quick: self.measurement.quick), seed: self.measurement.seed, runtime: runtime)
        print(try ChildLauncher.encode(sample))
    }

    // MARK: Parent

    private func runParent() throws {
        // A linked jemalloc would serve malloc in every child whatever LD_PRELOAD says.
        if FixedSizeAllocator.Kind.available.contains(.jemalloc) { throw AllocatorBenchError.jemallocLinked }
        let contenders = try self.selectedContenders()
        let workloads = try self.selectedWorkloads()
        let locator = LibraryLocator()
        var preloads: [AllocatorContender: String] = [:]
        for contender in contenders {
            if let soname = contender.sharedObject {
                preloads[contender] = try locator.path(of: soname, package: contender.debianPackage)
            }
        }
        let (runs, quick, seed) = (self.measurement.runs, self.measurement.quick, self.measurement.seed)
        let launcher = try ChildLauncher(preloads: preloads, quick: quick, seed: seed)
        let machine = machineDescription()
        let date = utcTimestamp()
        printError("conveyor-allocators: \(runs) runs × \(workloads.count) workloads × \(contenders.count) allocators, "
            + "one child each\(quick ? " (quick: numbers not meaningful)" : "")\n\(machine)\n")
        for contender in contenders {
            printError("  \(contender.rawValue): \(preloads[contender].map { "LD_PRELOAD=\($0)" } ?? "no preload")\n")
        }
        let started = nowNanoseconds()
        var samples: [AllocatorContender: [AllocatorWorkload: [AllocatorSample]]] = [:]
        for round in 0..<runs {
            for workload in workloads {
                // Round-robin, starting one allocator later each run, so none always goes first.
                let shift = round % contenders.count
                let order = Array(contenders[shift...] + contenders[..<shift])
                printError("run \(round + 1)/\(runs) \(workload.rawValue): \(order.map(\.rawValue).joined(separator: " "))\n")
                for contender in order {
                    samples[contender, default: [:]][workload, default: []].append(try launcher.run(contender, workload))
                }
            }
        }
        let report = AllocatorBenchReport(
            machine: machine, date: date, gitRevision: gitRevision(), runs: runs, quick: quick, seed: seed,
            minutes: Double(nowNanoseconds() - started) / 60e9, contenders: contenders, workloads: workloads,
            preloads: preloads, samples: samples)
        print(report.terminalText)
        if let path = self.measurement.markdown {
            try writeOutput(report.markdown, to: path)
            printError("Markdown written to \(path)\n")
        }
        if let path = self.measurement.json {
            try writeJSON(report, to: path)
            printError("JSON written to \(path)\n")
        }
        if let path = self.report.document {
            try report.document.write(to: path)
            printError("Report document written to \(path)\n")
        }
    }

    private func selectedContenders() throws -> [AllocatorContender] {
        try Self.list(self.allocators, option: "--allocators", all: AllocatorContender.allCases)
    }

    private func selectedWorkloads() throws -> [AllocatorWorkload] {
        try Self.list(self.workloads, option: "--workloads", all: AllocatorWorkload.allCases)
    }

    /// The named cases of `all`, in `all`'s order.
    private static func list<Case: RawRepresentable & Hashable>(_ text: String?, option: String, all: [Case]) throws -> [Case]
    where Case.RawValue == String {
        guard let text else { return all }
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var chosen = Set<Case>()
        for name in names {
            guard let value = Case(rawValue: name) else {
                throw ValidationError("\(option): unknown \"\(name)\"; known: \(all.map(\.rawValue).joined(separator: ", "))")
            }
            chosen.insert(value)
        }
        guard !chosen.isEmpty else { throw ValidationError("\(option) names nothing") }
        return all.filter(chosen.contains)
    }
}
