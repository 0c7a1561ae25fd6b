import CConveyor
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One shard of a ``ResultCache``: a ``CacheStore`` behind a pthread mutex (ThreadSanitizer
/// sees pthread mutexes; it does not see `Synchronization.Mutex`'s futex), and the store's
/// lock-free read table (`cnv_rt_table`, C) that hits go through without the lock.
///
/// The mutex sits alone in a 128-byte block so that two shards' locks never share a cache
/// line (or an adjacent-line prefetch pair).
@usableFromInline
final class CacheShard<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    // @unchecked: `store` is read and written only between lock and unlock; `table` is
    // read by any thread through its atomic accessors and written under the lock.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var store: CacheStore<Key, Value>
    @usableFromInline let table: UnsafeMutablePointer<cnv_rt_table>

    init(capacity: Int, maxBytes: Int, tinyLFU: Bool, sampleShift: UInt32) {
        guard let table = cnv_rt_create(UInt64(capacity), sampleShift, cacheEntryRelease) else {
            fatalError("ResultCache: out of memory creating a shard's read table")
        }
        self.table = table
        self.store = CacheStore(
            capacity: capacity, maxBytes: maxBytes, tinyLFU: tinyLFU, table: table, sampleWeight: 1 << Int(min(sampleShift, 16)))
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        self.mutex = raw.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        // A default (non-robust, non-recursive) mutex cannot fail to initialize on Linux.
        pthread_mutex_init(self.mutex, nil)
    }

    deinit {
        self.store.releaseBuffers()
        cnv_rt_destroy(self.table)
        pthread_mutex_destroy(self.mutex)
        self.mutex.deinitialize(count: 1)
        UnsafeMutableRawPointer(self.mutex).deallocate()
    }

    @inlinable
    func withLock<Result>(_ body: (inout CacheStore<Key, Value>) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        return try body(&self.store)
    }

    /// The hit path, without the lock: probes the read table inside an RCU read-side
    /// section, and on a fresh entry records the hit on the calling thread's stripe (the
    /// policy applies it at the next drain): always for the entry's first
    /// `CNV_RT_EXACT_HITS` hits, then one in 2^shift at random, weighted by 2^shift. `nil` when the key is absent or stale here; the
    /// caller then takes the locked path, which is authoritative.
    @inlinable
    func readLookup(_ key: EntryKey<Key>, now: Int64) -> CacheStore<Key, Value>.Stored? {
        let tag = UInt64(bitPattern: Int64(key.hash))
        var record: UInt64 = 0
        var exact = false
        cnv_rcu_read_lock()
        let stored: CacheStore<Key, Value>.Stored? = {
            let array = cnv_rt_array_acquire(self.table)
            var cursor = tag
            while true {
                let bits = cnv_rt_next(array, tag, &cursor)
                guard bits != 0, let pointer = UnsafeRawPointer(bitPattern: bits) else { return nil }
                // Guaranteed alive until cnv_rcu_read_unlock: no retain of the entry itself.
                let found = Unmanaged<CacheEntry<Key, Value>>.fromOpaque(pointer)._withUnsafeGuaranteedRef {
                    entry -> (match: Bool, stored: CacheStore<Key, Value>.Stored?) in
                    guard entry.key == key else { return (false, nil) }
                    guard entry.expiresAt > now else { return (true, nil) }
                    record = entry.record
                    let left = entry.exactRecords.load(ordering: .relaxed)
                    if left < UInt8(CNV_RT_EXACT_HITS) {
                        entry.exactRecords.store(left &+ 1, ordering: .relaxed)
                        exact = true
                    }
                    return (true, entry.stored)
                }
                if found.match { return found.stored }
            }
        }()
        cnv_rcu_read_unlock()
        if stored != nil, cnv_rt_record_hit(self.table, record, exact) { self.tryDrain() }
        return stored
    }

    /// Applies the buffered hits to the policy if the lock is free (a busy lock means its
    /// holder drains anyway: every locked operation starts with a drain).
    /// (Inlinable, so the drain and the list moves are specialized for the key and value
    /// types: unspecialized, each record paid for generic metadata lookups.)
    @inlinable
    func tryDrain() {
        guard pthread_mutex_trylock(self.mutex) == 0 else { return }
        self.store.drainReads()
        pthread_mutex_unlock(self.mutex)
    }
}
