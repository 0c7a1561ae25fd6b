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
/// Payloads of the sizes the submit copies specially (4, 8, 16 bytes: one load and store) and
/// of others (`memcpy`), some with an alignment below their size; each carries its id and a
/// pattern derived from it, so a torn or misplaced copy is seen.
struct Payload1: BitwiseCopyable, Sendable { var id: UInt8 }
struct Payload8Bytes: BitwiseCopyable, Sendable { var bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) }
struct Payload12: BitwiseCopyable, Sendable { var id: UInt32; var b: UInt32; var c: UInt32 }
struct Payload16: BitwiseCopyable, Sendable { var id: UInt64; var b: UInt64 }
struct Payload24: BitwiseCopyable, Sendable { var id: UInt64; var b: UInt64; var c: UInt64 }

@Suite("BatchSlots", .serialized)
struct BatchSlotTests {
    /// Submits `count` payloads of one type (batches of 7, so most go through the submit's fast
    /// path and every 7th fills a chunk on the general path); each must arrive once and intact.
    private func checkPayloads<P: BitwiseCopyable & Sendable>(
        _ type: P.Type, count: Int, make: @escaping @Sendable (Int) -> P, id: @escaping @Sendable (P) -> Int?
    ) async throws -> (missing: Int, duplicated: Int, torn: Int) {
        let conveyor = try Conveyor(groups: [ResourceGroup("copy", overflow: .wait(timeout: .seconds(60)))])
        let seen = SeenCounts(count)
        let torn = Atomic<Int>(0)
        let kind = try conveyor.registerBatch(
            "copy", payload: P.self, options: BatchOptions(maxBatchSize: 7, maxWaitTime: .milliseconds(1))
        ) { items in
            var ids: [Int] = []
            for item in items {
                if let value = id(item), value < count { ids.append(value) } else { torn.add(1, ordering: .relaxed) }
            }
            seen.mark(ids)
        }
        for index in 0..<count { try conveyor.submit(kind, make(index)) }
        await conveyor.shutdown(drain: true)
        let audit = seen.audit
        return (audit.missing, audit.duplicated, torn.load(ordering: .relaxed))
    }

    @Test("Payloads of 1, 4, 8 (byte-aligned), 12, 16 and 24 bytes arrive intact, each exactly once")
    func payloadCopies() async throws {
        let one = try await self.checkPayloads(Payload1.self, count: 200, make: { Payload1(id: UInt8($0)) }, id: { Int($0.id) })
        #expect(one == (0, 0, 0), "1-byte payloads")
        let four = try await self.checkPayloads(
            UInt32.self, count: 1_000, make: { UInt32($0) | 0x5A00_0000 },
            id: { $0 >> 24 == 0x5A ? Int($0 & 0xFF_FFFF) : nil })
        #expect(four == (0, 0, 0), "4-byte payloads")
        let eight = try await self.checkPayloads(
            Payload8Bytes.self, count: 1_000,
            make: { let v = UInt8($0 & 0xFF), h = UInt8($0 >> 8); return Payload8Bytes(bytes: (v, h, ~v, ~h, v ^ 0x55, h ^ 0x55, 7, 9)) },
            id: { p in
                let b = p.bytes
                guard b.2 == ~b.0, b.3 == ~b.1, b.4 == b.0 ^ 0x55, b.5 == b.1 ^ 0x55, b.6 == 7, b.7 == 9 else { return nil }
                return Int(b.0) | Int(b.1) << 8
            })
        #expect(eight == (0, 0, 0), "8-byte payloads of alignment 1")
        let twelve = try await self.checkPayloads(
            Payload12.self, count: 1_000, make: { Payload12(id: UInt32($0), b: ~UInt32($0), c: UInt32($0) &* 31) },
            id: { $0.b == ~$0.id && $0.c == $0.id &* 31 ? Int($0.id) : nil })
        #expect(twelve == (0, 0, 0), "12-byte payloads")
        let sixteen = try await self.checkPayloads(
            Payload16.self, count: 1_000, make: { Payload16(id: UInt64($0), b: ~UInt64($0)) },
            id: { $0.b == ~$0.id ? Int($0.id) : nil })
        #expect(sixteen == (0, 0, 0), "16-byte payloads")
        let twentyFour = try await self.checkPayloads(
            Payload24.self, count: 1_000, make: { Payload24(id: UInt64($0), b: ~UInt64($0), c: UInt64($0) << 20) },
            id: { $0.b == ~$0.id && $0.c == $0.id << 20 ? Int($0.id) : nil })
        #expect(twentyFour == (0, 0, 0), "24-byte payloads")
    }

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
