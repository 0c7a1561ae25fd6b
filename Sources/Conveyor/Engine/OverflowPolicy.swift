/// What a ``ResourceGroup`` does with a task when its ring for that priority is full.
///
/// ```swift
/// ResourceGroup("io", capacity: 1024, overflow: .spill(memoryLimit: 64 << 20))
/// ```
public enum OverflowPolicy: Sendable, Hashable {
    /// Refuse at once with ``ConveyorError/queueFull(group:capacity:)``.
    case reject
    /// `submitWaitingForRoom` and `run` suspend (never blocking an OS thread) until there is
    /// room or `timeout` passes, then throw ``ConveyorError/queueFull(group:capacity:)``. The
    /// synchronous `submit` cannot wait and rejects at once. Handlers must not wait on their own
    /// engine (they could wait for themselves): from a worker thread it rejects at once too.
    case wait(timeout: Duration)
    /// Queue the task in an unbounded overflow queue (liburcu wfcqueue) while its nodes use
    /// at most `memoryLimit` bytes, then reject. While a lane has spilled tasks, new tasks of
    /// that lane spill too, so each submitting thread's tasks still leave the lane in order.
    case spill(memoryLimit: Int)
}
