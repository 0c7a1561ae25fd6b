import Conveyor
import Foundation
import Synchronization
import Testing

struct Item: BitwiseCopyable, Sendable {
    var index: UInt64
}

@Suite("Engine: configuration and errors")
struct EngineConfigurationTests {
    @Test("Invalid configurations are refused with a message that says what to change")
    func invalidConfigurations() {
        let cases: [(Conveyor.Configuration, String)] = [
            (.init(groups: []), "at least one"),
            (.init(groups: [ResourceGroup("a"), ResourceGroup("a")]), "unique"),
            (.init(groups: [ResourceGroup("a", minWorkers: 0)]), "minWorkers"),
            (.init(groups: [ResourceGroup("a", minWorkers: 3, maxWorkers: 1)]), "greater than maxWorkers"),
            (.init(groups: [ResourceGroup("a", capacity: 1000)]), "power of two"),
            (.init(groups: [ResourceGroup("a", initialWorkers: 5)]), "initialWorkers"),
            (.init(groups: [ResourceGroup("a", overflow: .spill(memoryLimit: 0))]), "memoryLimit"),
            (.init(groups: [ResourceGroup("")]), "name"),
        ]
        for (configuration, phrase) in cases {
            #expect {
                _ = try Conveyor(configuration: configuration)
            } throws: { error in
                "\(error)".contains(phrase)
            }
        }
        #expect(throws: ConveyorError.unknownGroup(name: "gpu")) {
            _ = try Conveyor(configuration: .init(groups: [ResourceGroup("a")], defaultGroup: "gpu"))
        }
    }

    @Test("Unknown group, oversized payload, and submit after shutdown are typed errors")
    func badInput() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("a")])
        #expect(throws: ConveyorError.unknownGroup(name: "nope")) {
            try conveyor.submit(QueueTask(group: "nope")) {}
        }
        struct Big: BitwiseCopyable, Sendable { var a: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) }
        #expect(throws: ConveyorError.self) { _ = try conveyor.register("big", payload: Big.self) { _ in } }
        await conveyor.shutdown()
        #expect(throws: ConveyorError.shutDown) { try conveyor.submit {} }
        await #expect(throws: ConveyorError.shutDown) { _ = try await conveyor.run { 1 } }
        #expect(!conveyor.isAccepting)
    }

    @Test("run returns the value with timings, and rethrows the handler's error")
    func runResults() async throws {
        struct Boom: Error {}
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 2)])
        let result = try await conveyor.run(QueueTask(kind: "sum")) { (1...100).reduce(0, +) }
        #expect(result.value == 5050)
        #expect(result.group == "cpu")
        #expect(result.queueWait >= .zero && result.serviceTime >= .zero)
        await #expect(throws: Boom.self) { _ = try await conveyor.run { () throws -> Int in throw Boom() } }
        await conveyor.shutdown()
    }

    @Test("A throwing fire-and-forget handler is reported and counted; others keep running")
    func failuresAreReported() async throws {
        struct Broken: Error {}
        let reported = SharedCounter()
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("a", minWorkers: 2)], onFailure: { _ in reported.add(1) }))
        let ran = SharedCounter()
        for index in 0..<100 {
            try conveyor.submit(QueueTask(kind: "maybe")) {
                if index % 10 == 0 { throw Broken() }
                ran.add(1)
            }
        }
        await conveyor.shutdown(drain: true)
        var streamed = 0
        for await failure in conveyor.failures {
            #expect(failure.error is Broken)
            #expect(failure.kind == "maybe")
            streamed += 1
        }
        #expect(ran.current == 90)
        #expect(reported.current == 10)
        // Per-worker recorders, merged on read: one queue-wait and one service sample per run.
        let stats = try conveyor.statistics(for: "a")
        #expect(stats.queueWait.count == 100)
        #expect(stats.serviceTime.count == 100)
        #expect(stats.queueWait.p50 <= stats.queueWait.max)
        #expect(stats.serviceTime.p99 >= stats.serviceTime.p50)
        #expect(streamed == 10)
        #expect(try conveyor.statistics(for: "a").failed == 10)
        #expect(try conveyor.statistics(for: "a").completed == 90)
    }
}

