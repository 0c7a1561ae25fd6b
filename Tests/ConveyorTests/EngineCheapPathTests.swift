import Foundation
import Synchronization
@testable import Conveyor
import Testing

/// The worker's cheap path for in-slot typed tasks (`Conveyor.executeInBatch`, issue 10): no
/// record copy, no `TaskOutcome`, one clock read per timed task. These check that it settles
/// every task as the general path did (thrown errors, cancellations) and that its timings stay
/// what the statistics say they are.
@Suite("Engine: the cheap per-task path", .serialized)
struct EngineCheapPathTests {
    struct Failure: Error, Equatable { let value: Int }

    /// Holds the group's only worker inside a handler until `release` is set.
    final class Hold: Sendable {
        let running = Atomic<Bool>(false)
        let released = Atomic<Bool>(false)
        func wait() {
            self.running.store(true, ordering: .releasing)
            while !self.released.load(ordering: .acquiring) { usleep(200) }
        }
        func awaitRunning() {
            while !self.running.load(ordering: .acquiring) { usleep(200) }
        }
    }

    @Test("Thrown errors are counted and reported with kind and group; cancelled slot tasks never run; the rest run once")
    func failuresAndCancels() async throws {
        let count = 600
        let hold = Hold()
        let runs = Mutex([Int](repeating: 0, count: count))
        let reported = Mutex([TaskFailure]())
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("a", minWorkers: 1, maxWorkers: 1, capacity: 1024, priorityLevels: 1)],
            onFailure: { failure in reported.withLock { $0.append(failure) } }))
        let kind = try conveyor.register("cheap", payload: Int.self) { value in
            if value < 0 { return hold.wait() }
            runs.withLock { $0[value] += 1 }
            if value % 5 == 0 { throw Failure(value: value) }
        }
        try conveyor.submit(kind, -1)
        hold.awaitRunning()
        var tickets: [TaskTicket] = []
        for value in 0..<count { tickets.append(try conveyor.submit(kind, value)) }
        var cancelled = Set<Int>()
        for value in stride(from: 3, to: count, by: 7) where conveyor.cancel(tickets[value]) { cancelled.insert(value) }
        // The worker is held: every task is still queued in its slot, so every cancel wins.
        #expect(cancelled.count == (count - 3 + 6) / 7)
        hold.released.store(true, ordering: .releasing)
        await conveyor.shutdown(drain: true)

        let ran = runs.withLock { $0 }
        for value in 0..<count {
            #expect(ran[value] == (cancelled.contains(value) ? 0 : 1), "task \(value) ran \(ran[value]) times")
        }
        let thrown = (0..<count).filter { $0 % 5 == 0 && !cancelled.contains($0) }
        let failures = reported.withLock { $0 }
        #expect(failures.count == thrown.count)
        #expect(failures.allSatisfy { $0.kind == "cheap" && $0.group == "a" })
        #expect(Set(failures.compactMap { ($0.error as? Failure)?.value }) == Set(thrown))
        let statistics = try conveyor.statistics(for: "a")
        #expect(statistics.failed == thrown.count)
        #expect(statistics.cancelled == cancelled.count)
        #expect(statistics.completed == count - cancelled.count - thrown.count + 1)
        // A later cancel of a task that ran fails (its slot was reused or released as RUNNING).
        #expect(!conveyor.cancel(tickets[1]))
    }

    @Test("One clock read per task: service times cover each handler of a batch, queue waits end at the previous handler's end")
    func batchTimings() async throws {
        let hold = Hold()
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("a", minWorkers: 1, maxWorkers: 1, capacity: 1024, priorityLevels: 1)], timing: true))
        let kind = try conveyor.register("timed", payload: Int.self) { value in
            if value < 0 { return hold.wait() }
            if value > 0 { usleep(UInt32(value)) }
        }
        try conveyor.submit(kind, -1)
        hold.awaitRunning()
        // Eight tasks of ≥ 2 ms each, queued behind the held worker: one batch.
        let sleep = 2_000
        for _ in 0..<8 { try conveyor.submit(kind, sleep) }
        usleep(20_000)
        hold.released.store(true, ordering: .releasing)
        while try conveyor.statistics(for: "a").completed < 9 { usleep(1_000) }
        let sleepers = try conveyor.statistics(for: "a")
        // Then idle moments between rounds of trivial tasks: a worker that carried a task's end
        // over an idle gap (or from an earlier batch) would charge the gap as service.
        let gap = 100_000
        for round in 1...3 {
            usleep(UInt32(gap))
            for _ in 0..<5 { try conveyor.submit(kind, 0) }
            while try conveyor.statistics(for: "a").completed < 9 + 5 * round { usleep(1_000) }
        }
        await conveyor.shutdown(drain: true)
        #expect(sleepers.queueWait.count == 9 && sleepers.serviceTime.count == 9)
        // The hold (≥ 20 ms) and the eight sleepers (each ≥ 2 ms).
        let serviceSum = sleepers.serviceTime.mean * Double(sleepers.serviceTime.count)
        #expect(serviceSum >= Double(8 * sleep * 1_000 + 20_000_000), "\(sleepers.serviceTime)")
        // The k-th sleeper waited for the hold (≥ 20 ms) and for k earlier sleepers (≥ k × 2 ms).
        let waitSum = sleepers.queueWait.mean * Double(sleepers.queueWait.count)
        #expect(waitSum >= Double(8 * 20_000_000 + 28 * sleep * 1_000), "\(sleepers.queueWait)")
        let statistics = try conveyor.statistics(for: "a")
        #expect(statistics.completed == 9 + 15)
        let trivial = statistics.serviceTime.subtracting(sleepers.serviceTime)
        #expect(trivial.count == 15)
        // Had one 100 ms gap counted as service, the sum would be ≥ 100 ms.
        #expect(trivial.mean * Double(trivial.count) < Double(gap * 1_000) * 0.8, "\(trivial)")
    }
}
