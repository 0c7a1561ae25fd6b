import Conveyor
import Foundation
import Synchronization
import Testing

/// How often each id was seen (a seen bitmap that also catches duplicates), behind an NSLock
/// (ThreadSanitizer sees it).
final class SeenCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [UInt8]
    private var sizes: [Int] = []

    init(_ count: Int) { self.counts = [UInt8](repeating: 0, count: count) }

    func mark(_ ids: some Sequence<Int>) {
        self.lock.lock()
        defer { self.lock.unlock() }
        var size = 0
        for id in ids {
            self.counts[id] &+= 1
            size += 1
        }
        self.sizes.append(size)
    }

    /// (missing, duplicated) ids.
    var audit: (missing: Int, duplicated: Int) {
        self.lock.lock()
        defer { self.lock.unlock() }
        return (self.counts.filter { $0 == 0 }.count, self.counts.filter { $0 > 1 }.count)
    }

    /// How often each id was seen.
    var perId: [UInt8] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.counts
    }

    var batchSizes: [Int] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.sizes
    }
}

/// A clock tests move by hand (nanoseconds in an atomic).
final class ManualBatchClock: CacheClock {
    private let nanoseconds = Atomic<Int64>(0)
    func now() -> Duration { .nanoseconds(self.nanoseconds.load(ordering: .acquiring)) }
    func advance(_ duration: Duration) {
        self.nanoseconds.add(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000, ordering: .acquiringAndReleasing)
    }
}

struct BatchItem: BitwiseCopyable, Sendable, Equatable {
    var id: Int64
    var key: UInt64
}

struct BatchBoom: Error, Equatable { var code: Int }

@Suite("BatchProcessor", .serialized)
struct BatchTests {
    @Test("Exactly once under concurrency: 4 submitting threads, fire-and-forget and awaited, seen counts")
    func exactlyOnce() async throws {
        let perThread = StressScale.scaled(50_000, minimum: 2_000)
        let total = 4 * perThread
        let awaited = 2_000
        let conveyor = try Conveyor(groups: [ResourceGroup("batch", minWorkers: 2, overflow: .wait(timeout: .seconds(60)))])
        let seen = SeenCounts(total + awaited)
        let kind = try conveyor.registerBatch(
            "sum", payload: BatchItem.self, output: Int64.self, options: BatchOptions(maxBatchSize: 50, maxWaitTime: .milliseconds(5))
        ) { items in
            seen.mark(items.map { Int($0.id) })
            return items.map { $0.id * 2 }
        }
        let results = Task {
            try await withThrowingTaskGroup(of: Bool.self) { tasks in
                for index in 0..<awaited {
                    tasks.addTask {
                        let id = Int64(total + index)
                        return try await conveyor.run(kind, BatchItem(id: id, key: 0)) == id * 2
                    }
                }
                var right = 0
                for try await ok in tasks where ok { right += 1 }
                return right
            }
        }
        runOnThreads(4) { thread in
            for index in 0..<perThread {
                _ = try? conveyor.submit(kind, BatchItem(id: Int64(thread * perThread + index), key: 0))
            }
        }
        #expect(try await results.value == awaited, "every run caller gets its own item's result")
        await conveyor.shutdown(drain: true)
        let audit = seen.audit
        #expect(audit.missing == 0 && audit.duplicated == 0, "\(audit)")
        #expect(seen.batchSizes.allSatisfy { $0 >= 1 && $0 <= 50 })
        let figures = try conveyor.batchStatistics(for: kind)
        #expect(figures.tasks == total + awaited)
        #expect(figures.batches == seen.batchSizes.count)
        #expect(figures.meanBatchSize > 5, "batches form under load (mean \(figures.meanBatchSize))")
        #expect(figures.addedWait.count == UInt64(total + awaited))
        #expect(try conveyor.statistics(for: "batch").completed == total + awaited)
    }

