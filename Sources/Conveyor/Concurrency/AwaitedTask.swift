import CConveyor
import Synchronization

/// One awaited task (`run`): the one object such a task allocates besides its record. It is
/// the record's handler, holds the caller's continuation, the ticket for cancellation and the
/// deadline timer's id, and settles the caller exactly once — all through one atomic state
/// word, no lock.
///
/// Non-generic, so the engine's per-task work (enqueue, cancel, resume) is compiled once and
/// never looks up generic metadata; only the body call and the stored value are typed (in
/// ``AwaitedBody``).
///
/// The continuation is a `CheckedContinuation` (one small allocation more than an
/// `UnsafeContinuation`): an unsafe one's resume is inlined into this module, and
/// ThreadSanitizer then reports the runtime's reuse of the awaiting task's frame, which it
/// cannot see ordered, as a race.
///
/// The state word's bits, each set once by a read-modify-write:
/// - `resumed`: someone claimed the right to resume the caller (worker, cancel, deadline,
///   shutdown, or a failure to queue). Whoever sets it first writes the outcome, then resumes.
/// - `ticketPublished`: the submitter stored `ticket` (release) — a canceller may read it.
/// - `cancelRequested`: the caller's Swift task was cancelled. Of the submitter publishing the
///   ticket and the canceller, whichever sets its bit second sees the other's and cancels the
///   record, so a cancel is never lost and never needs a lock.
/// - `timerSet`: `timerID` is stored. Of the resumer and the timer's starter, the second sees
///   the other's bit and cancels the timer, so a settled task leaves no timer behind.
@usableFromInline
class AwaitedTask: TaskHandler, @unchecked Sendable {
    // @unchecked: `continuation`, `ticket` and `timerID` are each written once, before the
    // state bit that publishes them (release) and read after observing that bit (acquire);
    // `error` is written only by the claimer of `resumed`, before it resumes the caller.
    static let resumedBit: UInt8 = 1
    static let ticketBit: UInt8 = 2
    static let cancelBit: UInt8 = 4
    static let timerBit: UInt8 = 8
    /// The claimer wrote the outcome (release; the resumed caller loads it with acquire, so
    /// the outcome's fields are ordered for it even where the runtime's own hand-off is not
    /// visible to ThreadSanitizer).
    static let outcomeBit: UInt8 = 16

    private let state = Atomic<UInt8>(0)
    /// Set before the record is published (ordered by the ring's release/acquire).
    final var continuation: CheckedContinuation<Void, Never>?
    private final var ticket = TaskTicket(recordAddress: 0, stateWord: 0)
    private final var timerID: UInt64 = 0
    /// The engine's timers (set with `timerID`).
    private final var timers: DeadlineTimers?
    /// Why the task did not produce a value (written by the claimer of `resumed`).
    @usableFromInline final var error: (any Error)?
    /// The group that ran it and its timings (written by the worker that ran it).
    @usableFromInline final var group = ""
    @usableFromInline final var queueWaitNanoseconds: UInt64 = 0
    @usableFromInline final var serviceNanoseconds: UInt64 = 0
    /// An async `run` body's group, from its start until it ended (it holds an async slot).
    final var runtime: GroupRuntime?

    @usableFromInline
    init(kind: String, isAsync: Bool = false) {
        super.init(kind: kind, isAsync: isAsync)
    }

    /// Claims the right to resume the caller; true exactly once. acq_rel: the claimer sees
    /// what the timer's starter published, and its later writes are ordered before the resume.
    @inline(__always)
    final func claim() -> Bool {
        let old = self.state.bitwiseOr(Self.resumedBit, ordering: .acquiringAndReleasing).oldValue
        guard old & Self.resumedBit == 0 else { return false }
        if old & Self.timerBit != 0, let timers = self.timers { timers.cancel(self.timerID) }
        return true
    }

