import BenchSupport
import ArgumentParser
import Conveyor
import Foundation

/// `conveyor-soak`: a compressed day of mixed load with memory sampling (see `SoakRunner`).
@main
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor-soak",
        abstract: "Run a compressed day of mixed load and report memory growth after warm-up.",
        discussion: """
            Runs every group, priority and pool of a Conveyor through a day of load (quiet night, \
            peaks with memory bursts, wind-down) compressed into --duration, samples jemalloc \
            stats.allocated and stats.resident and the RSS, and prints their growth between the \
            checkpoints after warm-up. Build with -c release for meaningful task counts.
            """
    )

    @Option(name: .long, help: "Total time: 90s, 10m, 1h (plain numbers are seconds).")
    var duration: String = "60s"

    @Option(name: .long, help: "Time between memory samples: 500ms, 1s, …")
    var interval: String = "1s"

    @Option(name: .long, help: "Share of the duration spent warming up (0.05 to 0.8).")
    var warmUp: Double = 0.2

    @Option(name: .customLong("report"), help: "Where to write the samples as CSV.")
    var samplesPath: String?

    @Option(name: .long, help: "Fail (exit 1) when heap allocated bytes net of jemalloc thread caches grow by more than this percent after warm-up.")
    var maxGrowth: Double?

    @Option(name: .long, help: "Fail (exit 1) when the resident set size grows by more than this percent after warm-up.")
    var maxRssGrowth: Double?

    @OptionGroup var report: ReportDocumentOption

    @Flag(name: .long, help: "Print every sample as it is taken.")
    var verbose = false

    func run() throws {
        let verbose = self.verbose
        let date = utcTimestamp()
        let soak = try SoakRunner(configuration: .init(
            duration: try Self.duration(self.duration),
            sampleInterval: try Self.duration(self.interval),
            warmUpFraction: self.warmUp,
            onSample: { sample in
                guard verbose || sample.isCheckpoint else { return }
                print("\(sample.phase)\(sample.isCheckpoint ? " checkpoint" : ""): \(sample.tasksCompleted) tasks, "
                    + "allocated \(sample.heapAllocated >> 10) KiB (thread caches \((sample.heapInThreadCaches ?? 0) >> 10) KiB, "
                    + "free slab \(sample.slabBytesFreeInHeap >> 10) KiB of \(sample.slabBytesReserved >> 10) KiB), RSS \(sample.residentSetSize >> 10) KiB")
            }))
        let outcome: Result<SoakReport, any Error> = blockingAwait {
            do { return .success(try await soak.run()) } catch { return .failure(error) }
        }
        let report = try outcome.get()
        print(report.summary, terminator: "")
        if let path = self.samplesPath {
            try report.csv.write(toFile: path, atomically: true, encoding: .utf8)
            print("samples: \(path)")
        }
        if let path = self.report.document {
            try report.document(machine: machineDescription(), date: date, revision: gitRevision(),
                                maxGrowth: self.maxGrowth ?? 1).write(to: path)
            print("report document: \(path)")
        }
        var failed = false
        if let limit = self.maxGrowth {
            if let growth = report.liveHeapGrowth, growth.percent <= limit {
                print("PASS: heap allocated (net of thread caches) grew \(fixed(growth.percent, 2)) % after warm-up (limit \(limit) %)")
            } else {
                print("FAIL: heap allocated (net of thread caches) grew \(report.liveHeapGrowth.map { fixed($0.percent, 2) } ?? "n/a") % after warm-up (limit \(limit) %)")
                failed = true
            }
        }
        if let limit = self.maxRssGrowth {
            if let growth = report.residentSetSizeGrowth, growth.percent <= limit {
                print("PASS: RSS grew \(fixed(growth.percent, 2)) % after warm-up (limit \(limit) %)")
            } else {
                print("FAIL: RSS grew \(report.residentSetSizeGrowth.map { fixed($0.percent, 2) } ?? "n/a") % after warm-up (limit \(limit) %)")
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }

    /// Parses "90s", "500ms", "10m", "1h" or a plain number of seconds.
    static func duration(_ text: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value > 0 {
                return .milliseconds(Int64(value * scale * 1000))
            }
        }
        if let value = Double(text), value > 0 { return .milliseconds(Int64(value * 1000)) }
        throw ValidationError("'\(text)' is not a duration; write 90s, 500ms, 10m or 1h")
    }
}
