import CConveyor

extension Conveyor {
    /// Returns the engine's free pool memory: fully free slabs of the task-record pool and of
    /// the overflow and hand-off queues' node pools (after a spill burst drained, most of the
    /// memory it took). ``MemoryOptimizer/optimizeGC(dropPooledObjects:)`` calls it for every
    /// live Conveyor. Returns the slabs released.
    @discardableResult
    func releaseFreeMemory() -> Int {
        var pools: [OpaquePointer] = []
        if let pool = self.records.descriptor.pointee.pool { pools.append(pool) }
        for group in self.groups {
            if let pool = cnv_overflow_queue_node_pool(group.handoff.queue) { pools.append(pool) }
            for lane in group.lanes {
                if let overflow = lane.overflow, let pool = cnv_overflow_queue_node_pool(overflow.queue) { pools.append(pool) }
            }
        }
        var slabs = 0
        for pool in pools {
            _ = cnv_slab_pool_flush_thread_cache(pool)
            var released: UInt64 = 0
            if cnv_slab_pool_purge(pool, &released) == CNV_OK.rawValue { slabs += Int(released) }
        }
        return slabs
    }

    /// Hands the calling worker thread's cached free objects back to the depots of every slab
    /// pool it has a cache for: the task-record pool, the queue-node pools, and any
    /// ``RecordPool`` its handlers use. A slab magazine belongs to its thread, so
    /// ``releaseFreeMemory()`` (called from some other thread) cannot empty it, and every slab
    /// with a free object in an idle worker's magazines stayed reserved however long the
    /// worker slept: up to 2 × 64 objects per worker and pool, spread over as many slabs
    /// (docs/Memory.md). A worker calls this once per idle period, after a park that ended
    /// by its timeout (nothing to do for a whole second), never on the task path.
    func flushWorkerCaches() {
        _ = cnv_slab_flush_thread_caches()
    }
}

/// The live Conveyors, held weakly, so ``MemoryOptimizer/optimizeGC(dropPooledObjects:)`` can
/// return their free pool memory without the user wiring each engine to an optimizer.
final class EngineRegistry: Sendable {
    static let shared = EngineRegistry()

    private final class WeakEngine: @unchecked Sendable {
        // @unchecked: written once at creation; `weak` reads are thread-safe.
        weak var engine: Conveyor?
        init(_ engine: Conveyor) { self.engine = engine }
    }

    private let engines = PThreadMutex<[WeakEngine]>([])

    func add(_ engine: Conveyor) {
        self.engines.withLock { engines in
            engines.removeAll { $0.engine == nil }
            engines.append(WeakEngine(engine))
        }
    }

    /// Releases the free pool memory of every live engine; returns the slabs released.
    func releaseFreeMemory() -> Int {
        let live = self.engines.withLock { engines -> [Conveyor] in
            engines.removeAll { $0.engine == nil }
            return engines.compactMap(\.engine)
        }
        return live.reduce(0) { $0 + $1.releaseFreeMemory() }
    }
}
