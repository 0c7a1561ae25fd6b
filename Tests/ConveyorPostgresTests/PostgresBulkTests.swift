import Conveyor
import ConveyorPostgres
import Foundation
import PostgresNIO
import Testing

/// A payload with the bytes the COPY text format must escape (backslash, tab, newline,
/// carriage return) and some it must pass through (quotes, UTF-8, commas, `\N`).
struct Awkward: Codable, Sendable, Hashable {
    var n: Int
    var text: String
}

@Suite("Postgres bulk submit (COPY)", .serialized)
struct PostgresBulkTests {
    static let awkwardTexts = [
        "plain", "tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N", "\\.", "quote\"s and 'single'",
        "comma, semicolon; pipe|", "ünïcødé ✓ 🚀", "", "/slash/", "trailing backslash \\",
    ]

    @Test func bulkRoundTripsEveryByteAndRunsEveryJobOnce() async throws {
        try await TestServer.withDatabase { url async throws in
            let count = TestServer.scaled(2_000)
            let queue = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("g", workers: 8, batchSize: 64)]))
            let seen = Recorder<Awkward>()
            // A kind name with bytes that need escaping too.
            let kind = try queue.register("bulk\tkind\\x", payload: Awkward.self) { value, _ in seen.append(value) }
            let payloads = (0..<count).map { Awkward(n: $0, text: Self.awkwardTexts[$0 % Self.awkwardTexts.count]) }
            #expect(try await queue.submit(kind, contentsOf: payloads, QueueTask(priority: .high), options: JobOptions(maxAttempts: 7)) == count)
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE kind = E'bulk\\tkind\\\\x' AND grp = 'g' AND max_attempts = 7 AND priority = \(QueueTask.Priority.high.level) AND deadline IS NULL AND state = 'available'") == count)
            try await queue.start()
            await queue.shutdown(drain: true)
            let all = seen.all
            #expect(all.count == count)
            #expect(Set(all) == Set(payloads))
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'completed' AND attempt = 1") == count)
        }
    }

    @Test func bulkKeepsDelaysDeadlinesAndRunAtOnTheServerClock() async throws {
        try await TestServer.withDatabase { url async throws in
            let queue = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("g", workers: 0)]))
            let kind = try queue.kind("later", payload: Int.self, group: "g")
            try await queue.submit(kind, contentsOf: Array(0..<10), QueueTask(deadline: .seconds(7_200)), options: JobOptions(delay: .seconds(3_600)))
            // run_at = now() + 1 h and deadline = now() + 2 h, as the server computes them.
            #expect(try await TestServer.scalar(url, """
                SELECT count(*) FROM conveyor_jobs WHERE abs(extract(epoch FROM run_at - now()) - 3600) < 60
                  AND abs(extract(epoch FROM deadline - now()) - 7200) < 60
                """) == 10)
            #expect(try await TestServer.scalar(url, "SELECT count(DISTINCT (run_at, deadline)) FROM conveyor_jobs") == 1)
            let at = Date(timeIntervalSince1970: 2_000_000_000)
            try await queue.submit(kind, contentsOf: [1, 2], options: JobOptions(runAt: at))
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE run_at = to_timestamp(2000000000)") == 2)
            await #expect(throws: DurableQueueError.invalidConfiguration(reason: "a bulk submit cannot be unique: submit unique jobs one at a time")) {
                try await queue.submit(kind, contentsOf: [1], options: JobOptions(unique: .init(key: "k", period: .seconds(60))))
            }
            #expect(try await queue.submit(kind, contentsOf: [Int]()) == 0)
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs") == 12)
            await queue.shutdown()
        }
    }

    @Test func aBulkSubmitIsAllOrNothing() async throws {
        try await TestServer.withDatabase { url async throws in
            let queue = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("g", workers: 0)]))
            let kind = try queue.kind("d", payload: Double.self, group: "g")
            // JSONEncoder refuses NaN: the 500th payload fails after 499 rows were streamed.
            var values = (0..<1_000).map(Double.init)
            values[499] = .nan
            let error = await #expect(throws: DurableQueueError.self) { try await queue.submit(kind, contentsOf: values) }
            guard case .encodingFailed(let name, _) = error else {
                Issue.record("expected encodingFailed, got \(String(describing: error))")
                return
            }
            #expect(name == "d")
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs") == 0)
            // The queue's connection pool still works after the failed COPY.
            values[499] = 0.5
            #expect(try await queue.submit(kind, contentsOf: values) == 1_000)
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs") == 1_000)
            await queue.shutdown()
        }
    }

    @Test func aBulkSubmitInTheCallersTransactionExistsOnlyIfItCommits() async throws {
        try await TestServer.withDatabase { url async throws in
            let queue = try await PostgresQueue.connect(url: url, configuration: fastConfiguration([DurableGroup("g", workers: 4)]))
            let ran = Recorder<String>()
            let kind = try queue.register("tx", payload: String.self) { text, _ in ran.append(text) }
            try await queue.start()
            struct Rollback: Error {}
            try await TestServer.sql(url) { connection in
                do {
                    try await connection.withTransaction(logger: TestServer.logger) { connection in
                        try await queue.submit(kind, contentsOf: ["rolled back 1", "rolled back 2"], on: connection)
                        throw Rollback()
                    }
                } catch {}
                _ = try await connection.withTransaction(logger: TestServer.logger) { connection in
                    try await queue.submit(kind, contentsOf: ["committed 1", "committed 2", "committed 3"], on: connection)
                }
                // Outside a transaction the COPY commits on its own.
                try await queue.submit(kind, contentsOf: ["autocommit"], on: connection)
            }
            try await TestServer.eventually(.seconds(10), "the committed jobs ran") { ran.all.count == 4 }
            await queue.shutdown(drain: true)
            #expect(Set(ran.all) == ["committed 1", "committed 2", "committed 3", "autocommit"])
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs") == 4)
        }
    }
}
