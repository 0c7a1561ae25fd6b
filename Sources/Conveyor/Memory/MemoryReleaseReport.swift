/// What ``MemoryOptimizer/releaseMemory(dropPooledObjects:)`` gave back to the operating system.
///
/// ```swift
/// let report = MemoryOptimizer().releaseMemory()
/// print("released \(report.bytesReleased >> 20) MiB of RSS, \(report.slabsReleased) slabs")
/// ```
public struct MemoryReleaseReport: Sendable, Hashable {
    /// Figures before and after.
    public var before: MemoryMetrics
    public var after: MemoryMetrics
    /// Slabs the tracked record pools released.
    public var slabsReleased: Int
    /// Idle objects dropped from tracked object pools (only with `dropPooledObjects: true`).
    public var pooledObjectsDropped: Int
    /// Whether the process allocator returned free pages: with jemalloc, the thread-cache flush
    /// and `arena.<all>.purge` succeeded; with glibc, `malloc_trim(0)` released some memory
    /// (false when it found nothing to trim, or under a sanitizer, which replaces malloc).
    public var allocatorPurged: Bool

    /// The drop of the resident set size (0 if it grew: other threads allocate meanwhile).
    public var bytesReleased: Int {
        max(0, self.before.residentSetSize - self.after.residentSetSize)
    }

    /// The drop of jemalloc's resident bytes (`stats.resident`); `nil` without jemalloc.
    public var heapResidentReleased: Int? {
        guard let before = self.before.heapResident, let after = self.after.heapResident else { return nil }
        return max(0, before - after)
    }

    /// The drop of the tracked pools' reserved bytes.
    public var poolBytesReleased: Int {
        max(0, self.before.external - self.after.external)
    }
}
