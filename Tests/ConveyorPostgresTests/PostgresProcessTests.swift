import Conveyor
import ConveyorPostgres
import Foundation
import PostgresNIO
import Testing

/// The payload of `conveyor pg work`'s built-in `pg.audit` kind.
struct AuditJob: Codable, Sendable {
    var n: Int
    var sleepMilliseconds: Int
}

/// Several `conveyor pg work` processes on one database.
@Suite("Postgres across worker processes", .serialized)
struct PostgresProcessTests {
    static func submitter(_ url: String, group: String) async throws -> (PostgresQueue, DurableKind<AuditJob, NoOutput>) {
        let queue = try await PostgresQueue.connect(url: url, configuration: .init(groups: [DurableGroup(group, workers: 0)]))
        return (queue, try queue.kind("pg.audit", payload: AuditJob.self, group: group))
    }

    static func seenCounts(_ url: String) async throws -> (jobs: Int, once: Int, min: Int, max: Int) {
        try await TestServer.sql(url) { connection in
            let rows = try await connection.query(
                """
                SELECT count(*)::bigint, count(*) FILTER (WHERE seen = 1)::bigint, coalesce(min(seen), 0)::bigint, coalesce(max(seen), 0)::bigint
                FROM (SELECT n, count(*) AS seen FROM conveyor_audit_seen GROUP BY n) s
                """, logger: TestServer.logger)
            for try await (jobs, once, low, high) in rows.decode((Int64, Int64, Int64, Int64).self) {
                return (Int(jobs), Int(once), Int(low), Int(high))
            }
            throw TestFailure("no seen counts")
        }
    }

    @Test func threeProcessesCompleteEveryJobExactlyOnce() async throws {
        try await TestServer.withDatabase { url async throws in
            let count = TestServer.scaled(3_000)
            let (queue, audit) = try await Self.submitter(url, group: "audit")
            #expect(try await queue.submit(audit, contentsOf: (0..<count).map { AuditJob(n: $0, sleepMilliseconds: 0) }) == count)
            let workers = try (0..<3).map { _ in
                try ConveyorBinary.work(url, ["--group", "audit", "--workers", "16", "--batch", "32", "--until-empty", "--poll-ms", "100"])
            }
            var outputs: [String] = []
            for (process, pipe) in workers {
                outputs.append(try await ConveyorBinary.finish(process, pipe))
                #expect(process.terminationStatus == 0, "\(outputs.last ?? "")")
            }
            let seen = try await Self.seenCounts(url)
            #expect(seen.jobs == count && seen.once == count && seen.max == 1)
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'completed' AND attempt = 1") == count)
            // Every process took part (3 000 jobs in batches of 32 cannot all go to one).
            #expect(try await TestServer.scalar(url, "SELECT count(DISTINCT worker) FROM conveyor_jobs") == 3, "\(outputs)")
            // One leader at a time: at most one process held the lock (the rest never did).
            #expect(outputs.filter { $0.contains(#""leader":true"#) }.count >= 1)
            await queue.shutdown()
        }
    }

    @Test func aKilledProcessesJobsAreRescuedAndCompletedOnce() async throws {
        try await TestServer.withDatabase { url async throws in
            let count = TestServer.scaled(600)
            let (queue, audit) = try await Self.submitter(url, group: "audit")
            try await queue.submit(audit, contentsOf: (0..<count).map { AuditJob(n: $0, sleepMilliseconds: 10) })
            // Rescue after 25 missed heartbeats: at 800 ms a loaded machine (load ~45) let live
            // workers' heartbeats lapse, and their jobs were rescued too (at-least-once holds,
            // but the count of rescued jobs no longer names the victim's).
            let arguments = [
                "--group", "audit", "--workers", "8", "--batch", "8", "--until-empty", "--poll-ms", "100",
                "--heartbeat-ms", "100", "--rescue-after-ms", "2500", "--maintenance-ms", "100",
            ]
            // The victim works alone until it has finished some jobs and holds others; it is
            // killed at once, with jobs still available, and the survivors start after it died:
            // they find its jobs running with a stale heartbeat, and one of them rescues them.
            let victim = try ConveyorBinary.work(url, arguments)
            try await TestServer.eventually(.seconds(30), "the victim runs jobs") {
                let running = try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'running'")
                let completed = try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'completed'")
                return running >= 4 && completed >= 16
            }
            kill(victim.0.processIdentifier, SIGKILL)
            victim.0.waitUntilExit()
            #expect(victim.0.terminationReason == .uncaughtSignal)
            let orphaned = try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'running'")
            #expect(orphaned >= 1)
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'available'") >= 1)
            let survivors = try (0..<2).map { _ in try ConveyorBinary.work(url, arguments) }
            for (process, pipe) in survivors {
                let output = try await ConveyorBinary.finish(process, pipe, timeout: .seconds(90))
                #expect(process.terminationStatus == 0, "\(output)")
            }
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'completed'") == count)
            let rescued = try await TestServer.scalar(
                url, "SELECT count(*) FROM conveyor_jobs WHERE attempt >= 2 AND errors[1] LIKE '%rescued%'")
            // Its running jobs were rescued (a statement it sent just before dying may still have
            // committed some completions after we counted, hence ≤).
            #expect(rescued >= 1 && rescued <= orphaned, "rescued \(rescued) of \(orphaned) orphaned jobs")
            let seen = try await Self.seenCounts(url)
            #expect(seen.jobs == count && seen.min == 1)
            // Runs beyond one are exactly the rescued attempts that had started (at-least-once).
            #expect(seen.once >= count - rescued && seen.max <= 2)
            await queue.shutdown()
        }
    }

    @Test func aGlobalLimitHoldsAcrossProcesses() async throws {
        try await TestServer.withDatabase { url async throws in
            let limit = 3
            let count = TestServer.scaled(120)
            let (queue, audit) = try await Self.submitter(url, group: "limited")
            try await queue.submit(audit, contentsOf: (0..<count).map { AuditJob(n: $0, sleepMilliseconds: 15) })
            let workers = try (0..<3).map { _ in
                try ConveyorBinary.work(
                    url, ["--group", "limited", "--workers", "4", "--global-limit", "\(limit)", "--until-empty", "--poll-ms", "50"])
            }
            for (process, pipe) in workers {
                let output = try await ConveyorBinary.finish(process, pipe)
                #expect(process.terminationStatus == 0, "\(output)")
            }
            let peak = try await TestServer.scalar(url, "SELECT peak::bigint FROM conveyor_audit_gauge WHERE grp = 'limited'")
            // 12 handlers could run at once; the limit lets 3. Reaching it shows the limit, not
            // a lack of parallelism, bounded the peak.
            #expect(peak <= limit)
            #expect(peak == limit)
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs WHERE state = 'completed'") == count)
            #expect(try await TestServer.scalar(url, "SELECT count(DISTINCT worker) FROM conveyor_jobs") >= 2)
            await queue.shutdown()
        }
    }
}
