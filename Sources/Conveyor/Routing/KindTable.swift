import Synchronization

/// An open-addressing hash table from kind name to `KindSlot`, read without locks.
///
/// Buckets hold unretained slot pointers (0 = empty); the router keeps every slot alive until
/// it is destroyed. Writers hold the router's lock and only ever fill an empty bucket with a
/// release store, after the slot is fully built, so a reader either sees nothing (and takes
/// the locked slow path) or a complete slot. Buckets are never emptied, and the table is kept
/// at most half full, so linear probing always ends at an empty bucket.
///
/// Growing builds a new table and publishes it through the router's atomic table pointer; old
/// tables stay allocated until the router is destroyed, since a reader may still be probing
/// one. Tables double, so the retired ones add up to less than the current one.
///
/// Element 0 of the allocation holds `capacity - 1` (the mask), so one word names the table.
struct KindTable: @unchecked Sendable {
    // @unchecked: a plain pointer to atomics; the mask is written before publication.
    private let base: UnsafeMutablePointer<Atomic<UInt>>

    /// Allocates an empty table of `capacity` buckets (a power of two).
    init(capacity: Int) {
        self.base = .allocate(capacity: capacity + 1)
        self.base.initialize(to: Atomic(UInt(capacity - 1)))
        for index in 1...capacity {
            (self.base + index).initialize(to: Atomic(0))
        }
    }

    /// The table published as `bitPattern`.
    init(bitPattern: UInt) {
        self.base = UnsafeMutablePointer(bitPattern: bitPattern)!
    }

    var bitPattern: UInt { UInt(bitPattern: self.base) }

    var capacity: Int { Int(self.base.pointee.load(ordering: .relaxed)) + 1 }

    /// Finds the slot of `kind` without locking, or returns `nil` when it is not (yet) here.
    func find(_ kind: String, hash: Int) -> Unmanaged<KindSlot>? {
        let mask = Int(self.base.pointee.load(ordering: .relaxed))
        var index = hash & mask
        while true {
            let bits = (self.base + 1 + index).pointee.load(ordering: .acquiring)
            guard let pointer = UnsafeRawPointer(bitPattern: bits) else { return nil }
            let slot = Unmanaged<KindSlot>.fromOpaque(pointer)
            // No retain: the router keeps the slot alive, and retaining would write a shared
            // reference count on every route.
            if slot._withUnsafeGuaranteedRef({ $0.hash == hash && $0.kind == kind }) { return slot }
            index = (index + 1) & mask
        }
    }

    /// Adds `slot`. The caller holds the router's lock and keeps the table at most half full.
    func insert(_ slot: KindSlot) {
        let mask = Int(self.base.pointee.load(ordering: .relaxed))
        var index = slot.hash & mask
        while (self.base + 1 + index).pointee.load(ordering: .relaxed) != 0 {
            index = (index + 1) & mask
        }
        let bits = UInt(bitPattern: Unmanaged.passUnretained(slot).toOpaque())
        (self.base + 1 + index).pointee.store(bits, ordering: .releasing)
    }

    /// Frees the table; only when no thread can read it any more.
    func deallocate() {
        let count = self.capacity + 1
        self.base.deinitialize(count: count)
        self.base.deallocate()
    }
}
