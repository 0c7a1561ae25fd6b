import Conveyor
import Foundation
import Synchronization
import Testing

/// Issue 16 (the soak's "free slab capacity stuck in worker magazines"): a worker frees the
/// records of the tasks it runs into its own slab magazines, which only its thread can empty;
/// `MemoryOptimizer.releaseMemory()` runs on another thread, so every slab one of those free
/// records lives in stayed reserved for as long as the worker slept. An idle worker now hands
/// them back once its park times out (Conveyor+Workers.swift, Conveyor+Memory.swift).
@Suite("Memory: idle workers hand their cached records back")
struct IdleWorkerMemoryTests {
    @Test("After a spill burst and a second of idleness, releaseMemory returns the slabs the workers' magazines pinned")
    func idleWorkersFlushTheirMagazines() async throws {
        let conveyor = try Conveyor(groups: [
            ResourceGroup("w", minWorkers: 2, capacity: 64, priorityLevels: 1, overflow: .spill(memoryLimit: 256 << 20))
        ])
        let ran = Atomic<Int>(0)
        let item = try conveyor.register("item", payload: Item.self) { _ in ran.add(1, ordering: .relaxed) }
        let optimizer = MemoryOptimizer()
        let count = StressScale.scaled(60_000, minimum: 20_000)
        // One OS thread submits, measures and releases: a slab pool's magazines belong to a
        // thread, and `releaseMemory` flushes only the caller's, so the submitter's own cached
        // records must be the caller's (a cooperative-pool task may change threads).
        let figures = Mutex<(before: Int, busy: Int, idle: Int, reservedBefore: Int, reservedBusy: Int, reservedIdle: Int, flushed: Bool)>(
            (0, 0, 0, 0, 0, 0, false))
        runOnThreads(1) { _ in
            // A first burst of the same size: magazines, depot and allocator metadata reach
            // their working set, so the measured burst adds only what it keeps.
            for round in 0..<2 {
                let hold = Gate(value: 0)
                for _ in 0..<2 { _ = try? conveyor.submit { hold.wait() } }
                _ = eventually { (try? conveyor.statistics(for: "w").queued) == 0 }
                if round == 1 {
                    _ = optimizer.releaseMemory()
                    let metrics = MemoryMetrics.process()
                    figures.withLock { $0.before = heldBytes(); $0.reservedBefore = metrics.slabBytesReserved }
                }
                let target = ran.load(ordering: .relaxed) + count
                for index in 0..<count { _ = try? conveyor.submit(item, Item(index: UInt64(index))) }
                for _ in 0..<2 { hold.signal() }
                _ = eventually { ran.load(ordering: .relaxed) >= target && (try? conveyor.statistics(for: "w").queued) == 0 }
                if round == 0 {
                    // Let the warm-up round's workers go idle and flush too.
                    usleep(1_500_000)
                    _ = optimizer.releaseMemory()
                }
            }
            // At once: both workers have just freed their last records into their magazines.
            _ = optimizer.releaseMemory()
            let busy = MemoryMetrics.process()
            figures.withLock { $0.busy = heldBytes(); $0.reservedBusy = busy.slabBytesReserved }
            // Idle: each worker's park ends by its 1 s timeout and it flushes its magazines;
            // releasing memory then returns every slab of the burst.
            let reservedBefore = figures.withLock { $0.reservedBefore }
            let flushed = eventually(timeout: .seconds(6)) {
                usleep(100_000)
                _ = optimizer.releaseMemory()
                return MemoryMetrics.process().slabBytesReserved - reservedBefore < 64 << 10
            }
            let idle = MemoryMetrics.process()
            figures.withLock {
                $0.idle = heldBytes()
                $0.reservedIdle = idle.slabBytesReserved
                $0.flushed = flushed
            }
        }
        let result = figures.withLock { $0 }
        // The pools' own figure: back to within one slab of where the burst began.
        #expect(result.flushed, "slab bytes reserved: \(result.reservedBefore) before the burst, \(result.reservedBusy) just after it, \(result.reservedIdle) after idling")
        // Measured from the allocator, not only the pools' counter: the heap (jemalloc net of
        // its thread caches; with glibc, the heap plus mmap'd slabs) gave the pinned slabs back.
        let pinned = result.reservedBusy - result.reservedIdle
        #expect(pinned >= 64 << 10, "the workers' magazines pinned \(pinned) bytes of slabs right after the burst (expected at least one slab)")
        #expect(result.busy - result.idle >= pinned / 2,
                "held heap \(result.busy) bytes just after the burst, \(result.idle) after idling; the slabs released were \(pinned) bytes")
        await conveyor.shutdown(drain: true)
    }

    @Test("MemoryOptimizer.flushThreadCaches hands a live thread's cached records of every pool back")
    func flushThreadCachesOfEveryPool() throws {
        let optimizer = MemoryOptimizer()
        let pools = [try optimizer.createPool(objectSize: 64), try optimizer.createPool(objectSize: 256)]
        let count = StressScale.scaled(20_000, minimum: 5_000)
        /// Slab bytes the pools still reserve after `releaseMemory` on this thread, while a
        /// second thread that churned records through them is alive (a thread's exit hands
        /// its magazines back by itself) and flushed its caches or not.
        func reservedAfterRelease(flush: Bool) -> (reserved: Int, flushed: Int) {
            let churned = DispatchSemaphore(value: 0)
            let measured = DispatchSemaphore(value: 0)
            let flushed = Mutex(0)
            let thread = Thread {
                for pool in pools {
                    var records: [UnsafeMutableRawPointer] = []
                    records.reserveCapacity(count)
                    for _ in 0..<count { if let record = try? pool.allocate() { records.append(record) } }
                    for record in records { pool.deallocate(record) }
                }
                if flush { flushed.withLock { $0 = MemoryOptimizer.flushThreadCaches() } }
                churned.signal()
                measured.wait()
            }
            thread.start()
            churned.wait()
            _ = optimizer.releaseMemory()
            let reserved = pools.reduce(0) { $0 + $1.statistics.bytesReserved }
            measured.signal()
            return (reserved, flushed.withLock { $0 })
        }
        let kept = reservedAfterRelease(flush: false)
        let handedBack = reservedAfterRelease(flush: true)
        // The churning thread's magazines hold up to 2 × 64 free records per pool, and each
        // keeps its slab; flushed, every slab is free in the depot and released.
        #expect(handedBack.flushed >= pools.count)
        #expect(kept.reserved > 0, "unflushed, the live thread's magazines kept \(kept.reserved) bytes of slabs")
        #expect(handedBack.reserved < kept.reserved,
                "flushed: \(handedBack.reserved) bytes reserved after releaseMemory, unflushed: \(kept.reserved)")
        #expect(pools.allSatisfy { $0.statistics.recordsInUse == 0 })
    }
}
