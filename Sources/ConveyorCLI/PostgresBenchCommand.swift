#if canImport(ConveyorPostgres)
import ArgumentParser
import Conveyor
import ConveyorPostgres
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// `conveyor pg bench`: the durable queue's aims (docs/Postgres.md), each against a peer in the
/// same run on the same server: batched queue ÷ a naive one-job-per-query loop, bulk insert,
/// submit → start latency on an idle queue, 3 worker processes ÷ 1. Medians of --runs.
struct PostgresBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Throughput and latency of the durable queue against a naive loop, same server, same run.")

    @OptionGroup var database: DatabaseOptions
    @Option(name: .long, help: "Jobs per throughput run.") var jobs = 50_000
    @Option(name: .long, help: "Jobs of the naive one-job-per-query loop.") var naiveJobs = 3_000
    @Option(name: .long, help: "Submits timed for the latency row.") var latencySamples = 300
    @Option(name: .long, help: "Runs of each measure (the median is reported).") var runs = 3
    @Option(name: .long, help: "Handlers at once in the throughput run.") var workers = 512
    @Option(name: .long, help: "Jobs per fetch query in the throughput run.") var batch = 512
    @Option(name: .long, help: "Write the table as Markdown here.") var markdown: String?
    @Flag(name: .long, help: "Skip the 3-processes row (it spawns `conveyor pg work`).") var skipProcesses = false

    struct Row {
        var measure: String
        var value: String
        var peer: String
        var aim: String
        var verdict: String
    }

    func run() async throws {
        let url = try database.resolved()
        guard runs >= 1, jobs >= 1, naiveJobs >= 1, latencySamples >= 10 else {
            throw ValidationError("--runs, --jobs and --naive-jobs must be positive, --latency-samples at least 10")
        }
        do {
            try await Schema.migrate(url: url)
            var naive: [Double] = []
            var throughput: [Double] = []
            var deleting: [Double] = []
            var bulk: [Double] = []
            var multiRow: [Double] = []
            var p50: [Double] = []
            var p99: [Double] = []
            var submitP50: [Double] = []
            var one: [Double] = []
            var three: [Double] = []
            for run in 1...runs {
                try await truncate(url)
                naive.append(try await naiveLoop(url))
                try await truncate(url)
                let (rate, bulkRate) = try await batched(url)
                throughput.append(rate)
                bulk.append(bulkRate)
                try await truncate(url)
                deleting.append(try await batched(url, keepCompleted: false).0)
                try await truncate(url)
                multiRow.append(try await multiRowInsert(url))
                try await truncate(url)
                let (median, tail, submitMedian) = try await latency(url)
                p50.append(median)
                p99.append(tail)
                submitP50.append(submitMedian)
                if !skipProcesses {
                    try await truncate(url)
                    one.append(try await processes(url, count: 1))
                    try await truncate(url)
                    three.append(try await processes(url, count: 3))
                }
                FileHandle.standardError.write(Data(
                    "run \(run): naive \(Int(naive.last!)) jobs/s, batched \(Int(throughput.last!)) jobs/s (rows deleted at completion \(Int(deleting.last!))), bulk insert (COPY) \(Int(bulk.last!)) jobs/s, multi-row \(Int(multiRow.last!)) jobs/s, p50 \(p50.last!) ms p99 \(p99.last!) ms (submit p50 \(submitP50.last!) ms)\(one.isEmpty ? "" : ", 1 process \(Int(one.last!)) 3 processes \(Int(three.last!)) jobs/s")\n".utf8))
            }
            let m = { (values: [Double]) in values.sorted()[values.count / 2] }
            var rows = [
                Row(
                    measure: "insert + fetch + run + complete, trivial jobs, 1 process", value: "\(Int(m(throughput))) jobs/s",
                    peer: String(format: "%.1f× the naive loop (%ld jobs/s)", m(throughput) / m(naive), Int(m(naive))),
                    aim: "≥ 20 000 jobs/s", verdict: m(throughput) >= 20_000 ? "met" : "missed"),
                Row(
                    measure: "the same, completed rows deleted (`keepCompleted: false`)", value: "\(Int(m(deleting))) jobs/s",
                    peer: String(format: "%.2f× the row above (rows kept)", m(deleting) / m(throughput)),
                    aim: "≥ 20 000 jobs/s", verdict: m(deleting) >= 20_000 ? "met" : "missed"),
                Row(
                    measure: "bulk insert (COPY)", value: "\(Int(m(bulk))) jobs/s",
                    peer: String(
                        format: "%.2f× a multi-row INSERT from arrays (%ld jobs/s)", m(bulk) / m(multiRow), Int(m(multiRow))),
                    aim: "≥ 100 000 jobs/s",
                    verdict: m(bulk) >= 100_000 ? "met" : "missed"),
                Row(
                    measure: "submit → start, idle queue, LISTEN/NOTIFY", value: String(format: "p50 %.2f ms, p99 %.2f ms", m(p50), m(p99)),
                    peer: String(format: "the submit's own commit p50 %.2f ms; poll fallback 1 s", m(submitP50)), aim: "≤ 5 ms / ≤ 20 ms",
                    verdict: m(p50) <= 5 && m(p99) <= 20 ? "met" : "missed"),
            ]
            if !one.isEmpty {
                rows.append(Row(
                    measure: "3 worker processes vs 1 (`conveyor pg work`, pg.noop)", value: "\(Int(m(three))) jobs/s",
                    peer: String(format: "%.2f× 1 process (%ld jobs/s)", m(three) / m(one), Int(m(one))),
                    aim: "reported; none lost or doubled", verdict: "no loss, no double (checked per run)"))
            }
            var text = "| measure | median of \(runs) | peer in the same run | aim | verdict |\n| --- | ---: | --- | --- | --- |\n"
            for row in rows { text += "| \(row.measure) | \(row.value) | \(row.peer) | \(row.aim) | \(row.verdict) |\n" }
            print(text, terminator: "")
            if let markdown { try text.write(toFile: markdown, atomically: true, encoding: .utf8) }
        } catch let error as DurableQueueError {
            throw PostgresCommandError(description: "\(error)")
        }
    }

    func truncate(_ url: String) async throws {
        try await connection(url) { _ = try await $0.query("TRUNCATE conveyor_jobs", logger: Self.logger) }
    }

    static let logger = Logger(label: "conveyor.pg.bench")

    func connection<T>(_ url: String, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let location = try DatabaseLocation(url: url)
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: location.host, port: location.port, username: location.user, password: location.password,
                database: location.database, tls: .disable), id: 1, logger: Self.logger)
        do {
            let value = try await body(connection)
            try? await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The peer: one INSERT, one claim and one completion query per job, on one connection.
    func naiveLoop(_ url: String) async throws -> Double {
        try await connection(url) { connection in
            let clock = ContinuousClock()
            let start = clock.now
            for n in 0..<naiveJobs {
                try await connection.query(
                    "INSERT INTO conveyor_jobs (kind, grp, payload) VALUES ('naive', 'naive', \(String(n)))", logger: Self.logger)
                let rows = try await connection.query(
                    """
                    UPDATE conveyor_jobs j SET state = 'running', attempt = j.attempt + 1, started_at = now(), heartbeat_at = now()
                    FROM (SELECT id FROM conveyor_jobs WHERE state = 'available' AND grp = 'naive' AND run_at <= now()
                          ORDER BY priority, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) c
                    WHERE j.id = c.id RETURNING j.id, j.payload
                    """, logger: Self.logger)
                var claimed: Int64?
                for try await (id, payload) in rows.decode((Int64, String).self) {
                    _ = Int(payload)  // the trivial handler
                    claimed = id
                }
                guard let claimed else { throw PostgresCommandError(description: "the naive loop claimed nothing") }
                try await connection.query(
                    "UPDATE conveyor_jobs SET state = 'completed', finished_at = now() WHERE id = \(claimed) AND state = 'running'",
                    logger: Self.logger)
            }
            return Double(naiveJobs) / seconds(clock.now - start)
        }
    }

    /// The bulk insert's peer: one multi-row `INSERT … SELECT FROM unnest($payloads)` per
    /// 5 000 jobs, each its own transaction (what the queue's bulk submit did before COPY),
    /// the payloads JSON-encoded the same way.
    func multiRowInsert(_ url: String) async throws -> Double {
        try await connection(url) { connection in
            let encoder = JSONEncoder()
            let clock = ContinuousClock()
            let start = clock.now
            var index = 0
            while index < jobs {
                let end = min(index + 5_000, jobs)
                let texts = try (index..<end).map { String(decoding: try encoder.encode($0), as: UTF8.self) }
                try await connection.query(
                    """
                    INSERT INTO conveyor_jobs (kind, grp, priority, payload, max_attempts, run_at, deadline)
                    SELECT 'bench.noop', 'bench', 1, p, 20, now(), NULL FROM unnest(\(texts)::text[]) AS p
                    """, logger: Self.logger)
                index = end
            }
            try await connection.query("SELECT pg_notify('conveyor_jobs', 'bench')", logger: Self.logger)
            return Double(jobs) / seconds(clock.now - start)
        }
    }

    /// Bulk insert (timed alone), then the queue fetching, running and completing them in
    /// batches: jobs ÷ (insert time + processing time), and the insert rate. With
    /// `keepCompleted: false` the completion deletes the rows, so none may be left.
    func batched(_ url: String, keepCompleted: Bool = true) async throws -> (Double, Double) {
        let queue = try await PostgresQueue.connect(
            url: url,
            configuration: .init(groups: [DurableGroup("bench", workers: workers, batchSize: batch)], keepCompleted: keepCompleted))
        let done = Tally()
        let noop = try queue.register("bench.noop", payload: Int.self, group: "bench") { _, _ in
            done.count.add(1, ordering: .relaxed)
        }
        let clock = ContinuousClock()
        let insertStart = clock.now
        let inserted = try await queue.submit(noop, contentsOf: Array(0..<jobs))
        let insertTime = clock.now - insertStart
        guard inserted == jobs else { throw PostgresCommandError(description: "bulk insert wrote \(inserted) of \(jobs)") }
        let runStart = clock.now
        try await queue.start()
        await queue.shutdown(drain: true)
        let runTime = clock.now - runStart
        let completed = try await connection(url) { connection in
            let rows = try await connection.query(
                "SELECT count(*) FILTER (WHERE state = 'completed')::bigint, count(*)::bigint FROM conveyor_jobs WHERE grp = 'bench'",
                logger: Self.logger)
            var counts = (0, 0)
            for try await (completed, all) in rows.decode((Int64, Int64).self) { counts = (Int(completed), Int(all)) }
            return counts
        }
        let expected = keepCompleted ? (jobs, jobs) : (0, 0)
        guard completed == expected, done.count.load(ordering: .relaxed) == jobs, queue.processStatistics.stale == 0 else {
            throw PostgresCommandError(
                description: "batched run (keepCompleted \(keepCompleted)): \(completed.0) rows completed, \(completed.1) left, ran \(done.count.load(ordering: .relaxed)) of \(jobs)")
        }
        return (Double(jobs) / seconds(insertTime + runTime), Double(jobs) / seconds(insertTime))
    }

    /// Submit → handler start on an idle, started queue, one job at a time with small gaps.
    /// Also returns the median time until `submit` returned (its commit), the part of the
    /// latency that is the durable insert rather than the wake-up and the claim.
    func latency(_ url: String) async throws -> (Double, Double, Double) {
        let queue = try await PostgresQueue.connect(url: url, configuration: .init(groups: [DurableGroup("latency", workers: 4)]))
        let starts = StartTimes()
        let kind = try queue.register("bench.latency", payload: Int.self, group: "latency") { n, _ in
            let now = ContinuousClock.now
            starts.times.withLock { $0[n] = now }
        }
        try await queue.start()
        try await Task.sleep(for: .milliseconds(300))  // LISTEN in place, loops idle
        var samples: [Double] = []
        var submits: [Double] = []
        for n in 0..<latencySamples {
            let submitted = ContinuousClock.now
            try await queue.submit(kind, n)
            submits.append(seconds(ContinuousClock.now - submitted) * 1_000)
            while starts.times.withLock({ $0[n] }) == nil { try await Task.sleep(for: .microseconds(200)) }
            let started = starts.times.withLock { $0[n]! }
            samples.append(seconds(started - submitted) * 1_000)
            try await Task.sleep(for: .milliseconds(3))
        }
        await queue.shutdown()
        samples.sort()
        submits.sort()
        return (samples[samples.count / 2], samples[min(samples.count - 1, Int(Double(samples.count) * 0.99))], submits[submits.count / 2])
    }

    /// `count` `conveyor pg work` processes on `jobs` pg.noop jobs: jobs/s from their start to
    /// the last completion; fails if a job is not completed exactly once.
    func processes(_ url: String, count: Int) async throws -> Double {
        let submitter = try await PostgresQueue.connect(url: url, configuration: .init(groups: [DurableGroup("procs", workers: 0)]))
        let kind = try submitter.kind("pg.noop", payload: AuditJob.self, group: "procs")
        try await submitter.submit(kind, contentsOf: (0..<jobs).map { AuditJob(n: $0, sleepMilliseconds: 0) })
        let executable = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).resolvingSymlinksInPath()
        let clock = ContinuousClock()
        let start = clock.now
        var children: [(Process, Pipe)] = []
        for _ in 0..<count {
            let process = Process()
            process.executableURL = executable
            process.arguments = [
                "pg", "work", "--url", url, "--group", "procs", "--workers", "\(workers)", "--batch", "\(batch)", "--until-empty",
                "--poll-ms", "100",
            ]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            children.append((process, pipe))
        }
        var completed = 0
        var stale = 0
        for (process, pipe) in children {
            process.waitUntilExit()
            let line = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            guard process.terminationStatus == 0,
                let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let done = json["completed"] as? Int, let late = json["stale"] as? Int
            else { throw PostgresCommandError(description: "a worker process failed: \(line)") }
            completed += done
            stale += late
        }
        let elapsed = clock.now - start
        let rows = try await submitter.counts().first { $0.group == "procs" }?.counts[.completed] ?? 0
        await submitter.shutdown()
        guard rows == jobs, completed == jobs, stale == 0 else {
            throw PostgresCommandError(description: "\(count) processes: \(rows) rows completed, \(completed) completions reported, \(stale) stale, of \(jobs)")
        }
        return Double(jobs) / seconds(elapsed)
    }
}
/// A counter handlers share (an Atomic cannot be captured by an escaping closure).
final class Tally: Sendable {
    let count = Atomic<Int>(0)
}

/// When each latency job started.
final class StartTimes: Sendable {
    let times = Mutex<[Int: ContinuousClock.Instant]>([:])
}
#endif

