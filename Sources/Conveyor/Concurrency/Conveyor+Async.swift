import CConveyor
import Foundation

/// An async kind's handler: the payload is read from the record; the body runs in a Swift
/// task of its own, so a handler that suspends never holds a worker thread.
final class AsyncKindHandler<Payload: BitwiseCopyable & Sendable>: TaskHandler, @unchecked Sendable {
    // @unchecked: immutable after init.
    let handler: @Sendable (Payload) async throws -> Void
    /// The engine whose kind table holds this handler (so it outlives the handler's tasks'
    /// start; each started task holds the engine strongly until it ends).
    unowned(unsafe) let engine: Conveyor

    init(kind: String, engine: Conveyor, handler: @escaping @Sendable (Payload) async throws -> Void) {
        self.handler = handler
        self.engine = engine
        super.init(kind: kind, isAsync: true)
    }

    override func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> TaskOutcome {
        let payload = UnsafeRawPointer(cnv_task_payload(record)!).loadUnaligned(as: Payload.self)
        let group: GroupRuntime = context.group
        let engine = self.engine
        let handler = self.handler
        let kind = self.kind
        Task {
            do {
                try await handler(payload)
                group.admission.completed.add(1, ordering: .relaxed)
            } catch {
                group.admission.failed.add(1, ordering: .relaxed)
                engine.report(TaskFailure(kind: kind, group: group.name, error: error))
            }
            group.admission.release(group: group, engine: engine)
        }
        return .startedAsync
    }
}

extension Conveyor {
    /// Registers a task kind whose handler is async. Its tasks are queued, prioritized,
    /// routed, cancelled and given start deadlines like those of synchronous kinds (the
    /// payload is stored inline: no allocation per submit), and counted in the group's
    /// statistics. A worker that takes one starts its body in a Swift task and goes on, so a
    /// handler that suspends never blocks a worker thread; at most the group's
    /// ``ResourceGroup/asyncLimit`` of them are in flight at once, suspended ones included
    /// (the rest wait, still queued and cancellable). An error it throws is reported like a
    /// synchronous handler's.
    ///
    /// ```swift
    /// struct Fetch: BitwiseCopyable, Sendable { var id: UInt64 }
    /// let fetch = try conveyor.register("fetch", payload: Fetch.self) { (job: Fetch) async throws in
    ///     try await download(job.id)
    /// }
    /// try conveyor.submit(fetch, Fetch(id: 7))
    /// ```
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a blank or repeated name
    ///   or a payload too large to store inline.
    public func register<Payload: BitwiseCopyable & Sendable>(
        _ name: String,
        payload: Payload.Type = Payload.self,
        handler: @escaping @Sendable (Payload) async throws -> Void
    ) throws -> TaskKind<Payload> {
        try self.addKind(name, AsyncKindHandler(kind: name, engine: self, handler: handler))
    }

    /// Runs an async closure as a task of its group and returns its value with timings, or
    /// rethrows its error. The task waits in the group's queue like any other (priority,
    /// deadline, cancellation before it starts) and counts against the group's
    /// ``ResourceGroup/asyncLimit`` while its body runs, suspended or not; the body itself runs
    /// in the calling Swift task (on its executor), never on a worker thread, so it may
    /// suspend freely. Cancelling the caller before the start cancels the task
    /// (`CancellationError`); after the start the body sees the cancellation as usual.
    ///
    /// ```swift
    /// let page = try await conveyor.run(QueueTask(kind: "fetch", group: "io")) {
    ///     try await client.get(url)
    /// }
    /// print(page.value, page.queueWait, page.serviceTime)
    /// ```
    @inlinable
    public func run<Value: Sendable>(
        _ task: QueueTask = QueueTask(), _ body: () async throws -> Value
    ) async throws -> TaskResult<Value> {
        let awaited = AwaitedTask(kind: task.kind, isAsync: true)
        try await self.runAwaited(awaited, task)
        if let error = awaited.error { throw error }
        // Started: this task holds one of the group's async slots until `endAsyncBody`.
        let start = Self.asyncBodyClock()
        let value: Value
        do {
            value = try await body()
        } catch {
            self.endAsyncBody(awaited, start: start, failed: true)
            throw error
        }
        self.endAsyncBody(awaited, start: start, failed: false)
        return TaskResult(
            value: value, group: awaited.group, queueWait: .nanoseconds(Int64(awaited.queueWaitNanoseconds)),
            serviceTime: .nanoseconds(Int64(awaited.serviceNanoseconds)))
    }

    @usableFromInline
    static func asyncBodyClock() -> UInt64 { cnv_monotonic_ns() }

