import Conveyor
import Foundation

/// A registered durable kind: its name, payload and output types. Returned by
/// ``PostgresQueue/register(_:payload:output:group:handler:)``; pass it to `submit` and `run`.
///
/// ```swift
/// let email = try queue.register("email", payload: Email.self) { email, job in try await send(email) }
/// try await queue.submit(email, Email(to: "a@example.com"))
/// ```
public struct DurableKind<Payload: Codable & Sendable, Output: Codable & Sendable>: Sendable, Hashable {
    public let name: String
    /// The group its jobs go to when a submit names none.
    public let group: String
}

/// The output of kinds whose handlers return nothing.
public struct NoOutput: Codable, Sendable, Hashable {
    public init() {}
}

/// What a handler knows about the job it runs. Use `id` and `attempt` to make a handler
/// idempotent: a job may run more than once (at-least-once), its id never changes.
///
/// ```swift
/// try queue.register("charge", payload: Charge.self) { charge, job in
///     try await payments.charge(charge, idempotencyKey: "job-\(job.id)")
/// }
/// ```
public struct JobContext: Sendable, Hashable {
    public var id: Int64
    public var kind: String
    public var group: String
    public var priority: QueueTask.Priority
    /// 1 on the first run; rescues and retries add one.
    public var attempt: Int
    public var maxAttempts: Int
}

/// A submitted job. `isDuplicate` is true when a unique job with the same key and period
/// already existed: then `id` is that job's.
public struct DurableTicket: Sendable, Hashable {
    public var id: Int64
    public var kind: String
    public var isDuplicate: Bool
}

/// When and how often a job runs, and whether it is unique.
///
/// ```swift
/// JobOptions(delay: .seconds(30))                                  // delayed
/// JobOptions(runAt: tomorrowNine)                                  // scheduled
/// JobOptions(unique: .init(key: "report-42", period: .seconds(3600)), maxAttempts: 3)
/// ```
public struct JobOptions: Sendable, Hashable {
    /// Run at (or after) this moment, server time.
    public var runAt: Date?
    /// Run this long after the submit (ignored when `runAt` is given).
    public var delay: Duration?
    public var unique: Uniqueness?
    /// Overrides the queue's ``RetryPolicy/maxAttempts`` for this job.
    public var maxAttempts: Int?

    public init(runAt: Date? = nil, delay: Duration? = nil, unique: Uniqueness? = nil, maxAttempts: Int? = nil) {
        self.runAt = runAt
        self.delay = delay
        self.unique = unique
        self.maxAttempts = maxAttempts
    }

    /// At most one job of a kind per key within each period: periods are fixed windows of
    /// `period` counted from the Unix epoch on the server's clock, so a second submit with the
    /// same key in the same window returns the first job's ticket.
    public struct Uniqueness: Sendable, Hashable {
        public var key: String
        public var period: Duration

        public init(key: String, period: Duration) {
            self.key = key
            self.period = period
        }
    }
}

/// The states a job moves through (the `state` column).
public enum JobState: String, Sendable, Hashable, CaseIterable {
    /// Waiting to run (also scheduled ones, and failed ones waiting for their retry).
    case available
    case running
    case completed
    /// Attempts used up, an undecodable payload or a deadline missed: kept for inspection and
    /// ``PostgresQueue/retry(id:)``.
    case discarded
    case cancelled
}

/// One job's row, for inspection.
public struct JobInfo: Sendable, Hashable {
    public var id: Int64
    public var kind: String
    public var group: String
    public var state: JobState
    public var priority: Int
    public var attempt: Int
    public var maxAttempts: Int
    public var runAt: Date
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var worker: String?
    /// Each failed attempt's error, oldest first.
    public var errors: [String]
    public var payload: String
    public var result: String?
}

/// The result of ``PostgresQueue/run(_:_:_:options:)``: the handler's output and the job's
/// times as the server recorded them.
public struct DurableResult<Value: Sendable>: Sendable {
    public var value: Value
    public var id: Int64
    public var attempt: Int
    /// From submit to the start of the attempt that completed.
    public var queueWait: Duration
    /// The completing attempt's run, as recorded (start to completion write).
    public var serviceTime: Duration
}

/// Jobs per state of one group.
public struct GroupCounts: Sendable, Hashable {
    public var group: String
    public var counts: [JobState: Int]
}

/// A group of the durable queue: the name jobs are routed by, how many handlers this process
/// runs at once, and an optional limit over **all** processes.
///
/// ```swift
/// DurableGroup("io", workers: 16, globalLimit: 4)   // at most 4 "io" jobs at once anywhere
/// DurableGroup(ResourceGroup("cpu", minWorkers: 2)) // the engine group's name and workers
/// ```
public struct DurableGroup: Sendable, Hashable {
    public var name: String
    /// Handlers this process runs at once (0: this process only submits to the group).
    public var workers: Int
    /// Jobs of the group running at once across every process, enforced in the fetch (see
    /// docs/Postgres.md); nil for no limit.
    public var globalLimit: Int?
    /// Most jobs one fetch query claims.
    public var batchSize: Int

    public init(_ name: String, workers: Int = 8, globalLimit: Int? = nil, batchSize: Int = 100) {
        self.name = name
        self.workers = workers
        self.globalLimit = globalLimit
        self.batchSize = batchSize
    }

    /// The engine group's name and initial worker count.
    public init(_ group: ResourceGroup, globalLimit: Int? = nil, batchSize: Int = 100) {
        self.init(group.name, workers: group.initialWorkers, globalLimit: globalLimit, batchSize: batchSize)
    }
}
