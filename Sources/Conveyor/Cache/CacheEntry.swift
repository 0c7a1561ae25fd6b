import Synchronization

/// One cached result as readers see it: immutable, published through the shard's read table
/// (``CacheShard``) and released only after an RCU grace period, so a reader that found it
/// without the lock may use it until its read-side section ends. Replacing a value makes a
/// new entry; the old one is retired.
@usableFromInline
final class CacheEntry<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    // @unchecked: every field is a `let`; `stored` may hold a non-Sendable error, which the
    // cache hands to its callers as before.
    @usableFromInline let key: EntryKey<Key>
    @usableFromInline let stored: CacheStore<Key, Value>.Stored
    /// Nanoseconds on the cache clock after which the entry is stale (`Int64.max`: never).
    @usableFromInline let expiresAt: Int64
    /// The store slot that holds it (the record a hit leaves for the policy).
    @usableFromInline let slot: Int32
    /// Hit records this entry has left for the policy, up to `CNV_RT_EXACT_HITS`: below that
    /// every hit leaves one, past it hits are sampled (see `cnv_rt_record_hit`). Relaxed
    /// load and store, no read-modify-write: two readers that race may both store the same
    /// count (one record too many is harmless), and a hot entry stops being written once the
    /// count is reached, so its line stays shared between the readers' caches.
    @usableFromInline let exactRecords = Atomic<UInt8>(0)

    init(key: EntryKey<Key>, stored: CacheStore<Key, Value>.Stored, expiresAt: Int64, slot: Int32) {
        self.key = key
        self.stored = stored
        self.expiresAt = expiresAt
        self.slot = slot
    }

    /// The read table's tag for this entry: its full hash.
    @inlinable
    var tag: UInt64 { UInt64(bitPattern: Int64(self.key.hash)) }

    /// The hit record for the policy: the slot and the low 32 bits of the hash (a drain
    /// applies it only when the slot still holds an entry with that hash). Bit 63 stays
    /// clear for `CNV_RT_SAMPLED` (slots are non-negative `Int32`s).
    @inlinable
    var record: UInt64 { UInt64(UInt32(bitPattern: self.slot)) << 32 | UInt64(UInt32(truncatingIfNeeded: self.key.hash)) }
}

/// Drops the read table's reference to an entry (called by the C table after a grace period).
let cacheEntryRelease: @convention(c) (UnsafeMutableRawPointer?) -> Void = { pointer in
    guard let pointer else { return }
    Unmanaged<AnyObject>.fromOpaque(pointer).release()
}
