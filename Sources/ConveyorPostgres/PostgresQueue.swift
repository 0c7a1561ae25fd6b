import Conveyor
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Durable tasks on PostgreSQL: jobs survive crashes, run at least once, and are shared by
/// every process connected to the same database. The names mirror the in-process engine:
/// groups, kinds with a handler, `submit`, `run`, priorities, deadlines, `cancel`, `shutdown`.
///
/// ```swift
/// struct Email: Codable, Sendable { var to: String }
/// let queue = try await PostgresQueue.connect(
///     url: "postgres://app:secret@127.0.0.1:5432/app",
///     configuration: .init(groups: [DurableGroup("mail", workers: 4, globalLimit: 8)]))
/// let email = try queue.register("email", payload: Email.self, group: "mail") { email, job in
///     try await send(email)            // may run twice after a crash: make it idempotent
/// }
/// try await queue.start()              // fetch, heartbeat, rescue (only submitting? skip it)
/// try await queue.submit(email, Email(to: "a@example.com"), QueueTask(priority: .high))
/// await queue.shutdown(drain: true)
/// ```
public final class PostgresQueue: Sendable {
    /// How this process works the queue.
    public struct Configuration: Sendable {
        /// Groups this process submits to; those with `workers > 0` it also works.
        public var groups: [DurableGroup]
        /// Written to the `worker` column of the jobs it runs (default: host name, pid, random).
        public var workerName: String
        public var retry: RetryPolicy
        /// How often this process refreshes `heartbeat_at` of the jobs it runs.
        public var heartbeatInterval: Duration
        /// A running job whose heartbeat is older than this is rescued (retried) by the leader.
        public var rescueAfter: Duration
        /// How long an idle fetch loop sleeps when no notification comes (the fallback).
        public var pollInterval: Duration
        /// How often the leader rescues and prunes.
        public var maintenanceInterval: Duration
        /// Completed and cancelled jobs are deleted this long after they finished.
        public var retention: Duration
        /// Keep completed jobs' rows (state `completed`, result, times) until ``retention`` has
        /// passed (the default). `false`: the completion statement deletes a completed job's row
        /// instead of updating it, unless a ``PostgresQueue/run(_:_:_:options:)`` caller awaits its result
        /// (that row is kept, as with `true`). Deleting costs the server about two thirds of what
        /// the update does per job (docs/Postgres.md, Figures), at the price of no `completed` rows
        /// for ``PostgresQueue/jobs(in:limit:)`` and ``PostgresQueue/counts()``. Completion is still
        /// recorded once: the delete, like the update, only matches the claimed attempt while it
        /// is `running`. Retried, discarded and cancelled jobs are kept either way.
        ///
        /// ```swift
        /// let configuration = PostgresQueue.Configuration(groups: [DurableGroup("bulk", workers: 64)],
        ///                                                 keepCompleted: false)
        /// ```
        public var keepCompleted: Bool
        /// Migrate the schema on connect (otherwise an older schema is an error).
        public var migrate: Bool
        public var connectTimeout: Duration
        /// Idle connections kept for submits, inspection and ``PostgresQueue/withConnection(_:)``
        /// (more are opened while needed, then closed). Each group's fetch loop, the LISTEN
        /// connection and the leader's have their own.
        public var idleConnections: Int
        /// Debug and trace only.
        public var logger: Logger

        public init(
            groups: [DurableGroup],
            workerName: String? = nil,
            retry: RetryPolicy = RetryPolicy(),
            heartbeatInterval: Duration = .seconds(1),
            rescueAfter: Duration = .seconds(30),
            pollInterval: Duration = .seconds(1),
            maintenanceInterval: Duration = .seconds(1),
            retention: Duration = .seconds(24 * 3_600),
            keepCompleted: Bool = true,
            migrate: Bool = true,
            connectTimeout: Duration = .seconds(10),
            idleConnections: Int = 8,
            logger: Logger = Logger(label: "conveyor.postgres")
        ) {
            self.groups = groups
            self.workerName = workerName ?? Self.defaultWorkerName()
            self.retry = retry
            self.heartbeatInterval = heartbeatInterval
            self.rescueAfter = rescueAfter
            self.pollInterval = pollInterval
            self.maintenanceInterval = maintenanceInterval
            self.retention = retention
            self.keepCompleted = keepCompleted
            self.migrate = migrate
            self.connectTimeout = connectTimeout
            self.idleConnections = idleConnections
            self.logger = logger
        }

