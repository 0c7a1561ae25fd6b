import Conveyor
import Foundation
import Testing

@Suite("Allocator seam and memory statistics")
struct AllocatorTests {
    @Test("Every available allocator hands out usable fixed-size blocks",
          arguments: FixedSizeAllocator.Kind.available)
    func allocatesAndFrees(kind: FixedSizeAllocator.Kind) throws {
        let allocator = try FixedSizeAllocator(kind, objectSize: 96)
        #expect(allocator.kind == kind)
        var blocks: [UnsafeMutableRawPointer] = []
        for index in 0..<2_000 {
            let block = try allocator.allocate()
            block.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: index), count: 96)
            blocks.append(block)
        }
        #expect(Set(blocks).count == blocks.count)
        for (index, block) in blocks.enumerated() {
            #expect(block.load(fromByteOffset: 95, as: UInt8.self) == UInt8(truncatingIfNeeded: index))
            allocator.deallocate(block)
        }
    }

    @Test("`.process` is plain malloc/free: free() takes its blocks, it takes malloc's")
    func processKindIsMalloc() throws {
        #expect(FixedSizeAllocator.Kind.available.contains(.process))
        let allocator = try FixedSizeAllocator(.process, objectSize: 200)
        #expect(allocator.kind == .process && allocator.objectSize == 200)
        let block = try allocator.allocate()
        block.initializeMemory(as: UInt8.self, repeating: 7, count: 200)
        // Freeing with the C library's free() works only for a block that came from malloc
        // (a slab block or a mallocx block from another arena would abort here).
        free(block)
        let fromMalloc = try #require(malloc(200))
        allocator.deallocate(fromMalloc)
    }

    @Test("jemalloc is available exactly when the Jemalloc trait is on")
    func jemallocMatchesTrait() {
        #if CONVEYOR_JEMALLOC
        #expect(FixedSizeAllocator.Kind.available.contains(.jemalloc))
        #expect(jemallocLinked)
        #else
        #expect(!FixedSizeAllocator.Kind.available.contains(.jemalloc))
        #expect(throws: ConveyorError.self) { try FixedSizeAllocator(.jemalloc, objectSize: 64) }
        #endif
    }

    @Test("Bad sizes are refused", arguments: [0, -5])
    func rejectsBadSize(objectSize: Int) {
        for kind in FixedSizeAllocator.Kind.allCases {
            #expect(throws: ConveyorError.self) { try FixedSizeAllocator(kind, objectSize: objectSize) }
        }
    }

    @Test("Memory statistics report RSS, and jemalloc counters when linked")
    func memoryStatistics() {
        let memory = MemoryStatistics.current()
        #expect(memory.residentSetSize > 0)
        if jemallocLinked {
            #expect((memory.jemallocAllocated ?? 0) > 0)
            #expect((memory.jemallocResident ?? 0) >= (memory.jemallocAllocated ?? 0) / 2)
            let before = MemoryStatistics.threadAllocatedBytes() ?? 0
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 16)
            let after = MemoryStatistics.threadAllocatedBytes() ?? 0
            buffer.deallocate()
            #expect(after - before >= 1 << 20)
            #expect(MemoryStatistics.releaseFreeMemoryToOS())
        } else {
            #expect(memory.jemallocAllocated == nil)
            #expect(MemoryStatistics.threadAllocatedBytes() == nil)
        }
    }
}
