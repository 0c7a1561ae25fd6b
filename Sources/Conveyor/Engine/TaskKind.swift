/// A task kind registered once with ``Conveyor/register(_:payload:handler:)``: its tasks
/// carry a `BitwiseCopyable` payload stored inline in the task record, so submitting one
/// allocates nothing. The handler runs synchronously on the group's worker threads.
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
    let handler: TypedKindHandler<Payload>
    /// `handler` as an opaque pointer, computed once: the submit path stores it without
    /// touching the handler's reference count. `handler` keeps the object alive.
    let handlerAddress: UInt

    var handlerPointer: UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: self.handlerAddress).unsafelyUnwrapped
    }

    init(name: String, handler: TypedKindHandler<Payload>) {
        self.name = name
        self.handler = handler
        self.handlerAddress = UInt(bitPattern: Unmanaged.passUnretained(handler).toOpaque())
    }

    /// The largest payload stored inline (bytes).
    public static var inlinePayloadCapacity: Int { Int(CNV_TASK_INLINE_PAYLOAD) }
}

import CConveyor
