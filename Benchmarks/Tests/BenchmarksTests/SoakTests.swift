import Foundation
import Testing

@testable import Soak

@Suite("Soak: a compressed day of mixed load", .serialized)
struct SoakTests {
    /// The CI version of `make soak`: a compressed day of mixed load for at most 30 s (× the
    /// stress scale), failing on growth of heap allocated bytes after warm-up — never on timings.
    ///
    /// Tolerance: 5 % of the baseline or 4 MiB, whichever is larger, on jemalloc's
    /// `stats.allocated` both raw and net of thread caches. The figure is process-wide, so it
    /// includes other tests running in parallel, and the thread caches' fill level wanders by a
    /// few hundred KiB with the load; runs measured 0.1–0.5 MiB of movement. The soak runs one
    /// producer at a quarter of full load (so parallel timing-sensitive engine tests keep
    /// their CPU) and completes about a million tasks after warm-up in a debug build: a leak
    /// of 4 bytes per task on average (one leaked closure context or record per twenty tasks)
    /// exceeds 4 MiB. Long-run figures come from `make soak` (see docs/Memory.md).
    @Test("A compressed day of mixed load does not grow the heap after warm-up")
    func soak() async throws {
        let seconds = max(6, min(30, 30 * stressScale))
        let runner = try SoakRunner(configuration: .init(
            duration: .milliseconds(Int64(seconds * 1000)), sampleInterval: .milliseconds(500),
            producers: 1, loadFactor: 0.25))  // leave CPU to the timing-sensitive engine tests
        let report = try await runner.run()
        print(report.summary, terminator: "")
        #expect(report.tasksCompleted > 0)
        #expect(report.tasksAwaited > 0)
        #expect(report.tasksFailed > 0)  // the flaky kind threw and was reported
        #expect(report.profiledCalls > 0)  // profiling was on throughout
        // Exactly once: every accepted fire-and-forget task ran or was cancelled.
        #expect(report.tasksCompleted + report.tasksCancelled == report.tasksSubmitted)
        #expect(report.objectPoolHits > 0 && report.recordPoolHits > 0)
        // The cache and the batch kind were in use (the scaler's decisions depend on the
        // machine's load, so they are reported, not required).
        #expect(report.cacheLookups > 0 && report.cacheMisses > 0)
        #expect(report.batchCalls > 0)
        for (name, growth) in [("net of thread caches", report.liveHeapGrowth), ("raw", report.allocatedGrowth)] {
            let growth = try #require(growth)
            let tolerance = max(growth.baseline / 20, 4 << 20)
            #expect(growth.bytes <= tolerance, "heap allocated (\(name)) grew \(growth.bytes) bytes after warm-up (tolerance \(tolerance))")
        }
    }
}

/// `CONVEYOR_STRESS_SCALE` (1 when unset), as the root package's stress tests read it.
let stressScale: Double = {
    guard let text = ProcessInfo.processInfo.environment["CONVEYOR_STRESS_SCALE"], let value = Double(text), value > 0 else {
        return 1
    }
    return value
}()
