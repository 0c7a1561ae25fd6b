// ordo-one/benchmark suite for the Conveyor core: single-thread ring and allocator workloads
// with allocation counts. Run with
//   swift package --package-path Benchmarks --scratch-path Benchmarks/.build benchmark --target CoreBenchmarks
//
// The benchmark plugin preloads a malloc interposer to count `malloc` calls
// (`mallocCountTotal`). It sees only calls to `malloc` itself: jemalloc's `mallocx` and glibc's
// `__libc_malloc` bypass it, so the FixedSizeAllocator(.jemalloc / .glibc) rows show 0 too.
// The custom metric "jemalloc bytes" (jemalloc's thread.allocated) does count `mallocx`.
// Timings here are NOT the comparison table: the interposer adds a header to every malloc.
// The table comes from `conveyor-corebench`, which runs without the interposer.
import Benchmark
import Conveyor

let jemallocBytes = BenchmarkMetric.custom("jemalloc bytes", polarity: .prefersSmaller, useScalingFactor: true)

/// Runs `body` once per scaled iteration and reports the jemalloc bytes the thread allocated.
@inline(__always)
func measured(_ benchmark: Benchmark, _ body: () -> Void) {
    let before = MemoryStatistics.threadAllocatedBytes() ?? 0
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations { body() }
    benchmark.stopMeasurement()
    let after = MemoryStatistics.threadAllocatedBytes() ?? 0
    benchmark.measurement(jemallocBytes, after - before)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, jemallocBytes],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .kilo,  // each iteration does 1000 operations; results are per operation
        maxDuration: .milliseconds(500),
        maxIterations: 2_000
    )

    // MARK: Rings, one thread (enqueue then dequeue: the uncontended cost of the operations)

    let mpmc = try! MPMCRing(capacity: 1024)
    let spsc = try! SPSCRing(capacity: 1024)
    let bulkIn = UnsafeMutableBufferPointer<UInt>.allocate(capacity: 32)
    let bulkOut = UnsafeMutableBufferPointer<UInt>.allocate(capacity: 32)
    _ = bulkIn.initialize(from: (0..<32).map { UInt($0) })
    _ = bulkOut.initialize(repeating: 0)
    nonisolated(unsafe) let input = UnsafeBufferPointer(bulkIn)
    nonisolated(unsafe) let output = bulkOut

    Benchmark("MPMCRing tryEnqueue+tryDequeue") { benchmark in
        measured(benchmark) {
            _ = mpmc.tryEnqueue(7)
            blackHole(mpmc.tryDequeue())
        }
    }
    Benchmark("MPMCRing bulk 32 enqueue+dequeue (per batch)") { benchmark in
        measured(benchmark) {
            _ = mpmc.enqueue(contentsOf: input)
            blackHole(mpmc.dequeue(into: output))
        }
    }
    Benchmark("SPSCRing tryEnqueue+tryDequeue") { benchmark in
        measured(benchmark) {
            _ = spsc.tryEnqueue(7)
            blackHole(spsc.tryDequeue())
        }
    }
    Benchmark("SPSCRing bulk 32 enqueue+dequeue (per batch)") { benchmark in
        measured(benchmark) {
            _ = spsc.enqueue(contentsOf: input)
            blackHole(spsc.dequeue(into: output))
        }
    }

    // MARK: Allocators, one thread (allocate + free of one 64-byte object)

    let pool = try! SlabPool(objectSize: 64)
    Benchmark("SlabPool 64 B allocate+deallocate") { benchmark in
        measured(benchmark) {
            let block = try! pool.allocate()
            blackHole(block)
            pool.deallocate(block)
        }
    }
    for kind in FixedSizeAllocator.Kind.available {
        let allocator = try! FixedSizeAllocator(kind, objectSize: 64)
        Benchmark("FixedSizeAllocator(.\(kind)) 64 B allocate+deallocate") { benchmark in
            measured(benchmark) {
                let block = try! allocator.allocate()
                blackHole(block)
                allocator.deallocate(block)
            }
        }
    }
    // Control: Swift's own allocation goes through `malloc`, so the interposer counts it
    // (1 malloc per operation), which shows that the zeros above are real.
    Benchmark("Swift UnsafeMutableRawPointer.allocate 64 B (malloc, control)") { benchmark in
        measured(benchmark) {
            let block = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
            blackHole(block)
            block.deallocate()
        }
    }
}
