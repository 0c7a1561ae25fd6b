import Conveyor
import Foundation
import PostgresNIO

extension PostgresQueue {
    /// Submits one job; it exists once this returns (committed). Returns its ticket.
    ///
    /// ```swift
    /// let ticket = try await queue.submit(email, Email(to: "a@example.com"),
    ///                                     QueueTask(priority: .high, deadline: .seconds(60)),
    ///                                     options: JobOptions(delay: .seconds(5)))
    /// ```
    @discardableResult
    public func submit<Payload, Output>(
        _ kind: DurableKind<Payload, Output>, _ payload: Payload, _ task: QueueTask = QueueTask(),
        options: JobOptions = JobOptions()
    ) async throws(DurableQueueError) -> DurableTicket {
        try acceptsWork()
        let insert = try insertQuery(kind, payload, task, options, notifyDone: false)
        return try await pool.withConnection { connection in
            try await self.insert(insert, kind: kind.name, on: connection)
        }
    }

    /// Submits one job on the caller's connection, inside the caller's transaction if one is
    /// open: the job exists only if that transaction commits (workers are notified at commit).
    ///
    /// ```swift
    /// try await connection.withTransaction(logger: logger) { connection in
    ///     try await connection.query("INSERT INTO orders ...", logger: logger)
    ///     try await queue.submit(email, Email(to: customer), on: connection)
    /// }
    /// ```
    @discardableResult
    public func submit<Payload, Output>(
        _ kind: DurableKind<Payload, Output>, _ payload: Payload, _ task: QueueTask = QueueTask(),
        options: JobOptions = JobOptions(), on connection: PostgresConnection
    ) async throws(DurableQueueError) -> DurableTicket {
        try acceptsWork()
        let insert = try insertQuery(kind, payload, task, options, notifyDone: false)
        return try await connector.run { try await self.insert(insert, kind: kind.name, on: connection) }
    }

    /// Submits many jobs of one kind in one statement per 5 000 (a multi-row insert from
    /// arrays); returns how many were inserted. Unique options are refused here (one key
    /// cannot cover many jobs): submit unique jobs one by one.
    @discardableResult
    public func submit<Payload, Output>(
        _ kind: DurableKind<Payload, Output>, contentsOf payloads: [Payload], _ task: QueueTask = QueueTask(),
        options: JobOptions = JobOptions()
    ) async throws(DurableQueueError) -> Int {
        try acceptsWork()
        guard !payloads.isEmpty else { return 0 }
        guard options.unique == nil else {
            throw .invalidConfiguration(reason: "a bulk submit cannot be unique: submit unique jobs one at a time")
        }
        let fields = try insertFields(kind, task, options)
        let encoder = JSONEncoder()
        var texts: [String] = []
        texts.reserveCapacity(min(payloads.count, 5_000))
        var inserted = 0
        var index = payloads.startIndex
        while index < payloads.endIndex {
            let end = min(index + 5_000, payloads.endIndex)
            texts.removeAll(keepingCapacity: true)
            for payload in payloads[index..<end] {
                do {
                    texts.append(String(decoding: try encoder.encode(payload), as: UTF8.self))
                } catch {
                    throw .encodingFailed(kind: kind.name, reason: "\(error)")
                }
            }
            let batch = texts
            inserted += try await pool.withConnection { connection in
                let rows = try await connection.query(
                    """
                    WITH ins AS (
                        INSERT INTO conveyor_jobs (kind, grp, priority, payload, max_attempts, run_at, deadline)
                        SELECT \(fields.kind), \(fields.group), \(fields.priority), p, \(fields.maxAttempts),
                               coalesce(\(fields.runAt)::timestamptz, now() + \(fields.delayMilliseconds)::float8 * interval '1 millisecond'),
                               now() + \(fields.deadlineMilliseconds)::float8 * interval '1 millisecond'
                        FROM unnest(\(batch)::text[]) AS p
                        RETURNING grp)
                    SELECT count(*)::bigint,
                           (SELECT count(*) FROM (SELECT pg_notify('conveyor_jobs', g.grp) FROM (SELECT DISTINCT grp FROM ins) g) n)::bigint
                    FROM ins
                    """, logger: self.logger)
                for try await (count, _) in rows.decode((Int64, Int64).self) { return Int(count) }
                return 0
            }
            index = end
        }
        return inserted
    }

    /// Cancels a job that has not started; true if it was waiting (available) and is now
    /// cancelled. Running jobs run to the end, as in the engine.
    @discardableResult
    public func cancel(_ ticket: DurableTicket) async throws(DurableQueueError) -> Bool {
        try await cancel(id: ticket.id)
    }

