import Foundation
import Conveyor
import Testing

let jemallocLinked = SlabPool.Backing.default == .jemallocArena

@Suite("Slab pool")
struct SlabPoolTests {
    @Test("Blocks are distinct, aligned, writable and do not overlap", arguments: [1, 24, 64, 256, 4000])
    func distinctBlocks(objectSize: Int) throws {
        let pool = try SlabPool(objectSize: objectSize)
        let rounded = (objectSize + 15) / 16 * 16
        #expect(pool.objectSize == rounded)
        var blocks: [UnsafeMutableRawPointer] = []
        for index in 0..<5_000 {
            let block = try pool.allocate()
            #expect(Int(bitPattern: block) % 16 == 0)
            block.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: index), count: rounded)
            blocks.append(block)
        }
        let addresses = blocks.map { UInt(bitPattern: $0) }.sorted()
        for (lower, upper) in zip(addresses, addresses.dropFirst()) {
            #expect(upper - lower >= UInt(rounded), "blocks overlap")
        }
        for (index, block) in blocks.enumerated() {
            let bytes = UnsafeRawBufferPointer(start: block, count: rounded)
            #expect(bytes.allSatisfy { $0 == UInt8(truncatingIfNeeded: index) }, "block \(index) was overwritten")
        }
        for block in blocks { pool.deallocate(block) }
        let stats = pool.statistics
        #expect(stats.objectsInUse == 0)
        #expect(stats.allocations == 5_000)
        #expect(stats.frees == 5_000)
        #expect(stats.peakObjectsOutstanding >= 5_000)
        #expect(stats.magazineHitRate > 0.9)
    }

    @Test("Bad sizes are refused with a clear error", arguments: [0, -1, 1_048_577, Int.max])
    func rejectsBadSize(objectSize: Int) {
        #expect {
            _ = try SlabPool(objectSize: objectSize)
        } throws: { error in
            guard case ConveyorError.invalidConfiguration(let reason) = error else { return false }
            return reason.contains("objectSize")
        }
    }

    @Test("Both backings work; jemalloc backing needs the trait")
    func backings() throws {
        let mapped = try SlabPool(objectSize: 48, backing: .mmap)
        #expect(mapped.backing == .mmap)
        let block = try mapped.allocate()
        mapped.deallocate(block)
        if jemallocLinked {
            let arena = try SlabPool(objectSize: 48, backing: .jemallocArena)
            #expect(arena.backing == .jemallocArena)
            arena.deallocate(try arena.allocate())
        } else {
            #expect(throws: ConveyorError.self) { try SlabPool(objectSize: 48, backing: .jemallocArena) }
        }
    }

    @Test("Purge releases every fully free slab while a slab with a live block stays")
    func purgeKeepsLiveSlabs() throws {
        for backing in [SlabPool.Backing.mmap, .default] {
            let pool = try SlabPool(objectSize: 256, backing: backing)
            let perSlab = pool.statistics.objectsPerSlab
            var blocks: [UnsafeMutableRawPointer] = []
            for _ in 0..<(perSlab * 4) { blocks.append(try pool.allocate()) }
            let slabsBefore = pool.statistics.slabs
            #expect(slabsBefore >= 4)
            let keep = blocks[perSlab * 2 + 3]
            keep.storeBytes(of: 0xC0FFEE, as: Int.self)
            for block in blocks where block != keep { pool.deallocate(block) }

            let released = pool.purge()
            let after = pool.statistics
            #expect(released == slabsBefore - 1)
            #expect(after.slabs == 1)
            #expect(after.objectsInUse == 1)
            #expect(keep.load(as: Int.self) == 0xC0FFEE, "the live block's slab must stay mapped")

            // The pool still works after a purge, and the last slab goes once it is free.
            let fresh = try pool.allocate()
            pool.deallocate(fresh)
            pool.deallocate(keep)
            pool.purge()
            #expect(pool.statistics.slabs == 0)
            #expect(pool.statistics.objectsInUse == 0)
        }
    }

    @Test("Steady state makes no allocation: no jemalloc bytes and no slab refills")
    func zeroAllocationSteadyState() throws {
        let pool = try SlabPool(objectSize: 64)
        let batch = UnsafeMutableBufferPointer<UnsafeMutableRawPointer?>.allocate(capacity: 200)
        defer { batch.deallocate() }
        func churn(_ rounds: Int) throws {
            for round in 0..<rounds {
                let size = 1 + round % 200
                for index in 0..<size { batch[index] = try pool.allocate() }
                for index in 0..<size { pool.deallocate(batch[index]!) }
            }
        }
        try churn(1_000)  // warm-up: slabs and magazines exist now
        let refillsBefore = pool.statistics.slabRefills
        let bytesBefore = MemoryStatistics.threadAllocatedBytes()
        try churn(10_000)  // ~1 million allocations and frees
        let bytesAfter = MemoryStatistics.threadAllocatedBytes()
        #expect(pool.statistics.slabRefills == refillsBefore)
        if let bytesBefore, let bytesAfter {
            #expect(bytesAfter - bytesBefore == 0, "jemalloc thread.allocated grew")
        }
        #expect(pool.statistics.allocations > 1_000_000)
    }
}

