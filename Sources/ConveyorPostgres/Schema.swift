import Foundation
import Logging
import PostgresNIO

/// The tables the durable queue keeps, and their migrations (docs/Postgres.md lists them).
///
/// ```swift
/// let version = try await Schema.migrate(url: "postgres://conveyor:conveyor@127.0.0.1:5432/conveyor")
/// ```
public enum Schema {
    /// The newest schema version this library knows and needs.
    public static let currentVersion = 1

    /// Migration `n` takes the schema from version `n − 1` to `n`. Statements are separated by
    /// `;` at the end of a line (the extended query protocol runs one statement per query).
    static let migrations: [String] = [
        """
        CREATE TABLE conveyor_jobs (
            id            bigserial PRIMARY KEY,
            kind          text NOT NULL,
            grp           text NOT NULL,
            priority      smallint NOT NULL DEFAULT 1,
            state         text NOT NULL DEFAULT 'available'
                          CHECK (state IN ('available', 'running', 'completed', 'discarded', 'cancelled')),
            payload       text NOT NULL,
            result        text,
            attempt       integer NOT NULL DEFAULT 0,
            max_attempts  integer NOT NULL DEFAULT 20 CHECK (max_attempts >= 1),
            run_at        timestamptz NOT NULL DEFAULT now(),
            deadline      timestamptz,
            unique_key    text,
            notify_done   boolean NOT NULL DEFAULT false,
            created_at    timestamptz NOT NULL DEFAULT now(),
            started_at    timestamptz,
            heartbeat_at  timestamptz,
            finished_at   timestamptz,
            worker        text,
            errors        text[] NOT NULL DEFAULT '{}'
        );
        CREATE INDEX conveyor_jobs_fetch ON conveyor_jobs (grp, priority, run_at, id) WHERE state = 'available';
        CREATE INDEX conveyor_jobs_running ON conveyor_jobs (grp, heartbeat_at) WHERE state = 'running';
        CREATE UNIQUE INDEX conveyor_jobs_unique ON conveyor_jobs (kind, unique_key) WHERE unique_key IS NOT NULL;
        CREATE INDEX conveyor_jobs_finished ON conveyor_jobs (finished_at) WHERE state IN ('completed', 'cancelled');
        CREATE TABLE conveyor_groups (
            name               text PRIMARY KEY,
            concurrency_limit  integer CHECK (concurrency_limit IS NULL OR concurrency_limit >= 1),
            updated_at         timestamptz NOT NULL DEFAULT now()
        );
        """
    ]

    /// Key of the transaction-level advisory lock that serializes migrations of one database.
    static let migrationLock: Int64 = 0x436F_6E76_4D69_6772  // "ConvMigr"
    /// Key of the session-level advisory lock its holder keeps while it is the leader.
    static let leaderLock: Int64 = 0x436F_6E76_4C65_6164  // "ConvLead"

    /// Applies the missing migrations to the database at `url`; returns the version now in place.
    /// Throws ``DurableQueueError/schemaTooNew(found:supported:)`` for a newer schema.
    @discardableResult
    public static func migrate(url: String, logger: Logger = Logger(label: "conveyor.postgres")) async throws(DurableQueueError) -> Int {
        let connector = Connector(location: try DatabaseLocation(url: url), logger: logger, connectTimeout: .seconds(10))
        let connection = try await connector.connect()
        do {
            let version = try await migrate(connection, connector: connector)
            try? await connection.close()
            return version
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The version recorded in the database (0 when none), without changing anything.
    public static func version(url: String, logger: Logger = Logger(label: "conveyor.postgres")) async throws(DurableQueueError) -> Int {
        let connector = Connector(location: try DatabaseLocation(url: url), logger: logger, connectTimeout: .seconds(10))
        let connection = try await connector.connect()
        do {
            let found = try await connector.run { try await version(connection, logger: logger) }
            try? await connection.close()
            return found
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func statements(of migration: String) -> [String] {
        migration.split(separator: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
    }

    static func version(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        let exists = try await connection.query("SELECT to_regclass('conveyor_schema_version') IS NOT NULL", logger: logger)
        var present = false
        for try await value in exists.decode(Bool.self) { present = value }
        guard present else { return 0 }
        let rows = try await connection.query(
            "SELECT coalesce(max(version), 0)::bigint FROM conveyor_schema_version", logger: logger)
        for try await version in rows.decode(Int64.self) { return Int(version) }
        return 0
    }

    static func migrate(_ connection: PostgresConnection, connector: Connector) async throws(DurableQueueError) -> Int {
        let logger = connector.logger
        let outcome: Result<Int, DurableQueueError> = try await connector.run {
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS conveyor_schema_version (
                        version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                    """, logger: logger)
                let found = try await version(connection, logger: logger)
                if found > currentVersion {
                    try await connection.query("ROLLBACK", logger: logger)
                    return .failure(.schemaTooNew(found: found, supported: currentVersion))
                }
                for next in (found + 1)...max(found + 1, currentVersion) where next <= currentVersion {
                    for statement in statements(of: migrations[next - 1]) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO conveyor_schema_version (version) VALUES (\(next))", logger: logger)
                    logger.debug("conveyor schema migrated", metadata: ["version": "\(next)"])
                }
                try await connection.query("COMMIT", logger: logger)
                return .success(currentVersion)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
        return try outcome.get()
    }
}
