import CConveyor

extension Conveyor {
    /// Runs a closure on a worker of the task's group and returns its value with timings, or
    /// rethrows its error. Cancelling the calling Swift task cancels the task if it has not
    /// started (then `CancellationError` is thrown at once). A task with a deadline that has
    /// not started by then throws ``ConveyorError/deadlineExceeded(kind:)`` at the deadline;
    /// the deadline's timer ends as soon as the task settles.
    ///
    /// Each call allocates one object (the awaited task, which is also the record's handler)
    /// besides what the closure captures and the continuation's check; the caller suspends
    /// on a `CheckedContinuation` and the worker resumes it, with no lock on the way. Bound the number in flight when you
    /// fan out from a `TaskGroup` (see docs/Concurrency.md: a window of a few hundred keeps
    /// the Swift runtime's child-task bookkeeping cheap).
    ///
    /// ```swift
    /// let sum = try await conveyor.run(QueueTask(kind: "sum", deadline: .milliseconds(50))) { (1...100).reduce(0, +) }
    /// print(sum.value, sum.queueWait)
    /// ```
    @inlinable
    public func run<Value: Sendable>(
        _ task: QueueTask = QueueTask(), _ body: @escaping @Sendable () throws -> Value
    ) async throws -> TaskResult<Value> {
        // Specialized in the caller: only the object's allocation and the result are typed;
        // queueing, cancellation and resumption are the non-generic `runAwaited`.
        let awaited = AwaitedBody(kind: task.kind, body: body)
        try await self.runAwaited(awaited, task)
        return try awaited.result()
    }

    /// The non-generic core of `run`: queues `awaited` and suspends until it settled (its
    /// outcome is then in the object). Throws only for a task it could not queue at all
    /// (unknown group, negative deadline).
    @usableFromInline
    func runAwaited(_ awaited: AwaitedTask, _ task: QueueTask) async throws {
        let index = try self.route(task)
        let deadline = try Self.validatedDeadline(task.deadline, kind: task.kind)
        let level = task.priority.level
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                awaited.continuation = continuation
                self.submitAwaited(awaited, group: index, level: level, deadline: deadline)
            }
        } onCancel: {
            if let ticket = awaited.requestCancel(), self.cancel(ticket) {
                _ = awaited.abandon(.cancelled(kind: awaited.kind))
            }
        }
        awaited.acquireOutcome()
    }

    /// Queues an awaited task whose continuation is set; every failure settles the caller.
    func submitAwaited(_ awaited: AwaitedTask, group index: Int, level: Int, deadline: Duration?) {
        let record: UnsafeMutablePointer<cnv_task_record>
        do {
            // The record holds the object (released once the task settled).
            record = try self.makeRecord(
                handler: Unmanaged.passRetained(awaited).toOpaque(), retained: true, level: level, deadline: deadline)
        } catch {
            awaited.fail(error)
            return
        }
        if self.groups[index].waitTimeout != nil {
            // `.wait`: queue at once when there is room; only when the ring is full, suspend (in
            // a task of its own) until there is, never blocking a thread.
            do {
                let ticket = try self.enqueue(record, level: level, group: index)
                self.awaitedQueued(awaited, ticket, deadline: deadline)
                return
            } catch ConveyorError.queueFull(_, _, .ring) {
                // No room now: wait below.
            } catch {
                self.discard(record)
                awaited.fail(error)
                return
            }
            let address = UInt(bitPattern: record)
            Task {
                do {
                    let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!
                    let ticket = try await self.enqueueWaiting(record, level: level, group: index)
                    self.awaitedQueued(awaited, ticket, deadline: deadline)
                } catch {
                    awaited.fail(error)
                }
            }
            return
        }
        do {
            let ticket = try self.enqueueOrFree(record, level: level, group: index)
            self.awaitedQueued(awaited, ticket, deadline: deadline)
        } catch {
            awaited.fail(error)
        }
    }

    /// After queueing: hands the ticket to a canceller, or cancels at once when the caller was
    /// cancelled meanwhile; starts the deadline timer.
    private func awaitedQueued(_ awaited: AwaitedTask, _ ticket: TaskTicket, deadline: Duration?) {
        if awaited.publish(ticket), self.cancel(ticket) {
            _ = awaited.abandon(.cancelled(kind: awaited.kind))
        }
        guard let deadline else { return }
        let timers = self.deadlines
        let id = timers.schedule(after: deadline) {
            if cnv_task_transition(ticket.record, ticket.stateWord, CNV_TASK_EXPIRED) {
                _ = awaited.abandon(.deadlineExceeded(kind: awaited.kind))
            }
        }
        if let id { awaited.timerStarted(id, on: timers) }
    }
}