    /// Counts an async `run` body that ended and gives its slot back.
    @usableFromInline
    func endAsyncBody(_ awaited: AwaitedTask, start: UInt64, failed: Bool) {
        awaited.serviceNanoseconds = cnv_monotonic_ns() &- start
        guard let group = awaited.runtime else { return }
        awaited.runtime = nil
        if failed {
            group.admission.failed.add(1, ordering: .relaxed)
        } else {
            group.admission.completed.add(1, ordering: .relaxed)
        }
        group.admission.release(group: group, engine: self)
    }

    // MARK: Engine hooks

    /// A worker's admission of an async record: true when it holds a slot (now or from
    /// before); false when it was parked (the worker must leave it alone).
    @inline(__always)
    func admitAsync(_ record: UnsafeMutablePointer<cnv_task_record>, group: GroupRuntime) -> Bool {
        if record.pointee.flags & AsyncAdmission.admittedFlag != 0 { return true }
        guard group.admission.admitOrPark(UInt(bitPattern: record)) else { return false }
        record.pointee.flags |= AsyncAdmission.admittedFlag
        return true
    }

    /// An admitted async record that will not run (cancelled, expired, not started) gives its
    /// slot back.
    @inline(__always)
    func releaseAsyncSlot(_ record: UnsafeMutablePointer<cnv_task_record>, group: GroupRuntime) {
        guard record.pointee.flags & AsyncAdmission.admittedFlag != 0 else { return }
        record.pointee.flags &= ~AsyncAdmission.admittedFlag
        group.admission.release(group: group, engine: self)
    }

    /// Starts a parked async record with the slot the caller just freed: true when it started
    /// (the slot is its now); false when it had been cancelled or had expired (it is settled
    /// and counted here, and the caller still holds the slot).
    func startParked(_ address: UInt, group: GroupRuntime) -> Bool {
        let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!
        let handler = Unmanaged<TaskHandler>.fromOpaque(record.pointee.handler!)
        let retained = record.pointee.flags & UInt16(CNV_TASK_FLAG_RETAINED) != 0
        defer {
            if retained { handler.release() }
            cnv_allocator_free(self.recordAllocator, record)
        }
        return handler._withUnsafeGuaranteedRef { task -> Bool in
            var state = cnv_task_state_word(record)
            if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue) {
                let deadline = record.pointee.deadline_ns
                if deadline != 0, cnv_monotonic_ns() > deadline {
                    if cnv_task_transition(record, state, CNV_TASK_EXPIRED) { state = (state & ~CNV_TASK_STATE_MASK) | UInt64(CNV_TASK_EXPIRED.rawValue) }
                } else if cnv_task_transition(record, state, CNV_TASK_RUNNING) {
                    let submitted = record.pointee.submit_ticks
                    let queueWait = submitted != 0 ? MonotonicClock.nanoseconds(from: submitted, to: MonotonicClock.ticks()) : 0
                    _ = task.run(record, context: RunContext(group: group, queueWaitNanoseconds: queueWait))
                    return true
                }
                if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue) { state = cnv_task_state_word(record) }
            }
            let kind = task.kindPerTask ? task.kindName(record) : task.kind
            task.dispose(record)
            if state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_EXPIRED.rawValue) {
                group.admission.expired.add(1, ordering: .relaxed)
                if !task.abandon(.deadlineExceeded(kind: kind)) {
                    self.report(TaskFailure(kind: kind, group: group.name, error: ConveyorError.deadlineExceeded(kind: kind)))
                }
            } else {
                group.admission.cancelled.add(1, ordering: .relaxed)
                _ = task.abandon(.cancelled(kind: kind))
            }
            return false
        }
    }

    /// Settles a parked async record after the workers stopped: fails it as not started (or
    /// counts it, if it was cancelled or expired meanwhile).
    func failParked(_ address: UInt, group: GroupRuntime) {
        // A recorder for the counts (the set holds maxWorkers + 8; the workers are gone and
        // other settlers give theirs back in microseconds, so waiting for one never loses the task).
        var recorder = try? group.recorders.makeRecorder()
        while recorder == nil {
            usleep(50)
            recorder = try? group.recorders.makeRecorder()
        }
        self.failUnstarted(address, group: group, worker: WorkerState(recorder: recorder.unsafelyUnwrapped))
    }

    /// Waits until no async task is in flight or parked and every queue is empty (the start
    /// of a draining shutdown, while the workers still run: an async task may pass its slot to
    /// a parked one, which needs a worker).
    func waitForAsyncTasks() async {
        var delay: UInt64 = 20_000
        while self.groups.contains(where: { !$0.admission.isIdle || $0.hot.hasQueuedWork }) {
            try? await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 1_000_000)
        }
    }
}
