import CConveyor

#if canImport(Glibc)
import Glibc
#endif

/// The process's memory at one reading.
///
/// ```swift
/// let memory = profiler.metrics().memory
/// print(memory.heap, memory.external, memory.peak, memory.resident)
/// ```
public struct MemoryUsage: Sendable, Equatable, Codable {
    /// Bytes the application holds from the process allocator: jemalloc's `stats.allocated`
    /// when jemalloc is linked (the `Jemalloc` trait), else glibc's `mallinfo2` (bytes in use
    /// in the arenas plus mmapped chunks), or the sanitizer allocator's count under TSan/ASan.
    public var heap: Int
    /// Bytes reserved by the profiled Conveyor's own structures: the task-record slab pool,
    /// the lanes' ring slots and the overflow/hand-off queue nodes (0 without a Conveyor).
    public var external: Int
    /// Peak resident set size of the process since it started (`getrusage` `ru_maxrss`).
    public var peak: Int
    /// Resident set size now (`/proc/self/statm`).
    public var resident: Int

    /// A reading from its parts.
    public init(heap: Int, external: Int, peak: Int, resident: Int) {
        self.heap = heap
        self.external = external
        self.peak = peak
        self.resident = resident
    }

    /// Reads the figures now; `external` is passed in by the caller.
    static func current(external: Int) -> MemoryUsage {
        let statistics = MemoryStatistics.current()
        let heap: Int
        if let allocated = statistics.jemallocAllocated {
            heap = allocated
        } else {
            heap = Int(clamping: cnv_memory_malloc_heap_bytes())
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let peak = Swift.max(Int(usage.ru_maxrss) * 1_024, statistics.residentSetSize)
        return MemoryUsage(heap: heap, external: external, peak: peak, resident: statistics.residentSetSize)
    }
}