        static func defaultWorkerName() -> String {
            "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        }

        func validate() throws(DurableQueueError) {
            guard !groups.isEmpty else { throw .invalidConfiguration(reason: "no groups: add at least one DurableGroup") }
            var names = Set<String>()
            for group in groups {
                guard !group.name.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw .invalidConfiguration(reason: "a group has a blank name")
                }
                guard names.insert(group.name).inserted else {
                    throw .invalidConfiguration(reason: "group \"\(group.name)\" is listed twice")
                }
                guard (0...10_000).contains(group.workers) else {
                    throw .invalidConfiguration(reason: "group \"\(group.name)\": workers \(group.workers) must be in 0...10000")
                }
                guard (1...10_000).contains(group.batchSize) else {
                    throw .invalidConfiguration(reason: "group \"\(group.name)\": batchSize \(group.batchSize) must be in 1...10000")
                }
                if let limit = group.globalLimit, limit < 1 {
                    throw .invalidConfiguration(reason: "group \"\(group.name)\": globalLimit \(limit) must be at least 1 (nil: no limit)")
                }
            }
            try retry.validate()
            guard (0...1_000).contains(idleConnections) else {
                throw .invalidConfiguration(reason: "idleConnections \(idleConnections) must be in 0...1000")
            }
            for (name, value) in [
                ("heartbeatInterval", heartbeatInterval), ("rescueAfter", rescueAfter), ("pollInterval", pollInterval),
                ("maintenanceInterval", maintenanceInterval), ("retention", retention), ("connectTimeout", connectTimeout),
            ] where value <= .zero {
                throw .invalidConfiguration(reason: "\(name) must be positive")
            }
            guard rescueAfter > heartbeatInterval * 2 else {
                throw .invalidConfiguration(
                    reason: "rescueAfter must exceed twice heartbeatInterval, or live jobs are rescued between heartbeats")
            }
        }
    }

    enum Phase: Int, Comparable {
        case idle, running, draining, stopping, stopped
        static func < (lhs: Phase, rhs: Phase) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    let configuration: Configuration
    let connector: Connector
    let pool: ConnectionPool
    let kinds = Mutex<[String: AnyKind]>([:])
    let phase = Atomic<Int>(Phase.idle.rawValue)
    let wakes: [String: WakeSignal]
    let doneWaiters = Mutex<[Int64: WakeSignal]>([:])
    let inFlight = Mutex<Set<Int64>>([])
    let tasks = Mutex<[Task<Void, Never>]>([])
    let groupTasks = Mutex<[Task<Void, Never>]>([])
    let listening = Atomic<Bool>(false)
    let listenerConnection = Mutex<PostgresConnection?>(nil)
    let leader = Atomic<Bool>(false)
    let counters = QueueCounters()

    var logger: Logger { configuration.logger }

    private init(configuration: Configuration, connector: Connector) {
        self.configuration = configuration
        self.connector = connector
        self.pool = ConnectionPool(connector: connector, maximumIdle: configuration.idleConnections)
        self.wakes = Dictionary(uniqueKeysWithValues: configuration.groups.map { ($0.name, WakeSignal()) })
    }

    /// Connects, checks credentials and the schema (migrating it when
    /// `configuration.migrate`), and records the groups' global limits.
    public static func connect(url: String, configuration: Configuration) async throws(DurableQueueError) -> PostgresQueue {
        try configuration.validate()
        let location = try DatabaseLocation(url: url)
        let connector = Connector(location: location, logger: configuration.logger, connectTimeout: configuration.connectTimeout)
        let queue = PostgresQueue(configuration: configuration, connector: connector)
        try await queue.pool.withConnection { connection in
            if configuration.migrate {
                _ = try await Schema.migrate(connection, connector: connector)
            } else {
                let found = try await Schema.version(connection, logger: configuration.logger)
                if found > Schema.currentVersion {
                    throw DurableQueueError.schemaTooNew(found: found, supported: Schema.currentVersion)
                }
                if found < Schema.currentVersion {
                    throw DurableQueueError.schemaNotMigrated(found: found, required: Schema.currentVersion)
                }
            }
            for group in configuration.groups {
                let limit = group.globalLimit.map { Int32($0) }
                try await connection.query(
                    """
                    INSERT INTO conveyor_groups (name, concurrency_limit) VALUES (\(group.name), \(limit))
                    ON CONFLICT (name) DO UPDATE SET concurrency_limit = EXCLUDED.concurrency_limit, updated_at = now()
                    WHERE conveyor_groups.concurrency_limit IS DISTINCT FROM EXCLUDED.concurrency_limit
                    """, logger: configuration.logger)
            }
        }
        return queue
    }

