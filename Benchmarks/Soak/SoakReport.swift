import BenchSupport
import Conveyor
import ConveyorReport
import Foundation

/// The outcome of a ``SoakRunner`` run: memory samples, task counts, and growth after warm-up.
///
/// ```swift
/// let report = try await SoakRunner(configuration: .init(duration: .seconds(60))).run()
/// print(report.summary)
/// try report.csv.write(toFile: "soak.csv", atomically: true, encoding: .utf8)
/// ```
///
/// **Growth** compares checkpoints, samples taken at the quiet end of each compressed hour
/// once every accepted task has run and burst records were freed, so the load of the moment
/// does not show as growth. The baseline is the lowest figure among the first third of the
/// checkpoints after warm-up, the final figure the lowest among the last third: transient
/// allocations of other threads of the process add to single samples but rarely to the
/// lowest of several, while a leak raises every later checkpoint.
struct SoakReport: Sendable {
    /// One memory sample.
    struct Sample: Sendable, Hashable {
        /// Time since the soak started.
        var elapsed: Duration
        /// "warm-up" or "hour N" of the compressed day.
        var phase: String
        /// Taken at the quiet end of an hour, after the queues drained.
        var isCheckpoint: Bool
        var afterWarmUp: Bool
        /// Load level then (0…1 of the producers' full rate).
        var level: Double
        /// Tasks run so far (fire-and-forget and awaited).
        var tasksCompleted: Int
        var heapAllocated: Int
        /// The part of ``heapAllocated`` in jemalloc's thread caches (`nil` without jemalloc).
        var heapInThreadCaches: Int?
        var heapResident: Int?
        var residentSetSize: Int
        /// Bytes the soak's record pool holds.
        var poolBytes: Int
        /// Bytes every Conveyor slab pool reserves, and the free part of them counted in
        /// ``heapAllocated`` (see ``MemoryMetrics/slabBytesFreeInHeap``).
        var slabBytesReserved: Int = 0
        var slabBytesFreeInHeap: Int = 0

        /// ``heapAllocated`` minus free memory kept for reuse: jemalloc thread caches and the
        /// free slab capacity of Conveyor's pools (kept from the highest burst so far;
        /// `MemoryOptimizer.releaseMemory(dropPooledObjects:)` returns it).
        var heldHeap: Int { self.heapAllocated - (self.heapInThreadCaches ?? 0) - self.slabBytesFreeInHeap }
    }

    /// Growth of one figure between the baseline and the final checkpoints after warm-up.
    struct Growth: Sendable, Hashable {
        var baseline: Int
        var final: Int
        var bytes: Int { self.final - self.baseline }
        /// `bytes / baseline` in percent (0 when there is no baseline).
        var percent: Double {
            self.baseline > 0 ? Double(self.bytes) / Double(self.baseline) * 100 : 0
        }

        init?(_ values: [Int]) {
            guard values.count >= 2 else { return nil }
            let third = max(1, values.count / 3)
            self.baseline = values.prefix(third).min()!
            self.final = values.suffix(third).min()!
        }
    }

    var duration: Duration
    var warmUpEnd: Duration
    var samples: [Sample]
    var heapSource: MemoryMetrics.HeapSource
    var tasksSubmitted: Int
    var tasksCompleted: Int
    var tasksAwaited: Int
    var tasksCancelled: Int
    /// Handlers that threw (on purpose: the soak's "flaky" kind).
    var tasksFailed: Int
    /// Submits refused by a full group (the producers back off and go on).
    var submitsRejected: Int
    var objectPoolHits: Int
    var objectPoolMisses: Int
    var objectPoolDrops: Int
    var recordPoolHits: Int
    var recordPoolMisses: Int
    /// Calls the soak's profiler recorded in its "soak.hash" context (profiling is on throughout).
    var profiledCalls: Int = 0
    /// The result cache's figures at the end, and the lookups that returned a value.
    var cacheHits: Int = 0
    var cacheMisses: Int = 0
    var cacheEvictions: Int = 0
    var cacheLookups: Int = 0
    /// Handler calls of the batch kind.
    var batchCalls: Int = 0
    /// Decisions the predictive scaler applied to the scaled group.
    var scalerDecisionsApplied: Int = 0

    /// The checkpoints after warm-up, the figures growth is computed from.
    var checkpointsAfterWarmUp: [Sample] {
        self.samples.filter { $0.isCheckpoint && $0.afterWarmUp }
    }

    /// Growth of ``Sample/heapAllocated`` after warm-up (`nil` with fewer than 2 checkpoints).
    var allocatedGrowth: Growth? { Growth(self.checkpointsAfterWarmUp.map(\.heapAllocated)) }
    /// Growth of the heap the application holds: ``Sample/heapAllocated`` minus what sits in
    /// jemalloc's thread caches (whose fill level wanders by a few hundred KiB per thread with
    /// the load, and is free memory). The leak figure `make soak` and the CI test judge.
    var liveHeapGrowth: Growth? {
        Growth(self.checkpointsAfterWarmUp.map { $0.heapAllocated - ($0.heapInThreadCaches ?? 0) })
    }

