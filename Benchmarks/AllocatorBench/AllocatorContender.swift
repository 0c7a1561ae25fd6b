import BenchSupport

/// An allocator that `conveyor-allocators` measures, and how a child process gets it.
///
/// glibc, jemalloc, mimalloc and tcmalloc run behind plain `malloc`/`free` (the engine's
/// `.process` record allocator): glibc is the process default, the other three are put in
/// front with `LD_PRELOAD`. `slab` runs without a preload (glibc underneath) and allocates
/// from Conveyor's own slab pools instead of `malloc`.
///
/// ```swift
/// let contender = AllocatorContender.mimalloc
/// print(contender.sharedObject ?? "none")  // libmimalloc.so.2, found with LibraryLocator
/// ```
enum AllocatorContender: String, CaseIterable, Codable, Sendable {
    case glibc
    case jemalloc
    case mimalloc
    case tcmalloc
    case slab

    /// The shared object preloaded for this contender (found at run time), nil for none.
    var sharedObject: String? {
        switch self {
        case .glibc, .slab: nil
        case .jemalloc: "libjemalloc.so.2"
        case .mimalloc: "libmimalloc.so.2"
        // The minimal build: the allocator without the heap profiler and checker hooks.
        case .tcmalloc: "libtcmalloc_minimal.so.4"
        }
    }

    /// The Debian package that installs ``sharedObject``.
    var debianPackage: String? {
        switch self {
        case .glibc, .slab: nil
        case .jemalloc: "libjemalloc-dev"
        case .mimalloc: "libmimalloc-dev"
        case .tcmalloc: "libgoogle-perftools-dev"
        }
    }

    /// The allocator a child of this contender must find behind `malloc`.
    var expectedMalloc: MallocRuntime.Identity {
        switch self {
        case .glibc, .slab: .glibc
        case .jemalloc: .jemalloc
        case .mimalloc: .mimalloc
        case .tcmalloc: .tcmalloc
        }
    }

    /// What the workloads allocate from, in words for the report.
    var allocationPath: String {
        switch self {
        case .slab:
            "Conveyor SlabPool: `FixedSizeAllocator(.slabPool)` for fixed-size records, one `SlabPool` per "
                + "power-of-two size class for the burst, `recordAllocator: .slabPool` for the engine; no preload "
                + "(glibc serves everything else)"
        case .glibc:
            "`malloc`/`free` (`FixedSizeAllocator(.process)`, `recordAllocator: .process`), no preload"
        case .jemalloc, .mimalloc, .tcmalloc:
            "`malloc`/`free` (`FixedSizeAllocator(.process)`, `recordAllocator: .process`) with `LD_PRELOAD`"
        }
    }

    /// What the burst's `releaseMemory()`-equivalent release step calls for this contender.
    var releaseCall: String {
        switch self {
        case .slab:
            "`MemoryOptimizer.releaseMemory()` over the size-class pools: flush this thread's magazines, release "
                + "every free slab (munmap), then glibc `malloc_trim(0)`"
        case .glibc, .jemalloc, .mimalloc, .tcmalloc: self.expectedMalloc.releaseCall
        }
    }
}
