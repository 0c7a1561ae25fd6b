import BenchSupport
import Conveyor

#if canImport(Glibc)
import Glibc
#endif

/// Where the burst's mixed-size blocks come from: the process's `malloc` (exact sizes), or
/// Conveyor slab pools, one per power-of-two size class from 16 B up (a block goes to the
/// smallest class that holds it), created through a ``MemoryOptimizer`` so that its
/// `releaseMemory()` is the release step.
///
/// ```swift
/// let heap = try BurstHeap.slabPools(maximumBytes: 4096)
/// let block = try heap.allocate(100)  // from the 128-byte pool
/// heap.deallocate(block, size: 100)
/// heap.releaseFreeMemory()            // optimizer.releaseMemory()
/// ```
final class BurstHeap {
    private let runtime: MallocRuntime?
    private let optimizer: MemoryOptimizer?
    /// Pool `k` holds blocks of 16 · 2^k bytes.
    private let pools: [RecordPool]

    /// The process's `malloc`/`free`; `runtime`'s own call releases free memory.
    static func malloc(_ runtime: MallocRuntime) -> BurstHeap {
        BurstHeap(runtime: runtime, optimizer: nil, pools: [])
    }

    /// One slab pool per size class from 16 B to `maximumBytes` (rounded up to a power of two).
    static func slabPools(maximumBytes: Int) throws -> BurstHeap {
        let optimizer = MemoryOptimizer()
        let classes = Self.sizeClass(of: maximumBytes) + 1
        let pools = try (0..<classes).map { try optimizer.createPool(objectSize: 16 << $0) }
        return BurstHeap(runtime: nil, optimizer: optimizer, pools: pools)
    }

    private init(runtime: MallocRuntime?, optimizer: MemoryOptimizer?, pools: [RecordPool]) {
        self.runtime = runtime
        self.optimizer = optimizer
        self.pools = pools
    }

    /// The pool index for `size` bytes: the smallest k with 16 · 2^k ≥ size.
    static func sizeClass(of size: Int) -> Int {
        size <= 16 ? 0 : (Int.bitWidth - (size - 1).leadingZeroBitCount) - 4
    }

    @inline(__always)
    func allocate(_ size: Int) throws -> UnsafeMutableRawPointer {
        if self.pools.isEmpty {
            guard let block = Glibc.malloc(size) else { throw ConveyorError.outOfMemory(what: "a \(size)-byte burst block") }
            return block
        }
        return try self.pools[Self.sizeClass(of: size)].allocate()
    }

    @inline(__always)
    func deallocate(_ block: UnsafeMutableRawPointer, size: Int) {
        if self.pools.isEmpty {
            free(block)
        } else {
            self.pools[Self.sizeClass(of: size)].deallocate(block)
        }
    }

    /// The `releaseMemory()`-equivalent step: the allocator's own release call, or for slab pools
    /// `MemoryOptimizer.releaseMemory()` (flush this thread's magazines, release every free slab,
    /// then the process allocator's purge). Returns whether the call existed and succeeded.
    @discardableResult
    func releaseFreeMemory() -> Bool {
        if let optimizer = self.optimizer {
            _ = optimizer.releaseMemory()
            return true
        }
        return self.runtime?.releaseFreeMemory() ?? false
    }
}
