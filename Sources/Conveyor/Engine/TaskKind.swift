import CConveyor

/// A task kind registered once with ``Conveyor/register(_:payload:handler:)``: its tasks
/// carry a `BitwiseCopyable` payload stored inline in the task record, so submitting one
/// allocates nothing. The handler runs synchronously on the group's worker threads.
///
/// A `TaskKind` is a small value (the kind's name and its index in the engine's kind table).
/// The Conveyor keeps every registered handler alive until it is released itself, so
/// dropping a `TaskKind` while its tasks are queued is safe: they all still run.
///
/// ```swift
/// struct Resize: BitwiseCopyable, Sendable { var imageID: UInt64; var width: UInt32 }
/// let resize = try conveyor.register("resize", payload: Resize.self) { job in
///     try resizeImage(job.imageID, to: job.width)
/// }
/// try conveyor.submit(resize, Resize(imageID: 7, width: 256))
/// ```
public struct TaskKind<Payload: BitwiseCopyable & Sendable>: Sendable {
    public let name: String
    /// Position in the registering engine's kind table.
    @usableFromInline let index: Int
    /// The handler object in that table, as an opaque address: the submit path stores it in
    /// records without touching a reference count. The table keeps the object alive.
    @usableFromInline let handlerAddress: UInt
    /// The engine that registered the kind (a kind works only with its own engine).
    @usableFromInline let engine: ObjectIdentifier
    /// The router's slot for this kind, as an opaque address (0 when the engine has no
    /// routing rules): routing resolved at registration, so a typed submit reads the kind's
    /// cached decision instead of hashing its name. The router keeps the slot alive.
    @usableFromInline let routeSlot: UInt

    var handlerPointer: UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: self.handlerAddress).unsafelyUnwrapped
    }

    /// The largest payload stored inline (bytes).
    public static var inlinePayloadCapacity: Int { Int(CNV_TASK_INLINE_PAYLOAD) }
}

