import CConveyor

/// Process memory figures from jemalloc and the kernel.
///
/// ```swift
/// let memory = MemoryStatistics.current()
/// print(memory.residentSetSize, memory.jemallocAllocated ?? 0)
/// ```
public struct MemoryStatistics: Sendable, Hashable {
    /// Bytes the application holds in jemalloc allocations (`stats.allocated`); `nil`
    /// without the `Jemalloc` trait.
    public var jemallocAllocated: Int?
    /// Bytes in active jemalloc pages (`stats.active`).
    public var jemallocActive: Int?
    /// Bytes of jemalloc memory resident in RAM (`stats.resident`).
    public var jemallocResident: Int?
    /// Bytes jemalloc has mapped (`stats.mapped`).
    public var jemallocMapped: Int?
    /// Resident set size of the whole process (`/proc/self/statm`).
    public var residentSetSize: Int

    /// Reads the current figures (refreshing jemalloc's statistics first).
    public static func current() -> MemoryStatistics {
        var raw = cnv_memory_stats()
        _ = cnv_memory_stats_read(&raw)
        let jemalloc = raw.jemalloc_available
        return MemoryStatistics(
            jemallocAllocated: jemalloc ? Int(raw.allocated) : nil,
            jemallocActive: jemalloc ? Int(raw.active) : nil,
            jemallocResident: jemalloc ? Int(raw.resident) : nil,
            jemallocMapped: jemalloc ? Int(raw.mapped) : nil,
            residentSetSize: Int(raw.rss)
        )
    }

    /// Bytes the calling thread has allocated through jemalloc since it started
    /// (`thread.allocated`). It counts `mallocx` too, which a malloc interposer does not see.
    /// `nil` without the `Jemalloc` trait.
    public static func threadAllocatedBytes() -> Int? {
        var value: UInt64 = 0
        return cnv_memory_thread_allocated(&value) == CNV_OK.rawValue ? Int(value) : nil
    }

    /// Flushes the calling thread's jemalloc cache and purges every arena, returning free
    /// pages to the operating system. Returns `false` without the `Jemalloc` trait.
    @discardableResult
    public static func releaseFreeMemoryToOS() -> Bool {
        cnv_memory_release_to_os() == CNV_OK.rawValue
    }
}
