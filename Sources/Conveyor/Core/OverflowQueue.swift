import CConveyor

/// An unbounded FIFO queue of machine words on liburcu's wait-free concurrent queue
/// (`wfcqueue`), for the tasks that do not fit a full ring.
///
/// Any thread may enqueue (wait-free, apart from a magazine pop for the node). One thread
/// at a time drains: a second concurrent drainer gets ``ConveyorError/busy(what:)`` instead
/// of waiting. Node memory comes from a ``SlabPool``.
///
/// ```swift
/// let overflow = try OverflowQueue()
/// try overflow.enqueue(99)
/// var batch = [UInt](repeating: 0, count: 64)
/// let taken = try batch.withUnsafeMutableBufferPointer { try overflow.drain(into: $0) }
/// ```
public final class OverflowQueue: @unchecked Sendable {
    // @unchecked: enqueue is thread-safe in liburcu; drain is serialized by a flag in C.
    let queue: OpaquePointer

    /// Creates an empty queue whose nodes come from a slab pool with `backing`.
    public init(backing: SlabPool.Backing = .default) throws {
        var created: OpaquePointer?
        let status = cnv_overflow_queue_create(backing.cValue, &created)
        guard status == CNV_OK.rawValue, let created else {
            throw ConveyorError.fromStatus(status, context: "an OverflowQueue")
        }
        self.queue = created
    }

    deinit {
        cnv_overflow_queue_destroy(self.queue)
    }

    /// Appends a value. Throws ``ConveyorError/outOfMemory(what:)`` when no node could be allocated.
    public func enqueue(_ value: UInt) throws {
        let status = cnv_overflow_queue_enqueue(self.queue, value)
        guard status == CNV_OK.rawValue else {
            throw ConveyorError.fromStatus(status, context: "an OverflowQueue node")
        }
    }

    /// Removes up to `buffer.count` values, oldest first, and returns how many. It may return
    /// fewer than are queued when an enqueue is half-way through; call again.
    /// - Throws: ``ConveyorError/busy(what:)`` when another thread is draining.
    public func drain(into buffer: UnsafeMutableBufferPointer<UInt>) throws -> Int {
        var taken = 0
        let status = cnv_overflow_queue_drain(self.queue, buffer.baseAddress, buffer.count, &taken)
        guard status == CNV_OK.rawValue else {
            throw ConveyorError.fromStatus(status, context: "the OverflowQueue drain")
        }
        return taken
    }

    /// Values queued (a snapshot).
    public var count: Int { Int(cnv_overflow_queue_count(self.queue)) }

    /// Bytes of node memory the queued values occupy.
    public var bytesUsed: Int { Int(cnv_overflow_queue_bytes(self.queue)) }
}
