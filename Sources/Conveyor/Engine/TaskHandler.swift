import CConveyor
import Synchronization

/// What a task record points at: the code to run, and what to do if it never runs.
/// Subclasses: a registered typed kind (shared by its tasks), a closure, a `run` closure.
class TaskHandler: @unchecked Sendable {
    // @unchecked: subclasses hold only immutable, Sendable state or synchronize it.
    let kind: String

    init(kind: String) {
        self.kind = kind
    }

    /// Runs the task. Returns the error of a task nobody awaits (to report as a failure).
    func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> (any Error)? {
        nil
    }

    /// The task will never run. Returns true when a waiting caller was told (so the error
    /// need not be reported as a failure as well).
    func abandon(_ error: ConveyorError) -> Bool {
        false
    }
}

/// Where and after how long a task runs, for handlers that report it (`run` results).
struct RunContext {
    /// Unowned: the group outlives every task it runs; no reference count per task.
    unowned(unsafe) let group: GroupRuntime
    let queueWaitNanoseconds: UInt64
}

/// A typed kind's handler: the payload is read from the record (no allocation per task).
final class TypedKindHandler<Payload: BitwiseCopyable & Sendable>: TaskHandler, @unchecked Sendable {
    let handler: @Sendable (Payload) throws -> Void

    init(kind: String, handler: @escaping @Sendable (Payload) throws -> Void) {
        self.handler = handler
        super.init(kind: kind)
    }

    override func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> (any Error)? {
        let payload = UnsafeRawPointer(cnv_task_payload(record)!).loadUnaligned(as: Payload.self)
        do {
            try self.handler(payload)
            return nil
        } catch {
            return error
        }
    }
}

/// A fire-and-forget closure.
final class ClosureHandler: TaskHandler, @unchecked Sendable {
    let body: @Sendable () throws -> Void

    init(kind: String, body: @escaping @Sendable () throws -> Void) {
        self.body = body
        super.init(kind: kind)
    }

    override func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> (any Error)? {
        do {
            try self.body()
            return nil
        } catch {
            return error
        }
    }
}

/// A closure whose caller awaits its result. Exactly one of the worker, a cancellation and
/// a deadline timer resumes the caller: `resumed` guards it.
final class AwaitedHandler<Value: Sendable>: TaskHandler, @unchecked Sendable {
    let body: @Sendable () throws -> Value
    private let resumed = Atomic<Bool>(false)
    // Set once before the record is published; read after (ordered by the ring).
    var continuation: CheckedContinuation<TaskResult<Value>, any Error>?

    init(kind: String, body: @escaping @Sendable () throws -> Value) {
        self.body = body
        super.init(kind: kind)
    }

    func resume(with result: Result<TaskResult<Value>, any Error>) {
        guard !self.resumed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        self.continuation?.resume(with: result)
    }

    override func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> (any Error)? {
        let start = cnv_monotonic_ns()
        let outcome = Result { try self.body() }
        let end = cnv_monotonic_ns()
        self.resume(
            with: outcome.map {
                TaskResult(
                    value: $0, group: context.group.name,
                    queueWait: .nanoseconds(Int64(context.queueWaitNanoseconds)),
                    serviceTime: .nanoseconds(Int64(end &- start)))
            })
        return nil
    }

    override func abandon(_ error: ConveyorError) -> Bool {
        let outcome: any Error = if case .cancelled = error { CancellationError() } else { error }
        self.resume(with: .failure(outcome))
        return true
    }
}
