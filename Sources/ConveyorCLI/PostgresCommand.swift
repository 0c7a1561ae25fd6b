#if canImport(ConveyorPostgres)
import ArgumentParser
import Conveyor
import ConveyorPostgres
import Foundation
import PostgresNIO

extension ConveyorCommand {
    /// `conveyor pg ...`: present when the ConveyorPostgres product is in the build.
    static var postgresCommands: [any ParsableCommand.Type] { [PostgresCommand.self] }
}

/// `conveyor pg`: the durable queue on PostgreSQL (docs/Postgres.md).
struct PostgresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg",
        abstract: "The durable queue on PostgreSQL: migrate, status, work, bench.",
        subcommands: [PostgresMigrateCommand.self, PostgresStatusCommand.self, PostgresWorkCommand.self, PostgresBenchCommand.self]
    )
}

/// The database URL option shared by the subcommands.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: "postgres://USER:PASSWORD@HOST:PORT/DATABASE (default: $CONVEYOR_PG_URL).")
    var url: String?

    func resolved() throws -> String {
        if let url { return url }
        if let url = ProcessInfo.processInfo.environment["CONVEYOR_PG_URL"], !url.isEmpty { return url }
        throw ValidationError("no database: pass --url or set CONVEYOR_PG_URL (scripts/postgres-start.sh prints one)")
    }
}

/// A typed error printed without the usage text.
struct PostgresCommandError: Error, CustomStringConvertible {
    var description: String
}

func milliseconds(_ value: Int, _ option: String) throws -> Duration {
    guard value > 0 else { throw ValidationError("\(option) must be positive (milliseconds)") }
    return .milliseconds(value)
}

/// `conveyor pg migrate`: applies the schema's migrations.
struct PostgresMigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Create or upgrade the durable queue's tables (refuses a newer schema).")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let url = try database.resolved()
        do {
            let before = try await Schema.version(url: url)
            let after = try await Schema.migrate(url: url)
            print(before == after ? "schema at version \(after) (nothing to do)" : "schema migrated from version \(before) to \(after)")
        } catch {
            throw PostgresCommandError(description: "\(error)")
        }
    }
}

/// `conveyor pg status`: jobs per group and state.
struct PostgresStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Jobs per group and state.")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        do {
            let queue = try await PostgresQueue.connect(
                url: try database.resolved(), configuration: .init(groups: [DurableGroup("default", workers: 0)], migrate: false))
            for group in try await queue.counts() {
                let states = JobState.allCases.map { "\($0.rawValue) \(group.counts[$0] ?? 0)" }.joined(separator: ", ")
                print("\(group.group): \(states)")
            }
            await queue.shutdown(drain: false)
        } catch let error as DurableQueueError {
            throw PostgresCommandError(description: "\(error)")
        }
    }
}

/// The payload of the built-in kinds `pg.audit` and `pg.noop`, which `conveyor pg work` runs:
/// the deployment checks and the bench.
struct AuditJob: Codable, Sendable {
    /// The job's number in its batch (its row in conveyor_audit_seen).
    var n: Int
    var sleepMilliseconds: Int = 0
}

/// Registers the built-in kinds: `pg.noop` (does nothing) and `pg.audit` (records each run in
/// `conveyor_audit_seen` and the concurrency of its group in `conveyor_audit_gauge`).
func registerBuiltInKinds(_ queue: PostgresQueue, group: String) async throws {
    // CREATE TABLE IF NOT EXISTS races between processes starting together (a duplicate key in
    // pg_type): serialize it with a transaction advisory lock.
    try await queue.withConnection { connection in
        try await connection.query("BEGIN", logger: queue.queueLogger)
        try await connection.query("SELECT pg_advisory_xact_lock(4242017)", logger: queue.queueLogger)
        try await connection.query(
            "CREATE TABLE IF NOT EXISTS conveyor_audit_seen (n bigint NOT NULL, job bigint NOT NULL, attempt int NOT NULL, worker text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())",
            logger: queue.queueLogger)
        try await connection.query(
            "CREATE TABLE IF NOT EXISTS conveyor_audit_gauge (grp text PRIMARY KEY, running int NOT NULL DEFAULT 0, peak int NOT NULL DEFAULT 0)",
            logger: queue.queueLogger)
        try await connection.query(
            "INSERT INTO conveyor_audit_gauge (grp) VALUES (\(group)) ON CONFLICT DO NOTHING", logger: queue.queueLogger)
        try await connection.query("COMMIT", logger: queue.queueLogger)
    }
    _ = try queue.register("pg.noop", payload: AuditJob.self, group: group) { _, _ in }
    _ = try queue.register("pg.audit", payload: AuditJob.self, group: group) { job, context in
        let worker = queue.workerName
        try await queue.withConnection { connection in
            _ = try await connection.query(
                """
                WITH s AS (INSERT INTO conveyor_audit_seen (n, job, attempt, worker)
                           VALUES (\(job.n), \(context.id), \(Int32(context.attempt)), \(worker)))
                UPDATE conveyor_audit_gauge SET running = running + 1, peak = GREATEST(peak, running + 1) WHERE grp = \(context.group)
                """, logger: queue.queueLogger)
        }
        if job.sleepMilliseconds > 0 { try await Task.sleep(for: .milliseconds(job.sleepMilliseconds)) }
        try await queue.withConnection { connection in
            _ = try await connection.query(
                "UPDATE conveyor_audit_gauge SET running = running - 1 WHERE grp = \(context.group)", logger: queue.queueLogger)
        }
    }
}

