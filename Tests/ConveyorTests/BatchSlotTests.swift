import Conveyor
import Foundation
import Synchronization
import Testing

/// Per-id flags set from several threads, behind an NSLock (ThreadSanitizer sees it).
final class IdFlags: @unchecked Sendable {
    private let lock = NSLock()
    private var flags: [Bool]

    init(_ count: Int) { self.flags = [Bool](repeating: false, count: count) }

    func set(_ id: Int) {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.flags[id] = true
    }

    var all: [Bool] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.flags
    }
}

/// The submit-side batch slots: tasks written into their batch at submit, one flush token per
/// batch through the lane. Cancellation racing the flush, shutdown racing the submitters,
/// backpressure when the lane is full, and exactly-once with keys and several submitters.
@Suite("BatchSlots", .serialized)
struct BatchSlotTests {
    @Test("Cancellation racing the flush: each task is either cancelled (never handed to the handler) or run exactly once")
    func cancellationRacesFlush() async throws {
        let perThread = StressScale.scaled(20_000, minimum: 2_000)
        let total = 2 * perThread
        let conveyor = try Conveyor(groups: [ResourceGroup("race", minWorkers: 2, overflow: .wait(timeout: .seconds(60)))])
        let seen = SeenCounts(total)
        let kind = try conveyor.registerBatch(
            "race", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 8, maxWaitTime: .milliseconds(1))
        ) { items in seen.mark(items.map { Int($0.id) }) }
        let cancelled = IdFlags(total)
        let tickets = PThreadLockedTickets()
        runOnThreads(2) { thread in
            var recent: [(Int, TaskTicket)] = []
            for index in 0..<perThread {
                let id = thread * perThread + index
                guard let ticket = try? conveyor.submit(kind, BatchItem(id: Int64(id), key: 0)) else { continue }
                tickets.append(ticket)
                recent.append((id, ticket))
                // Cancel a task submitted a few submits ago: its batch may be filling, queued or flushing.
                if recent.count > 5 {
                    let (old, oldTicket) = recent.removeFirst()
                    if old % 3 == 0, conveyor.cancel(oldTicket) { cancelled.set(old) }
                }
            }
        }
        await conveyor.shutdown(drain: true)
        let counts = seen.perId
        let flags = cancelled.all
        var wrong = 0
        for id in 0..<total where counts[id] != (flags[id] ? 0 : 1) { wrong += 1 }
        #expect(wrong == 0, "a cancelled task never runs, every other runs exactly once")
        let removed = flags.filter { $0 }.count
        #expect(removed > 0, "some cancels won the race")
        let figures = try conveyor.batchStatistics(for: kind)
        #expect(figures.removedCancelled == removed && figures.tasks == total - removed)
        #expect(try conveyor.statistics(for: "race").cancelled == removed)
        // Every slot's generation moved on: no old ticket cancels anything any more.
        #expect(tickets.all.allSatisfy { !conveyor.cancel($0) })
    }

    @Test("Exactly once with keys: 3 submitting threads, keyed batches never mix keys, awaited and fire-and-forget")
    func exactlyOnceKeyed() async throws {
        let perThread = StressScale.scaled(20_000, minimum: 2_000)
        let total = 3 * perThread
        let awaited = 500
        let conveyor = try Conveyor(groups: [ResourceGroup("keys", minWorkers: 2, overflow: .wait(timeout: .seconds(60)))])
        let seen = SeenCounts(total + awaited)
        let mixed = SharedCounter()
        let kind = try conveyor.registerBatch(
            "keys", payload: BatchItem.self, output: Int64.self, options: BatchOptions(maxBatchSize: 16, maxWaitTime: .milliseconds(2)),
            groupBy: { $0.key }
        ) { items in
            if Set(items.map(\.key)).count != 1 { mixed.add(1) }
            seen.mark(items.map { Int($0.id) })
            return items.map { $0.id + 1 }
        }
        let results = Task {
            try await withThrowingTaskGroup(of: Bool.self) { tasks in
                for index in 0..<awaited {
                    tasks.addTask {
                        let id = Int64(total + index)
                        return try await conveyor.run(kind, BatchItem(id: id, key: UInt64(id % 7))) == id + 1
                    }
                }
                var right = 0
                for try await ok in tasks where ok { right += 1 }
                return right
            }
        }
        let refused = SharedCounter()
        runOnThreads(3) { thread in
            for index in 0..<perThread {
                let id = thread * perThread + index
                if (try? conveyor.submit(kind, BatchItem(id: Int64(id), key: UInt64(id % 7)))) == nil { refused.add(1) }
            }
        }
        #expect(try await results.value == awaited)
        await conveyor.shutdown(drain: true)
        #expect(refused.current == 0)
        let audit = seen.audit
        #expect(audit.missing == 0 && audit.duplicated == 0, "\(audit)")
        #expect(mixed.current == 0, "a batch holds one key")
        #expect(seen.batchSizes.allSatisfy { $0 >= 1 && $0 <= 16 })
        #expect(try conveyor.batchStatistics(for: kind).tasks == total + awaited)
    }

    @Test("Shutdown under load: every accepted task runs once (drain) or runs or fails notStarted once (no drain); refused ones never run")
    func shutdownUnderLoad() async throws {
        for drain in [true, false] {
            let capacity = StressScale.scaled(400_000, minimum: 40_000)
            let conveyor = try Conveyor(groups: [ResourceGroup("load", minWorkers: 2, overflow: .wait(timeout: .seconds(60)))])
            let seen = SeenCounts(capacity)
            let kind = try conveyor.registerBatch(
                "load", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 32, maxWaitTime: .milliseconds(3))
            ) { items in seen.mark(items.map { Int($0.id) }) }
            let accepted = IdFlags(capacity)
            let started = SharedCounter()
            let submitters = Thread.detachedGroup(2) { thread in
                var index = thread
                while index < capacity {
                    do {
                        try conveyor.submit(kind, BatchItem(id: Int64(index), key: 0))
                        accepted.set(index)
                        started.add(1)
                    } catch ConveyorError.shutDown {
                        return
                    } catch {
                        Issue.record("unexpected \(error)")
                        return
                    }
                    index += 2
                }
            }
            #expect(eventually(timeout: .seconds(20)) { started.current > 2_000 })
            await conveyor.shutdown(drain: drain)
            submitters.wait()
            var reported = 0
            for await failure in conveyor.failures {
                #expect((failure.error as? ConveyorError) == .notStarted(kind: "load"))
                reported += 1
            }
            let counts = seen.perId
            let flags = accepted.all
            var ranRefused = 0
            var acceptedCount = 0
            var ranCount = 0
            for id in 0..<capacity {
                if flags[id] { acceptedCount += 1 } else if counts[id] != 0 { ranRefused += 1 }
                if counts[id] > 0 { ranCount += 1 }
            }
            #expect(seen.audit.duplicated == 0, "drain \(drain): no task ran twice")
            #expect(ranRefused == 0, "drain \(drain): a refused submit's task never runs")
            if drain {
                #expect(ranCount == acceptedCount && reported == 0, "drain: every accepted task ran")
            } else {
                // The failures stream keeps a bounded number of reports; the count is exact.
                let notStarted = conveyor.notStartedCount
                #expect(ranCount + notStarted == acceptedCount, "no drain: ran \(ranCount) + not started \(notStarted) = accepted \(acceptedCount)")
                #expect(reported > 0 && reported <= notStarted)
            }
        }
    }

    @Test("A full lane under .reject refuses submits with queueFull; pending stays bounded; every accepted task runs once")
    func backpressure() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("bp", minWorkers: 1, maxWorkers: 1, capacity: 16, priorityLevels: 1, overflow: .reject)])
        let gate = DispatchSemaphore(value: 0)
        let blocked = Atomic<Bool>(true)
        let total = 10_000
        let seen = SeenCounts(total)
        let kind = try conveyor.registerBatch(
            "bp", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 4, maxWaitTime: .milliseconds(1))
        ) { items in
            if blocked.load(ordering: .acquiring) { gate.wait() }
            seen.mark(items.map { Int($0.id) })
        }
        var accepted: [Int] = []
        var refusal: (any Error)?
        for id in 0..<total {
            do {
                try conveyor.submit(kind, BatchItem(id: Int64(id), key: 0))
                accepted.append(id)
            } catch {
                refusal = error
                break
            }
        }
        guard case .queueFull(group: "bp", _, _)? = refusal as? ConveyorError else {
            Issue.record("expected queueFull, got \(String(describing: refusal))")
            return
        }
        // The ring's tokens (at most its capacity) × 4, one batch in the handler, the accumulating one.
        #expect(accepted.count <= (64 + 2) * 4, "accepted \(accepted.count): memory is bounded by the lane")
        #expect(try conveyor.batchStatistics(for: kind).pending <= 8)
        #expect(throws: ConveyorError.self) { try conveyor.submit(kind, BatchItem(id: Int64(total - 1), key: 0)) }
        blocked.store(false, ordering: .releasing)
        gate.signal()
        await conveyor.shutdown(drain: true)
        let counts = seen.perId
        #expect(accepted.allSatisfy { counts[$0] == 1 })
        #expect(counts.reduce(0) { $0 + Int($1) } == accepted.count, "refused tasks never run")
    }
}

/// Tickets appended from several threads.
final class PThreadLockedTickets: @unchecked Sendable {
    private let lock = NSLock()
    private var tickets: [TaskTicket] = []

    func append(_ ticket: TaskTicket) {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.tickets.append(ticket)
    }

    var all: [TaskTicket] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.tickets
    }
}

extension Thread {
    /// Starts `count` threads running `body(index)`; the group's `wait()` returns when all ended.
    static func detachedGroup(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> DispatchGroup {
        let finished = DispatchGroup()
        for index in 0..<count {
            finished.enter()
            Thread {
                body(index)
                finished.leave()
            }.start()
        }
        return finished
    }
}
