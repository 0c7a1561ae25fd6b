import CConveyor

/// A bounded, lock-free, multi-producer multi-consumer ring of machine words.
///
/// Any number of threads may enqueue and dequeue at once. Bulk operations claim all their
/// slots with a single compare-and-swap, so moving 32 values costs about as much shared
/// traffic as moving one. Values are `UInt`: store indices, handles, or pointers converted
/// with `UInt(bitPattern:)`.
///
/// ```swift
/// let ring = try MPMCRing(capacity: 1024)
/// _ = ring.tryEnqueue(42)
/// let moved = [1, 2, 3].withUnsafeBufferPointer { ring.enqueue(contentsOf: $0) }  // 3
/// var out = [UInt](repeating: 0, count: 8)
/// let taken = out.withUnsafeMutableBufferPointer { ring.dequeue(into: $0) }        // 4
/// ```
///
/// Ordering: values enqueued by one thread are dequeued in that thread's order.
public final class MPMCRing: @unchecked Sendable {
    // @unchecked: the C ring is internally synchronized; `ring` itself never changes.
    @usableFromInline let ring: OpaquePointer

    /// Creates an empty ring.
    /// - Parameter capacity: a power of two from 2 to 2^30.
    /// - Throws: `ConveyorError.invalidConfiguration` for any other capacity.
    public init(capacity: Int) throws {
        try Self.validate(capacity: capacity, maximum: Int(CNV_MPMC_MAX_CAPACITY), kind: "MPMCRing")
        var created: OpaquePointer?
        let status = cnv_mpmc_ring_create(UInt64(capacity), &created)
        guard status == CNV_OK.rawValue, let created else {
            throw ConveyorError.fromStatus(status, context: "an MPMCRing of \(capacity) slots")
        }
        self.ring = created
    }

    deinit {
        cnv_mpmc_ring_destroy(self.ring)
    }

    /// The number of slots.
    public var capacity: Int { Int(cnv_mpmc_ring_capacity(self.ring)) }

    /// The number of values queued: exact when no other thread is active, a snapshot otherwise.
    public var count: Int { Int(cnv_mpmc_ring_count(self.ring)) }

    /// Adds one value. Returns `false` when the ring is full.
    @inlinable
    public func tryEnqueue(_ value: UInt) -> Bool {
        cnv_mpmc_try_enqueue(self.ring, value)
    }

    /// Removes the oldest value, or returns `nil` when the ring is empty.
    @inlinable
    public func tryDequeue() -> UInt? {
        var value: UInt = 0
        return cnv_mpmc_try_dequeue(self.ring, &value) ? value : nil
    }

    /// Adds as many of `values` as fit, in order, with one claim. Returns how many were added.
    @inlinable
    public func enqueue(contentsOf values: UnsafeBufferPointer<UInt>) -> Int {
        guard let base = values.baseAddress else { return 0 }
        return cnv_mpmc_enqueue_burst(self.ring, base, values.count)
    }

    /// Adds all of `values` or none of them. Returns `true` when all were added.
    @inlinable
    public func enqueueAll(_ values: UnsafeBufferPointer<UInt>) -> Bool {
        guard let base = values.baseAddress else { return true }
        return cnv_mpmc_enqueue_bulk(self.ring, base, values.count) == values.count
    }

    /// Removes up to `buffer.count` values into `buffer`, oldest first. Returns how many.
    @inlinable
    public func dequeue(into buffer: UnsafeMutableBufferPointer<UInt>) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        return cnv_mpmc_dequeue_burst(self.ring, base, buffer.count)
    }

    /// Removes exactly `buffer.count` values, or none when fewer are ready. Returns `true`
    /// when the buffer was filled.
    @inlinable
    public func dequeueAll(into buffer: UnsafeMutableBufferPointer<UInt>) -> Bool {
        guard let base = buffer.baseAddress else { return true }
        return cnv_mpmc_dequeue_bulk(self.ring, base, buffer.count) == buffer.count
    }

    static func validate(capacity: Int, maximum: Int, kind: String) throws {
        guard capacity >= 2, capacity <= maximum, capacity & (capacity - 1) == 0 else {
            let suggestion = capacity < 2 ? 2 : min(maximum, 1 << (Int.bitWidth - (capacity - 1).leadingZeroBitCount))
            throw ConveyorError.invalidConfiguration(
                reason: "\(kind) capacity \(capacity) must be a power of two from 2 to \(maximum); use \(suggestion)"
            )
        }
    }
}
