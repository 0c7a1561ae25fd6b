import CConveyor

/// A pool of fixed-size memory blocks carved from large slabs, with a per-thread cache of
/// free blocks (magazines) in front of a shared depot.
///
/// Allocation and deallocation normally touch only the calling thread's cache: no lock and
/// no shared cache line. Blocks may be freed from any thread. With the `Jemalloc` package
/// trait (the default) slabs come from a dedicated jemalloc arena; otherwise from `mmap`.
///
/// ```swift
/// let pool = try SlabPool(objectSize: 64)
/// let block = try pool.allocate()
/// block.storeBytes(of: 42, as: Int.self)
/// pool.deallocate(block)
/// print(pool.statistics.objectsInUse)  // 0
/// ```
///
/// Blocks are 16-byte aligned and `objectSize` is rounded up to a multiple of 16. Pools are
/// registered in a table that grows on demand (up to 2^20 alive at once in a process); each
/// thread's cache table grows the same way, in the slow path of its first use of a pool.
public final class SlabPool: @unchecked Sendable {
    // @unchecked: the C pool synchronizes its depot with a lock and keeps per-thread caches.
    @usableFromInline let pool: OpaquePointer

    /// Where slab memory comes from.
    public enum Backing: Sendable, Hashable {
        /// A jemalloc arena created for Conveyor (requires the `Jemalloc` trait).
        case jemallocArena
        /// Anonymous memory maps, one per slab.
        case mmap

        /// `.jemallocArena` when built with the `Jemalloc` trait, else `.mmap`.
        public static var `default`: Backing {
            cnv_slab_jemalloc_available() ? .jemallocArena : .mmap
        }

        var cValue: cnv_slab_backing {
            switch self {
            case .jemallocArena: CNV_SLAB_BACKING_JEMALLOC_ARENA
            case .mmap: CNV_SLAB_BACKING_MMAP
            }
        }
    }

    /// Creates a pool.
    /// - Parameters:
    ///   - objectSize: bytes per block, 1 to 1 MiB.
    ///   - backing: where slabs come from.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a bad size,
    ///   ``ConveyorError/unsupported(reason:)`` for `.jemallocArena` without the trait,
    ///   ``ConveyorError/arenaCreationFailed``, ``ConveyorError/limitReached(reason:)``.
    public init(objectSize: Int, backing: Backing = .default) throws {
        let maximum = Int(CNV_SLAB_MAX_OBJECT_SIZE)
        guard objectSize >= 1, objectSize <= maximum else {
            throw ConveyorError.invalidConfiguration(
                reason: "SlabPool objectSize \(objectSize) must be from 1 to \(maximum) bytes; "
                    + "allocate larger blocks with the system allocator"
            )
        }
        var created: OpaquePointer?
        let status = cnv_slab_pool_create(objectSize, backing.cValue, &created)
        guard status == CNV_OK.rawValue, let created else {
            throw ConveyorError.fromStatus(status, context: "a SlabPool of \(objectSize)-byte objects")
        }
        self.pool = created
    }

    deinit {
        cnv_slab_pool_destroy(self.pool)
    }

    /// Bytes per block after rounding.
    public var objectSize: Int { Int(self.statistics.objectSize) }

    /// The backing chosen at creation.
    public var backing: Backing {
        cnv_slab_pool_backing(self.pool) == CNV_SLAB_BACKING_MMAP ? .mmap : .jemallocArena
    }

    /// Returns an uninitialized block of ``objectSize`` bytes.
    /// - Throws: ``ConveyorError/outOfMemory(what:)`` when no slab could be obtained.
    @inlinable
    public func allocate() throws -> UnsafeMutableRawPointer {
        if let block = cnv_slab_alloc(self.pool) { return block }
        throw self.allocationFailure()
    }

    @usableFromInline
    func allocationFailure() -> ConveyorError {
        let destroyed = cnv_slab_pool_check(self.pool) != CNV_OK.rawValue
        return destroyed ? .destroyed(what: "a SlabPool") : .outOfMemory(what: "a SlabPool slab")
    }

    /// Returns a block obtained from ``allocate()`` of this pool, from any thread.
    @inlinable
    public func deallocate(_ block: UnsafeMutableRawPointer) {
        cnv_slab_free(self.pool, block)
    }

    /// Moves the calling thread's cached free blocks into the shared depot, so other threads
    /// can use them and ``purge()`` can release their slabs.
    public func flushThreadCache() {
        _ = cnv_slab_pool_flush_thread_cache(self.pool)
    }

    /// Releases every slab whose blocks are all free in the depot (after flushing the calling
    /// thread's cache) and asks jemalloc to return the pages to the OS. Blocks cached by other
    /// threads keep their slabs. Returns the number of slabs released.
    @discardableResult
    public func purge() -> Int {
        var released: UInt64 = 0
        _ = cnv_slab_pool_purge(self.pool, &released)
        return Int(released)
    }

    /// The pool's figures, merged from every thread's counters.
    public var statistics: Statistics {
        var raw = cnv_slab_stats()
        _ = cnv_slab_pool_stats(self.pool, &raw)
        return Statistics(raw)
    }

    /// The pool's figures at one moment.
    public struct Statistics: Sendable, Hashable {
        public var objectSize: Int
        public var slabSize: Int
        public var objectsPerSlab: Int
        /// Blocks allocated and not yet freed (exact when no thread is mid-operation).
        public var objectsInUse: Int
        /// High-water mark of blocks outside the depot (in use or cached by threads). It is
        /// updated at depot exchanges, so it bounds the true peak in use from above by at most
        /// 128 blocks per thread.
        public var peakObjectsOutstanding: Int
        public var slabs: Int
        /// Bytes held in slabs and magazines.
        public var bytesReserved: Int
        public var allocations: Int
        public var frees: Int
        public var magazineHits: Int
        public var magazineMisses: Int
        /// Slabs obtained from the backing allocator since creation.
        public var slabRefills: Int
        public var slabsReleased: Int
        public var threadCaches: Int

        /// Share of allocations and frees served by a thread's magazines (0…1).
        public var magazineHitRate: Double {
            let total = self.magazineHits + self.magazineMisses
            return total == 0 ? 0 : Double(self.magazineHits) / Double(total)
        }

        init(_ raw: cnv_slab_stats) {
            self.objectSize = Int(raw.object_size)
            self.slabSize = Int(raw.slab_size)
            self.objectsPerSlab = Int(raw.objects_per_slab)
            self.objectsInUse = Int(raw.objects_in_use)
            self.peakObjectsOutstanding = Int(raw.peak_objects_outstanding)
            self.slabs = Int(raw.slabs)
            self.bytesReserved = Int(raw.bytes_reserved)
            self.allocations = Int(raw.allocations)
            self.frees = Int(raw.frees)
            self.magazineHits = Int(raw.magazine_hits)
            self.magazineMisses = Int(raw.magazine_misses)
            self.slabRefills = Int(raw.slab_refills)
            self.slabsReleased = Int(raw.slabs_released)
            self.threadCaches = Int(raw.thread_caches)
        }
    }
}
