import PostgresNIO

/// What went wrong in the durable queue, with what to change.
///
/// The durable tier has its own error type rather than new ``Conveyor/ConveyorError`` cases: its
/// failures (authentication, schema versions, server errors) do not exist in the in-process
/// engine, and adding cases to that enum would break exhaustive `switch`es of its users.
///
/// ```swift
/// do { try await PostgresQueue.connect(url: url) } catch DurableQueueError.authenticationFailed(let user, _) {
///     print("check the password of \(user)")
/// }
/// ```
public enum DurableQueueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The database URL could not be read.
    case invalidURL(url: String, reason: String)
    /// The server could not be reached (refused, unreachable, timed out).
    case connectionFailed(host: String, port: Int, reason: String)
    /// The server refused the user name or password.
    case authenticationFailed(user: String, message: String)
    /// The database holds a schema newer than this library knows: upgrade the library (never
    /// downgrade a database).
    case schemaTooNew(found: Int, supported: Int)
    /// The schema is older than this library and was not migrated.
    case schemaNotMigrated(found: Int, required: Int)
    /// A configuration value out of range; the reason names it.
    case invalidConfiguration(reason: String)
    /// A kind name registered twice or blank.
    case invalidKind(name: String, reason: String)
    /// A group this queue was not configured with.
    case unknownGroup(name: String)
    /// A payload or result that did not encode to JSON.
    case encodingFailed(kind: String, reason: String)
    /// A stored payload or result that did not decode into the registered type.
    case decodingFailed(kind: String, reason: String)
    /// The job ended in the discarded state (attempts used up, undecodable payload, deadline
    /// passed); `errors` holds each attempt's error as recorded in the table.
    case discarded(id: Int64, kind: String, errors: [String])
    /// The job was cancelled before it started.
    case cancelled(id: Int64, kind: String)
    /// The job did not start before its deadline.
    case deadlineExceeded(id: Int64, kind: String)
    /// The job's row is gone (pruned or deleted by hand).
    case jobNotFound(id: Int64)
    /// The queue was shut down; nothing more is accepted.
    case shutDown
    /// Any other error the server reported (SQLSTATE and message).
    case server(sqlState: String, message: String)

    public var description: String {
        switch self {
        case .invalidURL(let url, let reason):
            "database URL '\(Self.redacted(url))' is invalid: \(reason); write postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        case .connectionFailed(let host, let port, let reason):
            "cannot reach PostgreSQL at \(host):\(port) (\(reason)); is the server running (scripts/postgres-start.sh) and is the port right?"
        case .authenticationFailed(let user, let message):
            "PostgreSQL refused user '\(user)': \(message); check the user name and password in the URL"
        case .schemaTooNew(let found, let supported):
            "the database's Conveyor schema is version \(found), newer than this library's \(supported): upgrade ConveyorPostgres (databases are never migrated down)"
        case .schemaNotMigrated(let found, let required):
            "the database's Conveyor schema is version \(found), this library needs \(required): run `conveyor pg migrate` or PostgresQueue.migrate()"
        case .invalidConfiguration(let reason): "invalid durable queue configuration: \(reason)"
        case .invalidKind(let name, let reason): "kind \"\(name)\": \(reason)"
        case .unknownGroup(let name): "no durable group named \"\(name)\": add it to PostgresQueue.Configuration.groups"
        case .encodingFailed(let kind, let reason): "kind \"\(kind)\": the value did not encode to JSON: \(reason)"
        case .decodingFailed(let kind, let reason):
            "kind \"\(kind)\": the stored JSON did not decode into the registered type: \(reason)"
        case .discarded(let id, let kind, let errors):
            "job \(id) (\"\(kind)\") was discarded: \(errors.last ?? "no error recorded"); inspect it with jobs(in: .discarded) and retry(id:) once fixed"
        case .cancelled(let id, let kind): "job \(id) (\"\(kind)\") was cancelled before it started"
        case .deadlineExceeded(let id, let kind): "job \(id) (\"\(kind)\") did not start before its deadline"
        case .jobNotFound(let id): "job \(id) is not in the table (pruned after its retention, or deleted)"
        case .shutDown: "the durable queue is shut down and accepts no new work"
        case .server(let state, let message): "PostgreSQL error \(state): \(message)"
        }
    }

    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    /// Maps a postgres-nio or NIO error to a typed case.
    static func wrap(_ error: any Error, location: DatabaseLocation) -> DurableQueueError {
        if let typed = error as? DurableQueueError { return typed }
        if let psql = error as? PSQLError {
            if psql.code == .server, let info = psql.serverInfo {
                let state = info[.sqlState] ?? "?????"
                let message = info[.message] ?? "no message"
                if state == "28P01" || state == "28000" {
                    return .authenticationFailed(user: location.user, message: message)
                }
                return .server(sqlState: state, message: message)
            }
            switch psql.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown,
                .sslUnsupported, .failedToAddSSLHandler:
                let reason = psql.underlying.map { "\($0)" } ?? psql.code.description
                return .connectionFailed(host: location.host, port: location.port, reason: reason)
            case .authMechanismRequiresPassword, .unsupportedAuthMechanism, .saslError:
                return .authenticationFailed(user: location.user, message: psql.code.description)
            default:
                return .server(sqlState: "client", message: psql.code.description)
            }
        }
        return .connectionFailed(host: location.host, port: location.port, reason: "\(error)")
    }
}
