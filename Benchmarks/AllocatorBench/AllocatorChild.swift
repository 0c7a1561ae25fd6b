import BenchSupport
import Conveyor

/// The child side of `conveyor-allocators`: runs one workload on one contender in this
/// process and returns its sample. The command checks first that the right allocator serves
/// `malloc`; tests call ``measure(_:on:sizes:seed:runtime:)`` directly with tiny sizes.
///
/// ```swift
/// let runtime = MallocRuntime.current()
/// let sample = try AllocatorChild.measure(.churn, on: .glibc, sizes: AllocatorBenchSizes(quick: true), seed: 42, runtime: runtime)
/// ```
enum AllocatorChild {
    /// Fails unless `contender`'s allocator serves `malloc` in this process.
    static func verify(_ contender: AllocatorContender, runtime: MallocRuntime) throws {
        guard runtime.identity == contender.expectedMalloc else {
            throw AllocatorBenchError.wrongAllocator(
                expected: contender.expectedMalloc, found: runtime.identity, provider: runtime.provider)
        }
    }

    /// Runs `workload`: on slab pools for `.slab`, else on the process's `malloc`, released
    /// through `runtime`.
    static func measure(
        _ workload: AllocatorWorkload, on contender: AllocatorContender, sizes: AllocatorBenchSizes, seed: UInt64,
        runtime: MallocRuntime
    ) throws -> AllocatorSample {
        var sample = AllocatorSample(
            mallocIdentity: runtime.identity.rawValue, mallocProvider: runtime.provider, allocatorVersion: runtime.version,
            startResidentBytes: MemoryStatistics.current().residentSetSize)
        let kind: FixedSizeAllocator.Kind = contender == .slab ? .slabPool : .process
        switch workload {
        case .churn:
            let churn = ChurnWorkload(
                pattern: .replacement(workingSet: sizes.churnWorkingSet, seed: seed), operations: sizes.churnOperations)
            let result = try churn.run(on: try FixedSizeAllocator(kind, objectSize: sizes.recordBytes))
            sample.record(operations: result.operations, nanoseconds: result.nanoseconds, damaged: result.damagedBlocks)
        case .producerConsumer:
            let handOff = HandOffWorkload(
                operations: sizes.handOffOperations, ringCapacity: sizes.handOffRingCapacity, batch: sizes.handOffBatch)
            let result = try handOff.run(on: try FixedSizeAllocator(kind, objectSize: sizes.recordBytes))
            sample.record(
                operations: result.operations, nanoseconds: result.nanoseconds,
                damaged: result.outOfOrder + (result.checksumMatches ? 0 : 1))
        case .burst:
            let plan = BurstPlan(
                targetBytes: sizes.burstTargetBytes, minimumBytes: sizes.burstMinimumBytes,
                maximumBytes: sizes.burstMaximumBytes, freedShare: sizes.burstFreedShare, seed: seed)
            let heap = contender == .slab ? try BurstHeap.slabPools(maximumBytes: sizes.burstMaximumBytes) : .malloc(runtime)
            let result = try BurstWorkload(plan: plan).run(on: heap)
            sample.measuredSeconds = Double(result.nanoseconds) / 1e9
            sample.damagedBlocks = result.damagedBlocks
            sample.burstBlocks = result.blocks
            sample.burstBytes = result.totalBytes
            sample.liveBytes = result.liveBytes
            sample.residentBeforeBurstBytes = result.residentBeforeBurstBytes
            sample.residentAtPeakBytes = result.residentAtPeakBytes
            sample.residentAfterPartialFreeBytes = result.residentAfterPartialFreeBytes
            sample.residentAfterFreeAllBytes = result.residentAfterFreeAllBytes
            sample.residentAfterReleaseBytes = result.residentAfterReleaseBytes
            sample.fragmentation = result.fragmentation
            sample.releasedBytes = result.releasedBytes
            sample.lazyFreeAfterPartialFreeBytes = result.lazyFreeAfterPartialFreeBytes
            sample.lazyFreeAfterReleaseBytes = result.lazyFreeAfterReleaseBytes
            sample.releaseSucceeded = result.releaseSucceeded
        case .engine:
            let engine = EngineWorkload(
                rate: sizes.engineRate, seconds: sizes.engineSeconds, warmupShare: sizes.engineWarmupShare, seed: seed)
            let (result, conveyor) = try engine.run(recordAllocator: kind)
            blockingAwait { await conveyor.shutdown(drain: true) }
            sample.measuredSeconds = Double(result.measuredTasks) / result.tasksPerSecond
            sample.operations = result.completed
            sample.damagedBlocks = result.tasks - result.completed
            sample.targetRate = result.openLoop.targetRate
            sample.tasksPerSecond = result.tasksPerSecond
            sample.latencyP50Nanoseconds = result.openLoop.latency.p50
            sample.latencyP99Nanoseconds = result.openLoop.latency.p99
            sample.processCPUPercent = result.openLoop.cpuPercent
            sample.generatorCPUPercent = result.generatorCPUPercent
            sample.engineCPUPercent = result.engineCPUPercent
        }
        sample.peakResidentBytes = MemoryMetrics.process().peakResidentSetSize
        return sample
    }
}

extension AllocatorSample {
    /// Fills the churn / producer-consumer figures.
    fileprivate mutating func record(operations: Int, nanoseconds: UInt64, damaged: Int) {
        self.operations = operations
        self.measuredSeconds = Double(nanoseconds) / 1e9
        self.nanosecondsPerOperation = Double(nanoseconds) / Double(max(1, operations))
        self.operationsPerSecond = Double(operations) / max(1e-9, self.measuredSeconds)
        self.damagedBlocks = damaged
    }
}
