import Foundation
import Testing

@testable import AllocatorBench

/// A churn sample with these figures (the rest left at their defaults).
func churnSample(nanoseconds: Double, peak: Int) -> AllocatorSample {
    var sample = AllocatorSample(
        mallocIdentity: "glibc", mallocProvider: "/usr/lib/x86_64-linux-gnu/libc.so.6", allocatorVersion: "2.36",
        startResidentBytes: 10 << 20)
    sample.peakResidentBytes = peak
    sample.operations = 1_000
    sample.nanosecondsPerOperation = nanoseconds
    sample.operationsPerSecond = 1e9 / nanoseconds
    sample.damagedBlocks = 0
    return sample
}

@Suite("Allocator comparison: report, ratios and command line")
struct AllocatorReportTests {
    @Test("Medians are taken per field; damage counts from the worst run")
    func medians() {
        var samples = [churnSample(nanoseconds: 30, peak: 300), churnSample(nanoseconds: 10, peak: 100),
                       churnSample(nanoseconds: 20, peak: 200)]
        samples[0].damagedBlocks = 2
        let median = AllocatorSample.median(of: samples)
        #expect(median.nanosecondsPerOperation == 20)
        #expect(median.peakResidentBytes == 200)
        #expect(median.damagedBlocks == 2)
        #expect(median.fragmentation == nil)
        let even = AllocatorSample.median(of: Array(samples[1...]))
        #expect(even.nanosecondsPerOperation == 15)
    }

    @Test("Ratios pair runs and point the same way: > 1 is better than glibc")
    func ratiosPointOneWay() {
        let glibc = [churnSample(nanoseconds: 40, peak: 100), churnSample(nanoseconds: 60, peak: 100)]
        let faster = [churnSample(nanoseconds: 20, peak: 200), churnSample(nanoseconds: 20, peak: 200)]
        let ratios = AllocatorRatios(faster, glibc: glibc)
        #expect(ratios.speed == 2.5)  // runs paired: 40/20 = 2, 60/20 = 3
        #expect(ratios.peakResident == 0.5)  // twice the memory: worse, below 1
        #expect(ratios.fragmentation == nil && ratios.tasksPerSecond == nil)

        var engineGlibc = AllocatorSample(mallocIdentity: "glibc", mallocProvider: "libc", allocatorVersion: "2.36", startResidentBytes: 1)
        engineGlibc.tasksPerSecond = 90_000
        engineGlibc.latencyP99Nanoseconds = 8_000
        engineGlibc.engineCPUPercent = 40
        var engineOther = engineGlibc
        engineOther.tasksPerSecond = 99_000
        engineOther.latencyP99Nanoseconds = 4_000
        engineOther.engineCPUPercent = 0  // not positive: no ratio
        let engine = AllocatorRatios([engineOther], glibc: [engineGlibc])
        #expect(engine.tasksPerSecond == 1.1)
        #expect(engine.latencyP99 == 2)
        #expect(engine.engineCPU == nil)
    }

    @Test("The report survives a JSON round trip and renders every workload's table")
    func reportRoundTrip() throws {
        let samples: [AllocatorContender: [AllocatorWorkload: [AllocatorSample]]] = [
            .glibc: [.churn: [churnSample(nanoseconds: 40, peak: 100 << 20)]],
            .mimalloc: [.churn: [churnSample(nanoseconds: 20, peak: 110 << 20)]],
        ]
        let report = AllocatorBenchReport(
            machine: "test machine", date: "2026-01-01 00:00 UTC", gitRevision: "abc", runs: 1, quick: true, seed: 42,
            minutes: 0.1, contenders: [.glibc, .mimalloc], workloads: [.churn],
            preloads: [.mimalloc: "/lib/x86_64-linux-gnu/libmimalloc.so.2"], samples: samples)
        #expect(report.results.count == 2)
        #expect(report.result("glibc", "churn")?.ratiosToGlibc == nil)
        #expect(report.result("mimalloc", "churn")?.ratiosToGlibc?.speed == 2)
        #expect(report.allocators.map(\.name) == ["glibc", "mimalloc"])
        #expect(report.allocators[1].preload == "/lib/x86_64-linux-gnu/libmimalloc.so.2")
        let data = try JSONEncoder().encode(report)
        #expect(try JSONDecoder().decode(AllocatorBenchReport.self, from: data) == report)
        #expect(report.markdown.contains("> 1 means better than glibc"))
        #expect(report.markdown.contains("| mimalloc | 20.0 |"))
        #expect(report.terminalText.contains("Same-thread churn of task records"))
    }

    @Test("A child's JSON line decodes to the same sample")
    func childLine() throws {
        var sample = churnSample(nanoseconds: 12.5, peak: 1 << 20)
        sample.latencyP50Nanoseconds = .nan  // an empty latency sample stays readable
        let line = try ChildLauncher.encode(sample)
        #expect(!line.contains("\n"))
        let decoded = try ChildLauncher.decoder.decode(AllocatorSample.self, from: Data(line.utf8))
        #expect(decoded.nanosecondsPerOperation == 12.5)
        #expect(decoded.latencyP50Nanoseconds?.isNaN == true)
    }

    @Test("Libraries are found through ldconfig or the library directories; a missing one says what to install")
    func libraryLocator() throws {
        let locator = LibraryLocator()
        let libc = try locator.path(of: "libc.so.6", package: nil)
        #expect(FileManager.default.fileExists(atPath: libc))
        #expect {
            _ = try locator.path(of: "libconveyor-no-such-allocator.so.9", package: "libno-such-dev")
        } throws: { error in
            "\(error)".contains("libno-such-dev") && "\(error)".contains("--allocators")
        }
    }

    @Test("Bad command lines are refused with a message")
    func commandLine() {
        #expect(throws: (any Error).self) { _ = try AllocatorsCommand.parse(["--allocators", "glibc,hoard"]) }
        #expect(throws: (any Error).self) { _ = try AllocatorsCommand.parse(["--workloads", ""]) }
        #expect(throws: (any Error).self) { _ = try AllocatorsCommand.parse(["--runs", "0"]) }
        #expect(throws: (any Error).self) { _ = try AllocatorsCommand.parse(["--child", "--workload", "churn"]) }
        #expect(throws: Never.self) { _ = try AllocatorsCommand.parse(["--allocators", "slab,glibc", "--quick"]) }
    }
}
