import Conveyor
import Foundation
import Testing

import BenchSupport

@testable import AllocatorBench

/// Whether this test binary links jemalloc (the default `Jemalloc` trait), which then serves malloc.
let jemallocLinked = FixedSizeAllocator.Kind.available.contains(.jemalloc)

/// Tiny sizes: the child-side workloads run in this process in well under a second.
func tinySizes() -> AllocatorBenchSizes {
    var sizes = AllocatorBenchSizes(quick: true)
    sizes.churnWorkingSet = 512
    sizes.churnOperations = 20_000
    sizes.handOffOperations = 20_000
    sizes.burstTargetBytes = 16 << 20
    sizes.engineRate = 20_000
    sizes.engineSeconds = 0.1
    return sizes
}

@Suite("Allocator comparison: the child-side workloads, in-process", .serialized)
struct AllocatorWorkloadTests {
    @Test("The allocator behind malloc is recognised, with its version and release call")
    func recognisesProcessAllocator() {
        let runtime = MallocRuntime.current()
        if jemallocLinked {
            #expect(runtime.identity == .jemalloc)
            #expect(runtime.provider.contains("libjemalloc"))
        } else if runtime.provider.contains("libc.so") {
            #expect(runtime.identity == .glibc)
        } else {
            // Under a sanitizer its runtime, linked into the test binary, serves malloc.
            #expect(runtime.identity == .other)
        }
        if runtime.identity != .other {
            #expect(runtime.version != "unknown" && !runtime.version.isEmpty)
            #expect(runtime.releaseFreeMemory())
        }
        // A glibc child must refuse to run here when jemalloc serves malloc, and the reverse.
        let expected: AllocatorContender = runtime.identity == .jemalloc ? .jemalloc : .glibc
        let other: AllocatorContender = expected == .jemalloc ? .glibc : .mimalloc
        #expect(throws: AllocatorBenchError.self) { try AllocatorChild.verify(other, runtime: runtime) }
        if runtime.identity != .other {
            #expect(throws: Never.self) { try AllocatorChild.verify(expected, runtime: runtime) }
        }
    }

    @Test("Churn keeps its working set intact on the process allocator and the slab pool",
          arguments: [FixedSizeAllocator.Kind.process, .slabPool])
    func churn(kind: FixedSizeAllocator.Kind) throws {
        let allocator = try FixedSizeAllocator(kind, objectSize: Conveyor.taskRecordSize)
        let result = try ChurnWorkload(pattern: .replacement(workingSet: 300, seed: 7), operations: 30_000).run(on: allocator)
        #expect(result.operations == 30_000)
        #expect(result.damagedBlocks == 0)
        #expect(result.nanoseconds > 0)
    }

    @Test("Batch churn (the core table's pattern) runs whole batches and its checksum adds up",
          arguments: [FixedSizeAllocator.Kind.process, .slabPool])
    func batchChurn(kind: FixedSizeAllocator.Kind) throws {
        let allocator = try FixedSizeAllocator(kind, objectSize: 64)
        let result = try ChurnWorkload(pattern: .batches(of: 64), operations: 10_000).run(on: allocator, pin: true)
        #expect(result.operations == 9_984)  // 156 whole batches of 64
        #expect(result.damagedBlocks == 0)
        #expect(try ChurnWorkload(pattern: .batches(of: 64), operations: 1).run(on: allocator).operations == 64)
    }

    @Test("Producer/consumer hands every block over once, in order, and frees it on the other thread",
          arguments: [FixedSizeAllocator.Kind.process, .slabPool])
    func handOff(kind: FixedSizeAllocator.Kind) throws {
        let allocator = try FixedSizeAllocator(kind, objectSize: Conveyor.taskRecordSize)
        let operations = 50_001  // not a multiple of the batch: the last batch is short
        let result = try HandOffWorkload(operations: operations, ringCapacity: 64, batch: 32).run(on: allocator)
        #expect(result.operations == operations)
        #expect(result.outOfOrder == 0)
        #expect(result.checksum == UInt64(operations) * UInt64(operations - 1) / 2)
        #expect(result.isIntact)
    }

