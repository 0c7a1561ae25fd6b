import CConveyor

/// The process's memory at one moment, from ``MemoryOptimizer/monitorMemory()``.
///
/// ```swift
/// let metrics = MemoryOptimizer().monitorMemory()
/// print(metrics.heapAllocated, metrics.residentSetSize, metrics.peakResidentSetSize)
/// ```
public struct MemoryMetrics: Sendable, Hashable {
    /// Where ``heapAllocated`` comes from.
    public enum HeapSource: String, Sendable, Hashable {
        /// jemalloc's `stats.allocated` (the `Jemalloc` trait: jemalloc is the process allocator).
        case jemalloc
        /// glibc's `mallinfo2` (in-use plus mmapped chunks). Under a sanitizer, which replaces
        /// malloc, it covers only what still goes through glibc and is not meaningful.
        case glibc
    }

    /// Bytes the application holds in heap allocations (see ``heapSource``).
    public var heapAllocated: Int
    public var heapSource: HeapSource
    /// Bytes of ``heapAllocated`` that sit in jemalloc's per-thread caches, free for reuse by
    /// their thread but counted as allocated (`stats.arenas.<all>.tcache_bytes`); `nil` without
    /// jemalloc. `heapAllocated − heapInThreadCaches` is what the application really holds.
    public var heapInThreadCaches: Int?
    /// Bytes of jemalloc memory resident in RAM (`stats.resident`); `nil` without jemalloc.
    public var heapResident: Int?
    /// Bytes jemalloc has mapped (`stats.mapped`); `nil` without jemalloc.
    public var heapMapped: Int?
    /// Resident set size of the process.
    public var residentSetSize: Int
    /// The highest resident set size since the process started (VmHWM).
    public var peakResidentSetSize: Int
    /// Bytes held by the record pools the optimizer tracks (slabs and magazines). With the
    /// `Jemalloc` trait these bytes are part of ``heapAllocated`` too; with mmap slabs they are not.
    public var external: Int
    /// Bytes every Conveyor slab pool of the process reserves (slabs and magazines): the
    /// engines' task records and overflow nodes, and every record pool.
    public var slabBytesReserved: Int
    /// Bytes of objects allocated from those pools and not yet freed.
    public var slabBytesInUse: Int
    /// Free slab bytes of pools on the dedicated jemalloc arena: counted in ``heapAllocated``,
    /// yet capacity the pools keep for reuse (``MemoryOptimizer/releaseMemory(dropPooledObjects:)``
    /// returns the fully free slabs).
    public var slabBytesFreeInHeap: Int
    /// Objects idle in the object pools the optimizer tracks.
    public var pooledObjects: Int
    /// Pools the optimizer tracks that are still alive.
    public var trackedPools: Int

    public init(
        heapAllocated: Int, heapSource: HeapSource, heapInThreadCaches: Int? = nil, heapResident: Int? = nil, heapMapped: Int? = nil,
        residentSetSize: Int, peakResidentSetSize: Int, external: Int = 0, slabBytesReserved: Int = 0,
        slabBytesInUse: Int = 0, slabBytesFreeInHeap: Int = 0, pooledObjects: Int = 0, trackedPools: Int = 0
    ) {
        self.slabBytesReserved = slabBytesReserved
        self.slabBytesInUse = slabBytesInUse
        self.slabBytesFreeInHeap = slabBytesFreeInHeap
        self.heapAllocated = heapAllocated
        self.heapSource = heapSource
        self.heapInThreadCaches = heapInThreadCaches
        self.heapResident = heapResident
        self.heapMapped = heapMapped
        self.residentSetSize = residentSetSize
        self.peakResidentSetSize = peakResidentSetSize
        self.external = external
        self.pooledObjects = pooledObjects
        self.trackedPools = trackedPools
    }

    /// The figure a watermark watches.
    public func value(of metric: MemoryWatermark.Metric) -> Int {
        switch metric {
        case .residentSetSize: self.residentSetSize
        case .heapAllocated: self.heapAllocated
        }
    }

    /// Process-wide figures only (no pools): what ``MemoryOptimizer/monitorMemory()`` adds
    /// its pools to.
    public static func process() -> MemoryMetrics {
        let statistics = MemoryStatistics.current()
        let jemalloc = statistics.jemallocAllocated
        var cached: UInt64 = 0
        let cachedKnown = jemalloc != nil && cnv_memory_jemalloc_tcache_bytes(&cached) == CNV_OK.rawValue
        var slabs = cnv_slab_totals()
        _ = cnv_slab_totals_read(&slabs)
        let freeInHeap = jemalloc == nil ? 0 : Int(slabs.bytes_reserved_jemalloc) - Int(slabs.bytes_in_use_jemalloc)
        return MemoryMetrics(
            heapAllocated: jemalloc ?? Int(cnv_memory_glibc_heap_allocated()),
            heapSource: jemalloc == nil ? .glibc : .jemalloc,
            heapInThreadCaches: cachedKnown ? Int(cached) : nil,
            heapResident: statistics.jemallocResident,
            heapMapped: statistics.jemallocMapped,
            residentSetSize: statistics.residentSetSize,
            peakResidentSetSize: max(Int(cnv_memory_peak_rss_bytes()), statistics.residentSetSize),
            slabBytesReserved: Int(slabs.bytes_reserved), slabBytesInUse: Int(slabs.bytes_in_use),
            slabBytesFreeInHeap: max(0, freeInHeap))
    }
}
