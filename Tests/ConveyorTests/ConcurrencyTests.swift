import Conveyor
import Foundation
import Synchronization
import Testing

/// A seen bitmap any thread may write (async tasks hop threads): duplicates counted.
final class LockedBitmap: @unchecked Sendable {
    // @unchecked: every access holds `lock` (NSLock: ThreadSanitizer sees it).
    private let lock = NSLock()
    private var seen: [UInt8]
    private var duplicates = 0

    init(count: Int) { self.seen = [UInt8](repeating: 0, count: count) }

    func insert(_ index: Int) {
        self.lock.withLock {
            if self.seen[index] != 0 { self.duplicates += 1 }
            self.seen[index] = 1
        }
    }

    func contains(_ index: Int) -> Bool { self.lock.withLock { self.seen[index] != 0 } }
    var duplicated: Int { self.lock.withLock { self.duplicates } }
}

struct Job: BitwiseCopyable, Sendable { var index: Int }

/// Blocks async bodies until opened (suspending, not blocking a thread).
final class SleepGate: Sendable {
    private let open = Atomic<Bool>(false)
    func signal() { self.open.store(true, ordering: .releasing) }
    func wait() async {
        while !self.open.load(ordering: .acquiring) { try? await Task.sleep(nanoseconds: 200_000) }
    }
}