/// `conveyor pg work`: runs the built-in kinds of one group in this process.
struct PostgresWorkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "work",
        abstract: "Work one group's pg.audit and pg.noop jobs (the deployment checks and the bench).",
        discussion: """
            Prints one JSON line at the end: what this process claimed, completed, retried and \
            discarded, and whether it was the leader. --until-empty stops once the group has no \
            available or running job left (so jobs of a killed process are waited for and rescued).
            """)

    @OptionGroup var database: DatabaseOptions
    @Option(name: .long, help: "The group to work.") var group = "default"
    @Option(name: .long, help: "Handlers this process runs at once.") var workers = 8
    @Option(name: .long, help: "Jobs of the group running at once across all processes.") var globalLimit: Int?
    @Option(name: .long, help: "Most jobs one fetch claims.") var batch = 100
    @Flag(name: .long, help: "Stop when the group has no available or running job.") var untilEmpty = false
    @Option(name: .long, help: "Stop after this many seconds.") var seconds: Double?
    @Option(name: .long, help: "Heartbeat interval, ms.") var heartbeatMs = 1_000
    @Option(name: .long, help: "Rescue jobs whose heartbeat is older than this, ms.") var rescueAfterMs = 30_000
    @Option(name: .long, help: "Poll interval when no NOTIFY comes, ms.") var pollMs = 1_000
    @Option(name: .long, help: "Leader maintenance interval, ms.") var maintenanceMs = 1_000

    func run() async throws {
        let url = try database.resolved()
        let configuration = PostgresQueue.Configuration(
            groups: [DurableGroup(group, workers: workers, globalLimit: globalLimit, batchSize: batch)],
            heartbeatInterval: try milliseconds(heartbeatMs, "--heartbeat-ms"),
            rescueAfter: try milliseconds(rescueAfterMs, "--rescue-after-ms"),
            pollInterval: try milliseconds(pollMs, "--poll-ms"),
            maintenanceInterval: try milliseconds(maintenanceMs, "--maintenance-ms"),
            // pg.audit handlers each borrow a connection: keep one per handler.
            idleConnections: min(max(8, workers), 64))
        do {
            let queue = try await PostgresQueue.connect(url: url, configuration: configuration)
            try await registerBuiltInKinds(queue, group: group)
            try await queue.start()
            let clock = ContinuousClock()
            let end = seconds.map { clock.now + .milliseconds(Int64($0 * 1_000)) }
            var wasLeader = false
            while true {
                try await Task.sleep(for: .milliseconds(100))
                wasLeader = wasLeader || queue.isLeader
                if let end, clock.now >= end { break }
                if untilEmpty {
                    let counts = try await queue.counts().first { $0.group == group }?.counts ?? [:]
                    if (counts[.available] ?? 0) + (counts[.running] ?? 0) == 0 { break }
                }
            }
            await queue.shutdown(drain: untilEmpty)
            let s = queue.processStatistics
            print(
                #"{"worker":"\#(queue.workerName)","claimed":\#(s.claimed),"completed":\#(s.completed),"retried":\#(s.retried),"discarded":\#(s.discarded),"stale":\#(s.stale),"fetchQueries":\#(s.fetchQueries),"leader":\#(wasLeader)}"#)
        } catch let error as DurableQueueError {
            throw PostgresCommandError(description: "\(error)")
        }
    }
}
#else
import ArgumentParser

extension ConveyorCommand {
    /// Empty: this build leaves ConveyorPostgres out (CONVEYOR_CORE_ONLY=1).
    static var postgresCommands: [any ParsableCommand.Type] { [] }
}
#endif
