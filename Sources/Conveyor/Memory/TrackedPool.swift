// The pools a MemoryOptimizer tracks: what it asks of them, how it refers to them, what they give back.

/// A pool a ``MemoryOptimizer`` created and can measure and purge.
protocol TrackedPool: AnyObject, Sendable {
    /// Bytes the pool holds (slabs and caches), counted as "external" memory.
    var reservedBytes: Int { get }
    /// Objects kept for reuse.
    var idleObjects: Int { get }
    /// Flushes the calling thread's cache and releases what is free.
    func releaseFreeMemory(dropIdleObjects: Bool) -> TrackedPoolRelease
}

/// A weak reference to a tracked pool: the optimizer never keeps a pool alive.
struct TrackedPoolReference: Sendable {
    weak var pool: (any TrackedPool)?
}

/// What one tracked pool gave back during ``MemoryOptimizer/releaseMemory(dropPooledObjects:)``.
struct TrackedPoolRelease: Sendable {
    var slabsReleased: Int
    var objectsDropped: Int
}
