// conveyor-batchprobe: the callgrind probe of the trivial-work row of conveyor-batchbench
// (a batch handler summing its items against typed single tasks adding one each).
//
//   BATCHBENCH_SUM_PROBE=typed|batched BATCHBENCH_SUM_TASKS=N conveyor-batchprobe
//
// runs only N summing tasks of that path (the row's kinds, group and options) and exits; the
// instructions per task are the difference of two sizes over the extra tasks, as in
// `make bench-engine-counts` (callgrind runs a copy stripped with `strip -g`).
//
// A plain synchronous `main`: no async top-level code, so no main dispatch queue and no
// `_dispatch_sigsuspend` on the main thread, on which valgrind 3.19 dies with an internal
// SIGSEGV. The process exits once the sums are in, without the async shutdown.
import Conveyor
import Dispatch
import Foundation
import Synchronization

/// Counts handled items and wakes the waiter when a target is reached.
final class ProbeCompletion: Sendable {
    private let done = Atomic<Int>(0)
    private let target: Int
    private let semaphore = DispatchSemaphore(value: 0)

    init(expecting target: Int) { self.target = target }

    func add(_ count: Int) {
        if self.done.add(count, ordering: .acquiringAndReleasing).newValue == self.target { self.semaphore.signal() }
    }

    func wait() { self.semaphore.wait() }
}

let environment = ProcessInfo.processInfo.environment
let probe = environment["BATCHBENCH_SUM_PROBE"] ?? "batched"
let tasks = Int(environment["BATCHBENCH_SUM_TASKS"] ?? "") ?? 100_000
let engine = try Conveyor(groups: [ResourceGroup("cpu", capacity: 4096, overflow: .wait(timeout: .seconds(600)))])
let done = ProbeCompletion(expecting: tasks)
let sum = Atomic<UInt64>(0)
switch probe {
case "typed":
    let kind = try engine.register("probe.one", payload: UInt64.self) { value in
        sum.add(value, ordering: .relaxed)
        done.add(1)
    }
    let task = QueueTask(kind: "probe.one", group: "cpu")
    for index in 0..<tasks { try engine.submit(kind, UInt64(index), task) }
case "batched":
    let kind = try engine.registerBatch(
        "probe.batch", payload: UInt64.self, options: BatchOptions(maxBatchSize: 50, maxWaitTime: .milliseconds(100), group: "cpu")
    ) { values in
        var total: UInt64 = 0
        for value in values { total &+= value }
        sum.add(total, ordering: .relaxed)
        done.add(values.count)
    }
    for index in 0..<tasks { try engine.submit(kind, UInt64(index)) }
default:
    FileHandle.standardError.write(Data("BATCHBENCH_SUM_PROBE must be typed or batched (got \(probe))\n".utf8))
    exit(2)
}
done.wait()
guard sum.load(ordering: .relaxed) == UInt64(tasks) * UInt64(tasks - 1) / 2 else { fatalError("probe sum mismatch") }
exit(0)
