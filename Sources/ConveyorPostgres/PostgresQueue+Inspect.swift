import Conveyor
import Foundation
import Logging
import PostgresNIO

extension PostgresQueue {
    /// Submits a job and waits for its end: the handler's output, or the typed reason it did not
    /// complete. `task.deadline` bounds submit → start, as in the engine: at the deadline a job
    /// that has not started is discarded and this throws ``DurableQueueError/deadlineExceeded(id:kind:)``.
    /// Cancelling the calling task cancels a job that has not started and throws
    /// ``DurableQueueError/cancelled(id:kind:)`` at once. Any process may run the job.
    ///
    /// ```swift
    /// let sum = try queue.register("sum", payload: [Int].self, output: Int.self) { numbers, _ in numbers.reduce(0, +) }
    /// try await queue.start()
    /// let result = try await queue.run(sum, [1, 2, 3])
    /// print(result.value, result.attempt, result.queueWait)
    /// ```
    public func run<Payload, Output>(
        _ kind: DurableKind<Payload, Output>, _ payload: Payload, _ task: QueueTask = QueueTask(),
        options: JobOptions = JobOptions()
    ) async throws(DurableQueueError) -> DurableResult<Output> {
        try acceptsWork()
        ensureListener()
        let insert = try insertQuery(kind, payload, task, options, notifyDone: true)
        let signal = WakeSignal()
        let ticket = try await pool.withConnection { connection in
            try await self.insert(insert, kind: kind.name, on: connection)
        }
        doneWaiters.withLock { $0[ticket.id] = signal }
        defer { _ = doneWaiters.withLock { $0.removeValue(forKey: ticket.id) } }
        let clock = ContinuousClock()
        let deadline = task.deadline.map { clock.now + $0 }
        while true {
            if Task.isCancelled {
                _ = try? await cancel(id: ticket.id)
                throw .cancelled(id: ticket.id, kind: kind.name)
            }
            if let settled = try await outcome(of: ticket.id, kind: kind) { return try settled.get() }
            var wait = configuration.pollInterval
            if let deadline {
                let left = deadline - clock.now
                if left <= .zero {
                    if try await expire(id: ticket.id) { throw .deadlineExceeded(id: ticket.id, kind: kind.name) }
                } else {
                    wait = min(wait, left)
                }
            }
            if currentPhase >= .stopped { throw .shutDown }
            await signal.wait(timeout: wait)
        }
    }

