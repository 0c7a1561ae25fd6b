// Fairness across groups: queue wait of an interactive group while another holds a backlog.
import BenchSupport
import Conveyor

#if canImport(Glibc)
import Glibc
#endif

/// Two groups: "bulk" (2 workers) whose handlers sleep, and "interactive" (1 worker) probed
/// for queue wait with the bulk group idle, then holding a million queued sleeping tasks.
struct FairnessResult: Codable, Sendable {
    var idle: Percentiles
    var loaded: Percentiles
    var bulkQueuedDuringProbe: Int
    var ratio: Double { self.loaded.p99 / self.idle.p99 }
}

enum Fairness {
    static let probeRate = 10_000.0
    static let sleepMicroseconds: UInt32 = 1_000

    static func run(bulkTasks: Int, schedule: [UInt64], warmup: Int) throws -> FairnessResult {
        let conveyor = try Conveyor(configuration: Conveyor.Configuration(
            groups: [
                // 2^18 × 3 lanes × 128 B slots = 96 MiB of rings (at most ResourceGroup.maximumRingBytes); the spill takes the rest.
                ResourceGroup("bulk", minWorkers: 2, capacity: 1 << 18, overflow: .spill(memoryLimit: 1 << 30)),
                ResourceGroup("interactive", minWorkers: 1, capacity: 1 << 16, overflow: .spill(memoryLimit: 1 << 30)),
            ],
            routes: ["bench.sleepy": "bulk", "bench.probe": "interactive"],
            failureBufferSize: 0))
        let sleepy = try conveyor.register("bench.sleepy", payload: Tiny.self) { _ in usleep(Self.sleepMicroseconds) }
        let probe = try ConveyorLatency(
            conveyor: conveyor, kindName: "bench.probe", task: QueueTask(kind: "bench.probe"),
            group: "interactive", capacity: schedule.count)
        let idle = OpenLoop.run(probe, rate: Self.probeRate, schedule: schedule, warmup: warmup, spin: true)
        var sent = 0
        while sent < bulkTasks {
            sent += try conveyor.submit(sleepy, contentsOf: (sent..<bulkTasks).lazy.map { Tiny(value: UInt64($0)) })
        }
        let loaded = OpenLoop.run(probe, rate: Self.probeRate, schedule: schedule, warmup: warmup, spin: true)
        let stillQueued = try conveyor.statistics(for: "bulk").queued
        blockingAwait { await conveyor.shutdown(drain: false) }
        return FairnessResult(idle: idle.latency, loaded: loaded.latency, bulkQueuedDuringProbe: stillQueued)
    }
}
