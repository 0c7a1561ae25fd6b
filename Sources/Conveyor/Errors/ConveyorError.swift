import CConveyor

/// The errors Conveyor reports. Each message says what went wrong and what to change.
///
/// ```swift
/// do {
///     let ring = try MPMCRing(capacity: 1000)
/// } catch let error as ConveyorError {
///     print(error)  // "invalid configuration: ring capacity 1000 is not a power of two; use 1024"
/// }
/// ```
public enum ConveyorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A configuration value is out of range; `reason` names the value and a valid choice.
    case invalidConfiguration(reason: String)
    /// Memory could not be obtained for `what`.
    case outOfMemory(what: String)
    /// The dedicated jemalloc arena for slab memory could not be created.
    case arenaCreationFailed
    /// The object was used after it was destroyed.
    case destroyed(what: String)
    /// The feature is not compiled into this build (for example jemalloc statistics with the
    /// `Jemalloc` trait off).
    case unsupported(reason: String)
    /// Another thread holds the resource; retry later.
    case busy(what: String)
    /// A process-wide limit was reached.
    case limitReached(reason: String)
    /// The group's ring for the task's priority (`capacity` slots) is full and its overflow
    /// policy refused the task; `exhausted` says what ran out (the ring under `.reject`, the
    /// spill memory limit, the wait timeout) and the message what to change.
    case queueFull(group: String, capacity: Int, exhausted: Exhausted)
    /// No ResourceGroup is called `name` (for example a task's explicit group). Create the
    /// group first, or correct the name.
    case unknownGroup(name: String)
    /// The engine is shutting down or stopped and accepts no new task.
    case shutDown
    /// The task did not start within its deadline.
    case deadlineExceeded(kind: String)
    /// The task was cancelled before it started.
    case cancelled(kind: String)
    /// The engine stopped (`shutdown(drain: false)`) before the task started.
    case notStarted(kind: String)
    /// A batch handler returned `got` results for a batch of `expected` tasks.
    case batchResultCount(kind: String, expected: Int, got: Int)
    /// ``PerformanceProfiler/stopProfiling()`` was called with no profiling interval running.
    case profilerNotStarted
    /// The profiler has recorded nothing under this context name (and no baseline holds it).
    case unknownContext(name: String)
    /// ``PerformanceProfiler/compareWithBaseline(threshold:)`` was called before any baseline was
    /// saved or loaded.
    case noBaseline
    /// A baseline file could not be read or written.
    case baselineFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): "invalid configuration: \(reason)"
        case .outOfMemory(let what): "out of memory while allocating \(what)"
        case .arenaCreationFailed:
            "the dedicated jemalloc arena could not be created (arenas.create failed); use SlabPool.Backing.mmap"
        case .destroyed(let what): "\(what) was used after it was destroyed"
        case .unsupported(let reason): "unsupported in this build: \(reason)"
        case .busy(let what): "\(what) is busy in another thread; retry later"
        case .limitReached(let reason): "limit reached: \(reason)"
        case .queueFull(let group, let capacity, let exhausted): exhausted.message(group: group, capacity: capacity)
        case .unknownGroup(let name):
            "unknown group \"\(name)\": no ResourceGroup has this name; create the group before routing to it, or correct the name"
        case .shutDown: "the Conveyor is shutting down or stopped and accepts no new tasks"
        case .deadlineExceeded(let kind): "task \"\(kind)\" did not start before its deadline"
        case .cancelled(let kind): "task \"\(kind)\" was cancelled before it started"
        case .notStarted(let kind): "task \"\(kind)\" never started: the Conveyor was shut down without draining"
        case .batchResultCount(let kind, let expected, let got):
            "the batch handler of \"\(kind)\" returned \(got) results for a batch of \(expected) tasks; "
                + "return exactly one result per item, in the items' order (or throw to fail the whole batch)"
        case .profilerNotStarted:
            "the profiler is not profiling: call startProfiling() before stopProfiling(), or read metrics() for the figures so far"
        case .unknownContext(let name):
            "unknown profiling context \"\(name)\": nothing was profiled under this name; check the spelling or profile it first"
        case .noBaseline:
            "no baseline to compare with: call saveBaseline() (or loadBaseline(from:)) before compareWithBaseline()"
        case .baselineFile(let path, let reason):
            "baseline file \(path): \(reason); check the path and that the file was written by saveBaseline(to:)"
        }
    }
}

extension ConveyorError {
    /// Maps a C core status to an error, with `context` naming the object for the message.
    static func fromStatus(_ status: Int32, context: String) -> ConveyorError {
        switch status {
        case Int32(CNV_ENOMEM.rawValue): .outOfMemory(what: context)
        case Int32(CNV_EARENA.rawValue): .arenaCreationFailed
        case Int32(CNV_EDESTROYED.rawValue): .destroyed(what: context)
        case Int32(CNV_ENOTSUP.rawValue): .unsupported(reason: "\(context) needs the Jemalloc trait")
        case Int32(CNV_EBUSY.rawValue): .busy(what: context)
        case Int32(CNV_ELIMIT.rawValue):
            .limitReached(
                reason: "\(context): the process already has \(CNV_SLAB_MAX_POOLS) slab pools alive (every SlabPool, "
                    + "RecordPool and OverflowQueue holds one, and so do a Conveyor's task records and queues): "
                    + "shut down Conveyors and release pools that are no longer used")
        default: .invalidConfiguration(reason: "\(context): \(String(cString: cnv_status_description(status)))")
        }
    }
}
