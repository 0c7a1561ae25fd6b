/// A pool a ``MemoryOptimizer`` created and can measure and purge.
protocol TrackedPool: AnyObject, Sendable {
    /// Bytes the pool holds (slabs and caches), counted as "external" memory.
    var reservedBytes: Int { get }
    /// Objects kept for reuse.
    var idleObjects: Int { get }
    /// Flushes the calling thread's cache and releases what is free.
    func releaseFreeMemory(dropIdleObjects: Bool) -> TrackedPoolRelease
}