@Suite("Engine: scheduling", .serialized)
struct EngineSchedulingTests {
    @Test("Higher priority runs first; bulk dequeue cannot invert beyond one batch")
    func priorityOrder() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("one", agingBound: .seconds(60), batchSize: 4)])
        let hold = Gate(value: 0)
        let order = Mutex<[Int]>([])
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "one").queued) == 0 })
        for index in 0..<20 {
            try conveyor.submit(QueueTask(priority: .low)) { order.withLock { $0.append(100 + index) } }
        }
        for index in 0..<20 {
            try conveyor.submit(QueueTask(priority: .high)) { order.withLock { $0.append(index) } }
        }
        hold.signal()
        await conveyor.shutdown(drain: true)
        let ran = order.withLock { $0 }
        #expect(ran.count == 40)
        #expect(Array(ran.prefix(20)) == Array(0..<20), "all high tasks first, in order")
        #expect(Array(ran.suffix(20)) == Array(100..<120), "then the low ones, in order")
    }

    @Test("Aging: a low-priority task starts within the aging bound while high ones keep coming")
    func agingBound() async throws {
        let aging = Duration.milliseconds(20)
        let conveyor = try Conveyor(groups: [ResourceGroup("one", agingBound: aging, batchSize: 1)])
        let stop = Atomic<Bool>(false)
        // A self-sustaining stream of high-priority tasks, each ~0.5 ms.
        @Sendable func flood() {
            guard !stop.load(ordering: .relaxed) else { return }
            usleep(500)
            _ = try? conveyor.submit(QueueTask(priority: .high)) { flood() }
        }
        for _ in 0..<4 { try conveyor.submit(QueueTask(priority: .high)) { flood() } }
        // Watchdog: without aging the low task would never start while the flood goes on.
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(5))
            stop.store(true, ordering: .relaxed)
        }
        try await Task.sleep(for: .milliseconds(50))
        let result = try await conveyor.run(QueueTask(priority: .low)) { 1 }
        let floodStillRunning = !stop.load(ordering: .relaxed)
        stop.store(true, ordering: .relaxed)
        watchdog.cancel()
        #expect(floodStillRunning, "the low task started while high ones kept coming")
        // Bound: agingBound + one batch (one 0.5 ms task); the slack absorbs a busy CI machine.
        #expect(result.queueWait < aging + .milliseconds(500), "low task waited \(result.queueWait)")
        await conveyor.shutdown(drain: true)
    }

    @Test("A group never runs more tasks at once than its workers, also across resizes")
    func concurrencyLimit() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("g", minWorkers: 1, maxWorkers: 4, initialWorkers: 3)])
        let meter = ConcurrencyMeter()
        let release = Gate(value: 0)
        for _ in 0..<12 {
            try conveyor.submit {
                meter.enter()
                release.wait()
                meter.leave()
            }
        }
        #expect(eventually { meter.current == 3 })
        usleep(50_000)
        #expect(meter.maximum == 3)
        for _ in 0..<12 { release.signal() }
        #expect(eventually { (try? conveyor.statistics(for: "g").completed) == 12 })

        try await conveyor.resize(group: "g", workers: 1)
        #expect(try conveyor.statistics(for: "g").workers == 1)
        meter.resetPeak()
        for _ in 0..<20 {
            try conveyor.submit {
                meter.enter()
                usleep(1_000)
                meter.leave()
            }
        }
        #expect(eventually { (try? conveyor.statistics(for: "g").completed) == 32 })
        #expect(meter.maximum == 1)

        try await conveyor.resize(group: "g", workers: 4)
        meter.resetPeak()
        let hold = Gate(value: 0)
        for _ in 0..<8 {
            try conveyor.submit {
                meter.enter()
                hold.wait()
                meter.leave()
            }
        }
        #expect(eventually { meter.current == 4 })
        // Shrink while all four block: running tasks finish, no new start beyond the limit.
        async let shrink: Void = conveyor.resize(group: "g", workers: 2)
        usleep(20_000)
        for _ in 0..<8 { hold.signal() }
        try await shrink
        meter.resetPeak()
        for _ in 0..<20 {
            try conveyor.submit {
                meter.enter()
                usleep(500)
                meter.leave()
            }
        }
        await conveyor.shutdown(drain: true)
        #expect(meter.maximum <= 2)
        #expect(try conveyor.statistics(for: "g").completed == 60)
        await #expect(throws: ConveyorError.self) { try await conveyor.resize(group: "g", workers: 9) }
    }

    @Test("Cancellation before start: the task never runs, run callers get CancellationError")
    func cancellation() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("one")])
        let hold = Gate(value: 0)
        let ran = SharedCounter()
        try conveyor.submit { hold.wait() }
        let ticket = try conveyor.submit { ran.add(1) }
        #expect(conveyor.cancel(ticket))
        #expect(!conveyor.cancel(ticket), "a ticket cancels once")
        let waiter = Task { try await conveyor.run { ran.add(1) } }
        usleep(20_000)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        hold.signal()
        await conveyor.shutdown(drain: true)
        #expect(ran.current == 0)
        #expect(try conveyor.statistics(for: "one").cancelled == 2)
        #expect(!conveyor.cancel(ticket))
    }

    @Test("Deadlines: an expired task fails at dequeue; a run caller learns at the deadline")
    func deadlines() async throws {
        let failures = Mutex<[String]>([])
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("one")], onFailure: { failure in failures.withLock { $0.append("\(failure.error)") } }))
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        try conveyor.submit(QueueTask(kind: "late", deadline: .milliseconds(10))) {
            Issue.record("an expired task ran")
        }
        // Watchdog: without a deadline timer the awaited run below would wait for the held
        // worker forever; release it after 5 s, and check the run threw before that.
        let released = Atomic<Bool>(false)
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(5))
            released.store(true, ordering: .relaxed)
            hold.signal()
        }
        await #expect(throws: ConveyorError.deadlineExceeded(kind: "awaited")) {
            _ = try await conveyor.run(QueueTask(kind: "awaited", deadline: .milliseconds(30))) { 1 }
        }
        let learnedBeforeRelease = !released.load(ordering: .relaxed)
        #expect(learnedBeforeRelease, "the caller learned at the deadline, not when the worker was freed")
        watchdog.cancel()
        if !released.load(ordering: .relaxed) { hold.signal() }
        await conveyor.shutdown(drain: true)
        #expect(failures.withLock { $0.contains { $0.contains("late") && $0.contains("deadline") } })
        #expect(try conveyor.statistics(for: "one").expired == 2)
    }
}

