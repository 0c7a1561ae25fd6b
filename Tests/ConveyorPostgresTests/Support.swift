import ConveyorPostgres
import Foundation
import Logging
import PostgresNIO
import Testing

/// The server the suites run against: CONVEYOR_PG_URL (make test-postgres and make test start
/// one with scripts/postgres-run.sh). Each test gets a database of its own, dropped at the end.
enum TestServer {
    static let missing = """
        CONVEYOR_PG_URL is not set: these tests need a real PostgreSQL server. Run them with \
        `make test-postgres`, or start one with `eval "$(scripts/postgres-start.sh)"` (stop it with \
        scripts/postgres-stop.sh) and run `swift test --filter ConveyorPostgresTests`.
        """

    static var adminURL: String? {
        guard let url = ProcessInfo.processInfo.environment["CONVEYOR_PG_URL"], !url.isEmpty else { return nil }
        return url
    }

    static let logger = Logger(label: "conveyor.postgres.tests")

    static func location() throws -> DatabaseLocation {
        guard let url = adminURL else { throw TestFailure(missing) }
        return try DatabaseLocation(url: url)
    }

    static func admin<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await connected(to: try location(), id: 1, body)
    }

    /// Runs `body` on a new connection to `location`, closed afterwards (also when it throws).
    private static func connected<T: Sendable>(
        to location: DatabaseLocation, id: Int, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: location.host, port: location.port, username: location.user, password: location.password,
                database: location.database, tls: .disable),
            id: id, logger: logger)
        do {
            let value = try await body(connection)
            try await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A fresh database for one test; dropped after `body` (also when it throws).
    @discardableResult
    static func withDatabase<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        var location = try location()
        let name = "conveyor_t_\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
        try await admin { _ = try await $0.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger) }
        location.database = name
        let password = location.password.map { ":\($0)" } ?? ""
        let url = "postgres://\(location.user)\(password)@\(location.host):\(location.port)/\(name)"
        do {
            let value = try await body(url)
            try await drop(name)
            return value
        } catch {
            try? await drop(name)
            throw error
        }
    }

    private static func drop(_ name: String) async throws {
        try await admin { _ = try await $0.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger) }
    }

    /// Runs `body` on a connection to the test's database.
    @discardableResult
    static func sql<T: Sendable>(_ url: String, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await connected(to: try DatabaseLocation(url: url), id: 2, body)
    }

    static func scalar(_ url: String, _ query: String) async throws -> Int {
        try await sql(url) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: query), logger: logger)
            for try await value in rows.decode(Int64.self) { return Int(value) }
            throw TestFailure("no row from: \(query)")
        }
    }

    /// Waits until `condition` holds, polling every 20 ms, for at most `timeout`.
    static func eventually(
        _ timeout: Duration = .seconds(20), _ what: String, _ condition: () async throws -> Bool
    ) async throws {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("timed out after \(timeout) waiting for: \(what)")
    }

    /// Stress sizes scale with CONVEYOR_STRESS_SCALE (default 1), as in the engine suites.
    static func scaled(_ count: Int) -> Int {
        guard let text = ProcessInfo.processInfo.environment["CONVEYOR_STRESS_SCALE"], let scale = Double(text), scale > 0
        else { return count }
        return max(1, Int(Double(count) * scale))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A small queue configuration with compressed intervals, for tests.
func fastConfiguration(
    _ groups: [DurableGroup], retry: RetryPolicy = RetryPolicy(maxAttempts: 3, base: .milliseconds(50), jitter: 0),
    rescueAfter: Duration = .seconds(30)
) -> PostgresQueue.Configuration {
    PostgresQueue.Configuration(
        groups: groups, retry: retry, heartbeatInterval: .milliseconds(100), rescueAfter: rescueAfter,
        pollInterval: .milliseconds(200), maintenanceInterval: .milliseconds(100))
}

/// The `conveyor` executable next to the test bundle (built with the package).
enum ConveyorBinary {
    static func url() throws -> URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("conveyor")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        let fallback = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/conveyor")
        if FileManager.default.isExecutableFile(atPath: fallback.path) { return fallback }
        throw TestFailure("no conveyor executable next to \(CommandLine.arguments[0]): run `swift build --product conveyor` first")
    }

    /// Starts `conveyor pg work` with the given arguments; its output goes to a pipe.
    static func work(_ url: String, _ arguments: [String]) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = try Self.url()
        process.arguments = ["pg", "work", "--url", url] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        return (process, pipe)
    }

    /// Waits for the process to exit (at most `timeout`), returning its output.
    static func finish(_ process: Process, _ pipe: Pipe, timeout: Duration = .seconds(60)) async throws -> String {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while process.isRunning && clock.now < end { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            process.terminate()
            throw TestFailure("conveyor pg work did not finish within \(timeout)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        return String(decoding: data, as: UTF8.self)
    }
}
