import ConveyorPostgres
import Foundation
import PostgresNIO
import Testing

@Suite("Postgres schema and bad input", .serialized)
struct PostgresSchemaTests {
    @Test func migratesOnceAndRecordsTheVersion() async throws {
        try await TestServer.withDatabase { url async throws in
            #expect(try await Schema.version(url: url) == 0)
            #expect(try await Schema.migrate(url: url) == Schema.currentVersion)
            #expect(try await Schema.migrate(url: url) == Schema.currentVersion)  // idempotent
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_schema_version") == Schema.currentVersion)
            #expect(try await TestServer.scalar(url, "SELECT count(*) FROM conveyor_jobs") == 0)
        }
    }

    @Test func refusesANewerSchema() async throws {
        try await TestServer.withDatabase { url async throws in
            try await Schema.migrate(url: url)
            _ = try await TestServer.scalar(url, "INSERT INTO conveyor_schema_version (version) VALUES (99) RETURNING version::bigint")
            await #expect(throws: DurableQueueError.schemaTooNew(found: 99, supported: Schema.currentVersion)) {
                try await Schema.migrate(url: url)
            }
            await #expect(throws: DurableQueueError.schemaTooNew(found: 99, supported: Schema.currentVersion)) {
                _ = try await PostgresQueue.connect(url: url, configuration: .init(groups: [DurableGroup("g")]))
            }
            await #expect(throws: DurableQueueError.schemaTooNew(found: 99, supported: Schema.currentVersion)) {
                _ = try await PostgresQueue.connect(url: url, configuration: .init(groups: [DurableGroup("g")], migrate: false))
            }
        }
    }

    @Test func anUnmigratedDatabaseIsRefusedWhenMigrationIsOff() async throws {
        try await TestServer.withDatabase { url async throws in
            await #expect(throws: DurableQueueError.schemaNotMigrated(found: 0, required: Schema.currentVersion)) {
                _ = try await PostgresQueue.connect(url: url, configuration: .init(groups: [DurableGroup("g")], migrate: false))
            }
        }
    }

    @Test func aWrongPasswordIsAnAuthenticationError() async throws {
        let location = try TestServer.location()
        let url = "postgres://\(location.user):wrong-password@\(location.host):\(location.port)/\(location.database)"
        do {
            _ = try await PostgresQueue.connect(url: url, configuration: .init(groups: [DurableGroup("g")]))
            Issue.record("connected with a wrong password")
        } catch {
            guard case .authenticationFailed(let user, let message) = error else {
                Issue.record("expected authenticationFailed, got \(error)")
                return
            }
            #expect(user == location.user)
            #expect(message.contains("password"))
            #expect(!error.description.contains("wrong-password"))
        }
    }

    @Test func anUnreachableServerIsAConnectionError() async throws {
        // A port nobody listens on: bind one, close it, connect to it.
        let port = try freePort()
        let url = "postgres://conveyor:conveyor@127.0.0.1:\(port)/conveyor"
        do {
            _ = try await PostgresQueue.connect(url: url, configuration: .init(groups: [DurableGroup("g")], connectTimeout: .seconds(2)))
            Issue.record("connected to a closed port")
        } catch {
            guard case .connectionFailed(let host, let failedPort, _) = error else {
                Issue.record("expected connectionFailed, got \(error)")
                return
            }
            #expect(host == "127.0.0.1" && failedPort == port)
        }
    }

    @Test func badURLsAndConfigurationsAreTypedErrors() async throws {
        for url in ["http://x@h/db", "postgres://h/db", "postgres://u@h", "not a url at all", "postgres://u@h:99999/db"] {
            #expect(throws: DurableQueueError.self) { _ = try DatabaseLocation(url: url) }
        }
        let location = try DatabaseLocation(url: "postgresql://app:s%40cret@db.example:6543/jobs")
        #expect(location == DatabaseLocation(host: "db.example", port: 6543, user: "app", password: "s@cret", database: "jobs"))
        let url = try #require(TestServer.adminURL)
        let bad: [PostgresQueue.Configuration] = [
            .init(groups: []),
            .init(groups: [DurableGroup("a"), DurableGroup("a")]),
            .init(groups: [DurableGroup("a", globalLimit: 0)]),
            .init(groups: [DurableGroup("a", batchSize: 0)]),
            .init(groups: [DurableGroup("a")], heartbeatInterval: .seconds(10), rescueAfter: .seconds(15)),
            .init(groups: [DurableGroup("a")], retry: RetryPolicy(maxAttempts: 0)),
        ]
        for configuration in bad {
            await #expect(throws: DurableQueueError.self) { _ = try await PostgresQueue.connect(url: url, configuration: configuration) }
        }
    }

    @Test func backoffGrowsExponentiallyWithBoundedJitter() {
        let policy = RetryPolicy(maxAttempts: 10, base: .milliseconds(100), factor: 2, maximumDelay: .seconds(1), jitter: 0.2)
        #expect(policy.delay(afterAttempt: 1, unit: 0.5) == .milliseconds(100))
        #expect(policy.delay(afterAttempt: 2, unit: 0.5) == .milliseconds(200))
        #expect(policy.delay(afterAttempt: 3, unit: 0.5) == .milliseconds(400))
        #expect(policy.delay(afterAttempt: 5, unit: 0.5) == .seconds(1))  // capped
        #expect(policy.delay(afterAttempt: 2, unit: 0) == .milliseconds(160))
        #expect(policy.delay(afterAttempt: 2, unit: 1) == .milliseconds(240))
        #expect(policy.delay(afterAttempt: 1_000, unit: 0.5) == .seconds(1))  // no overflow
    }
}

func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    guard bound == 0 else { throw TestFailure("bind() failed") }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw TestFailure("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
