#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One shard of a ``ResultCache``: a ``CacheStore`` behind a pthread mutex (ThreadSanitizer
/// sees pthread mutexes; it does not see `Synchronization.Mutex`'s futex). The mutex sits
/// alone in a 128-byte block so that two shards' locks never share a cache line (or an
/// adjacent-line prefetch pair).
@usableFromInline
final class CacheShard<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    // @unchecked: `store` is read and written only between lock and unlock.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var store: CacheStore<Key, Value>

    init(capacity: Int, maxBytes: Int, tinyLFU: Bool) {
        self.store = CacheStore(capacity: capacity, maxBytes: maxBytes, tinyLFU: tinyLFU)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        self.mutex = raw.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        // A default (non-robust, non-recursive) mutex cannot fail to initialize on Linux.
        pthread_mutex_init(self.mutex, nil)
    }

    deinit {
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
}