@Suite("Slab pool stress", .serialized)
struct SlabPoolStressTests {
    /// Blocks currently handed out, keyed by address: a second hand-out of a live block is caught.
    /// It locks with NSLock (pthread_mutex, which ThreadSanitizer understands); the stdlib's
    /// `Mutex` is invisible to TSan on Linux and would be reported as a race.
    final class LiveSet: @unchecked Sendable {
        // @unchecked: `addresses` is only touched under `lock`.
        private let lock = NSLock()
        private var addresses = Set<UInt>()
        let doubleHandOuts = SharedCounter()

        func claim(_ block: UnsafeMutableRawPointer) {
            let inserted = self.lock.withLock { self.addresses.insert(UInt(bitPattern: block)).inserted }
            if !inserted { self.doubleHandOuts.add(1) }
        }

        func release(_ block: UnsafeMutableRawPointer) {
            _ = self.lock.withLock { self.addresses.remove(UInt(bitPattern: block)) }
        }
    }

    @Test("Cross-thread frees: no block handed out twice, stats balance to zero")
    func crossThreadFrees() throws {
        let pool = try SlabPool(objectSize: 64)
        let ring = try MPMCRing(capacity: 256)
        let live = LiveSet()
        let producers = 2
        let perProducer = StressScale.scaled(300_000)
        let total = producers * perProducer
        let freed = SharedCounter()
        let corrupted = SharedCounter()
        let failures = SharedCounter()
        let watchdog = StallWatchdog()
        runOnThreads(producers + 2) { thread in
            var spin = SpinWait()
            if thread < producers {
                // Producers allocate, stamp, and also free some blocks themselves (same-thread churn).
                for sequence in 0..<perProducer {
                    guard let block = try? pool.allocate() else {
                        failures.add(1)
                        return
                    }
                    live.claim(block)
                    let stamp = UInt(thread << 32 | sequence)
                    block.storeBytes(of: stamp, as: UInt.self)
                    block.storeBytes(of: ~stamp, toByteOffset: 56, as: UInt.self)
                    while !ring.tryEnqueue(UInt(bitPattern: block)) {
                        if !spin.failed(watchdog) { return }
                    }
                    spin.progressed()
                    if sequence % 3 == 0, let own = try? pool.allocate() {
                        live.claim(own)
                        live.release(own)
                        pool.deallocate(own)
                    }
                }
            } else {
                while freed.current < total {
                    guard let address = ring.tryDequeue() else {
                        if !spin.failed(watchdog) { return }
                        continue
                    }
                    spin.progressed()
                    let block = UnsafeMutableRawPointer(bitPattern: address)!
                    let stamp = block.load(as: UInt.self)
                    if block.load(fromByteOffset: 56, as: UInt.self) != ~stamp { corrupted.add(1) }
                    live.release(block)
                    pool.deallocate(block)
                    freed.add(1)
                }
            }
        }
        #expect(!watchdog.hasStopped)
        #expect(failures.current == 0)
        #expect(live.doubleHandOuts.current == 0)
        #expect(corrupted.current == 0)
        #expect(freed.current == total)
        let stats = pool.statistics
        #expect(stats.objectsInUse == 0)
        #expect(stats.allocations == stats.frees)
        #expect(stats.allocations >= total)
    }

    @Test("Threads that exit hand their cached blocks back to the pool")
    func exitingThreadsReturnTheirCaches() throws {
        let pool = try SlabPool(objectSize: 128)
        let threads = 8
        runOnThreads(threads) { _ in
            var blocks: [UnsafeMutableRawPointer] = []
            for _ in 0..<1_000 { if let block = try? pool.allocate() { blocks.append(block) } }
            for block in blocks { pool.deallocate(block) }
        }
        // Thread-exit destructors run just after the threads report done; give them a moment.
        var caches = pool.statistics.threadCaches
        for _ in 0..<200 where caches > 0 {
            usleep(10_000)
            caches = pool.statistics.threadCaches
        }
        #expect(caches == 0)
        #expect(pool.statistics.objectsInUse == 0)
        // Everything the threads cached is back in the depot, so a purge frees every slab.
        pool.purge()
        #expect(pool.statistics.slabs == 0)
    }
}
