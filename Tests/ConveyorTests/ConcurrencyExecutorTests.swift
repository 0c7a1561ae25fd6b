import Conveyor
import Foundation
import Testing

/// The calling OS thread (a synchronous helper: thread identity is not for async code).
func currentThread() -> UInt { UInt(pthread_self()) }

/// The OS threads of a group's `workers` workers: as many synchronous tasks as workers, each
/// holding its worker until all have started, so each one reports a different worker.
func workerThreads(of conveyor: Conveyor, group: String, workers: Int) async throws -> Set<UInt> {
    let started = SharedCounter()
    let threads = try await withThrowingTaskGroup(of: UInt.self) { tasks in
        for _ in 0..<workers {
            tasks.addTask {
                try await conveyor.run(QueueTask(group: group)) { () -> UInt in
                    started.add(1)
                    _ = eventually { started.current == workers }
                    return currentThread()
                }.value
            }
        }
        return try await tasks.reduce(into: Set<UInt>()) { $0.insert($1) }
    }
    #expect(threads.count == workers)
    return threads
}

@Suite("Concurrency: a TaskExecutor backed by a group", .serialized)
struct ConcurrencyExecutorTests {
    @Test("Executor preference runs the task on the group's worker threads, and its jobs count in the group's statistics")
    func preferenceRunsOnWorkers() async throws {
        let conveyor = try Conveyor(groups: [
            ResourceGroup("cpu", minWorkers: 2, priorityLevels: 1),
            ResourceGroup("io", priorityLevels: 1),
        ])
        let io = try conveyor.executor(for: "io")
        #expect(try conveyor.executor(for: "io") === io, "one executor per group while it is held")
        #expect(throws: ConveyorError.self) { try conveyor.executor(for: "nope") }
        let ioThreads = try await workerThreads(of: conveyor, group: "io", workers: 1)
        let cpuThreads = try await workerThreads(of: conveyor, group: "cpu", workers: 2)
        #expect(!ioThreads.contains(currentThread()))
        let threads = await withTaskExecutorPreference(io) { () async -> [UInt] in
            var threads = [currentThread()]
            for _ in 0..<10 {
                await Task.yield()  // every resumption comes back to an io worker
                threads.append(currentThread())
            }
            try? await Task.sleep(for: .milliseconds(1))
            threads.append(currentThread())
            return threads
        }
        for thread in threads { #expect(ioThreads.contains(thread), "ran on thread \(thread), not io's worker") }
        let detached = await Task(executorPreference: try conveyor.executor(for: "cpu")) { currentThread() }.value
        #expect(cpuThreads.contains(detached))
        let stats = try conveyor.statistics(for: "io")
        #expect(stats.executorJobs >= 12)
        #expect(stats.completed == 1, "jobs are not counted as tasks (1: the worker probe)")
        #expect(eventually { ((try? conveyor.statistics(for: "cpu").executorJobs) ?? 0) >= 1 })
        await conveyor.shutdown()
    }

    @Test("Async handlers that prefer the group's executor run on its workers; after shutdown the executor falls back to the global one")
    func handlersOnExecutorAndShutdown() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("io", minWorkers: 2, capacity: 1024, priorityLevels: 1, asyncLimit: 32)])
        let io = try conveyor.executor(for: "io")
        let ioThreads = try await workerThreads(of: conveyor, group: "io", workers: 2)
        let wrong = SharedCounter()
        let ran = SharedCounter()
        let kind = try conveyor.register("pinned", payload: Job.self) { (_: Job) async in
            await withTaskExecutorPreference(io) {
                await Task.yield()
                if !ioThreads.contains(currentThread()) { wrong.add(1) }
                ran.add(1)
            }
        }
        let count = 500
        #expect(try conveyor.submit(kind, contentsOf: (0..<count).map { Job(index: $0) }) == count)
        await conveyor.shutdown(drain: true)
        #expect(ran.current == count)
        #expect(wrong.current == 0)
        // The engine stopped: a task preferring its executor still runs (globally).
        let after = await Task(executorPreference: io) { currentThread() }.value
        #expect(!ioThreads.contains(after))
    }
}
