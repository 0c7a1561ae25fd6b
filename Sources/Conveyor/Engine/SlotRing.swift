import CConveyor

/// A bounded MPMC ring whose slots are task records (`cnv_slot_ring.h`): a producer claims a
/// slot, writes the task into its record in place and publishes it; a consumer takes the next
/// published slots, runs them in place and releases them. Nothing is allocated per task.
///
/// Internal: the engine's lanes are its users (docs/Engine.md, "Tasks in ring slots"). Every
/// claimed slot must be published and every taken slot released, each exactly once, by the
/// thread that claimed (took) it; a slot must not be touched after its release.
final class SlotRing: @unchecked Sendable {
    // @unchecked: the C ring is internally synchronized; `ring` itself never changes.
    let ring: OpaquePointer

    /// - Parameter capacity: a power of two from 2 to 2^24 slots (128 bytes each).
    /// - Throws: `ConveyorError.invalidConfiguration` for any other capacity, or the core's
    ///   out-of-memory error.
    init(capacity: Int) throws {
        try MPMCRing.validate(capacity: capacity, maximum: Int(CNV_SLOT_RING_MAX_CAPACITY), kind: "SlotRing")
        var created: OpaquePointer?
        let status = cnv_slot_ring_create(UInt64(capacity), &created)
        guard status == CNV_OK.rawValue, let created else {
            throw ConveyorError.fromStatus(status, context: "a slot ring of \(capacity) slots")
        }
        self.ring = created
    }

    deinit {
        cnv_slot_ring_destroy(self.ring)
    }

    var capacity: Int { Int(cnv_slot_ring_capacity(self.ring)) }

    /// Claimed and not yet taken (published or not): exact when quiescent, a snapshot otherwise.
    var count: Int { Int(cnv_slot_ring_count(self.ring)) }

    /// The slot position `position` maps to.
    @inline(__always)
    func slot(at position: UInt64) -> UnsafeMutablePointer<cnv_slot> {
        cnv_slot_ring_at(self.ring, position)
    }

    /// One free slot to fill, or nil when the ring is full.
    @inline(__always)
    func claim() -> UnsafeMutablePointer<cnv_slot>? {
        cnv_slot_ring_claim(self.ring)
    }

    /// Up to `count` consecutive free slots (one CAS): positions `first ..< first + claimed`.
    @inline(__always)
    func claim(upTo count: Int) -> (first: UInt64, claimed: Int) {
        var first: UInt64 = 0
        let claimed = cnv_slot_ring_claim_burst(self.ring, count, &first)
        return (first, claimed)
    }

    @inline(__always)
    func publish(_ slot: UnsafeMutablePointer<cnv_slot>) {
        cnv_slot_publish(slot)
    }

    /// The next published slot, or nil when there is none.
    @inline(__always)
    func take() -> UnsafeMutablePointer<cnv_slot>? {
        cnv_slot_ring_take(self.ring)
    }

    /// Up to `count` consecutive published slots (one CAS): positions `first ..< first + taken`.
    @inline(__always)
    func take(upTo count: Int) -> (first: UInt64, taken: Int) {
        var first: UInt64 = 0
        let taken = cnv_slot_ring_take_burst(self.ring, count, &first)
        return (first, taken)
    }

    @inline(__always)
    func release(_ slot: UnsafeMutablePointer<cnv_slot>) {
        cnv_slot_release(self.ring, slot)
    }

    /// Sets the CLOSED bit (no claim succeeds from now on) and returns the closed tail.
    @discardableResult
    func close() -> UInt64 {
        cnv_slot_ring_close(self.ring)
    }

    var isClosed: Bool { cnv_slot_ring_is_closed(self.ring) }

    /// Blocks until every position below `closedTail` is published (see `cnv_slot_ring.h`).
    func waitPublished(below closedTail: UInt64) -> UInt64 {
        cnv_slot_ring_wait_published(self.ring, closedTail)
    }

    /// The record of a slot, as the engine's record code takes it.
    @inline(__always)
    static func record(_ slot: UnsafeMutablePointer<cnv_slot>) -> UnsafeMutablePointer<cnv_task_record> {
        cnv_slot_record(slot)
    }
}