    /// Marks a job that has not started as discarded because its deadline passed.
    private func expire(id: Int64) async throws(DurableQueueError) -> Bool {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                UPDATE conveyor_jobs SET state = 'discarded', finished_at = now(),
                       errors = errors || 'deadline exceeded: not started before its deadline'::text
                WHERE id = \(id) AND state = 'available' RETURNING id
                """, logger: self.logger)
            for try await _ in rows.decode(Int64.self) { return true }
            return false
        }
    }

    private func outcome<Payload, Output>(of id: Int64, kind: DurableKind<Payload, Output>) async throws(DurableQueueError)
        -> Result<DurableResult<Output>, DurableQueueError>?
    {
        guard let info = try await job(id: id) else { return .failure(.jobNotFound(id: id)) }
        switch info.state {
        case .available, .running: return nil
        case .cancelled: return .failure(.cancelled(id: id, kind: kind.name))
        case .discarded:
            if info.errors.last?.hasPrefix("deadline exceeded") == true { return .failure(.deadlineExceeded(id: id, kind: kind.name)) }
            return .failure(.discarded(id: id, kind: kind.name, errors: info.errors))
        case .completed:
            let value: Output
            do {
                value = try JSONDecoder().decode(Output.self, from: Data((info.result ?? "null").utf8))
            } catch {
                return .failure(.decodingFailed(kind: kind.name, reason: "result of job \(id): \(error)"))
            }
            let started = info.startedAt ?? info.createdAt
            let finished = info.finishedAt ?? started
            return .success(DurableResult(
                value: value, id: id, attempt: info.attempt,
                queueWait: .seconds(max(0, started.timeIntervalSince(info.createdAt))),
                serviceTime: .seconds(max(0, finished.timeIntervalSince(started)))))
        }
    }

    /// One job's row, or nil if it is not in the table.
    public func job(id: Int64) async throws(DurableQueueError) -> JobInfo? {
        try await jobs(where: "id = \(id)", limit: 1).first
    }

    /// Jobs in a state, newest first: e.g. the discarded ones, to inspect and ``retry(id:)``.
    ///
    /// ```swift
    /// for job in try await queue.jobs(in: .discarded) { print(job.id, job.errors.last ?? "") }
    /// ```
    public func jobs(in state: JobState, limit: Int = 100) async throws(DurableQueueError) -> [JobInfo] {
        try await jobs(where: "state = '\(state.rawValue)'", limit: max(0, limit))
    }

    private func jobs(where condition: String, limit: Int) async throws(DurableQueueError) -> [JobInfo] {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: """
                    SELECT id, kind, grp, state, priority, attempt, max_attempts, run_at, created_at, started_at,
                           finished_at, worker, errors, payload, result
                    FROM conveyor_jobs WHERE \(condition) ORDER BY id DESC LIMIT \(limit)
                    """), logger: self.logger)
            var found: [JobInfo] = []
            for try await row in rows {
                let r = row.makeRandomAccess()
                found.append(JobInfo(
                    id: try r["id"].decode(Int64.self), kind: try r["kind"].decode(String.self),
                    group: try r["grp"].decode(String.self),
                    state: JobState(rawValue: try r["state"].decode(String.self)) ?? .discarded,
                    priority: Int(try r["priority"].decode(Int16.self)), attempt: Int(try r["attempt"].decode(Int32.self)),
                    maxAttempts: Int(try r["max_attempts"].decode(Int32.self)), runAt: try r["run_at"].decode(Date.self),
                    createdAt: try r["created_at"].decode(Date.self), startedAt: try r["started_at"].decode(Date?.self),
                    finishedAt: try r["finished_at"].decode(Date?.self), worker: try r["worker"].decode(String?.self),
                    errors: try r["errors"].decode([String].self), payload: try r["payload"].decode(String.self),
                    result: try r["result"].decode(String?.self)))
            }
            return found
        }
    }

    /// Puts a discarded (or cancelled) job back to available, now, with room for one more
    /// attempt if its attempts were used up; the attempt count and errors are kept. True if it
    /// was discarded or cancelled.
    @discardableResult
    public func retry(id: Int64) async throws(DurableQueueError) -> Bool {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                WITH r AS (UPDATE conveyor_jobs SET state = 'available', run_at = now(), finished_at = NULL, deadline = NULL,
                                  max_attempts = GREATEST(max_attempts, attempt + 1)
                           WHERE id = \(id) AND state IN ('discarded', 'cancelled') RETURNING id, grp)
                SELECT id, (SELECT count(*) FROM (SELECT pg_notify('conveyor_jobs', r.grp) FROM r) n)::bigint FROM r
                """, logger: self.logger)
            for try await _ in rows.decode((Int64, Int64).self) { return true }
            return false
        }
    }

    /// Jobs per group and state (the durable backlog, e.g. for a scaler or a dashboard).
    public func counts() async throws(DurableQueueError) -> [GroupCounts] {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                "SELECT grp, state, count(*)::bigint FROM conveyor_jobs GROUP BY grp, state ORDER BY grp", logger: self.logger)
            var byGroup: [String: [JobState: Int]] = [:]
            for try await (group, state, count) in rows.decode((String, String, Int64).self) {
                if let state = JobState(rawValue: state) { byGroup[group, default: [:]][state] = Int(count) }
            }
            return byGroup.keys.sorted().map { GroupCounts(group: $0, counts: byGroup[$0] ?? [:]) }
        }
    }

    /// This process's counts since it connected: jobs claimed, completed, retried, discarded,
    /// completions that arrived after a rescue (not recorded), fetch queries.
    public var processStatistics: (claimed: Int, completed: Int, retried: Int, discarded: Int, stale: Int, fetchQueries: Int) {
        (
            counters.claimed.load(ordering: .relaxed), counters.completed.load(ordering: .relaxed),
            counters.failed.load(ordering: .relaxed), counters.discarded.load(ordering: .relaxed),
            counters.staleCompletions.load(ordering: .relaxed), counters.fetchQueries.load(ordering: .relaxed)
        )
    }
}

extension PostgresQueue {
    /// Lends a connection to the queue's database (from the queue's small pool), e.g. for a
    /// handler that records its effect in the same database. Do not keep it.
    ///
    /// ```swift
    /// try await queue.withConnection { connection in
    ///     try await connection.query("UPDATE accounts SET paid = true WHERE id = \(id)", logger: queue.logger)
    /// }
    /// ```
    public func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws(DurableQueueError) -> T {
        try await pool.withConnection(body)
    }

    /// The logger the queue was configured with (debug and trace only).
    public var queueLogger: Logger { configuration.logger }
}