    @Test("A full batch flushes at once; a lone task after maxWaitTime, not before, within +10 ms (median of 5)")
    func flushTiming() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("batch")])
        let calls = SeenCounts(100)
        let wait = Duration.milliseconds(40)
        let kind = try conveyor.registerBatch("t", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 10, maxWaitTime: wait)) {
            calls.mark($0.map { Int($0.id) })
        }
        let clock = ContinuousClock()
        // Full: 10 tasks flush long before maxWaitTime. A kind of its own with a 2 s timer, so
        // a loaded machine's scheduling delay (tens of ms) cannot pass for the timer firing.
        let fullCalls = SeenCounts(10)
        let patient = Duration.seconds(2)
        let fullKind = try conveyor.registerBatch(
            "full", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 10, maxWaitTime: patient)
        ) { fullCalls.mark($0.map { Int($0.id) }) }
        let full = clock.now
        for id in 0..<10 { try conveyor.submit(fullKind, BatchItem(id: Int64(id), key: 0)) }
        #expect(eventually(timeout: .seconds(5)) { fullCalls.batchSizes.count == 1 })
        #expect(clock.now - full < patient, "a full batch waited for its timer")
        #expect(fullCalls.batchSizes == [10])
        for id in 0..<10 { try conveyor.submit(kind, BatchItem(id: Int64(id), key: 0)) }
        #expect(eventually(timeout: .seconds(5)) { calls.batchSizes.count == 1 })
        #expect(calls.batchSizes == [10])
        var lone: [Duration] = []
        for round in 0..<5 {
            let start = clock.now
            try conveyor.submit(kind, BatchItem(id: Int64(10 + round), key: 0))
            #expect(eventually(timeout: .seconds(5)) { calls.batchSizes.count == 2 + round })
            lone.append(clock.now - start)
        }
        lone.sort()
        #expect(lone.allSatisfy { $0 >= wait }, "flushed before maxWaitTime: \(lone)")
        #expect(lone[2] <= wait + .milliseconds(10), "median lone flush \(lone[2]) > maxWaitTime + 10 ms")
        await conveyor.shutdown(drain: true)
    }

    @Test("Bad input: maxBatchSize 0, maxWaitTime ≤ 0, payload too large, blank and repeated names")
    func badOptions() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("batch")])
        for options in [
            BatchOptions(maxBatchSize: 0), BatchOptions(maxBatchSize: -3), BatchOptions(maxWaitTime: .zero),
            BatchOptions(maxWaitTime: .milliseconds(-5)),
        ] {
            #expect {
                _ = try conveyor.registerBatch("bad", payload: BatchItem.self, options: options) { _ in }
            } throws: { error in
                guard case ConveyorError.invalidConfiguration(let reason) = error else { return false }
                return reason.contains("maxBatchSize") || reason.contains("maxWaitTime")
            }
        }
        struct Big: BitwiseCopyable, Sendable { var bytes: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64) }
        #expect(throws: ConveyorError.self) { _ = try conveyor.registerBatch("big", payload: Big.self) { _ in } }
        #expect(throws: ConveyorError.self) { _ = try conveyor.registerBatch("  ", payload: BatchItem.self) { _ in } }
        _ = try conveyor.registerBatch("once", payload: BatchItem.self) { _ in }
        #expect(throws: ConveyorError.self) { _ = try conveyor.registerBatch("once", payload: BatchItem.self) { _ in } }
        #expect(throws: ConveyorError.unknownGroup(name: "nope")) {
            _ = try conveyor.registerBatch("g", payload: BatchItem.self, options: BatchOptions(group: "nope")) { _ in }
        }
        await conveyor.shutdown(drain: true)
    }

    @Test("A wrong number of results fails each task of that call with a typed error; the next batches run")
    func wrongResultCount() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("batch")])
        let shortChange = Atomic<Bool>(true)
        let kind = try conveyor.registerBatch(
            "count", payload: BatchItem.self, output: Int64.self, options: BatchOptions(maxBatchSize: 4, maxWaitTime: .seconds(10))
        ) { items in
            shortChange.load(ordering: .relaxed) ? Array(items.map(\.id).dropLast()) : items.map(\.id)
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for id in 0..<4 {
                tasks.addTask {
                    await #expect(throws: ConveyorError.batchResultCount(kind: "count", expected: 4, got: 3)) {
                        _ = try await conveyor.run(kind, BatchItem(id: Int64(id), key: 0))
                    }
                }
            }
            try await tasks.waitForAll()
        }
        shortChange.store(false, ordering: .relaxed)
        let values = try await withThrowingTaskGroup(of: Int64.self) { tasks in
            for id in 10..<14 { tasks.addTask { try await conveyor.run(kind, BatchItem(id: Int64(id), key: 0)) } }
            var all: [Int64] = []
            for try await value in tasks { all.append(value) }
            return all.sorted()
        }
        #expect(values == [10, 11, 12, 13])
        // Results reach the callers before the batch's statistics are recorded.
        #expect(eventually { (try? conveyor.batchStatistics(for: kind)).map { $0.failedTasks == 4 && $0.tasks == 8 } ?? false })
        await conveyor.shutdown(drain: true)
    }

    @Test("A throwing handler fails every task of its batch; per-item errors reach only their tasks; failures stream")
    func errors() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("batch")])
        let whole = try conveyor.registerBatch(
            "whole", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 3, maxWaitTime: .seconds(10))
        ) { _ in throw BatchBoom(code: 1) }
        let perItem = try conveyor.registerBatch(
            "items", payload: BatchItem.self, output: Int64.self, options: BatchOptions(maxBatchSize: 4, maxWaitTime: .seconds(10))
        ) { items in
            items.map { $0.id % 2 == 0 ? .success($0.id) : .failure(BatchBoom(code: Int($0.id))) }
        }
        for id in 0..<3 { try conveyor.submit(whole, BatchItem(id: Int64(id), key: 0)) }
        let outcomes = await withTaskGroup(of: (Int64, Result<Int64, any Error>).self) { tasks in
            for id in Int64(0)..<4 {
                tasks.addTask {
                    do { return (id, .success(try await conveyor.run(perItem, BatchItem(id: id, key: 0)))) } catch { return (id, .failure(error)) }
                }
            }
            var all: [Int64: Result<Int64, any Error>] = [:]
            for await (id, outcome) in tasks { all[id] = outcome }
            return all
        }
        for id in Int64(0)..<4 {
            switch outcomes[id]! {
            case .success(let value): #expect(id % 2 == 0 && value == id)
            case .failure(let error): #expect(id % 2 == 1 && (error as? BatchBoom) == BatchBoom(code: Int(id)))
            }
        }
        await conveyor.shutdown(drain: true)
        var reported = 0
        for await failure in conveyor.failures {
            #expect(failure.kind == "whole" && (failure.error as? BatchBoom) == BatchBoom(code: 1))
            reported += 1
        }
        #expect(reported == 3, "each task of the failed batch is reported once (awaited ones are not)")
        #expect(try conveyor.statistics(for: "batch").failed == 5)
    }

    @Test("Cancelled before its flush: removed from the batch (ticket and awaiting task), the others run")
    func cancellation() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("batch")])
        let seen = SeenCounts(20)
        let kind = try conveyor.registerBatch(
            "c", payload: BatchItem.self, output: Int64.self, options: BatchOptions(maxBatchSize: 20, maxWaitTime: .seconds(1))
        ) { items in
            seen.mark(items.map { Int($0.id) })
            return items.map(\.id)
        }
        var tickets: [TaskTicket] = []
        for id in 0..<10 { tickets.append(try conveyor.submit(kind, BatchItem(id: Int64(id), key: 0))) }
        let waiter = Task { try await conveyor.run(kind, BatchItem(id: 10, key: 0)) }
        #expect(eventually(timeout: .seconds(5)) { (try? conveyor.batchStatistics(for: kind).pending) == 11 })
        var cancelled = 0
        for ticket in tickets where conveyor.cancel(ticket) {
            cancelled += 1
            if cancelled == 4 { break }
        }
        #expect(cancelled == 4, "tickets cancel while the batch is unflushed")
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        #expect(eventually(timeout: .seconds(5)) { seen.batchSizes.count == 1 })
        #expect(seen.batchSizes == [6])
        for id in 0..<4 { #expect(conveyor.cancel(tickets[id]) == false) }
        #expect(eventually { (try? conveyor.batchStatistics(for: kind)).map { $0.removedCancelled == 5 && $0.tasks == 6 } ?? false })
        #expect(try conveyor.statistics(for: "batch").cancelled == 5)
        await conveyor.shutdown(drain: true)
    }

    @Test("shutdown(drain: true) flushes unflushed batches; drain: false fails them as notStarted, exactly once")
    func shutdown() async throws {
        let drained = try Conveyor(groups: [ResourceGroup("batch")])
        let seen = SeenCounts(7)
        let kind = try drained.registerBatch("d", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 100, maxWaitTime: .seconds(30))) {
            seen.mark($0.map { Int($0.id) })
        }
        for id in 0..<7 { try drained.submit(kind, BatchItem(id: Int64(id), key: 0)) }
        #expect(eventually(timeout: .seconds(5)) { (try? drained.batchStatistics(for: kind).pending) == 7 })
        await drained.shutdown(drain: true)
        #expect(seen.audit.missing == 0 && seen.audit.duplicated == 0)
        #expect(seen.batchSizes == [7])

        let stopped = try Conveyor(groups: [ResourceGroup("batch")])
        let ran = SharedCounter()
        let stop = try stopped.registerBatch(
            "s", payload: BatchItem.self, output: Int64.self, options: BatchOptions(maxBatchSize: 100, maxWaitTime: .seconds(30))
        ) { items in
            ran.add(items.count)
            return items.map(\.id)
        }
        for id in 0..<5 { try stopped.submit(stop, BatchItem(id: Int64(id), key: 0)) }
        let waiters = (0..<3).map { id in Task { try await stopped.run(stop, BatchItem(id: Int64(100 + id), key: 0)) } }
        #expect(eventually(timeout: .seconds(5)) { (try? stopped.batchStatistics(for: stop).pending) == 8 })
        await stopped.shutdown(drain: false)
        for waiter in waiters {
            await #expect(throws: ConveyorError.notStarted(kind: "s")) { _ = try await waiter.value }
        }
        var reported = 0
        for await failure in stopped.failures {
            #expect((failure.error as? ConveyorError) == .notStarted(kind: "s"))
            reported += 1
        }
        #expect(reported == 5 && ran.current == 0 && stopped.notStartedCount == 8)
        #expect(throws: ConveyorError.shutDown) { try stopped.submit(stop, BatchItem(id: 0, key: 0)) }
    }

    @Test("groupBy: tasks of different keys never share a batch, and each key fills its own")
    func grouping() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("batch", minWorkers: 2)])
        let mixed = Atomic<Int>(0)
        let seen = SeenCounts(3_000)
        let kind = try conveyor.registerBatch(
            "k", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 25, maxWaitTime: .milliseconds(20)), groupBy: { $0.key }
        ) { items in
            if Set(items.map(\.key)).count != 1 { mixed.add(1, ordering: .relaxed) }
            seen.mark(items.map { Int($0.id) })
        }
        for id in 0..<3_000 { try conveyor.submit(kind, BatchItem(id: Int64(id), key: UInt64(id % 7))) }
        await conveyor.shutdown(drain: true)
        #expect(mixed.load(ordering: .relaxed) == 0)
        #expect(seen.audit.missing == 0 && seen.audit.duplicated == 0)
    }

    @Test("optimizeBatchSize converges within 10 % of the analytic optimum (known fixed and per-item costs, manual clock)")
    func optimizer() async throws {
        let clock = ManualBatchClock()
        let fixed = Duration.milliseconds(2)
        let perItem = Duration.microseconds(20)
        let gap = Duration.microseconds(100)
        let bound = Duration.milliseconds(5)
        let conveyor = try Conveyor(groups: [ResourceGroup("batch", overflow: .wait(timeout: .seconds(30)))])
        let done = SharedCounter()
        let kind = try conveyor.registerBatch(
            "opt", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 100, maxWaitTime: .seconds(30), clock: clock)
        ) { items in
            clock.advance(fixed + perItem * items.count)
            done.add(items.count)
        }
        let optimizer = try conveyor.optimizeBatchSize(for: kind, target: BatchSizeTarget(addedWaitP95: bound))
        #expect(optimizer.step() == nil, "the first step only takes the starting point")
        var submitted = 0
        for _ in 0..<12 {
            let size = kind.maxBatchSize
            let count = size * max(4, 600 / size)  // whole batches only: no timer flush
            clock.advance(gap * count)  // the round's arrivals, in virtual time
            for id in 0..<count { try conveyor.submit(kind, BatchItem(id: Int64(id), key: 0)) }
            submitted += count
            // Wait for the batch statistics, not the handler's own count: the core reads the
            // clock after the handler returns, and the next round's advance must come after it.
            #expect(eventually(timeout: .seconds(20)) { done.current == submitted && (try? conveyor.batchStatistics(for: kind).tasks) == submitted })
            optimizer.step()
        }
        // The analytic optimum of this virtual-time system: arrivals and calls share the clock,
        // so the rate at size n is 1 / (gap + fixed / n + perItem), and the largest n with
        // (n − 1)(0.95 / rate + perItem) ≤ bound is the fixed point below.
        let (g, f, c, t) = (1e-4, 2e-3, 2e-5, 5e-3)
        var optimum = 50.0
        for _ in 0..<100 { optimum = 1 + t / (0.95 * (g + f / optimum + c) + c) }
        let chosen = Double(kind.maxBatchSize)
        #expect(abs(chosen - optimum) / optimum <= 0.10, "chose \(chosen), optimum \(optimum): \(String(describing: optimizer.lastDecision))")
        let decision = try #require(optimizer.lastDecision)
        #expect(abs(decision.fixedCost.batchTestSeconds - f) / f < 0.05 && abs(decision.perItemCost.batchTestSeconds - c) / c < 0.05)
        await conveyor.shutdown(drain: true)
    }

    @Test("Statistics reach the PerformanceProfiler: batches per second, size histogram, added wait, as interval deltas")
    func profiler() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("batch")])
        let kind = try conveyor.registerBatch("p", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 10, maxWaitTime: .seconds(10))) { _ in }
        let profiler = try PerformanceProfiler(conveyor: conveyor)
        for id in 0..<30 { try conveyor.submit(kind, BatchItem(id: Int64(id), key: 0)) }
        #expect(eventually { (try? conveyor.batchStatistics(for: kind).batches) == 3 })
        let first = try #require(profiler.metrics().batches?.first { $0.kind == "p" })
        #expect(first.batches == 3 && first.tasks == 30 && first.sizeHistogram == [10: 3] && first.addedWait.count == 30)
        #expect(first.batchesPerSecond > 0 && first.meanBatchSize == 10 && first.maxBatchSize == 10)
        profiler.resetMetrics()
        for id in 0..<10 { try conveyor.submit(kind, BatchItem(id: Int64(id), key: 0)) }
        #expect(eventually { (try? conveyor.batchStatistics(for: kind).batches) == 4 })
        let second = try #require(profiler.metrics().batches?.first { $0.kind == "p" })
        #expect(second.batches == 1 && second.tasks == 10 && second.sizeHistogram == [10: 1])
        let figures = try conveyor.batchStatistics(for: kind)
        #expect(figures.sizeHistogram == [10: 4] && figures.addedWait.count == 40 && figures.handlerTime.count == 4)
        await conveyor.shutdown(drain: true)
    }
}

extension Duration {
    var batchTestSeconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
