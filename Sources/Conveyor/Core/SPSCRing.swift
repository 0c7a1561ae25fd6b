import CConveyor

/// A bounded, lock-free ring for exactly one producer thread and one consumer thread, for
/// links between pipeline stages.
///
/// Each side caches the other side's position, so in steady state an operation touches one
/// shared cache line. Calling the producer methods from two threads at once (or the consumer
/// methods) is a contract violation that corrupts the ring: use ``MPMCRing`` for that.
///
/// ```swift
/// let link = try SPSCRing(capacity: 4096)
/// // producer thread
/// _ = link.tryEnqueue(7)
/// // consumer thread
/// if let value = link.tryDequeue() { print(value) }
/// ```
public final class SPSCRing: @unchecked Sendable {
    // @unchecked: one producer and one consumer, synchronized by the C ring's acquire/release.
    @usableFromInline let ring: OpaquePointer

    /// Creates an empty ring.
    /// - Parameter capacity: a power of two from 2 to 2^31.
    public init(capacity: Int) throws {
        try MPMCRing.validate(capacity: capacity, maximum: Int(CNV_SPSC_MAX_CAPACITY), kind: "SPSCRing")
        var created: OpaquePointer?
        let status = cnv_spsc_ring_create(UInt64(capacity), &created)
        guard status == CNV_OK.rawValue, let created else {
            throw ConveyorError.fromStatus(status, context: "an SPSCRing of \(capacity) slots")
        }
        self.ring = created
    }

    deinit {
        cnv_spsc_ring_destroy(self.ring)
    }

    public var capacity: Int { Int(cnv_spsc_ring_capacity(self.ring)) }

    /// The number of values queued (a snapshot while the other side is active).
    public var count: Int { Int(cnv_spsc_ring_count(self.ring)) }

    /// Producer side: adds one value; `false` when full.
    @inlinable
    public func tryEnqueue(_ value: UInt) -> Bool {
        cnv_spsc_try_enqueue(self.ring, value)
    }

    /// Producer side: adds as many of `values` as fit; returns how many.
    @inlinable
    public func enqueue(contentsOf values: UnsafeBufferPointer<UInt>) -> Int {
        guard let base = values.baseAddress else { return 0 }
        return cnv_spsc_enqueue_burst(self.ring, base, values.count)
    }

    /// Producer side: adds all of `values` or none.
    @inlinable
    public func enqueueAll(_ values: UnsafeBufferPointer<UInt>) -> Bool {
        guard let base = values.baseAddress else { return true }
        return cnv_spsc_enqueue_bulk(self.ring, base, values.count) == values.count
    }

    /// Consumer side: removes the oldest value, or `nil` when empty.
    @inlinable
    public func tryDequeue() -> UInt? {
        var value: UInt = 0
        return cnv_spsc_try_dequeue(self.ring, &value) ? value : nil
    }

    /// Consumer side: removes up to `buffer.count` values; returns how many.
    @inlinable
    public func dequeue(into buffer: UnsafeMutableBufferPointer<UInt>) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        return cnv_spsc_dequeue_burst(self.ring, base, buffer.count)
    }

    /// Consumer side: removes exactly `buffer.count` values or none.
    @inlinable
    public func dequeueAll(into buffer: UnsafeMutableBufferPointer<UInt>) -> Bool {
        guard let base = buffer.baseAddress else { return true }
        return cnv_spsc_dequeue_bulk(self.ring, base, buffer.count) == buffer.count
    }
}