    /// Publishes the outcome and resumes the caller, after a successful ``claim()``.
    @inline(__always)
    final func resumeClaimed() {
        self.state.bitwiseOr(Self.outcomeBit, ordering: .releasing)
        self.continuation.unsafelyUnwrapped.resume()
    }

    /// The caller, once resumed: orders the outcome's fields before its reads.
    final func acquireOutcome() {
        _ = self.state.load(ordering: .acquiring)
    }

    /// Ends the task with an error, unless it was settled already.
    final func fail(_ error: any Error) {
        guard self.claim() else { return }
        self.error = error
        self.resumeClaimed()
    }

    /// Publishes the ticket; returns true when a cancel was requested before (the caller
    /// must then cancel the record itself).
    final func publish(_ ticket: TaskTicket) -> Bool {
        self.ticket = ticket
        return self.state.bitwiseOr(Self.ticketBit, ordering: .acquiringAndReleasing).oldValue & Self.cancelBit != 0
    }

    /// Marks cancellation; returns the ticket when it was published already.
    final func requestCancel() -> TaskTicket? {
        let old = self.state.bitwiseOr(Self.cancelBit, ordering: .acquiringAndReleasing).oldValue
        return old & Self.ticketBit != 0 ? self.ticket : nil
    }

    /// Records the deadline timer `id`; cancels it at once when the task already settled.
    final func timerStarted(_ id: UInt64, on timers: DeadlineTimers) {
        self.timerID = id
        self.timers = timers
        let old = self.state.bitwiseOr(Self.timerBit, ordering: .acquiringAndReleasing).oldValue
        if old & Self.resumedBit != 0 { timers.cancel(id) }
    }

    /// Runs the body and stores its value (``AwaitedBody``); returns whether it threw.
    func invoke() -> Bool { false }

    override final func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> TaskOutcome {
        if self.isAsync {
            // An async body runs in the caller's task: hand it the slot and resume it. The
            // worker won the start transition, so the claim succeeds (nobody else resumes).
            self.runtime = context.group
            self.group = context.group.name
            self.queueWaitNanoseconds = context.queueWaitNanoseconds
            if self.claim() { self.resumeClaimed() }
            return .startedAsync
        }
        let start = cnv_monotonic_ns()
        let threw = self.invoke()
        let end = cnv_monotonic_ns()
        // The worker won the record's start transition, so nobody else resumes this caller;
        // the claim still guards against any path that might.
        if self.claim() {
            self.group = context.group.name
            self.queueWaitNanoseconds = context.queueWaitNanoseconds
            self.serviceNanoseconds = end &- start
            self.resumeClaimed()
        }
        return threw ? .failedAndDelivered : .completed
    }

    override final func abandon(_ error: ConveyorError) -> Bool {
        let outcome: any Error = if case .cancelled = error { CancellationError() } else { error }
        self.fail(outcome)
        return true
    }
}

/// The typed part of an awaited task: its body and value.
@usableFromInline
final class AwaitedBody<Value: Sendable>: AwaitedTask, @unchecked Sendable {
    // @unchecked: `value` is written by the worker before the caller is resumed, read after.
    @usableFromInline let body: @Sendable () throws -> Value
    @usableFromInline var value: Value?

    @usableFromInline
    init(kind: String, body: @escaping @Sendable () throws -> Value) {
        self.body = body
        super.init(kind: kind)
    }

    override func invoke() -> Bool {
        do {
            self.value = try self.body()
            return false
        } catch {
            self.error = error
            return true
        }
    }

    /// The result, once the caller was resumed.
    @inlinable
    func result() throws -> TaskResult<Value> {
        if let error = self.error { throw error }
        return TaskResult(
            value: self.value.unsafelyUnwrapped, group: self.group,
            queueWait: .nanoseconds(Int64(self.queueWaitNanoseconds)),
            serviceTime: .nanoseconds(Int64(self.serviceNanoseconds)))
    }
}