    /// Growth of ``Sample/heldHeap``, the heap net of every cache (a diagnostic: its base is
    /// small, so its percentage moves with noise of a few dozen KiB).
    var heldHeapGrowth: Growth? {
        Growth(self.checkpointsAfterWarmUp.map(\.heldHeap))
    }

    /// Growth of the free slab capacity Conveyor's pools keep (a new highest burst raises it).
    var freeSlabGrowth: Growth? {
        Growth(self.checkpointsAfterWarmUp.map(\.slabBytesFreeInHeap))
    }
    /// Growth of jemalloc's resident bytes after warm-up (`nil` without jemalloc).
    var residentGrowth: Growth? {
        let values = self.checkpointsAfterWarmUp.compactMap(\.heapResident)
        return Growth(values)
    }
    /// Growth of the resident set size after warm-up.
    var residentSetSizeGrowth: Growth? { Growth(self.checkpointsAfterWarmUp.map(\.residentSetSize)) }

    /// The least-squares slope of allocated bytes against tasks completed over the checkpoints
    /// after warm-up, in bytes per million tasks: a leak's rate, near 0 without one.
    var allocatedBytesPerMillionTasks: Double? {
        let points = self.checkpointsAfterWarmUp.map { (Double($0.tasksCompleted), Double($0.heapAllocated)) }
        guard points.count >= 3 else { return nil }
        let meanX = points.reduce(0) { $0 + $1.0 } / Double(points.count)
        let meanY = points.reduce(0) { $0 + $1.1 } / Double(points.count)
        let covariance = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
        let variance = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
        return variance > 0 ? covariance / variance * 1_000_000 : nil
    }

    /// The samples as CSV, one row each.
    var csv: String {
        var text = "elapsed_s,phase,checkpoint,after_warmup,level,tasks_completed,heap_allocated,heap_thread_caches,heap_resident,rss,pool_bytes,slab_reserved,slab_free_in_heap\n"
        for sample in self.samples {
            let seconds = Double(sample.elapsed.components.seconds) + Double(sample.elapsed.components.attoseconds) * 1e-18
            text += "\(fixed(seconds, 3)),\(sample.phase),\(sample.isCheckpoint ? 1 : 0),\(sample.afterWarmUp ? 1 : 0),"
            text += "\(fixed(sample.level, 2)),\(sample.tasksCompleted),\(sample.heapAllocated),"
            text += "\(sample.heapInThreadCaches.map(String.init) ?? ""),"
            text += "\(sample.heapResident.map(String.init) ?? ""),\(sample.residentSetSize),\(sample.poolBytes),"
            text += "\(sample.slabBytesReserved),\(sample.slabBytesFreeInHeap)\n"
        }
        return text
    }

    /// A readable summary.
    var summary: String {
        func line(_ name: String, _ growth: Growth?) -> String {
            guard let growth else { return "  \(name): n/a\n" }
            return "  \(name): \(Self.mebibytes(growth.baseline)) → \(Self.mebibytes(growth.final)) "
                + "(\(growth.bytes >= 0 ? "+" : "")\(fixed(Double(growth.bytes) / 1_048_576, 2)) MiB, "
                + "\(growth.percent >= 0 ? "+" : "")\(fixed(growth.percent, 2)) %)\n"
        }
        let seconds = Double(self.duration.components.seconds)
        var text = "soak: \(fixed(seconds, 0)) s, \(self.tasksCompleted + self.tasksAwaited) tasks run "
        text += "(\(self.tasksCompleted) fire-and-forget, \(self.tasksAwaited) awaited), \(self.tasksCancelled) cancelled, "
        text += "\(self.tasksFailed) failed on purpose, \(self.submitsRejected) submits rejected (full)\n"
        text += "pools: objects \(self.objectPoolHits) hits / \(self.objectPoolMisses) misses / \(self.objectPoolDrops) drops; "
        text += "records \(self.recordPoolHits) hits / \(self.recordPoolMisses) misses; profiler: \(self.profiledCalls) calls in soak.hash\n"
        text += "cache: \(self.cacheLookups) lookups, \(self.cacheHits) hits / \(self.cacheMisses) misses / \(self.cacheEvictions) evictions; "
        text += "batch kind: \(self.batchCalls) handler calls; scaler: \(self.scalerDecisionsApplied) decisions applied\n"
        text += "growth after warm-up (\(self.checkpointsAfterWarmUp.count) checkpoints, heap from \(self.heapSource.rawValue)):\n"
        text += line("heap allocated", self.allocatedGrowth)
        text += line("heap allocated − thread caches (judged)", self.liveHeapGrowth)
        text += line("  of which free slab capacity", self.freeSlabGrowth)
        text += line("heap held (− thread caches, free slabs)", self.heldHeapGrowth)
        text += line("heap resident", self.residentGrowth)
        text += line("RSS", self.residentSetSizeGrowth)
        if let slope = self.allocatedBytesPerMillionTasks {
            text += "  allocated vs tasks: \(fixed(slope, 0)) bytes per million tasks\n"
        }
        return text
    }

    static func mebibytes(_ bytes: Int) -> String { ChartFormat.mebibytes(bytes) }
}