    /// Whether this process holds the leader lock (it rescues and prunes for everyone).
    public var isLeader: Bool { leader.load(ordering: .relaxed) }

    /// This process's worker name (the `worker` column).
    public var workerName: String { configuration.workerName }

    // MARK: Kinds

    /// Registers a kind whose handler returns an output (kept in the row for ``run(_:_:_:options:)``).
    /// Register every kind before ``start()``; a process fetches only jobs of kinds it registered.
    public func register<Payload: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, payload: Payload.Type, output: Output.Type, group: String? = nil,
        handler: @escaping @Sendable (Payload, JobContext) async throws -> Output
    ) throws(DurableQueueError) -> DurableKind<Payload, Output> {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw .invalidKind(name: name, reason: "a kind needs a non-blank name")
        }
        let groupName = group ?? configuration.groups[0].name
        guard wakes[groupName] != nil else { throw .unknownGroup(name: groupName) }
        guard Phase(rawValue: phase.load(ordering: .acquiring)) == .idle else {
            throw .invalidKind(name: name, reason: "register kinds before start()")
        }
        // One coder pair per kind (they are thread-safe); outputs of kinds without one are "{}".
        let decoder = JSONDecoder()
        let encoder = JSONEncoder()
        let noOutput = Output.self == NoOutput.self
        let entry = AnyKind(name: name) { text, context in
            let value: Payload
            do {
                value = try decoder.decode(Payload.self, from: Data(text.utf8))
            } catch {
                return .discard(DurableQueueError.decodingFailed(kind: name, reason: "\(error)").description)
            }
            do {
                let output = try await handler(value, context)
                if noOutput { return .completed("{}") }
                return .completed(String(decoding: try encoder.encode(output), as: UTF8.self))
            } catch {
                return .failed("\(error)")
            }
        }
        let added = kinds.withLock { kinds -> Bool in
            guard kinds[name] == nil else { return false }
            kinds[name] = entry
            return true
        }
        guard added else { throw .invalidKind(name: name, reason: "already registered in this queue") }
        return DurableKind(name: name, group: groupName)
    }

    /// Registers a kind whose handler returns nothing.
    public func register<Payload: Codable & Sendable>(
        _ name: String, payload: Payload.Type, group: String? = nil,
        handler: @escaping @Sendable (Payload, JobContext) async throws -> Void
    ) throws(DurableQueueError) -> DurableKind<Payload, NoOutput> {
        try register(name, payload: payload, output: NoOutput.self, group: group) { payload, context in
            try await handler(payload, context)
            return NoOutput()
        }
    }

    /// A kind registered elsewhere (another process runs it): submit-only.
    public func kind<Payload: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, payload: Payload.Type, output: Output.Type = NoOutput.self, group: String? = nil
    ) throws(DurableQueueError) -> DurableKind<Payload, Output> {
        let groupName = group ?? configuration.groups[0].name
        guard wakes[groupName] != nil else { throw .unknownGroup(name: groupName) }
        return DurableKind(name: name, group: groupName)
    }
}

/// A kind's handler behind a non-generic interface: JSON in, outcome out.
struct AnyKind: Sendable {
    enum Outcome: Sendable {
        case completed(String)
        case failed(String)
        case discard(String)
    }
    let name: String
    let execute: @Sendable (String, JobContext) async -> Outcome
}

/// Counters of this process's work, for statistics and the bench.
final class QueueCounters: Sendable {
    let claimed = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let discarded = Atomic<Int>(0)
    let staleCompletions = Atomic<Int>(0)
    let fetchQueries = Atomic<Int>(0)
}
