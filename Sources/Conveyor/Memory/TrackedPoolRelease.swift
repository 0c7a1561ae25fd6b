/// What one tracked pool gave back during ``MemoryOptimizer/optimizeGC(dropPooledObjects:)``.
struct TrackedPoolRelease: Sendable {
    var slabsReleased: Int
    var objectsDropped: Int
}
