/// A pool of fixed-size records over a ``SlabPool``, made by ``MemoryOptimizer/createPool(objectSize:backing:)``
/// so that ``MemoryOptimizer/releaseMemory(dropPooledObjects:)`` can purge it and
/// ``MemoryOptimizer/monitorMemory()`` counts its bytes.
///
/// ```swift
/// struct Order: BitwiseCopyable { var id: UInt64; var cents: Int64 }
/// let optimizer = MemoryOptimizer()
/// let orders = try optimizer.createPool(objectSize: MemoryLayout<Order>.stride)
/// let order = try orders.allocate(Order(id: 7, cents: 1_250))
/// order.pointee.cents += 100
/// orders.deallocate(order)
/// print(orders.statistics.hits, orders.statistics.misses)
/// ```
///
/// Allocation and deallocation go straight to the slab pool: no lock, no shared counter.
/// A *hit* is an allocation or free served by the calling thread's magazine; a *miss* went
/// to the pool's depot or carved a new slab.
public final class RecordPool: Sendable {
    /// The slab pool underneath (for its full statistics, or to hand to code that takes one).
    public let slabPool: SlabPool

    /// Creates a pool that no ``MemoryOptimizer`` tracks (prefer
    /// ``MemoryOptimizer/createPool(objectSize:backing:)``).
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` when `objectSize` is not
    ///   from 1 to 1 MiB, and the errors of ``SlabPool/init(objectSize:backing:)``.
    public init(objectSize: Int, backing: SlabPool.Backing = .default) throws {
        self.slabPool = try SlabPool(objectSize: objectSize, backing: backing)
    }

    /// Bytes per record (the requested size rounded up to a multiple of 16).
    public var objectSize: Int { self.slabPool.objectSize }

    /// An uninitialized record of ``objectSize`` bytes, 16-byte aligned.
    /// - Throws: ``ConveyorError/outOfMemory(what:)`` when no slab could be obtained.
    @inlinable
    public func allocate() throws -> UnsafeMutableRawPointer {
        try self.slabPool.allocate()
    }

    /// Returns a record from ``allocate()``, from any thread.
    @inlinable
    public func deallocate(_ record: UnsafeMutableRawPointer) {
        self.slabPool.deallocate(record)
    }

    /// A record initialized to `value`.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` when `Record` is larger than
    ///   ``objectSize`` or needs more than 16-byte alignment; ``ConveyorError/outOfMemory(what:)``.
    @inlinable
    public func allocate<Record: BitwiseCopyable>(_ value: Record) throws -> UnsafeMutablePointer<Record> {
        guard MemoryLayout<Record>.size <= self.objectSize, MemoryLayout<Record>.alignment <= 16 else {
            throw ConveyorError.invalidConfiguration(
                reason: "\(Record.self) is \(MemoryLayout<Record>.size) bytes aligned to \(MemoryLayout<Record>.alignment); "
                    + "this RecordPool holds \(self.objectSize)-byte records aligned to 16: create a pool with "
                    + "objectSize: MemoryLayout<\(Record.self)>.stride")
        }
        let raw = try self.slabPool.allocate()
        return raw.initializeMemory(as: Record.self, to: value)
    }

    /// Returns a record from ``allocate(_:)``, from any thread.
    @inlinable
    public func deallocate<Record: BitwiseCopyable>(_ record: UnsafeMutablePointer<Record>) {
        self.slabPool.deallocate(UnsafeMutableRawPointer(record))
    }

    /// Moves the calling thread's cached free records to the shared depot.
    public func flushThreadCache() {
        self.slabPool.flushThreadCache()
    }

    /// Releases the slabs whose records are all free in the depot (after flushing the calling
    /// thread's cache; records cached by other threads keep their slabs). Returns the slab count.
    @discardableResult
    public func purge() -> Int {
        self.slabPool.purge()
    }

    /// Hits, misses and sizes, merged from every thread's counters.
    public var statistics: Statistics {
        Statistics(self.slabPool.statistics)
    }

    /// A ``RecordPool``'s figures at one moment.
    public struct Statistics: Sendable, Hashable {
        /// Allocations and frees served by a thread's magazine.
        public var hits: Int
        /// Allocations and frees that went to the depot or carved a slab.
        public var misses: Int
        public var allocations: Int
        public var frees: Int
        /// Records allocated and not yet freed.
        public var recordsInUse: Int
        public var slabs: Int
        /// Bytes held in slabs and magazines.
        public var bytesReserved: Int
        public var slabsReleased: Int

        /// `hits / (hits + misses)`, 0 before any operation.
        public var hitRate: Double {
            let total = self.hits + self.misses
            return total == 0 ? 0 : Double(self.hits) / Double(total)
        }

        init(_ slab: SlabPool.Statistics) {
            self.hits = slab.magazineHits
            self.misses = slab.magazineMisses
            self.allocations = slab.allocations
            self.frees = slab.frees
            self.recordsInUse = slab.objectsInUse
            self.slabs = slab.slabs
            self.bytesReserved = slab.bytesReserved
            self.slabsReleased = slab.slabsReleased
        }
    }
}

extension RecordPool: TrackedPool {
    var reservedBytes: Int { self.slabPool.statistics.bytesReserved }
    var idleObjects: Int { 0 }

    func releaseFreeMemory(dropIdleObjects: Bool) -> TrackedPoolRelease {
        TrackedPoolRelease(slabsReleased: self.slabPool.purge(), objectsDropped: 0)
    }
}
