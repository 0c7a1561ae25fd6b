import Conveyor
import Foundation
import Synchronization
import Testing

/// Slab pools live in a registry that grows on demand (issue 9, item 5): a process may hold
/// far more than the old fixed table of 256 pools, and every thread's cache table grows with it.
@Suite("Slab pool registry")
struct PoolLimitTests {
    @Test("1,000 slab pools alive at once, used from two threads, then destroyed")
    func manyPools() throws {
        var pools: [SlabPool] = []
        for index in 0..<1_000 {
            pools.append(try SlabPool(objectSize: 16 + index % 64, backing: .mmap))
        }
        // This thread's table grows as it meets pools beyond its capacity.
        for pool in pools { pool.deallocate(try pool.allocate()) }
        // A second thread starts with an empty table and meets the highest slots first.
        let shared = pools
        let failures = Mutex(0)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            for pool in shared.reversed() {
                guard let block = try? pool.allocate() else {
                    failures.withLock { $0 += 1 }
                    continue
                }
                block.storeBytes(of: UInt64(0xC0FFEE), as: UInt64.self)
                pool.deallocate(block)
            }
        }
        thread.start()
        done.wait()
        #expect(failures.withLock { $0 } == 0)
        for pool in pools {
            #expect(pool.statistics.objectsInUse == 0)
            #expect(pool.statistics.allocations == 2)
        }
        pools.removeAll()
        // Slots are reused after destroy: more pools again, without growth of the table.
        let again = try (0..<300).map { _ in try SlabPool(objectSize: 64, backing: .mmap) }
        for pool in again { pool.deallocate(try pool.allocate()) }
    }

    @Test("Hundreds of engines with a spill group exist at once")
    func manySpillEngines() async throws {
        var engines: [Conveyor] = []
        for index in 0..<120 {
            engines.append(
                try Conveyor(groups: [ResourceGroup("s\(index)", overflow: .spill(memoryLimit: 1 << 20))]))
        }
        // An atomic, not a Mutex: ThreadSanitizer does not see Synchronization.Mutex, and the
        // 120 engines' workers run these at the same time.
        let ran = Atomic<Int>(0)
        for engine in engines {
            try engine.submit { ran.add(1, ordering: .relaxed) }
        }
        for engine in engines { await engine.shutdown(drain: true) }
        #expect(ran.load(ordering: .relaxed) == engines.count)
    }
}