@Suite("Concurrency: run, async handlers and their limits", .serialized)
struct ConcurrencyTests {
    @Test("run returns values and timings, rethrows errors, and its result types are specialized per call")
    func runBasics() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("a", minWorkers: 2, capacity: 1 << 15, priorityLevels: 1)])
        let result = try await conveyor.run(QueueTask(kind: "sum")) { (1...100).reduce(0, +) }
        #expect(result.value == 5050)
        #expect(result.group == "a")
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await conveyor.run { () throws -> Int in throw Boom() } }
        let text = try await conveyor.run { "text" }
        #expect(text.value == "text")
        let count = StressScale.scaled(20_000)
        let sum = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<count { group.addTask { try await conveyor.run { index }.value } }
            return try await group.reduce(0, +)
        }
        #expect(sum == count * (count - 1) / 2)
        await conveyor.shutdown()
        let stats = try conveyor.statistics(for: "a")
        #expect(stats.completed == count + 2)
        #expect(stats.failed == 1)
    }

    @Test("1000 async handlers that Task.sleep in a group of limit 8 never have more than 8 in flight, and never hold a worker")
    func asyncLimitHolds() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("io", capacity: 2048, priorityLevels: 1, asyncLimit: 8)])
        let meter = ConcurrencyMeter()
        let done = SharedCounter()
        // The first 8 handlers stay suspended at the gate until the synchronous task has looked,
        // so exactly 8 are in flight when it runs (a handler between its `leave` and the next
        // one's `enter` would otherwise show 7).
        let gate = SleepGate()
        let sleeper = try conveyor.register("sleep", payload: Job.self) { (job: Job) async throws in
            meter.enter()
            if job.index < 8 { await gate.wait() }
            try await Task.sleep(for: .milliseconds(2))
            meter.leave()
            done.add(1)
        }
        let count = 1000
        #expect(try conveyor.submit(sleeper, contentsOf: (0..<count).map { Job(index: $0) }) == count)
        // The one worker is free while 8 handlers are suspended: a synchronous task runs meanwhile.
        #expect(eventually { meter.current == 8 })
        let during = try await conveyor.run { meter.current }.value
        gate.signal()
        #expect(during == 8, "the synchronous task ran while \(during) async handlers were in flight")
        #expect(done.current < count, "the synchronous task waited for the async ones")
        #expect(eventually(timeout: .seconds(30)) { done.current == count })
        #expect(meter.maximum == 8)
        let stats = try conveyor.statistics(for: "io")
        #expect(stats.asyncPeakInFlight == 8)
        #expect(eventually { (try? conveyor.statistics(for: "io").completed) == count + 1 })
        await conveyor.shutdown()
    }

    @Test("Exactly once across sync and async handlers, awaited and not, with awaiting tasks cancelled in the middle")
    func exactlyOnceWithCancellation() async throws {
        let conveyor = try Conveyor(groups: [
            ResourceGroup("mixed", minWorkers: 2, capacity: 1 << 14, priorityLevels: 2, asyncLimit: 16)
        ])
        let count = StressScale.scaled(8_000, minimum: 2_000)
        let seen = LockedBitmap(count: count)
        let syncKind = try conveyor.register("sync", payload: Job.self) { seen.insert($0.index) }
        let asyncKind = try conveyor.register("async", payload: Job.self) { (job: Job) async in
            await Task.yield()
            seen.insert(job.index)
        }
        // index % 4: 0 typed sync, 1 typed async, 2 awaited sync closure, 3 awaited async body.
        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group -> [(Int, Bool)] in
            var awaiting: [Int: Task<Bool, Never>] = [:]
            for index in 0..<count {
                switch index % 4 {
                case 0: try conveyor.submit(syncKind, Job(index: index))
                case 1: try conveyor.submit(asyncKind, Job(index: index))
                default:
                    let task = Task { () -> Bool in
                        do {
                            if index % 4 == 2 {
                                _ = try await conveyor.run { seen.insert(index) }
                            } else {
                                _ = try await conveyor.run { () async in
                                    await Task.yield()
                                    seen.insert(index)
                                }
                            }
                            return true
                        } catch {
                            return false
                        }
                    }
                    awaiting[index] = task
                }
                // Cancel every third awaiting task queued so far, while the rest still run.
                if index % 512 == 511 {
                    for (key, task) in awaiting where key % 3 == 0 { task.cancel() }
                }
            }
            for (key, task) in awaiting { group.addTask { (key, await task.value) } }
            var all: [(Int, Bool)] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        await conveyor.shutdown(drain: true)
        #expect(seen.duplicated == 0)
        var cancelled = 0
        for (index, returned) in outcomes {
            // A run that returned ran exactly once; one that threw never ran.
            #expect(seen.contains(index) == returned, "task \(index): returned \(returned), ran \(seen.contains(index))")
            if !returned { cancelled += 1 }
        }
        for index in stride(from: 0, to: count, by: 4) { #expect(seen.contains(index) && seen.contains(index + 1)) }
        let stats = try conveyor.statistics(for: "mixed")
        #expect(stats.completed + stats.cancelled == count)
        #expect(stats.cancelled == cancelled)
        #expect(stats.asyncPeakInFlight <= 16)
    }

    @Test("A parked async task still honours its start deadline and its ticket; a thrown error is reported")
    func parkedDeadlineAndCancel() async throws {
        let failures = SharedCounter()
        let conveyor = try Conveyor(
            configuration: .init(
                groups: [ResourceGroup("one", capacity: 64, priorityLevels: 1, asyncLimit: 1)],
                onFailure: { _ in failures.add(1) }))
        let gate = SleepGate()
        struct Boom: Error {}
        let blocker = try conveyor.register("block", payload: Job.self) { (job: Job) async throws in
            await gate.wait()
            if job.index == 1 { throw Boom() }
        }
        try conveyor.submit(blocker, Job(index: 0))
        #expect(eventually { (try? conveyor.statistics(for: "one").asyncInFlight) == 1 })
        let ticket = try conveyor.submit(blocker, Job(index: 2))
        try conveyor.submit(blocker, Job(index: 1))
        await #expect(throws: ConveyorError.self) {
            try await conveyor.run(QueueTask(deadline: .milliseconds(20))) { () async in 1 }
        }
        #expect(conveyor.cancel(ticket), "a parked task is still queued: its ticket cancels it")
        gate.signal()
        await conveyor.shutdown(drain: true)
        let stats = try conveyor.statistics(for: "one")
        #expect(stats.completed == 1)
        #expect(stats.failed == 1)
        #expect(stats.cancelled == 1)
        #expect(stats.expired == 1)
        #expect(failures.current == 1)
    }

    @Test("Shutdown under load: draining runs every async task; stopping fails the waiting ones as not started, losing none")
    func shutdownUnderLoad() async throws {
        for drain in [true, false] {
            let conveyor = try Conveyor(groups: [ResourceGroup("io", capacity: 4096, priorityLevels: 1, asyncLimit: 4)])
            let ran = SharedCounter()
            let kind = try conveyor.register("sleep", payload: Job.self) { (_: Job) async in
                try? await Task.sleep(for: .milliseconds(1))
                ran.add(1)
            }
            let count = 2000
            #expect(try conveyor.submit(kind, contentsOf: (0..<count).map { Job(index: $0) }) == count)
            let awaited = Task { () -> Bool in
                do {
                    _ = try await conveyor.run { () async in 0 }
                    return true
                } catch {
                    return false
                }
            }
            try await Task.sleep(for: .milliseconds(5))
            await conveyor.shutdown(drain: drain)
            let awaitedRan = await awaited.value
            let stats = try conveyor.statistics(for: "io")
            #expect(stats.asyncInFlight == 0)
            if drain {
                #expect(ran.current == count)
                #expect(awaitedRan)
                #expect(stats.completed == count + 1)
            } else {
                #expect(ran.current + conveyor.notStartedCount == count + (awaitedRan ? 0 : 1))
                #expect(ran.current < count, "stopping ran everything: the test did not stop under load")
                #expect(stats.completed == ran.current + (awaitedRan ? 1 : 0))
            }
        }
    }
}
