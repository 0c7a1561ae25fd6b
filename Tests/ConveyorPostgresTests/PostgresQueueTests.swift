import Conveyor
import ConveyorPostgres
import Foundation
import PostgresNIO
import Synchronization
import Testing

struct Numbers: Codable, Sendable, Equatable {
    var values: [Int]
}

/// Appends to a shared list from handlers.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func append(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
}

/// A flag handlers read (an Atomic cannot be captured by an escaping closure).
final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}

@Suite("Postgres queue in one process", .serialized)
struct PostgresQueueTests {
    @Test func runReturnsTheHandlersOutputAndTimes() async throws {
        try await TestServer.withDatabase { url async throws in
            let queue = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("cpu", workers: 2)]))
            let sum = try queue.register("sum", payload: Numbers.self, output: Int.self) { numbers, job in
                #expect(job.attempt == 1 && job.kind == "sum" && job.group == "cpu")
                return numbers.values.reduce(0, +)
            }
            try await queue.start()
            let result = try await queue.run(sum, Numbers(values: [1, 2, 3, 4]))
            #expect(result.value == 10)
            #expect(result.attempt == 1)
            #expect(result.queueWait >= .zero && result.queueWait < .seconds(5))
            let info = try #require(try await queue.job(id: result.id))
            #expect(info.state == .completed && info.result == "10" && info.worker == queue.workerName)
            await queue.shutdown()
            await #expect(throws: DurableQueueError.shutDown) { try await queue.submit(sum, Numbers(values: [])) }
        }
    }

    @Test func higherPrioritiesRunFirst() async throws {
        try await TestServer.withDatabase { url async throws in
            let queue = try await PostgresQueue.connect(
                url: url, configuration: fastConfiguration([DurableGroup("one", workers: 1, batchSize: 1)]))
            let order = Recorder<Int>()
            let kind = try queue.register("p", payload: Int.self) { value, _ in order.append(value) }
            // Submitted before start, lowest first: the fetch orders by priority, then run_at, id.
            try await queue.submit(kind, 2, QueueTask(priority: .low))
            try await queue.submit(kind, 1, QueueTask(priority: .normal))
            try await queue.submit(kind, 0, QueueTask(priority: .high))
            try await queue.submit(kind, 3, QueueTask(priority: .init(level: 7)))
            try await queue.start()
            await queue.shutdown(drain: true)
            #expect(order.all == [0, 1, 2, 3])
        }
    }

    @Test func aSubmitInARolledBackTransactionNeverRuns() async throws {
        try await TestServer.withDatabase { url async throws in
            let queue = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("g", workers: 2)]))
            let ran = Recorder<String>()
            let kind = try queue.register("tx", payload: String.self) { text, _ in ran.append(text) }
            try await queue.start()
            struct Rollback: Error {}
            try await TestServer.sql(url) { connection in
                do {
                    try await connection.withTransaction(logger: TestServer.logger) { connection in
                        try await queue.submit(kind, "rolled back", on: connection)
                        throw Rollback()
                    }
                } catch {}
                _ = try await connection.withTransaction(logger: TestServer.logger) { connection in
                    try await queue.submit(kind, "committed", on: connection)
                }
            }
            try await TestServer.eventually(.seconds(10), "the committed job ran") { ran.all.contains("committed") }
            await queue.shutdown(drain: true)
            #expect(ran.all == ["committed"])
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs") == 1)
        }
    }

    @Test func failuresRetryWithBackoffThenDiscardAndCanBeRetriedByHand() async throws {
        try await TestServer.withDatabase { url async throws in
            let base = Duration.milliseconds(150)
            let queue = try await PostgresQueue.connect(
                url: url,
                configuration: fastConfiguration(
                    [DurableGroup("g", workers: 2)], retry: RetryPolicy(maxAttempts: 3, base: base, factor: 2, jitter: 0)))
            let fixed = Flag()
            let starts = Recorder<(Int64, Int, ContinuousClock.Instant)>()
            let kind = try queue.register("flaky", payload: Int.self, output: Int.self) { value, job in
                starts.append((job.id, job.attempt, ContinuousClock.now))
                if fixed.value.load(ordering: .relaxed) { return value * 2 }
                struct Flaky: Error, CustomStringConvertible { var description: String { "flaky failure" } }
                throw Flaky()
            }
            try await queue.start()
            do {
                _ = try await queue.run(kind, 21)
                Issue.record("a job that always fails completed")
            } catch let error as DurableQueueError {
                guard case .discarded(let id, _, let errors) = error else {
                    Issue.record("expected discarded, got \(error)")
                    return
                }
                #expect(errors.count == 3)
                #expect(errors.allSatisfy { $0.contains("flaky failure") })
                #expect(errors.last?.contains("attempts used up") == true)
                let times = starts.all.filter { $0.0 == id }.map(\.2)
                #expect(starts.all.map(\.1) == [1, 2, 3])
                // Backoff on the server's clock: at least base after attempt 1, 2 × base after 2.
                #expect(times[1] - times[0] >= base * 0.9)
                #expect(times[2] - times[1] >= base * 1.8)
                let discarded = try await queue.jobs(in: .discarded)
                #expect(discarded.map(\.id) == [id])
                // Fixed: a retry by hand gets one more attempt and completes.
                fixed.value.store(true, ordering: .relaxed)
                #expect(try await queue.retry(id: id))
                try await TestServer.eventually(.seconds(10), "the retried job completed") {
                    try await queue.job(id: id)?.state == .completed
                }
                let info = try #require(try await queue.job(id: id))
                #expect(info.attempt == 4 && info.result == "42" && info.errors.count == 3)
            }
            await queue.shutdown()
        }
    }

    @Test func anUndecodablePayloadIsDiscardedWithTheErrorRecorded() async throws {
        try await TestServer.withDatabase { url async throws in
            let queue = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("g", workers: 2)]))
            let ran = Recorder<Int>()
            let kind = try queue.register("typed", payload: Numbers.self, output: Int.self) { numbers, _ in
                ran.append(numbers.values.count)
                return numbers.values.count
            }
            // Rows written by another version of the program, or by hand.
            _ = try await TestServer.scalar(
                url, "INSERT INTO conveyor_jobs (kind, grp, payload) VALUES ('typed', 'g', 'not json'), ('typed', 'g', '{\"values\": \"x\"}') RETURNING 0::bigint")
            try await queue.start()
            let good = try await queue.run(kind, Numbers(values: [5, 6]))
            #expect(good.value == 2)
            try await TestServer.eventually(.seconds(10), "both bad rows discarded") {
                try await queue.jobs(in: .discarded).count == 2
            }
            for job in try await queue.jobs(in: .discarded) {
                #expect(job.attempt == 1)  // not retried: it would never decode
                #expect(job.errors.count == 1 && job.errors[0].contains("did not decode"))
            }
            #expect(ran.all == [2])
            await queue.shutdown()
        }
    }

    @Test func scheduledDelayedAndUniqueJobs() async throws {
        try await TestServer.withDatabase { url async throws in
            let queue = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("g", workers: 4)]))
            let started = Recorder<(String, ContinuousClock.Instant)>()
            let kind = try queue.register("at", payload: String.self) { name, _ in started.append((name, .now)) }
            try await queue.start()
            let submitted = ContinuousClock.now
            try await queue.submit(kind, "delayed", options: JobOptions(delay: .milliseconds(400)))
            try await queue.submit(kind, "scheduled", options: JobOptions(runAt: Date().addingTimeInterval(0.6)))
            try await queue.submit(kind, "now")
            let first = try await queue.submit(kind, "unique", options: JobOptions(unique: .init(key: "k", period: .seconds(3_600))))
            let second = try await queue.submit(kind, "unique again", options: JobOptions(unique: .init(key: "k", period: .seconds(3_600))))
            let other = try await queue.submit(kind, "other key", options: JobOptions(unique: .init(key: "k2", period: .seconds(3_600))))
            #expect(!first.isDuplicate && second.isDuplicate && second.id == first.id && !other.isDuplicate)
            try await TestServer.eventually(.seconds(10), "all five ran") { started.all.count == 5 }
            let at = Dictionary(started.all.map { ($0.0, $0.1 - submitted) }, uniquingKeysWith: { a, _ in a })
            #expect(at["now"]! < .milliseconds(400))
            #expect(at["delayed"]! >= .milliseconds(380))
            #expect(at["scheduled"]! >= .milliseconds(550))
            #expect(at["unique again"] == nil)
            await queue.shutdown()
        }
    }

    @Test func cancelBeforeStartAndDeadlines() async throws {
        try await TestServer.withDatabase { url async throws in
            // This process only submits to "idle": nobody works it, so jobs wait.
            let queue = try await PostgresQueue.connect(
                url: url, configuration: fastConfiguration([DurableGroup("busy", workers: 1), DurableGroup("idle", workers: 0)]))
            let ran = Recorder<Int>()
            let kind = try queue.register("c", payload: Int.self, group: "idle") { value, _ in ran.append(value) }
            try await queue.start()
            let ticket = try await queue.submit(kind, 1)
            #expect(try await queue.cancel(ticket))
            #expect(try await queue.cancel(ticket) == false)
            #expect(try await queue.job(id: ticket.id)?.state == .cancelled)
            let clock = ContinuousClock()
            let before = clock.now
            do {
                _ = try await queue.run(kind, 2, QueueTask(deadline: .milliseconds(200)))
                Issue.record("a job nobody runs met its deadline")
            } catch let error as DurableQueueError {
                guard case .deadlineExceeded(let id, _) = error else {
                    Issue.record("expected deadlineExceeded, got \(error)")
                    return
                }
                #expect(clock.now - before >= .milliseconds(190))
                #expect(clock.now - before < .seconds(3))
                #expect(try await queue.job(id: id)?.state == .discarded)
            }
            // A task that is cancelled while waiting in run cancels the job.
            let waiting = Task { try await queue.run(kind, 3) }
            try await Task.sleep(for: .milliseconds(100))
            waiting.cancel()
            let outcome = await waiting.result
            guard case .failure(let error as DurableQueueError) = outcome, case .cancelled = error else {
                Issue.record("expected cancelled, got \(outcome)")
                return
            }
            #expect(try await queue.jobs(in: .cancelled).count == 2)
            #expect(ran.all.isEmpty)
            await #expect(throws: DurableQueueError.invalidConfiguration(reason: "a negative deadline; use .zero for \"start now or fail\"")) {
                try await queue.submit(kind, 4, QueueTask(deadline: .milliseconds(-1)))
            }
            await #expect(throws: DurableQueueError.unknownGroup(name: "nope")) { try await queue.submit(kind, 4, QueueTask(group: "nope")) }
            await queue.shutdown()
        }
    }

    @Test func drainRunsEverythingStopLeavesTheRest() async throws {
        try await TestServer.withDatabase { url async throws in
            let count = TestServer.scaled(300)
            let queue = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("g", workers: 8, batchSize: 50)]))
            let kind = try queue.register("d", payload: Int.self) { _, _ in }
            #expect(try await queue.submit(kind, contentsOf: Array(0..<count)) == count)
            try await queue.start()
            await queue.shutdown(drain: true)
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'completed'") == count)

            let second = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("g", workers: 1, batchSize: 1)]))
            let slow = try second.register("d", payload: Int.self) { _, _ in try await Task.sleep(for: .milliseconds(20)) }
            try await second.submit(slow, contentsOf: Array(0..<50))
            try await second.start()
            try await Task.sleep(for: .milliseconds(100))
            await second.shutdown(drain: false)
            let left = try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'available'")
            #expect(left > 0 && left < 50)
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'running'") == 0)
        }
    }

    @Test func aJobWhoseWorkerStoppedHeartbeatingIsRescuedAndRetried() async throws {
        try await TestServer.withDatabase { url async throws in
            // A row as a crashed worker leaves it: running, attempt 1, heartbeat long ago.
            try await Schema.migrate(url: url)
            let id = try await TestServer.scalar(
                url,
                """
                INSERT INTO conveyor_jobs (kind, grp, payload, state, attempt, started_at, heartbeat_at, worker)
                VALUES ('r', 'g', '7', 'running', 1, now() - interval '1 hour', now() - interval '1 hour', 'dead-worker') RETURNING id
                """)
            let queue = try await PostgresQueue.connect(
                url: url, configuration: fastConfiguration([DurableGroup("g", workers: 2)], rescueAfter: .milliseconds(500)))
            let ran = Recorder<Int>()
            _ = try queue.register("r", payload: Int.self) { value, job in
                #expect(job.attempt == 2)
                ran.append(value)
            }
            let long = try queue.register("long", payload: Int.self, output: Int.self) { value, _ in
                try await Task.sleep(for: .milliseconds(1_200))
                return value
            }
            try await queue.start()
            try await TestServer.eventually(.seconds(10), "the rescued job completed") {
                try await queue.job(id: Int64(id))?.state == .completed
            }
            #expect(queue.isLeader)
            let info = try #require(try await queue.job(id: Int64(id)))
            #expect(info.attempt == 2 && info.errors.count == 1 && info.errors[0].contains("rescued"))
            #expect(ran.all == [7])
            // A job that keeps heartbeating is not rescued although it runs past rescueAfter.
            let result = try await queue.run(long, 8)
            #expect(result.value == 8 && result.attempt == 1)
            #expect(try await queue.job(id: result.id)?.errors == [])
            await queue.shutdown()
        }
    }

    /// `keepCompleted: false`: completed jobs' rows are deleted by the completion statement,
    /// except the one a `run` caller awaits (it gets its result); retried and discarded jobs
    /// keep theirs, and every job still runs once.
    @Test func completedJobsAreDeletedWhenNotKept() async throws {
        try await TestServer.withDatabase { url async throws in
            var configuration = fastConfiguration(
                [DurableGroup("g", workers: 4, batchSize: 8)], retry: RetryPolicy(maxAttempts: 2, base: .milliseconds(20), jitter: 0))
            configuration.keepCompleted = false
            let queue = try await PostgresQueue.connect(url: url, configuration: configuration)
            let ran = Recorder<Int>()
            let plain = try queue.register("plain", payload: Int.self, group: "g") { n, _ in ran.append(n) }
            let sum = try queue.register("sum", payload: Numbers.self, output: Int.self, group: "g") { numbers, _ in numbers.values.reduce(0, +) }
            struct Always: Error, CustomStringConvertible { var description: String { "always fails" } }
            let failing = try queue.register("failing", payload: Int.self, group: "g") { _, _ in throw Always() }
            let count = TestServer.scaled(40)
            try await queue.submit(plain, contentsOf: Array(0..<count))
            let bad = try await queue.submit(failing, 0)
            try await queue.start()
            let result = try await queue.run(sum, Numbers(values: [2, 3]))
            #expect(result.value == 5)
            try await TestServer.eventually(.seconds(20), "every plain job ran and the failing one was discarded") {
                guard ran.all.count >= count else { return false }
                return try await queue.job(id: bad.id)?.state == .discarded
            }
            // Inspected before shutdown: a queue that is shut down refuses inspection too.
            #expect(try await queue.job(id: result.id)?.state == .completed)
            #expect(try await queue.job(id: result.id)?.result == "5")
            #expect(try await queue.job(id: bad.id)?.errors.count == 2)
            await queue.shutdown(drain: true)
            #expect(ran.all.sorted() == Array(0..<count))
            #expect(queue.processStatistics.completed == count + 1 && queue.processStatistics.stale == 0)
            #expect(try await TestServer.scalar(url, "SELECT count(*)::bigint FROM conveyor_jobs WHERE kind = 'plain'") == 0)
            #expect(try await TestServer.scalar(url, "SELECT count(*)::bigint FROM conveyor_jobs") == 2)
        }
    }
}
