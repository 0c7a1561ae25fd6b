// Allocator workloads: glibc (__libc_malloc/__libc_free), jemalloc (mallocx/sdallocx with its
// thread cache), the Conveyor slab pool, each called through its own fast API, and the same
// three through the FixedSizeAllocator seam. One "op" is one object's allocate + free.
import BenchSupport
import CBenchSupport
import Conveyor

struct GlibcDirect: BenchAllocator {
    let size: Int
    var objectSize: Int { self.size }
    @inline(__always) func allocate() -> UnsafeMutableRawPointer { __libc_malloc(self.size)! }
    @inline(__always) func deallocate(_ pointer: UnsafeMutableRawPointer) { __libc_free(pointer) }
}

struct JemallocDirect: BenchAllocator {
    let size: Int
    let mallocx: cb_mallocx_fn
    let sdallocx: cb_sdallocx_fn
    var objectSize: Int { self.size }
    init?(size: Int) {
        guard let mallocx = cb_jemalloc_mallocx(), let sdallocx = cb_jemalloc_sdallocx() else { return nil }
        self.size = size
        self.mallocx = mallocx
        self.sdallocx = sdallocx
    }
    @inline(__always) func allocate() -> UnsafeMutableRawPointer { self.mallocx(self.size, 0)! }
    @inline(__always) func deallocate(_ pointer: UnsafeMutableRawPointer) { self.sdallocx(pointer, self.size, 0) }
}

struct SlabDirect: BenchAllocator {
    let pool: SlabPool
    let objectSize: Int
    @inline(__always) func allocate() -> UnsafeMutableRawPointer { try! self.pool.allocate() }
    @inline(__always) func deallocate(_ pointer: UnsafeMutableRawPointer) { self.pool.deallocate(pointer) }
}

struct ThroughSeam: BenchAllocator {
    let allocator: FixedSizeAllocator
    var objectSize: Int { self.allocator.objectSize }
    @inline(__always) func allocate() -> UnsafeMutableRawPointer { try! self.allocator.allocate() }
    @inline(__always) func deallocate(_ pointer: UnsafeMutableRawPointer) { self.allocator.deallocate(pointer) }
}

/// Objects allocated before they are freed in the same-thread churn.
let churnBatch = 64

/// Same thread: rounds of { allocate 64 objects, writing one word into each; then free the 64
/// in allocation order } on one pinned OS thread. Returns ns per allocate+free pair.
func sameThreadChurn<A: BenchAllocator>(_ allocator: A, pairs: Int, pin: Bool) -> Double {
    let result = try! ChurnWorkload(pattern: .batches(of: churnBatch), operations: pairs).run(on: allocator, pin: pin)
    precondition(result.damagedBlocks == 0, "same-thread churn: the checksum does not add up")
    return Double(result.nanoseconds) / Double(result.operations)
}

/// Cross thread: ``HandOffWorkload`` through an SPSCRing of 1024 in batches of 32; with
/// `allocator == nil` nothing is allocated (the hand-off floor). Returns ns per object.
func crossThreadHandOff<A: BenchAllocator>(_ allocator: A?, objects: Int, pin: Bool) -> Double {
    let operations = max(1, objects / bulkBatch) * bulkBatch
    let result = try! HandOffWorkload(operations: operations, ringCapacity: queueCapacity, batch: bulkBatch)
        .run(on: allocator, pin: pin)
    precondition(result.isIntact, "cross-thread hand-off lost objects")
    return Double(result.nanoseconds) / Double(result.operations)
}
