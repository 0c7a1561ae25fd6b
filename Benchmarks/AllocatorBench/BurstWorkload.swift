import BenchSupport
import Conveyor

/// The fragmentation burst: from a clean start (the allocator's release step first), allocate
/// a ``BurstPlan``'s blocks and write every byte of each, free 3 of every 4 in pseudo-random
/// order, measure RSS against the live bytes, free the rest, then run the release step and
/// measure what went back to the OS.
///
/// Fragmentation = (RSS after the partial free − RSS before the burst) ÷ bytes still
/// allocated (requested sizes): 1 would mean the live blocks take exactly their own size in
/// RAM; more means pages held by freed neighbours, size-class rounding and metadata.
///
/// ```swift
/// let plan = BurstPlan(targetBytes: 8 << 20, minimumBytes: 16, maximumBytes: 4096, freedShare: 0.75, seed: 42)
/// let result = try BurstWorkload(plan: plan).run(on: .malloc(MallocRuntime.current()))
/// print(result.fragmentation, result.releasedBytes)
/// ```
struct BurstWorkload {
    let plan: BurstPlan

    struct Result: Equatable {
        var blocks: Int
        var totalBytes: Int
        var liveBytes: Int
        /// Live blocks whose first or last byte changed while they were live (0 when sound).
        var damagedBlocks: Int
        var residentBeforeBurstBytes: Int
        var residentAtPeakBytes: Int
        var residentAfterPartialFreeBytes: Int
        var residentAfterFreeAllBytes: Int
        var residentAfterReleaseBytes: Int
        /// Resident bytes marked free with MADV_FREE (the kernel takes them back only under
        /// memory pressure; RSS still counts them), after the partial free and after the release.
        var lazyFreeAfterPartialFreeBytes: Int?
        var lazyFreeAfterReleaseBytes: Int?
        var releaseSucceeded: Bool
        /// Allocating and writing every block, then freeing every block (two phases, summed).
        var nanoseconds: UInt64

        var fragmentation: Double {
            Double(self.residentAfterPartialFreeBytes - self.residentBeforeBurstBytes) / Double(max(1, self.liveBytes))
        }

        /// RSS the release step gave back (after every block was freed).
        var releasedBytes: Int { self.residentAfterFreeAllBytes - self.residentAfterReleaseBytes }
    }

    func run(on heap: BurstHeap) throws -> Result {
        let plan = self.plan
        let count = plan.sizes.count
        let blocks = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: count)
        blocks.initialize(repeating: nil, count: count)
        defer { blocks.deallocate() }
        // A clean baseline: free pages left over from start-up go back first.
        heap.releaseFreeMemory()
        let before = Self.resident()
        var start = nowNanoseconds()
        for index in 0..<count {
            let size = Int(plan.sizes[index])
            let block = try heap.allocate(size)
            block.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: index), count: size)
            blocks[index] = block
        }
        var elapsed = nowNanoseconds() &- start
        let peak = Self.resident()
        start = nowNanoseconds()
        for position in 0..<plan.freedCount {
            let index = Int(plan.freeOrder[position])
            heap.deallocate(blocks[index].unsafelyUnwrapped, size: Int(plan.sizes[index]))
            blocks[index] = nil
        }
        elapsed &+= nowNanoseconds() &- start
        let partial = Self.resident()
        let partialLazyFree = Self.lazyFree()
        var damaged = 0
        for position in plan.freedCount..<count {
            let index = Int(plan.freeOrder[position])
            let block = blocks[index].unsafelyUnwrapped
            let stamp = UInt8(truncatingIfNeeded: index)
            if block.load(as: UInt8.self) != stamp || block.load(fromByteOffset: Int(plan.sizes[index]) - 1, as: UInt8.self) != stamp {
                damaged += 1
            }
        }
        start = nowNanoseconds()
        for position in plan.freedCount..<count {
            let index = Int(plan.freeOrder[position])
            heap.deallocate(blocks[index].unsafelyUnwrapped, size: Int(plan.sizes[index]))
        }
        elapsed &+= nowNanoseconds() &- start
        let freedAll = Self.resident()
        let released = heap.releaseFreeMemory()
        let afterRelease = Self.resident()
        return Result(
            blocks: count, totalBytes: plan.totalBytes, liveBytes: plan.liveBytesAfterPartialFree, damagedBlocks: damaged,
            residentBeforeBurstBytes: before, residentAtPeakBytes: peak, residentAfterPartialFreeBytes: partial,
            residentAfterFreeAllBytes: freedAll, residentAfterReleaseBytes: afterRelease,
            lazyFreeAfterPartialFreeBytes: partialLazyFree, lazyFreeAfterReleaseBytes: Self.lazyFree(),
            releaseSucceeded: released, nanoseconds: elapsed)
    }

    private static func resident() -> Int { MemoryStatistics.current().residentSetSize }

    private static func lazyFree() -> Int? { ProcFile.kilobytes("LazyFree", in: "/proc/self/smaps_rollup") }
}