@Suite("Engine: overflow policies", .serialized)
struct EngineOverflowTests {
    @Test("reject: a full lane refuses at once with queueFull")
    func reject() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("r", capacity: 2, overflow: .reject)])
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "r").queued) == 0 })
        try conveyor.submit {}
        try conveyor.submit {}
        #expect(throws: ConveyorError.queueFull(group: "r", capacity: 2, exhausted: .ring(level: 1))) { try conveyor.submit {} }
        // Another priority has its own lane.
        try conveyor.submit(QueueTask(priority: .high)) {}
        hold.signal()
        await conveyor.shutdown(drain: true)
        #expect(try conveyor.statistics(for: "r").completed == 4)
    }

    @Test("spill: tasks beyond the ring are kept, run, and leave each lane in submit order")
    func spill() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("s", capacity: 4, overflow: .spill(memoryLimit: 1 << 20))])
        let hold = Gate(value: 0)
        let order = Mutex<[Int]>([])
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "s").queued) == 0 })
        for index in 0..<500 { try conveyor.submit { order.withLock { $0.append(index) } } }
        #expect(try conveyor.statistics(for: "s").queued == 500)
        hold.signal()
        await conveyor.shutdown(drain: true)
        #expect(order.withLock { $0 } == Array(0..<500))
    }

    @Test("spill: past the memory limit it rejects")
    func spillLimit() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("s", capacity: 2, overflow: .spill(memoryLimit: 1_000))])
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "s").queued) == 0 })
        var accepted = 0
        var refused = false
        for _ in 0..<1_000 {
            do {
                try conveyor.submit {}
                accepted += 1
            } catch ConveyorError.queueFull {
                refused = true
                break
            }
        }
        #expect(refused)
        #expect(accepted > 2 && accepted < 1_000)
        hold.signal()
        await conveyor.shutdown(drain: true)
        #expect(try conveyor.statistics(for: "s").completed == accepted + 1)
    }

    @Test("wait: submit blocks and submitWaitingForRoom suspends until there is room; both give up after the timeout")
    func wait() async throws {
        // 500 ms, not less: the last submit waits for a worker that a loaded CI machine may not
        // schedule for a few hundred milliseconds.
        let conveyor = try Conveyor(groups: [ResourceGroup("w", capacity: 2, overflow: .wait(timeout: .milliseconds(500)))])
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "w").queued) == 0 })
        try conveyor.submit {}
        try conveyor.submit {}
        let timedOut = ConveyorError.queueFull(group: "w", capacity: 2, exhausted: .waitTimeout(.milliseconds(500)))
        let clock = ContinuousClock()
        var start = clock.now
        #expect(throws: timedOut) { try conveyor.submit {} }  // blocks this thread until the timeout
        #expect(start.duration(to: clock.now) >= .milliseconds(500))
        start = clock.now
        await #expect(throws: timedOut) { try await conveyor.submitWaitingForRoom {} }
        #expect(start.duration(to: clock.now) >= .milliseconds(500))
        let released = Task {
            try await Task.sleep(for: .milliseconds(30))
            hold.signal()
        }
        try await conveyor.submitWaitingForRoom {}  // waits until the worker makes room
        try await released.value
        try conveyor.submit {}  // room again soon: the blocking submit succeeds
        await conveyor.shutdown(drain: true)
        #expect(try conveyor.statistics(for: "w").completed == 5)
    }

    @Test("wait: a handler's submit to its own full group refuses at once instead of waiting for itself")
    func waitOnWorkerThread() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("w", capacity: 2, overflow: .wait(timeout: .seconds(30)))])
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "w").queued) == 0 })
        let inner = Mutex<(any Error)?>(nil)
        try conveyor.submit {
            // Runs on the worker once the gate opens, with the ring full again.
            for _ in 0..<3 {
                do { try conveyor.submit {} } catch {
                    inner.withLock { $0 = error }
                    return
                }
            }
        }
        try conveyor.submit {}
        hold.signal()
        #expect(eventually { inner.withLock { $0 != nil } })
        await conveyor.shutdown(drain: true)
        let error = inner.withLock { $0 }
        #expect(error as? ConveyorError == .queueFull(group: "w", capacity: 2, exhausted: .waitOnWorkerThread))
    }
}

