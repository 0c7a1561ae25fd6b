/// What a ``ResourceGroup`` does with a task when its ring for that priority is full.
///
/// ```swift
/// ResourceGroup("io", capacity: 1024, overflow: .spill(memoryLimit: 64 << 20))
/// ```
public enum OverflowPolicy: Sendable, Hashable {
    /// Refuse at once with ``ConveyorError/queueFull(group:capacity:exhausted:)``
    /// (``ConveyorError/Exhausted/ring(level:)``).
    case reject
    /// Wait for room, at most `timeout`, then refuse with
    /// ``ConveyorError/Exhausted/waitTimeout(_:)``. The synchronous `submit` blocks the calling
    /// thread (spinning briefly, then sleeping 20 µs–1 ms between tries); `submitWaitingForRoom`
    /// and `run` suspend instead, never blocking an OS thread. A submit from one of the
    /// Conveyor's worker threads never waits (it could be waiting for itself): it refuses at once
    /// with ``ConveyorError/Exhausted/waitOnWorkerThread``. Timeouts longer than
    /// ``Conveyor/longestDuration`` are treated as that long; a negative timeout is refused.
    case wait(timeout: Duration)
    /// Queue the task in an unbounded overflow queue (liburcu wfcqueue) while the tasks in it
    /// hold at most `memoryLimit` bytes, then refuse with
    /// ``ConveyorError/Exhausted/spillMemory(limit:used:needed:)``. A spilled task counts its
    /// task record (``Conveyor/taskRecordSize``), its queue node and, for closures, the box the
    /// engine allocates around the closure (not memory the closure itself captured). The ring
    /// in front of the queue is not counted: it is fixed at creation (`capacity` × levels).
    /// While a lane has spilled tasks, new tasks of that lane spill too, so each submitting
    /// thread's tasks still leave the lane in order.
    case spill(memoryLimit: Int)

    /// The policy of a ``ResourceGroup`` that names none: `.wait(timeout: .seconds(10))`.
    ///
    /// A tight loop of synchronous submits from one (non-worker) thread then runs at the
    /// workers' pace: each submit that finds the ring full blocks the *calling* thread (never
    /// a worker) until a worker makes room, so every task is accepted, none is lost, and the
    /// memory held stays the ring's (fixed at creation). A submitter blocked for 10 s is told
    /// so (``ConveyorError/Exhausted/waitTimeout(_:)``) instead of hanging. A submit from a
    /// worker thread refuses at once (``ConveyorError/Exhausted/waitOnWorkerThread``); bulk
    /// `submit(contentsOf:)` returns how many it queued. Choose `.reject` to refuse at once, or
    /// `.spill(memoryLimit:)` to queue beyond the ring.
    ///
    /// ```swift
    /// let conveyor = try Conveyor(groups: [ResourceGroup("cpu")])   // overflow: .defaultPolicy
    /// for index in 0..<1_000_000 { try conveyor.submit { work(index) } }  // blocks when full, loses none
    /// ```
    public static let defaultPolicy = OverflowPolicy.wait(timeout: .seconds(10))
}

extension ConveyorError {
    /// What ran out when a group refused a task (``ConveyorError/queueFull(group:capacity:exhausted:)``).
    ///
    /// ```swift
    /// do { try conveyor.submit { work() } } catch ConveyorError.queueFull(_, _, .spillMemory(let limit, let used, _)) {
    ///     print("spilled tasks hold \(used) of \(limit) bytes")
    /// }
    /// ```
    public enum Exhausted: Sendable, Hashable {
        /// The ring of this priority level is full and the policy is `.reject`.
        case ring(level: Int)
        /// The ring is full and spilled tasks already hold `used` bytes of the `.spill` limit;
        /// this task needed `needed` more.
        case spillMemory(limit: Int, used: Int, needed: Int)
        /// The ring stayed full for the whole `.wait` timeout.
        case waitTimeout(Duration)
        /// The ring is full, the policy is `.wait`, and the submit ran on one of this Conveyor's
        /// worker threads, which never waits.
        case waitOnWorkerThread

        func message(group: String, capacity: Int) -> String {
            switch self {
            case .ring(let level):
                "group \"\(group)\" is full: the ring of priority level \(level) holds all its \(capacity) slots and the "
                    + "policy is .reject; raise capacity, choose .wait(timeout:) to block until there is room, or "
                    + ".spill(memoryLimit:) to queue beyond the ring"
            case .spillMemory(let limit, let used, let needed):
                "group \"\(group)\" is full: its ring (\(capacity) slots per priority level) is full and spilled tasks hold "
                    + "\(used) bytes of the .spill(memoryLimit: \(limit)) limit (this task needs \(needed) more); raise "
                    + "memoryLimit or capacity, add workers, or submit more slowly"
            case .waitTimeout(let timeout):
                "group \"\(group)\" stayed full (its ring of \(capacity) slots per priority level) for the whole "
                    + ".wait(timeout: \(timeout)); raise the timeout or capacity, add workers, or submit less at once"
            case .waitOnWorkerThread:
                "group \"\(group)\" is full (its ring of \(capacity) slots per priority level) and this submit runs on a "
                    + "worker thread of the Conveyor, which never waits for room (it could be waiting for itself); "
                    + "submit from outside the handler, or give the group a .spill(memoryLimit:) policy"
            }
        }
    }
}
