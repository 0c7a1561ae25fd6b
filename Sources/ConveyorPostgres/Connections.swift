import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Opens connections to one database, mapping failures to ``DurableQueueError``.
final class Connector: Sendable {
    let location: DatabaseLocation
    let logger: Logger
    let connectTimeout: Duration
    private let ids = Atomic<Int>(0)

    init(location: DatabaseLocation, logger: Logger, connectTimeout: Duration) {
        self.location = location
        self.logger = logger
        self.connectTimeout = connectTimeout
    }

    func connect() async throws(DurableQueueError) -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user,
            password: location.password, database: location.database, tls: .disable)
        let parts = connectTimeout.components
        configuration.options.connectTimeout = .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
        do {
            return try await PostgresConnection.connect(
                configuration: configuration, id: ids.wrappingAdd(1, ordering: .relaxed).newValue, logger: logger)
        } catch {
            throw DurableQueueError.wrap(error, location: location)
        }
    }

    /// Runs `body`, mapping its errors.
    func run<T>(_ body: () async throws -> T) async throws(DurableQueueError) -> T {
        do {
            return try await body()
        } catch {
            throw DurableQueueError.wrap(error, location: location)
        }
    }
}

/// A few idle connections for submits and queries that need no session state; one is opened
/// when none is idle, and closed instead of kept when `maximumIdle` are already idle.
final class ConnectionPool: Sendable {
    private let connector: Connector
    private let maximumIdle: Int
    private let idle = Mutex<[PostgresConnection]>([])
    private let closed = Atomic<Bool>(false)

    init(connector: Connector, maximumIdle: Int) {
        self.connector = connector
        self.maximumIdle = maximumIdle
    }

    func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws(DurableQueueError) -> T {
        if closed.load(ordering: .acquiring) { throw .shutDown }
        let connection: PostgresConnection
        if let reused = idle.withLock({ $0.popLast() }) {
            connection = reused
        } else {
            connection = try await connector.connect()
        }
        do {
            let value = try await body(connection)
            await giveBack(connection)
            return value
        } catch {
            // A failed query may leave the connection in any state: do not reuse it.
            try? await connection.close()
            throw DurableQueueError.wrap(error, location: connector.location)
        }
    }

    private func giveBack(_ connection: PostgresConnection) async {
        let keep = !connection.isClosed && !closed.load(ordering: .acquiring)
            && idle.withLock { idle in
                guard idle.count < maximumIdle else { return false }
                idle.append(connection)
                return true
            }
        if !keep { try? await connection.close() }
    }

    func close() async {
        closed.store(true, ordering: .releasing)
        let all = idle.withLock { idle in
            defer { idle.removeAll() }
            return idle
        }
        for connection in all { try? await connection.close() }
    }
}