    @Test("The hand-off floor passes the numbers themselves; a lost or repeated one is not intact")
    func handOffFloor() throws {
        let result = try HandOffWorkload(operations: 10_000, ringCapacity: 1024, batch: 32)
            .run(on: FixedSizeAllocator?.none, pin: true)
        #expect(result.isIntact && result.operations == 10_000)
        var lost = result
        lost.checksum -= 1
        #expect(!lost.isIntact)
        var reordered = result
        reordered.outOfOrder = 1
        #expect(!reordered.isIntact)
    }

    @Test("A producer's allocation failure ends the hand-off with the allocator's error, not a hang")
    func handOffFailure() throws {
        #expect(throws: ConveyorError.self) {
            _ = try HandOffWorkload(operations: 1_000, ringCapacity: 64, batch: 32).run(on: FailingAllocator(after: 100))
        }
    }

    @Test("The burst plan is seeded, in range, and counts its live bytes")
    func burstPlan() {
        let plan = BurstPlan(targetBytes: 4 << 20, minimumBytes: 16, maximumBytes: 4096, freedShare: 0.75, seed: 9)
        let again = BurstPlan(targetBytes: 4 << 20, minimumBytes: 16, maximumBytes: 4096, freedShare: 0.75, seed: 9)
        let other = BurstPlan(targetBytes: 4 << 20, minimumBytes: 16, maximumBytes: 4096, freedShare: 0.75, seed: 10)
        #expect(plan.sizes == again.sizes && plan.freeOrder == again.freeOrder)
        #expect(plan.sizes != other.sizes)
        #expect(plan.sizes.allSatisfy { $0 >= 16 && $0 <= 4096 })
        #expect(plan.totalBytes == plan.sizes.reduce(0) { $0 + Int($1) })
        #expect(plan.totalBytes >= 4 << 20 && plan.totalBytes < (4 << 20) + 4096)
        #expect(plan.freeOrder.sorted() == Array(0..<Int32(plan.sizes.count)))
        #expect(plan.freedCount == plan.sizes.count * 3 / 4)
        let kept = plan.freeOrder[plan.freedCount...].reduce(0) { $0 + Int(plan.sizes[Int($1)]) }
        #expect(plan.liveBytesAfterPartialFree == kept)
        // Log-uniform: as many blocks below 256 B as from 256 B up (within a few percent).
        let small = plan.sizes.filter { $0 < 256 }.count
        #expect(abs(Double(small) / Double(plan.sizes.count) - 0.5) < 0.05)
    }

    @Test("Size classes: every block goes to the smallest power of two from 16 B that holds it")
    func sizeClasses() {
        for size in 1...4096 {
            let capacity = 16 << BurstHeap.sizeClass(of: size)
            #expect(capacity >= size && (capacity == 16 || capacity / 2 < size))
        }
    }

    @Test("The burst on the process allocator: fragmentation above 0, live bytes as planned, blocks intact")
    func burstOnMalloc() throws {
        let plan = BurstPlan(targetBytes: 16 << 20, minimumBytes: 16, maximumBytes: 4096, freedShare: 0.75, seed: 3)
        let result = try BurstWorkload(plan: plan).run(on: .malloc(MallocRuntime.current()))
        #expect(result.blocks == plan.sizes.count)
        #expect(result.totalBytes == plan.totalBytes)
        #expect(result.liveBytes == plan.liveBytesAfterPartialFree)
        #expect(result.damagedBlocks == 0)
        #expect(result.residentAtPeakBytes > result.residentBeforeBurstBytes)
        #expect(result.fragmentation > 0)
    }

    @Test("The burst on slab pools: fragmentation above 0, and releaseMemory() gives memory back")
    func burstOnSlabPools() throws {
        let plan = BurstPlan(targetBytes: 16 << 20, minimumBytes: 16, maximumBytes: 4096, freedShare: 0.75, seed: 4)
        let result = try BurstWorkload(plan: plan).run(on: try .slabPools(maximumBytes: 4096))
        #expect(result.liveBytes == plan.liveBytesAfterPartialFree)
        #expect(result.damagedBlocks == 0)
        #expect(result.fragmentation > 0)
        #expect(result.releaseSucceeded)
        #expect(result.releasedBytes > 0)
    }

    @Test("A child's measurement of churn, producer/consumer and burst fills the fields of its workload",
          arguments: [AllocatorContender.glibc, .slab])
    func childMeasurement(contender: AllocatorContender) throws {
        let sizes = tinySizes()
        let runtime = MallocRuntime.current()
        let churn = try AllocatorChild.measure(.churn, on: contender, sizes: sizes, seed: 1, runtime: runtime)
        #expect(churn.operations == sizes.churnOperations)
        #expect(churn.damagedBlocks == 0)
        #expect(churn.nanosecondsPerOperation != nil && churn.operationsPerSecond != nil)
        #expect(churn.fragmentation == nil && churn.tasksPerSecond == nil)
        #expect(churn.peakResidentBytes >= churn.startResidentBytes)
        #expect(churn.mallocIdentity == runtime.identity.rawValue)

        let handOff = try AllocatorChild.measure(.producerConsumer, on: contender, sizes: sizes, seed: 1, runtime: runtime)
        #expect(handOff.operations == sizes.handOffOperations)
        #expect(handOff.damagedBlocks == 0)

        let burst = try AllocatorChild.measure(.burst, on: contender, sizes: sizes, seed: 1, runtime: runtime)
        let plan = BurstPlan(
            targetBytes: sizes.burstTargetBytes, minimumBytes: sizes.burstMinimumBytes, maximumBytes: sizes.burstMaximumBytes,
            freedShare: sizes.burstFreedShare, seed: 1)
        #expect(burst.liveBytes == plan.liveBytesAfterPartialFree)
        #expect(burst.burstBlocks == plan.sizes.count)
        #expect((burst.fragmentation ?? 0) > 0)
        #expect(burst.releasedBytes == (burst.residentAfterFreeAllBytes ?? 0) - (burst.residentAfterReleaseBytes ?? 0))
        #expect(burst.operations == nil)
    }

    @Test("The engine workload on `.process` records: every task completes, latency and CPU are measured")
    func engineOnProcessRecords() async throws {
        let engine = EngineWorkload(rate: 20_000, seconds: 0.1, warmupShare: 0.1, seed: 5)
        let (result, conveyor) = try engine.run(recordAllocator: .process)
        await conveyor.shutdown(drain: true)
        #expect(conveyor.configuration.recordAllocator == .process)
        #expect(result.tasks == 2_000)
        #expect(result.completed == result.tasks)
        #expect(result.measuredTasks == 1_800)
        #expect(result.openLoop.latency.count == 1_800)
        #expect(result.tasksPerSecond > 0)
        #expect(result.generatorCPUPercent > 0)
    }
}

/// Allocates `after` blocks from the process allocator, then fails as an exhausted pool would.
final class FailingAllocator: BenchAllocator, @unchecked Sendable {
    // @unchecked: only the producer thread allocates; `made` is its own.
    let objectSize = 16
    private var made = 0
    private let limit: Int

    init(after limit: Int) { self.limit = limit }

    func allocate() throws -> UnsafeMutableRawPointer {
        guard self.made < self.limit else {
            throw ConveyorError.invalidConfiguration(reason: "test allocator exhausted after \(self.limit) blocks")
        }
        self.made += 1
        return malloc(self.objectSize)!
    }

    func deallocate(_ pointer: UnsafeMutableRawPointer) { free(pointer) }
}
