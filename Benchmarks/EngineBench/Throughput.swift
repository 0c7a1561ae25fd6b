// Throughput: N trivial tasks end to end (first submit → last handler finished).
//
// Completion: every contender's own completion signal, one it keeps anyway, so none pays an
// extra shared counter per task:
// - Conveyor: the engine's per-worker `completed` counters (plain stores by their owner),
//   summed through `statistics` by the submitting thread, which polls every ~20 µs (sleeping
//   in between) once its last submit returned;
// - Dispatch: `async(group:)` and `DispatchGroup.wait()` (concurrent and serial alike);
// - TaskGroup: the end of the `withDiscardingTaskGroup` scope;
// - AsyncStream: the consumer task's `for await` loop ending after `finish()`.
// Every handler does the same work: `blackHole(payload)`, an opaque call.
import BenchSupport
import Conveyor
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// The payload of a typed throughput task.
struct Tiny: BitwiseCopyable, Sendable {
    var value: UInt64
}

/// A Conveyor and one typed kind, kept for the whole process (pools stay warm between runs).
final class ThroughputEngine: @unchecked Sendable {
    let conveyor: Conveyor
    let kind: TaskKind<Tiny>
    /// Tasks to submit round-robin (nil: `submit(kind, payload)` with no QueueTask).
    let tasks: [QueueTask]?

    init(_ configuration: Conveyor.Configuration, kindName: String, tasks: [QueueTask]?) throws {
        self.conveyor = try Conveyor(configuration: configuration)
        self.kind = try self.conveyor.register(kindName, payload: Tiny.self) { blackHole($0.value) }
        self.tasks = tasks
    }

    var completed: Int { self.conveyor.statistics.reduce(0) { $0 + $1.completed } }

    /// Polls the engine's counters (sleeping ~20 µs, or `poll` ns, between reads) until
    /// `target` completed.
    func waitForCompleted(_ target: Int, poll: UInt64 = 20_000) {
        while self.completed < target { sleep(nanoseconds: poll) }
    }
}

enum ThroughputRuns {
    /// Plain typed `submit` per task, or round-robin over the engine's QueueTasks.
    static func conveyorTyped(_ engine: ThroughputEngine, count: Int, pollNanoseconds: UInt64 = 20_000) -> UInt64 {
        let base = engine.completed
        let kind = engine.kind
        let conveyor = engine.conveyor
        let start = nowNanoseconds()
        if let tasks = engine.tasks {
            // Each QueueTask is held in a `let` and passed borrowed. Reading it out of storage
            // per submit (`tasks[next]`, also from an unsafe buffer) copied it: a value-witness
            // copy and destroy plus retains and releases of its strings and tag set, ~225
            // instructions per task in callgrind (caller tree: `QueueTask` copy called from this
            // loop once per task) — the harness's cost, not the engine's, whose submit borrows.
            precondition((1...3).contains(tasks.count), "conveyorTyped: 1 to 3 QueueTasks round-robin")
            let first = tasks[0]
            let second = tasks[min(1, tasks.count - 1)]
            let third = tasks[min(2, tasks.count - 1)]
            var next = 0
            for index in 0..<count {
                let payload = Tiny(value: UInt64(index))
                switch next {
                case 0: retrying { try conveyor.submit(kind, payload, first) }
                case 1: retrying { try conveyor.submit(kind, payload, second) }
                default: retrying { try conveyor.submit(kind, payload, third) }
                }
                next = next == tasks.count - 1 ? 0 : next + 1
            }
        } else {
            for index in 0..<count {
                retrying { try conveyor.submit(kind, Tiny(value: UInt64(index))) }
            }
        }
        engine.waitForCompleted(base + count, poll: pollNanoseconds)
        return nowNanoseconds() - start
    }

    /// `submit(kind, contentsOf:)`: one call for all payloads (the engine moves 16 per ring op).
    static func conveyorBulk(_ engine: ThroughputEngine, count: Int) -> UInt64 {
        let base = engine.completed
        let start = nowNanoseconds()
        var sent = 0
        while sent < count {
            let payloads = (sent..<count).lazy.map { Tiny(value: UInt64($0)) }
            do {
                sent += try engine.conveyor.submit(engine.kind, contentsOf: payloads)
            } catch {
                fatalError("conveyor-enginebench: bulk submit failed: \(error)")
            }
        }
        engine.waitForCompleted(base + count)
        return nowNanoseconds() - start
    }

    /// A closure per task (capturing its index), on the same engine as the plain typed row.
    static func conveyorClosure(_ engine: ThroughputEngine, count: Int) -> UInt64 {
        let base = engine.completed
        let conveyor = engine.conveyor
        let task = QueueTask(kind: "bench.closure")
        let start = nowNanoseconds()
        for index in 0..<count {
            retrying { try conveyor.submit(task) { blackHole(UInt64(index)) } }
        }
        engine.waitForCompleted(base + count)
        return nowNanoseconds() - start
    }

    static func dispatch(_ queue: DispatchQueue, count: Int) -> UInt64 {
        let group = DispatchGroup()
        let start = nowNanoseconds()
        for index in 0..<count {
            queue.async(group: group) { blackHole(UInt64(index)) }
        }
        group.wait()
        return nowNanoseconds() - start
    }

    static func taskGroup(count: Int) -> UInt64 {
        blockingAwait {
            let start = nowNanoseconds()
            await withDiscardingTaskGroup { group in
                for index in 0..<count {
                    group.addTask { blackHole(UInt64(index)) }
                }
            }
            return nowNanoseconds() - start
        }
    }

    static func asyncStream(count: Int) -> UInt64 {
        blockingAwait {
            let start = nowNanoseconds()
            let (stream, continuation) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .unbounded)
            let consumer = Task {
                for await value in stream { blackHole(value) }
            }
            for index in 0..<count { continuation.yield(UInt64(index)) }
            continuation.finish()
            await consumer.value
            return nowNanoseconds() - start
        }
    }
}

/// The throughput engines of the table (also the probes of `--counts`).
enum BenchEngines {
    /// Rings never fill: every submit takes the plain path.
    static let capacity = 1 << 20

    /// Everything off: one priority level, no routes, timing off; 1 worker (the submitter
    /// needs the other core).
    static func plain() throws -> ThroughputEngine {
        try ThroughputEngine(
            Conveyor.Configuration(
                groups: [ResourceGroup("bench", minWorkers: 1, capacity: capacity, priorityLevels: 1)], timing: false),
            kindName: "bench.typed", tasks: nil)
    }

    /// Everything on: 3 priority levels used round-robin, a route by kind to a group that is
    /// not the default one, timing on (every task timed unless `sampleInterval` says otherwise).
    static func everythingOn(sampleInterval: Int = 1) throws -> ThroughputEngine {
        try ThroughputEngine(
            Conveyor.Configuration(
                groups: [
                    ResourceGroup("other", minWorkers: 1, capacity: 1024, priorityLevels: 1),
                    ResourceGroup("bench", minWorkers: 1, capacity: capacity / 2, priorityLevels: 3),
                ],
                routes: ["bench.typed": "bench"], timing: true, timingSampleInterval: sampleInterval),
            kindName: "bench.typed",
            tasks: [.high, .normal, .low].map { QueueTask(kind: "bench.typed", priority: $0) })
    }

    static func twoWorkers() throws -> ThroughputEngine {
        try ThroughputEngine(
            Conveyor.Configuration(
                groups: [ResourceGroup("bench", minWorkers: 2, capacity: capacity, priorityLevels: 1)], timing: false),
            kindName: "bench.typed", tasks: nil)
    }
}
