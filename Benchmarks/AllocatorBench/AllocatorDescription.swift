import BenchSupport

/// How one allocator was set up for the report.
///
/// ```swift
/// // {"name": "mimalloc", "preload": "/lib/x86_64-linux-gnu/libmimalloc.so.2",
/// //  "library": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2.0", "version": "2.0.9", …}
/// ```
struct AllocatorDescription: Codable, Sendable, Equatable {
    /// `glibc`, `jemalloc`, `mimalloc`, `tcmalloc` or `slab`.
    var name: String
    /// The `LD_PRELOAD` value the children ran with (nil: no preload).
    var preload: String?
    /// The file serving `malloc` in the children (the preload resolved through symlinks,
    /// else the C library), as the children reported it.
    var library: String
    /// The allocator's version as its own call reported it in the children.
    var version: String
    /// What the workloads allocate from.
    var allocationPath: String
    /// What the burst's `releaseMemory()`-equivalent release step calls.
    var releaseCall: String
}
