import Conveyor
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// A job this process claimed.
struct ClaimedJob: Sendable {
    var id: Int64
    var kind: String
    var group: String
    var priority: Int16
    var payload: String
    var attempt: Int32
    var maxAttempts: Int32
    var expired: Bool
}

/// A finished attempt, waiting to be written in the next completion batch.
struct FinishedJob: Sendable {
    var id: Int64
    var attempt: Int32
    /// The new state: completed, available (retry) or discarded.
    var state: JobState
    var result: String
    var error: String
    var delayMilliseconds: Double
}

extension PostgresQueue {
    /// Starts this process's share of the work: one fetch loop per group with `workers > 0`
    /// (each on a connection of its own), the LISTEN connection, heartbeats of the jobs it runs,
    /// and the leader election for maintenance. Register kinds first.
    public func start() async throws(DurableQueueError) {
        guard phase.compareExchange(expected: Phase.idle.rawValue, desired: Phase.running.rawValue, ordering: .acquiringAndReleasing).exchanged
        else { throw .invalidConfiguration(reason: "start() was already called on this queue") }
        let table = kinds.withLock { $0 }
        var connections: [(DurableGroup, PostgresConnection)] = []
        do {
            for group in configuration.groups where group.workers > 0 {
                connections.append((group, try await connector.connect()))
            }
        } catch {
            phase.store(Phase.stopped.rawValue, ordering: .releasing)
            for (_, connection) in connections { try? await connection.close() }
            throw error
        }
        ensureListener()
        let loops = connections.map { pair in
            Task { await self.workLoop(pair.0, pair.1, table) }
        }
        groupTasks.withLock { $0 += loops }
        let helpers = [Task { await self.heartbeatLoop() }, Task { await self.maintenanceLoop() }]
        tasks.withLock { $0 += helpers }
        logger.debug("durable queue started", metadata: ["worker": "\(workerName)", "groups": "\(connections.count)"])
    }

    /// Stops. `drain: true` keeps fetching until the served groups have no due job left (of
    /// the kinds this process runs), then stops; `drain: false` stops fetching at once. Either
    /// way running handlers finish and their completions are written; jobs not yet fetched
    /// stay in the table for other processes or the next start. Submits throw ``DurableQueueError/shutDown``.
    public func shutdown(drain: Bool = true) async {
        let target = drain ? Phase.draining : Phase.stopping
        while true {
            let current = phase.load(ordering: .acquiring)
            if current >= Phase.stopping.rawValue || (current == Phase.draining.rawValue && drain) { break }
            let next = current == Phase.idle.rawValue ? Phase.stopping : target
            if phase.compareExchange(expected: current, desired: next.rawValue, ordering: .acquiringAndReleasing).exchanged { break }
        }
        for wake in wakes.values { wake.signal() }
        let loops = groupTasks.withLock { $0 }
        for loop in loops { await loop.value }
        phase.store(Phase.stopped.rawValue, ordering: .releasing)
        let helpers = tasks.withLock { all in
            defer { all.removeAll() }
            return all
        }
        for helper in helpers { helper.cancel() }
        closeListener()
        for helper in helpers { await helper.value }
        await pool.close()
        let waiters = doneWaiters.withLock { $0.values }
        for waiter in waiters { waiter.signal() }
        logger.debug("durable queue stopped", metadata: ["worker": "\(workerName)"])
    }

    var currentPhase: Phase { Phase(rawValue: phase.load(ordering: .acquiring)) ?? .stopped }

    // MARK: The fetch loop of one group

    private enum Event: Sendable {
        case finished(FinishedJob)
        case tick
    }

