import CConveyor
import Synchronization

/// What a task record points at: the code to run, and what to do if it never runs.
/// Subclasses: a registered typed kind (shared by its tasks), a closure, a `run` closure.
@usableFromInline
class TaskHandler: @unchecked Sendable {
    // @unchecked: subclasses hold only immutable, Sendable state or synchronize it.
    let kind: String
    /// Whether each task carries its own kind name in its record (closure tasks); otherwise
    /// every task of this handler has `kind`.
    let kindPerTask: Bool
    /// Whether the task runs asynchronously (async kinds and async `run` bodies): a worker
    /// admits it against the group's async limit first (see `AsyncAdmission`).
    let isAsync: Bool
    /// Whether the worker's cheap path may run this handler's in-slot tasks through
    /// ``runPayload(_:)`` (typed kinds: the task needs nothing of its record but the payload).
    let runsFromPayload: Bool

    @usableFromInline
    init(kind: String, kindPerTask: Bool = false, isAsync: Bool = false, runsFromPayload: Bool = false) {
        self.kind = kind
        self.kindPerTask = kindPerTask
        self.isAsync = isAsync
        self.runsFromPayload = runsFromPayload
    }

    /// The kind name of the task in `record` (read before `run`, which may consume the payload).
    func kindName(_ record: UnsafeMutablePointer<cnv_task_record>) -> String {
        self.kind
    }

    /// Destroys what the record's payload owns, for a task that will never run.
    func dispose(_ record: UnsafeMutablePointer<cnv_task_record>) {}

    /// Runs the task and says how it ended.
    func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> TaskOutcome {
        .completed
    }

    /// Runs a task from its payload alone (the worker's cheap path, only when
    /// ``runsFromPayload``): throws what the handler threw. No `TaskOutcome` is built.
    func runPayload(_ payload: UnsafeRawPointer) throws {}

    /// The task will never run. Returns true when a waiting caller was told (so the error
    /// need not be reported as a failure as well).
    func abandon(_ error: ConveyorError) -> Bool {
        false
    }
}

/// How a task that ran ended. Both failures count as failed; only `failed` is reported to
/// `onFailure` and ``Conveyor/failures`` (a `run` caller got its error thrown instead).
enum TaskOutcome {
    case completed
    /// The handler threw and nobody awaits the task: report the error.
    case failed(any Error)
    /// The handler threw and its `run` caller was given the error.
    case failedAndDelivered
    /// An async task started; it ends (and is counted) later, off this worker.
    case startedAsync
    /// A Swift job of a group's executor ran (counted as a job, not a task).
    case executorJob
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
        super.init(kind: kind, runsFromPayload: true)
    }

    override func runPayload(_ payload: UnsafeRawPointer) throws {
        // Not specialized (called through the class): the load copies the payload into a stack
        // buffer of run-time size with a `memcpy` call (~12 instructions; borrowing it in place
        // through `bindMemory(…).pointee` compiled to the same copy).
        try self.handler(payload.loadUnaligned(as: Payload.self))
    }

    override func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> TaskOutcome {
        let payload = UnsafeRawPointer(cnv_task_payload(record)!).loadUnaligned(as: Payload.self)
        do {
            try self.handler(payload)
            return .completed
        } catch {
            return .failed(error)
        }
    }
}

/// What a fire-and-forget closure task stores in its record's payload: the closure value
/// itself (function pointer and context, 16 bytes) and its kind name — no object per task.
struct ClosurePayload {
    var body: @Sendable () throws -> Void
    var kind: String
}

/// The one handler of every fire-and-forget closure task of an engine (in its kind table):
/// it moves the closure out of the record and runs it.
final class ClosureTaskHandler: TaskHandler, @unchecked Sendable {
    init() {
        super.init(kind: "closure", kindPerTask: true)
    }

    @inline(__always)
    static func payload(_ record: UnsafeMutablePointer<cnv_task_record>) -> UnsafeMutablePointer<ClosurePayload> {
        UnsafeMutableRawPointer(cnv_task_payload(record)!).assumingMemoryBound(to: ClosurePayload.self)
    }

    /// Stores the closure and kind in a fresh record.
    @inline(__always)
    static func store(_ body: @escaping @Sendable () throws -> Void, kind: String, in record: UnsafeMutablePointer<cnv_task_record>) {
        UnsafeMutableRawPointer(cnv_task_payload(record)!).initializeMemory(
            as: ClosurePayload.self, repeating: ClosurePayload(body: body, kind: kind), count: 1)
    }

    override func kindName(_ record: UnsafeMutablePointer<cnv_task_record>) -> String {
        Self.payload(record).pointee.kind
    }

    override func dispose(_ record: UnsafeMutablePointer<cnv_task_record>) {
        Self.payload(record).deinitialize(count: 1)
    }

    override func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> TaskOutcome {
        let body = Self.payload(record).move().body
        do {
            try body()
            return .completed
        } catch {
            return .failed(error)
        }
    }
}
