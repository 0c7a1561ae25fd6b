import Conveyor
import Foundation
import NIOCore
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

    /// Submits many jobs of one kind with one `COPY … FROM STDIN` in one transaction: all are
    /// inserted or none. Returns how many were inserted. The options apply to every job;
    /// unique options are refused here (one key cannot cover many jobs): submit unique jobs
    /// one by one.
    ///
    /// ```swift
    /// let count = try await queue.submit(email, contentsOf: addresses.map { Email(to: $0) },
    ///                                    options: JobOptions(delay: .seconds(10)))
    /// ```
    @discardableResult
    public func submit<Payload, Output>(
        _ kind: DurableKind<Payload, Output>, contentsOf payloads: [Payload], _ task: QueueTask = QueueTask(),
        options: JobOptions = JobOptions()
    ) async throws(DurableQueueError) -> Int {
        try acceptsWork()
        guard !payloads.isEmpty else { return 0 }
        let fields = try bulkFields(kind, task, options)
        return try await pool.withConnection { connection in
            try await connection.query("BEGIN", logger: self.logger)
            do {
                let count = try await self.copyJobs(payloads, fields, on: connection)
                try await connection.query("COMMIT", logger: self.logger)
                return count
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: self.logger)
                throw error
            }
        }
    }

    /// ``submit(_:contentsOf:_:options:)`` on the caller's connection, inside the caller's
    /// transaction if one is open: the jobs exist only if it commits (workers are notified at
    /// commit). Without an open transaction the `COPY` commits on its own (all rows or none)
    /// and the notification follows it.
    ///
    /// ```swift
    /// try await connection.withTransaction(logger: logger) { connection in
    ///     try await connection.query("INSERT INTO imports ...", logger: logger)
    ///     try await queue.submit(email, contentsOf: batch, on: connection)
    /// }
    /// ```
    @discardableResult
    public func submit<Payload, Output>(
        _ kind: DurableKind<Payload, Output>, contentsOf payloads: [Payload], _ task: QueueTask = QueueTask(),
        options: JobOptions = JobOptions(), on connection: PostgresConnection
    ) async throws(DurableQueueError) -> Int {
        try acceptsWork()
        guard !payloads.isEmpty else { return 0 }
        let fields = try bulkFields(kind, task, options)
        return try await connector.run { try await self.copyJobs(payloads, fields, on: connection) }
    }

    private func bulkFields<Payload, Output>(
        _ kind: DurableKind<Payload, Output>, _ task: QueueTask, _ options: JobOptions
    ) throws(DurableQueueError) -> InsertFields {
        guard options.unique == nil else {
            throw .invalidConfiguration(reason: "a bulk submit cannot be unique: submit unique jobs one at a time")
        }
        return try insertFields(kind, task, options)
    }

    /// Three statements: the run time and deadline as the server computes them (`now()` as in
    /// the single-row insert: inside a transaction it is the transaction's start, so every
    /// statement of it agrees), one `COPY` of every row in text format, streamed in chunks as
    /// the payloads are encoded, and the group's notification (delivered at commit).
    func copyJobs<Payload: Encodable>(_ payloads: [Payload], _ f: InsertFields, on connection: PostgresConnection) async throws -> Int {
        let times = try await connection.query(
            """
            SELECT coalesce(\(f.runAt)::timestamptz, now() + \(f.delayMilliseconds)::float8 * interval '1 millisecond')::text,
                   (now() + \(f.deadlineMilliseconds)::float8 * interval '1 millisecond')::text
            """, logger: logger)
        var runAt = ""
        var deadline: String?
        for try await (run, end) in times.decode((String, String?).self) {
            runAt = run
            deadline = end
        }
        // The columns every row shares, escaped once: kind, group, priority; then per row the
        // payload; then max_attempts, run_at, deadline (\N: NULL).
        var head = ByteBuffer()
        CopyText.field(f.kind, into: &head)
        head.writeInteger(UInt8(ascii: "\t"))
        CopyText.field(f.group, into: &head)
        head.writeString("\t\(f.priority)\t")
        var tail = ByteBuffer()
        tail.writeString("\t\(f.maxAttempts)\t")
        CopyText.field(runAt, into: &tail)
        tail.writeInteger(UInt8(ascii: "\t"))
        if let deadline { CopyText.field(deadline, into: &tail) } else { tail.writeString("\\N") }
        tail.writeInteger(UInt8(ascii: "\n"))
        let encoder = JSONEncoder()
        let kind = f.kind
        try await connection.copyFrom(
            table: "conveyor_jobs", columns: ["kind", "grp", "priority", "payload", "max_attempts", "run_at", "deadline"],
            logger: logger
        ) { writer in
            var chunk = ByteBuffer()
            chunk.reserveCapacity(CopyText.chunkBytes + 4_096)
            for payload in payloads {
                let json: Data
                do {
                    json = try encoder.encode(payload)
                } catch {
                    throw DurableQueueError.encodingFailed(kind: kind, reason: "\(error)")
                }
                chunk.writeImmutableBuffer(head)
                CopyText.field(json, into: &chunk)
                chunk.writeImmutableBuffer(tail)
                if chunk.readableBytes >= CopyText.chunkBytes {
                    try await writer.write(chunk)
                    chunk.clear()
                }
            }
            if chunk.readableBytes > 0 { try await writer.write(chunk) }
        }
        try await connection.query("SELECT pg_notify('conveyor_jobs', \(f.group))", logger: logger)
        return payloads.count
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

/// `COPY … FROM STDIN` text format: a backslash, tab, newline or carriage return inside a
/// field is written as a backslash escape; every other byte (UTF-8 included) as itself.
enum CopyText {
    /// Rows are sent in messages of about this many bytes.
    static let chunkBytes = 256 * 1_024

    static func field(_ text: String, into buffer: inout ByteBuffer) {
        var text = text
        text.withUTF8 { field($0, into: &buffer) }
    }

    static func field(_ data: Data, into buffer: inout ByteBuffer) {
        data.withUnsafeBytes { field($0.bindMemory(to: UInt8.self), into: &buffer) }
    }

    static func field(_ bytes: UnsafeBufferPointer<UInt8>, into buffer: inout ByteBuffer) {
        var plainFrom = 0
        for (index, byte) in bytes.enumerated() {
            let escaped: UInt8
            switch byte {
            case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
            case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
            case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
            case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
            default: continue
            }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[plainFrom..<index]))
            buffer.writeInteger(UInt8(ascii: "\\"))
            buffer.writeInteger(escaped)
            plainFrom = index + 1
        }
        buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[plainFrom..<bytes.count]))
    }
}