    /// Claims up to `min(free workers, batchSize)` jobs in one query whenever at least half the
    /// group's workers are free, runs each in a child task, and writes finished attempts in one
    /// query per batch (or as soon as half the workers are free). Waits on the group's wake
    /// signal (NOTIFY) or the poll interval while workers are free.
    func workLoop(_ group: DurableGroup, _ first: PostgresConnection, _ table: [String: AnyKind]) async {
        var connection: PostgresConnection? = first
        let names = Array(table.keys)
        let wake = wakes[group.name]!
        let capacity = group.workers
        let refillMark = capacity / 2
        await withTaskGroup(of: Event.self) { children in
            var running = 0
            var ticking = false
            var done: [FinishedJob] = []
            while true {
                let phase = currentPhase
                if !done.isEmpty && (done.count >= group.batchSize || running <= refillMark || phase >= .stopping) {
                    await flush(&done, &connection)
                }
                if phase >= .stopping && running == 0 { break }
                var claimedNone = false
                if phase < .stopping && running <= refillMark && done.isEmpty {
                    if let jobs = await claim(group, names: names, want: min(capacity - running, group.batchSize), &connection) {
                        inFlight.withLock { set in for job in jobs { set.insert(job.id) } }
                        for job in jobs {
                            children.addTask {
                                let finished = await self.execute(job, table)
                                return .finished(finished)
                            }
                        }
                        running += jobs.count
                        claimedNone = jobs.isEmpty
                    }
                }
                if phase == .draining && claimedNone && running == 0 && done.isEmpty { break }
                if running <= refillMark && phase < .stopping && !ticking {
                    ticking = true
                    let interval = configuration.pollInterval
                    children.addTask {
                        await wake.wait(timeout: interval)
                        return .tick
                    }
                }
                guard let event = await children.next() else { continue }
                switch event {
                case .tick: ticking = false
                case .finished(let finished):
                    done.append(finished)
                    running -= 1
                }
            }
            children.cancelAll()
        }
        if let connection { try? await connection.close() }
    }