@Suite("Engine: stress and shutdown", .serialized)
struct EngineStressTests {
    @Test("Exactly once: 4 submitting threads × 3 groups, typed, bulk and closure tasks, with resizes")
    func exactlyOnce() async throws {
        let total = StressScale.scaled(2_000_000, minimum: 20_000)
        let seen = PerThreadBitmaps(bitCount: total)
        let conveyor = try Conveyor(groups: [
            ResourceGroup("a", minWorkers: 1, maxWorkers: 3, capacity: 1024, overflow: .spill(memoryLimit: 256 << 20)),
            ResourceGroup("b", minWorkers: 1, capacity: 1024, overflow: .spill(memoryLimit: 256 << 20)),
            ResourceGroup("c", minWorkers: 2, capacity: 1024, overflow: .spill(memoryLimit: 256 << 20)),
        ])
        let item = try conveyor.register("item", payload: Item.self) { seen.insert(Int($0.index)) }
        let groups = ["a", "b", "c"]
        let failures = SharedCounter()
        let submitters = 4
        let resizer = Task {
            var workers = 1
            while !Task.isCancelled {
                workers = workers % 3 + 1
                try? await conveyor.resize(group: "a", workers: workers)
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        runOnThreads(submitters) { thread in
            var index = thread
            var bulk: [Item] = []
            while index < total {
                let group = groups[index % 3]
                let task = QueueTask(kind: "item", priority: .init(level: index % 3), group: group)
                do {
                    switch (index / 3) % 3 {
                    case 0:
                        try conveyor.submit(item, Item(index: UInt64(index)), task)
                        index += submitters
                    case 1:
                        let value = index
                        try conveyor.submit(task) { seen.insert(value) }
                        index += submitters
                    default:
                        // A bulk of up to 8 items of the same group: every 3rd index from here.
                        bulk.removeAll(keepingCapacity: true)
                        var next = index
                        while next < total && bulk.count < 8 && groups[next % 3] == group && (next / 3) % 3 == 2 {
                            bulk.append(Item(index: UInt64(next)))
                            next += submitters
                        }
                        if bulk.isEmpty { index += submitters; continue }
                        let accepted = try conveyor.submit(item, contentsOf: bulk, task)
                        if accepted != bulk.count { failures.add(1) }
                        index = next
                    }
                } catch {
                    failures.add(1)
                    index += submitters
                }
            }
        }
        resizer.cancel()
        _ = await resizer.value
        await conveyor.shutdown(drain: true)
        let audit = seen.audit()
        #expect(failures.current == 0)
        #expect(audit.missing == 0)
        #expect(audit.duplicated == 0)
        let completed = conveyor.statistics.reduce(0) { $0 + $1.completed }
        #expect(completed == total)
    }

    @Test("Task records from `.process` (plain malloc): typed, bulk and closure tasks run exactly once")
    func processRecordAllocator() async throws {
        let total = 6_000
        let seen = PerThreadBitmaps(bitCount: total)
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("a", minWorkers: 2, capacity: 256, overflow: .spill(memoryLimit: 16 << 20))],
            recordAllocator: .process))
        #expect(conveyor.configuration.recordAllocator == .process)
        #expect(Conveyor.taskRecordSize >= TaskKind<Item>.inlinePayloadCapacity + MemoryLayout<Item>.size)
        let item = try conveyor.register("item", payload: Item.self) { seen.insert(Int($0.index)) }
        for index in stride(from: 0, to: total, by: 3) {
            try conveyor.submit(item, Item(index: UInt64(index)))
            try conveyor.submit(QueueTask(kind: "closure")) { seen.insert(index + 1) }
        }
        let bulk = stride(from: 2, to: total, by: 3).map { Item(index: UInt64($0)) }
        #expect(try conveyor.submit(item, contentsOf: bulk) == bulk.count)
        await conveyor.shutdown(drain: true)
        let audit = seen.audit()
        #expect(audit.missing == 0)
        #expect(audit.duplicated == 0)
        #expect(conveyor.statistics.reduce(0) { $0 + $1.completed } == total)
    }

    @Test("shutdown(drain: true) under load runs every accepted task; later submits are refused")
    func drainUnderLoad() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("a", minWorkers: 2, overflow: .spill(memoryLimit: 64 << 20))])
        let accepted = SharedCounter()
        let refused = SharedCounter()
        let ran = SharedCounter()
        let started = Atomic<Bool>(false)
        let submitters = Task.detached {
            runOnThreads(4) { _ in
                for _ in 0..<StressScale.scaled(50_000) {
                    started.store(true, ordering: .relaxed)
                    do {
                        try conveyor.submit { ran.add(1) }
                        accepted.add(1)
                    } catch ConveyorError.shutDown {
                        refused.add(1)
                    } catch {
                        Issue.record("unexpected \(error)")
                    }
                }
            }
        }
        while !started.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(1)) }
        try await Task.sleep(for: .milliseconds(20))
        await conveyor.shutdown(drain: true)
        await submitters.value
        #expect(ran.current == accepted.current)
        #expect(accepted.current + refused.current == 4 * StressScale.scaled(50_000))
        #expect(conveyor.notStartedCount == 0)
    }

    @Test("shutdown(drain: false) fails every task not started, losing none")
    func stopWithoutDrain() async throws {
        let failures = SharedCounter()
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("a", overflow: .spill(memoryLimit: 64 << 20))], onFailure: { failure in
                if case ConveyorError.notStarted = failure.error { failures.add(1) }
            }))
        let hold = Gate(value: 0)
        let ran = SharedCounter()
        try conveyor.submit { hold.wait() }
        for _ in 0..<5_000 { try conveyor.submit { ran.add(1) } }
        let awaited = Task { try await conveyor.run { ran.add(1) } }
        try await Task.sleep(for: .milliseconds(20))
        let stopping = Task { await conveyor.shutdown(drain: false) }
        try await Task.sleep(for: .milliseconds(20))
        hold.signal()
        await stopping.value
        await #expect(throws: ConveyorError.notStarted(kind: "task")) { _ = try await awaited.value }
        let notStarted = conveyor.notStartedCount
        #expect(ran.current + notStarted == 5_001)
        #expect(failures.current == notStarted - 1, "every not-started task is reported, the awaited one by its throw")
        #expect(notStarted > 0)
    }

    @Test("Typed tasks allocate nothing per submit in steady state")
    func zeroAllocationsPerTypedTask() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("a", capacity: 1 << 16)])
        let done = SharedCounter()
        let item = try conveyor.register("item", payload: Item.self) { _ in done.add(1) }
        let task = QueueTask(kind: "item")
        func burst(_ count: Int) throws {
            for index in 0..<count { try conveyor.submit(item, Item(index: UInt64(index)), task) }
        }
        // Warm-up: the record pool grows to the most tasks ever in flight. Queue a burst
        // larger than any measured one while the worker is held, so the pool reaches its
        // working set before measuring.
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        try burst(52_000)
        hold.signal()
        var finished = 52_000
        #expect(eventually { done.current == 52_000 })
        let rounds = max(2, StressScale.scaled(1_000_000, minimum: 100_000) / 50_000)
        var allocated = 0
        for _ in 0..<rounds {
            let before = MemoryStatistics.threadAllocatedBytes()
            try burst(50_000)
            let after = MemoryStatistics.threadAllocatedBytes()
            if let before, let after { allocated += after - before }
            finished += 50_000
            let target = finished
            #expect(eventually { done.current == target })
        }
        await conveyor.shutdown(drain: true)
        if jemallocLinked {
            #expect(allocated == 0, "\(allocated) bytes over \(rounds * 50_000) typed submits after warm-up")
        }
        #expect(done.current == finished)
    }
}

