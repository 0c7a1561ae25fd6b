import BenchSupport

/// Why `conveyor-allocators` cannot measure, with what to do about it.
///
/// ```swift
/// throw AllocatorBenchError.libraryMissing("libmimalloc.so.2 not found: …")
/// ```
enum AllocatorBenchError: Error, CustomStringConvertible {
    /// This binary links jemalloc, which would serve `malloc` in every child.
    case jemallocLinked
    /// A preloaded allocator's shared object is not installed.
    case libraryMissing(String)
    /// A child found another allocator behind `malloc` than it was started for.
    case wrongAllocator(expected: MallocRuntime.Identity, found: MallocRuntime.Identity, provider: String)
    /// A child exited with an error or printed no result.
    case childFailed(String)

    var description: String {
        switch self {
        case .jemallocLinked:
            "this binary links jemalloc (the `Jemalloc` trait of the Benchmarks package, on by default, which turns on Conveyor's), which replaces "
                + "malloc in the whole process, so glibc, mimalloc and tcmalloc could not be measured in its children. "
                + "Build it without the trait and run that binary:\n"
                + "  swift build -c release --package-path Benchmarks --disable-default-traits --scratch-path Benchmarks/.build-allocators --product conveyor-allocators\n"
                + "  Benchmarks/.build-allocators/release/conveyor-allocators\n"
                + "(or `make bench-allocators`, which does both)"
        case .libraryMissing(let message):
            message
        case .wrongAllocator(let expected, let found, let provider):
            "expected \(expected) behind malloc but found \(found) (malloc comes from \(provider)); "
                + "is LD_PRELOAD set by something else, or is jemalloc linked into this binary?"
        case .childFailed(let message):
            message
        }
    }
}