    /// One claim query (two statements in a transaction for a group with a global limit). The
    /// locked ids are collected with `ARRAY(SELECT … FOR UPDATE SKIP LOCKED)` so the update
    /// reaches them by primary key: written as a join, the planner scanned the whole table
    /// per claim (a hash join), which made each claim cost O(table).
    /// Nil when the database failed (the connection is dropped and reopened next time).
    func claim(_ group: DurableGroup, names: [String], want: Int, _ connection: inout PostgresConnection?) async -> [ClaimedJob]? {
        guard want > 0 else { return [] }
        do {
            if connection == nil || connection?.isClosed == true {
                connection = try await connector.connect()
            }
            guard let connection else { return nil }
            counters.fetchQueries.add(1, ordering: .relaxed)
            let limit = Int32(want)
            let worker = workerName
            let rows: PostgresRowSequence
            if group.globalLimit != nil {
                // The group row's lock serializes the claims of this group across processes; the
                // claim is a second statement so that, under READ COMMITTED, its snapshot is taken
                // after the lock is held and counts every claim committed before it.
                try await connection.query("BEGIN", logger: logger)
                do {
                    try await connection.query(
                        "SELECT concurrency_limit FROM conveyor_groups WHERE name = \(group.name) FOR UPDATE", logger: logger)
                    rows = try await connection.query(
                        """
                        UPDATE conveyor_jobs j SET state = 'running', attempt = j.attempt + 1, started_at = now(),
                               heartbeat_at = now(), worker = \(worker)
                        WHERE j.id = ANY(ARRAY(
                              SELECT id FROM conveyor_jobs
                              WHERE state = 'available' AND grp = \(group.name) AND run_at <= now() AND kind = ANY(\(names))
                              ORDER BY priority, run_at, id
                              LIMIT GREATEST(0, LEAST(\(limit),
                                    coalesce((SELECT concurrency_limit FROM conveyor_groups WHERE name = \(group.name)), \(limit))
                                    - (SELECT count(*) FROM conveyor_jobs WHERE state = 'running' AND grp = \(group.name))))
                              FOR UPDATE SKIP LOCKED))
                        RETURNING j.id, j.kind, j.priority, j.payload, j.attempt, j.max_attempts,
                                  (j.deadline IS NOT NULL AND j.deadline < now())
                        """, logger: logger)
                    let jobs = try await decodeClaim(rows, group: group.name)
                    try await connection.query("COMMIT", logger: logger)
                    return jobs
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
            rows = try await connection.query(
                """
                UPDATE conveyor_jobs j SET state = 'running', attempt = j.attempt + 1, started_at = now(),
                       heartbeat_at = now(), worker = \(worker)
                WHERE j.id = ANY(ARRAY(
                      SELECT id FROM conveyor_jobs
                      WHERE state = 'available' AND grp = \(group.name) AND run_at <= now() AND kind = ANY(\(names))
                      ORDER BY priority, run_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED))
                RETURNING j.id, j.kind, j.priority, j.payload, j.attempt, j.max_attempts,
                          (j.deadline IS NOT NULL AND j.deadline < now())
                """, logger: logger)
            return try await decodeClaim(rows, group: group.name)
        } catch {
            logger.debug("claim failed", metadata: ["group": "\(group.name)", "error": "\(DurableQueueError.wrap(error, location: connector.location))"])
            if let open = connection { try? await open.close() }
            connection = nil
            return nil
        }
    }

    private func decodeClaim(_ rows: PostgresRowSequence, group: String) async throws -> [ClaimedJob] {
        var jobs: [ClaimedJob] = []
        for try await (id, kind, priority, payload, attempt, maxAttempts, expired) in rows.decode(
            (Int64, String, Int16, String, Int32, Int32, Bool).self)
        {
            jobs.append(ClaimedJob(
                id: id, kind: kind, group: group, priority: priority, payload: payload, attempt: attempt,
                maxAttempts: maxAttempts, expired: expired))
        }
        counters.claimed.add(jobs.count, ordering: .relaxed)
        return jobs
    }

    /// Runs one claimed job's handler and decides its next state.
    func execute(_ job: ClaimedJob, _ table: [String: AnyKind]) async -> FinishedJob {
        let prefix = "attempt \(job.attempt) on \(workerName): "
        func discard(_ error: String) -> FinishedJob {
            FinishedJob(id: job.id, attempt: job.attempt, state: .discarded, result: "", error: prefix + error, delayMilliseconds: 0)
        }
        if job.expired { return discard("deadline exceeded: the job started after its deadline") }
        guard let kind = table[job.kind] else { return discard("no handler for kind \"\(job.kind)\" in this process") }
        let context = JobContext(
            id: job.id, kind: job.kind, group: job.group, priority: QueueTask.Priority(level: Int(job.priority)),
            attempt: Int(job.attempt), maxAttempts: Int(job.maxAttempts))
        switch await kind.execute(job.payload, context) {
        case .completed(let result):
            return FinishedJob(id: job.id, attempt: job.attempt, state: .completed, result: result, error: "", delayMilliseconds: 0)
        case .discard(let error):
            return discard(error)
        case .failed(let error):
            if job.attempt >= job.maxAttempts {
                return discard("\(error) (attempts used up: \(job.maxAttempts))")
            }
            let delay = configuration.retry.delay(afterAttempt: Int(job.attempt), unit: Double.random(in: 0..<1))
            return FinishedJob(
                id: job.id, attempt: job.attempt, state: .available, result: "", error: prefix + error,
                delayMilliseconds: RetryPolicy.seconds(delay) * 1_000)
        }
    }

    /// Writes finished attempts in one statement. A row is updated only while it is still
    /// `running` with the same attempt number, so an attempt that was rescued meanwhile (and
    /// claimed again) cannot complete the job a second time: completion is recorded once.
    /// With `keepCompleted` off, a completed job nobody awaits is deleted under the same
    /// condition instead (`d`); `u` takes every other row, so the two never touch the same one.
    /// `d` matches `id/attempt` keys with `= ANY` (hashed by the server) rather than joining
    /// the batch: with the join, the planner's estimate of one running row chose a nested loop
    /// over the whole batch per row (36 ms for 500 rows against 1.3 ms, `EXPLAIN ANALYZE`).
    func flush(_ done: inout [FinishedJob], _ connection: inout PostgresConnection?) async {
        guard !done.isEmpty else { return }
        do {
            if connection == nil || connection?.isClosed == true {
                connection = try await connector.connect()
            }
            guard let connection else { return }
            let ids = done.map(\.id)
            let attempts = done.map(\.attempt)
            let states = done.map(\.state.rawValue)
            let results = done.map(\.result)
            let errors = done.map(\.error)
            let delays = done.map(\.delayMilliseconds)
            let deleted = configuration.keepCompleted ? [] : done.filter { $0.state == .completed }
            let deleteIds = deleted.map(\.id)
            let deleteKeys = deleted.map { "\($0.id)/\($0.attempt)" }
            let rows = try await connection.query(
                """
                WITH o AS (SELECT * FROM unnest(\(ids)::bigint[], \(attempts)::int[], \(states)::text[], \(results)::text[],
                                                \(errors)::text[], \(delays)::float8[]) AS o(id, attempt, st, res, err, delay_ms)),
                d AS (DELETE FROM conveyor_jobs j
                      WHERE j.id = ANY(\(deleteIds)::bigint[]) AND (j.id || '/' || j.attempt) = ANY(\(deleteKeys)::text[])
                        AND j.state = 'running' AND NOT j.notify_done
                      RETURNING j.id),
                u AS (UPDATE conveyor_jobs j SET state = o.st,
                             result = NULLIF(o.res, ''),
                             finished_at = CASE WHEN o.st = 'available' THEN NULL ELSE now() END,
                             run_at = CASE WHEN o.st = 'available' THEN now() + o.delay_ms * interval '1 millisecond' ELSE j.run_at END,
                             errors = CASE WHEN o.err = '' THEN j.errors ELSE j.errors || o.err END,
                             heartbeat_at = NULL
                      FROM o WHERE j.id = ANY(\(ids)::bigint[]) AND j.id = o.id AND j.attempt = o.attempt AND j.state = 'running'
                        AND (j.notify_done OR NOT j.id = ANY(\(deleteIds)::bigint[]))
                      RETURNING j.id, j.notify_done, o.st)
                SELECT ((SELECT count(*) FROM u) + (SELECT count(*) FROM d))::bigint,
                       (SELECT count(*) FROM (SELECT pg_notify('conveyor_done', u.id::text) FROM u
                                              WHERE u.notify_done AND u.st <> 'available') n)::bigint
                """, logger: logger)
            var written = 0
            for try await (count, _) in rows.decode((Int64, Int64).self) { written = Int(count) }
            for finished in done {
                switch finished.state {
                case .completed: counters.completed.add(1, ordering: .relaxed)
                case .available: counters.failed.add(1, ordering: .relaxed)
                default: counters.discarded.add(1, ordering: .relaxed)
                }
            }
            counters.staleCompletions.add(done.count - written, ordering: .relaxed)
            inFlight.withLock { set in for finished in done { set.remove(finished.id) } }
            done.removeAll(keepingCapacity: true)
        } catch {
            // Kept for the next try; if the database stays away, the heartbeats lapse too and
            // the leader rescues these jobs (at-least-once).
            logger.debug("completion write failed", metadata: ["error": "\(DurableQueueError.wrap(error, location: connector.location))"])
            if let open = connection { try? await open.close() }
            connection = nil
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    // MARK: Heartbeats, LISTEN, maintenance

    func heartbeatLoop() async {
        while currentPhase < .stopped && !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            let ids = inFlight.withLock { Array($0) }
            guard !ids.isEmpty else { continue }
            let worker = workerName
            do {
                _ = try await pool.withConnection { connection in
                    try await connection.query(
                        """
                        UPDATE conveyor_jobs SET heartbeat_at = now()
                        WHERE id = ANY(\(ids)) AND state = 'running' AND worker = \(worker)
                        """, logger: self.logger)
                }
            } catch {
                logger.debug("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }

    func ensureListener() {
        guard listening.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let task = Task { await self.listenLoop() }
        tasks.withLock { $0.append(task) }
    }

    func closeListener() {
        let connection = listenerConnection.withLock { $0 }
        connection?.close().whenComplete { _ in }
    }

    private func listenLoop() async {
        while currentPhase < .stopped && !Task.isCancelled {
            do {
                let connection = try await connector.connect()
                listenerConnection.withLock { $0 = connection }
                if currentPhase >= .stopped {
                    try? await connection.close()
                    return
                }
                try await connection.listen(on: "conveyor_jobs") { jobs in
                    try await connection.listen(on: "conveyor_done") { finished in
                        // Anything that arrived before LISTEN took effect is found by this wake-up.
                        for wake in self.wakes.values { wake.signal() }
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for try await notification in jobs { self.wakes[notification.payload]?.signal() }
                            }
                            group.addTask {
                                for try await notification in finished {
                                    guard let id = Int64(notification.payload) else { continue }
                                    self.doneWaiters.withLock { $0[id] }?.signal()
                                }
                            }
                            _ = try await group.next()
                            group.cancelAll()
                        }
                    }
                }
            } catch {
                logger.debug("LISTEN connection lost; polling until it is back", metadata: ["error": "\(error)"])
            }
            if let connection = listenerConnection.withLock({ $0 }) { try? await connection.close() }
            guard currentPhase < .stopped, !Task.isCancelled else { return }
            try? await Task.sleep(for: configuration.pollInterval)
        }
    }

    /// Every `maintenanceInterval`: try to become the leader (a session advisory lock, held as
    /// long as the connection lives: a process that dies loses it with its connection); the
    /// leader rescues jobs whose heartbeat is too old and prunes finished jobs.
    func maintenanceLoop() async {
        var connection: PostgresConnection?
        while currentPhase < .stopped && !Task.isCancelled {
            do {
                if connection == nil || connection?.isClosed == true {
                    leader.store(false, ordering: .relaxed)
                    connection = try await connector.connect()
                }
                if let connection {
                    if !leader.load(ordering: .relaxed) {
                        let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Schema.leaderLock))", logger: logger)
                        for try await got in rows.decode(Bool.self) { leader.store(got, ordering: .relaxed) }
                        if isLeader { logger.debug("elected leader", metadata: ["worker": "\(workerName)"]) }
                    }
                    if isLeader {
                        _ = try await rescue(on: connection)
                        try await prune(on: connection)
                    }
                }
            } catch {
                logger.debug("maintenance failed", metadata: ["error": "\(error)"])
                if let open = connection { try? await open.close() }
                connection = nil
                leader.store(false, ordering: .relaxed)
            }
            try? await Task.sleep(for: configuration.maintenanceInterval)
        }
        leader.store(false, ordering: .relaxed)
        if let connection { try? await connection.close() }
    }

    /// Jobs whose heartbeat is older than `rescueAfter` go back to available (or to discarded
    /// when their attempts are used up), with the rescue recorded in `errors`.
    func rescue(on connection: PostgresConnection) async throws -> Int {
        let milliseconds = RetryPolicy.seconds(configuration.rescueAfter) * 1_000
        let rows = try await connection.query(
            """
            WITH r AS (UPDATE conveyor_jobs SET
                    state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'available' END,
                    finished_at = CASE WHEN attempt >= max_attempts THEN now() ELSE NULL END,
                    run_at = now(),
                    errors = errors || ('attempt ' || attempt || ' on ' || coalesce(worker, '?')
                                        || ': rescued, no heartbeat since ' || heartbeat_at::text),
                    heartbeat_at = NULL
                WHERE state = 'running' AND heartbeat_at < now() - \(milliseconds)::float8 * interval '1 millisecond'
                RETURNING id, grp, state, notify_done)
            SELECT (SELECT count(*) FROM r)::bigint,
                   (SELECT count(*) FROM (SELECT pg_notify('conveyor_jobs', g.grp)
                                          FROM (SELECT DISTINCT grp FROM r WHERE state = 'available') g) n)::bigint,
                   (SELECT count(*) FROM (SELECT pg_notify('conveyor_done', r.id::text) FROM r
                                          WHERE r.notify_done AND r.state = 'discarded') m)::bigint
            """, logger: logger)
        var rescued = 0
        for try await (count, _, _) in rows.decode((Int64, Int64, Int64).self) { rescued = Int(count) }
        if rescued > 0 { logger.debug("rescued jobs", metadata: ["count": "\(rescued)"]) }
        return rescued
    }

    func prune(on connection: PostgresConnection) async throws {
        let milliseconds = RetryPolicy.seconds(configuration.retention) * 1_000
        try await connection.query(
            """
            DELETE FROM conveyor_jobs WHERE id IN (
                SELECT id FROM conveyor_jobs WHERE state IN ('completed', 'cancelled')
                  AND finished_at < now() - \(milliseconds)::float8 * interval '1 millisecond' LIMIT 10000)
            """, logger: logger)
    }
}
