// Allocations per task in steady state, and CPU while idle.
import BenchSupport
import Conveyor
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Bytes the submitting thread allocates per task (jemalloc `thread.allocated`), measured over
/// bursts after the record pool reached its working set.
final class AllocationProbe: @unchecked Sendable {
    static let burst = 50_000
    let engine: ThroughputEngine
    let queue = DispatchQueue(label: "bench.allocations", attributes: .concurrent)

    /// The "everything on" configuration: 3 priority levels, a route by kind, timing on.
    init() throws {
        self.engine = try ThroughputEngine(
            Conveyor.Configuration(
                groups: [ResourceGroup("bench", minWorkers: 1, capacity: 1 << 17, priorityLevels: 3)],
                routes: ["bench.typed": "bench"], timing: true),
            kindName: "bench.typed",
            tasks: [.high, .normal, .low].map { QueueTask(kind: "bench.typed", priority: $0) })
        // Warm-up: hold the worker and queue more tasks than any measured burst, so the record
        // pool grows to its working set now (as in the engine tests' zero-allocation check).
        let hold = DispatchSemaphore(value: 0)
        let base = self.engine.completed
        try self.engine.conveyor.submit(QueueTask(kind: "bench.hold")) { hold.wait() }
        for index in 0..<(Self.burst + Self.burst / 5) {
            try self.engine.conveyor.submit(self.engine.kind, Tiny(value: UInt64(index)))
        }
        hold.signal()
        self.engine.waitForCompleted(base + 1 + Self.burst + Self.burst / 5)
    }

    enum Case: String, CaseIterable, Codable {
        case typedPlain, typedEverythingOn, closure, dispatch
    }

    /// Bytes per task over `rounds` bursts; nil without jemalloc.
    func bytesPerTask(_ which: Case, rounds: Int) -> Double? {
        var total = 0
        let conveyor = self.engine.conveyor
        let kind = self.engine.kind
        let tasks = self.engine.tasks!
        let closureTask = QueueTask(kind: "bench.closure")
        let group = DispatchGroup()
        for _ in 0..<rounds {
            let base = self.engine.completed
            guard let before = MemoryStatistics.threadAllocatedBytes() else { return nil }
            switch which {
            case .typedPlain:
                for index in 0..<Self.burst {
                    retrying { try conveyor.submit(kind, Tiny(value: UInt64(index))) }
                }
            case .typedEverythingOn:
                for index in 0..<Self.burst {
                    retrying { try conveyor.submit(kind, Tiny(value: UInt64(index)), tasks[index % 3]) }
                }
            case .closure:
                for index in 0..<Self.burst {
                    retrying { try conveyor.submit(closureTask) { blackHole(UInt64(index)) } }
                }
            case .dispatch:
                for index in 0..<Self.burst {
                    self.queue.async(group: group) { blackHole(UInt64(index)) }
                }
            }
            guard let after = MemoryStatistics.threadAllocatedBytes() else { return nil }
            total += after - before
            if which == .dispatch { group.wait() } else { self.engine.waitForCompleted(base + Self.burst) }
        }
        return Double(total) / Double(rounds * Self.burst)
    }
}

/// Process CPU while every engine in the process is idle: after a burst, wait `settle`, then
/// measure over `window` with this thread asleep.
func idleCPUPercent(after burst: () -> Void, settleNanoseconds: UInt64, windowNanoseconds: UInt64) -> Double {
    burst()
    sleep(nanoseconds: settleNanoseconds)
    let cpu0 = processCPUNanoseconds()
    let wall0 = nowNanoseconds()
    sleep(nanoseconds: windowNanoseconds)
    let cpu1 = processCPUNanoseconds()
    let wall1 = nowNanoseconds()
    return Double(cpu1 - cpu0) / Double(wall1 - wall0) * 100
}
