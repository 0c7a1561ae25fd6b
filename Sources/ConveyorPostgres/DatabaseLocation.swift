import Foundation

/// Where the database is: host, port, user, password, database name.
///
/// ```swift
/// let location = try DatabaseLocation(url: "postgres://app:secret@127.0.0.1:5432/jobs")
/// ```
public struct DatabaseLocation: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    public init(host: String = "127.0.0.1", port: Int = 5432, user: String, password: String?, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// Reads `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (also `postgresql://`).
    public init(url: String) throws(DurableQueueError) {
        guard let components = URLComponents(string: url) else {
            throw .invalidURL(url: url, reason: "not a URL")
        }
        guard components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw .invalidURL(url: url, reason: "the scheme must be postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else {
            throw .invalidURL(url: url, reason: "no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw .invalidURL(url: url, reason: "no user name")
        }
        let port = components.port ?? 5432
        guard (1...65_535).contains(port) else {
            throw .invalidURL(url: url, reason: "port \(port) is out of range")
        }
        var database = components.path
        if database.hasPrefix("/") { database.removeFirst() }
        guard !database.isEmpty else {
            throw .invalidURL(url: url, reason: "no database name after the host")
        }
        self.init(
            host: host, port: port, user: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 }, database: database)
    }
}