@Suite("Engine: service lifecycle")
struct EngineServiceTests {
    @Test("As a Service: graceful shutdown drains every accepted task")
    func gracefulShutdownDrains() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("jobs", minWorkers: 2)])
        let ran = SharedCounter()
        for _ in 0..<1_000 { try conveyor.submit { usleep(10); ran.add(1) } }
        let service = Task { try await conveyor.run() }
        try await Task.sleep(for: .milliseconds(5))
        // What ServiceGroup does on SIGTERM: cancel the run only after a graceful shutdown.
        await conveyor.shutdown(drain: true)
        try await service.value
        #expect(ran.current == 1_000)
        #expect(!conveyor.isAccepting)
    }

    @Test("As a Service: cancellation stops without draining, reporting what did not start")
    func cancellationStops() async throws {
        let reported = SharedCounter()
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("jobs", capacity: 1 << 14)], onFailure: { _ in reported.add(1) }))
        let hold = Gate(value: 0)
        let ran = SharedCounter()
        try conveyor.submit { hold.wait() }
        for _ in 0..<1_000 { try conveyor.submit { ran.add(1) } }
        let service = Task { try await conveyor.run() }
        try await Task.sleep(for: .milliseconds(5))
        service.cancel()
        try await Task.sleep(for: .milliseconds(20))
        hold.signal()
        try await service.value
        await conveyor.waitUntilStopped()
        #expect(ran.current + conveyor.notStartedCount == 1_000)
        #expect(reported.current == conveyor.notStartedCount)
    }
}