    /// ``cancel(_:)`` by job id.
    @discardableResult
    public func cancel(id: Int64) async throws(DurableQueueError) -> Bool {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                WITH c AS (UPDATE conveyor_jobs SET state = 'cancelled', finished_at = now()
                           WHERE id = \(id) AND state = 'available' RETURNING id, notify_done)
                SELECT id, (SELECT count(*) FROM (SELECT pg_notify('conveyor_done', c.id::text) FROM c WHERE c.notify_done) n)::bigint FROM c
                """, logger: self.logger)
            for try await _ in rows.decode((Int64, Int64).self) { return true }
            return false
        }
    }

    // MARK: Internals

    struct InsertFields: Sendable {
        var kind: String
        var group: String
        var priority: Int16
        var maxAttempts: Int32
        var runAt: Date?
        var delayMilliseconds: Double
        var deadlineMilliseconds: Double?
        var uniqueKey: String?
        var uniquePeriodSeconds: Double
    }

    struct InsertQuery: Sendable {
        var fields: InsertFields
        var payload: String
        var notifyDone: Bool
    }

    func acceptsWork() throws(DurableQueueError) {
        let current = Phase(rawValue: phase.load(ordering: .acquiring)) ?? .stopped
        if current == .stopping || current == .stopped || current == .draining { throw .shutDown }
    }

    func insertFields<Payload, Output>(_ kind: DurableKind<Payload, Output>, _ task: QueueTask, _ options: JobOptions) throws(DurableQueueError) -> InsertFields {
        let group = task.group ?? kind.group
        guard wakes[group] != nil else { throw .unknownGroup(name: group) }
        if let deadline = task.deadline, deadline < .zero {
            throw .invalidConfiguration(reason: "a negative deadline; use .zero for \"start now or fail\"")
        }
        if let delay = options.delay, delay < .zero {
            throw .invalidConfiguration(reason: "a negative delay; use runAt for a moment in the past")
        }
        let attempts = options.maxAttempts ?? configuration.retry.maxAttempts
        guard (1...1_000_000).contains(attempts) else {
            throw .invalidConfiguration(reason: "maxAttempts \(attempts) must be in 1...1000000")
        }
        if let unique = options.unique {
            guard unique.period > .zero else { throw .invalidConfiguration(reason: "a unique period must be positive") }
            guard !unique.key.isEmpty else { throw .invalidConfiguration(reason: "a unique key must not be empty") }
        }
        let longest = 100.0 * 365 * 86_400 * 1_000  // 100 years in milliseconds: longer is "never"
        return InsertFields(
            kind: kind.name, group: group, priority: Int16(clamping: task.priority.level),
            maxAttempts: Int32(attempts), runAt: options.runAt,
            delayMilliseconds: min(longest, options.delay.map { RetryPolicy.seconds($0) * 1_000 } ?? 0),
            deadlineMilliseconds: task.deadline.map { min(longest, RetryPolicy.seconds($0) * 1_000) },
            uniqueKey: options.unique?.key,
            uniquePeriodSeconds: options.unique.map { RetryPolicy.seconds($0.period) } ?? 1)
    }

    func insertQuery<Payload, Output>(
        _ kind: DurableKind<Payload, Output>, _ payload: Payload, _ task: QueueTask, _ options: JobOptions, notifyDone: Bool
    ) throws(DurableQueueError) -> InsertQuery {
        let fields = try insertFields(kind, task, options)
        let text: String
        do {
            text = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
        } catch {
            throw .encodingFailed(kind: kind.name, reason: "\(error)")
        }
        return InsertQuery(fields: fields, payload: text, notifyDone: notifyDone)
    }

    func insert(_ insert: InsertQuery, kind: String, on connection: PostgresConnection) async throws -> DurableTicket {
        let f = insert.fields
        let rows = try await connection.query(
            """
            WITH ins AS (
                INSERT INTO conveyor_jobs (kind, grp, priority, payload, max_attempts, run_at, deadline, unique_key, notify_done)
                VALUES (\(f.kind), \(f.group), \(f.priority), \(insert.payload), \(f.maxAttempts),
                        coalesce(\(f.runAt)::timestamptz, now() + \(f.delayMilliseconds)::float8 * interval '1 millisecond'),
                        now() + \(f.deadlineMilliseconds)::float8 * interval '1 millisecond',
                        CASE WHEN \(f.uniqueKey)::text IS NULL THEN NULL
                             ELSE \(f.uniqueKey)::text || '@' || floor(extract(epoch FROM now()) / \(f.uniquePeriodSeconds)::float8)::bigint::text END,
                        \(insert.notifyDone))
                ON CONFLICT (kind, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
                RETURNING id, grp)
            SELECT id, (SELECT count(*) FROM (SELECT pg_notify('conveyor_jobs', g.grp) FROM (SELECT DISTINCT grp FROM ins) g) n)::bigint
            FROM ins
            """, logger: logger)
        for try await (id, _) in rows.decode((Int64, Int64).self) {
            return DurableTicket(id: id, kind: kind, isDuplicate: false)
        }
        // A unique duplicate: the existing job of this window.
        let existing = try await connection.query(
            """
            SELECT id FROM conveyor_jobs WHERE kind = \(f.kind)
              AND unique_key = \(f.uniqueKey)::text || '@' || floor(extract(epoch FROM now()) / \(f.uniquePeriodSeconds)::float8)::bigint::text
            """, logger: logger)
        for try await id in existing.decode(Int64.self) {
            return DurableTicket(id: id, kind: kind, isDuplicate: true)
        }
        // The duplicate finished and was pruned between the two statements: report it as one.
        return DurableTicket(id: -1, kind: kind, isDuplicate: true)
    }
}