@Suite("Engine: routing", .serialized)
struct EngineRoutingTests {
    @Test("Rules on kind and tags route tasks; explicit groups win")
    func rulesRoute() async throws {
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("cpu"), ResourceGroup("io"), ResourceGroup("batch")],
            routes: ["upload": "io"],
            rules: [RoutingRule(when: .tagsContainAny(["nightly"]), to: "batch")]))
        #expect(try await conveyor.run(QueueTask(kind: "upload")) { 0 }.group == "io")
        #expect(try await conveyor.run(QueueTask(kind: "report", tags: ["nightly"])) { 0 }.group == "batch")
        #expect(try await conveyor.run(QueueTask(kind: "other")) { 0 }.group == "cpu")
        #expect(try await conveyor.run(QueueTask(kind: "upload", group: "batch")) { 0 }.group == "batch")
        await conveyor.shutdown()
    }

    @Test("A kind whose service time grows past a threshold is rerouted, after the hysteresis")
    func learnedRerouting() async throws {
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("fast"), ResourceGroup("slow")],
            rules: [RoutingRule(when: .serviceTime(above: .milliseconds(5)), to: "slow")],
            coldStart: .init(minimumSamples: 5),
            hysteresis: .init(margin: 0.2, minimumDwell: .milliseconds(20))))
        let delay = Atomic<Int>(0)  // microseconds per handler
        func once() async throws -> String {
            try await conveyor.run(QueueTask(kind: "parse")) {
                let microseconds = delay.load(ordering: .relaxed)
                if microseconds > 0 { usleep(UInt32(microseconds)) }
            }.group
        }
        // Fast phase: warm up past cold start, stays in "fast".
        for _ in 0..<30 { #expect(try await once() == "fast") }
        // The kind slows to ~15 ms: it must move to "slow" once the EWMA is beyond 6 ms for 20 ms.
        delay.store(15_000, ordering: .relaxed)
        var moved = false
        for _ in 0..<200 where !moved {
            moved = try await once() == "slow"
        }
        #expect(moved, "the slowed kind was rerouted")
        await conveyor.shutdown()
    }
}
