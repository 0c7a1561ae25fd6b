import Synchronization

/// A bounded pool of reusable Swift objects: ``acquire()`` hands out a pooled object (a hit)
/// or makes a new one (a miss); ``release(_:)`` resets an object and keeps it if fewer than
/// ``capacity`` are pooled, else drops it (a drop).
///
/// ```swift
/// final class Scratch { var bytes: [UInt8] = []; init() { self.bytes.reserveCapacity(4096) } }
/// let optimizer = MemoryOptimizer()
/// let scratch = try optimizer.createPool(capacity: 64, make: { Scratch() },
///                                        reset: { $0.bytes.removeAll(keepingCapacity: true) })
/// let buffer = scratch.acquire()
/// buffer.bytes.append(contentsOf: payload)
/// scratch.release(buffer)
/// print(scratch.statistics.hits, scratch.statistics.misses)
/// ```
///
/// Thread-safe and lock-free: idle objects sit in an ``MPMCRing`` as retained pointers, so
/// an object is handed to one thread at a time, and the hand-off orders memory (what the
/// releasing thread wrote, including `reset`, is visible to the next acquirer). The pool
/// owns an object only between `release` and the next `acquire`: do not use an object after
/// releasing it, and do not release it twice. `reset` runs on the releasing thread, before
/// the object is pooled or dropped. The hit, miss and drop counters are shared atomics.
public final class ObjectPool<Object: AnyObject>: @unchecked Sendable {
    // @unchecked: the idle objects are owned by the ring (one owner at a time); the other
    // stored properties are immutable or atomic.
    /// The most objects kept for reuse.
    public let capacity: Int
    let ring: MPMCRing
    let make: @Sendable () -> Object
    let reset: @Sendable (Object) -> Void
    /// Objects in the ring plus those being put there, minus those reserved by an `acquire`
    /// about to take one (never above `capacity`).
    let pooled = Atomic<Int>(0)
    let hitCount = Atomic<Int>(0)
    let missCount = Atomic<Int>(0)
    let dropCount = Atomic<Int>(0)

    /// The largest capacity accepted.
    public static var maximumCapacity: Int { 1 << 20 }

    /// Creates a pool that no ``MemoryOptimizer`` tracks (prefer
    /// ``MemoryOptimizer/createPool(capacity:make:reset:)``).
    /// - Parameters:
    ///   - capacity: the most idle objects kept, 1 to ``maximumCapacity``.
    ///   - make: creates an object on a miss.
    ///   - reset: returns a released object to a clean state.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a capacity out of range.
    public init(
        capacity: Int,
        make: @escaping @Sendable () -> Object,
        reset: @escaping @Sendable (Object) -> Void = { _ in }
    ) throws {
        guard capacity >= 1, capacity <= Self.maximumCapacity else {
            throw ConveyorError.invalidConfiguration(
                reason: "ObjectPool capacity \(capacity) must be from 1 to \(Self.maximumCapacity); "
                    + "it bounds the idle objects kept for reuse")
        }
        self.capacity = capacity
        // Twice the next power of two: a slot being freed by a slow dequeuer rarely blocks a
        // release; if it does, the object is dropped and counted.
        var slots = 2
        while slots < capacity * 2 { slots *= 2 }
        self.ring = try MPMCRing(capacity: slots)
        self.make = make
        self.reset = reset
    }

    deinit {
        _ = self.drain()
    }

    /// A pooled object, or a new one from `make` when none is idle.
    public func acquire() -> Object {
        // Reserve an idle object before taking it, so `pooled` never counts one already taken
        // (else a concurrent release could see the pool full and drop its object needlessly).
        var current = self.pooled.load(ordering: .relaxed)
        while current > 0 {
            let (reserved, seen) = self.pooled.weakCompareExchange(
                expected: current, desired: current - 1, ordering: .relaxed)
            if reserved {
                if let bits = self.ring.tryDequeue() {
                    self.hitCount.add(1, ordering: .relaxed)
                    return Unmanaged<Object>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).takeRetainedValue()
                }
                // The reserved object's release has not published it yet: make a new one.
                self.pooled.add(1, ordering: .relaxed)
                break
            }
            current = seen
        }
        self.missCount.add(1, ordering: .relaxed)
        return self.make()
    }

    /// Resets `object` and keeps it for reuse, or drops it when ``capacity`` objects are idle.
    /// Returns whether it was kept.
    @discardableResult
    public func release(_ object: Object) -> Bool {
        self.reset(object)
        if self.pooled.add(1, ordering: .relaxed).newValue > self.capacity {
            self.pooled.subtract(1, ordering: .relaxed)
            self.dropCount.add(1, ordering: .relaxed)
            return false
        }
        let opaque = Unmanaged.passRetained(object).toOpaque()
        if self.ring.tryEnqueue(UInt(bitPattern: opaque)) { return true }
        Unmanaged<Object>.fromOpaque(opaque).release()
        self.pooled.subtract(1, ordering: .relaxed)
        self.dropCount.add(1, ordering: .relaxed)
        return false
    }

    /// Drops every idle object (they are freed unless referenced elsewhere). Returns how many.
    @discardableResult
    public func drain() -> Int {
        var dropped = 0
        while let bits = self.ring.tryDequeue() {
            self.pooled.subtract(1, ordering: .relaxed)
            Unmanaged<Object>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).release()
            dropped += 1
        }
        return dropped
    }

    /// Hits, misses, drops and the idle count.
    public var statistics: Statistics {
        Statistics(
            hits: self.hitCount.load(ordering: .relaxed),
            misses: self.missCount.load(ordering: .relaxed),
            drops: self.dropCount.load(ordering: .relaxed),
            idle: self.ring.count)
    }

    /// An ``ObjectPool``'s figures at one moment.
    public struct Statistics: Sendable, Hashable {
        /// Acquisitions served by a pooled object.
        public var hits: Int
        /// Acquisitions that had to make a new object.
        public var misses: Int
        /// Releases that dropped the object because the pool was full.
        public var drops: Int
        /// Objects pooled now.
        public var idle: Int

        /// `hits / (hits + misses)`, 0 before any acquisition.
        public var hitRate: Double {
            let total = self.hits + self.misses
            return total == 0 ? 0 : Double(self.hits) / Double(total)
        }
    }
}

extension ObjectPool: TrackedPool {
    var reservedBytes: Int { 0 }
    var idleObjects: Int { self.ring.count }

    func releaseFreeMemory(dropIdleObjects: Bool) -> TrackedPoolRelease {
        TrackedPoolRelease(slabsReleased: 0, objectsDropped: dropIdleObjects ? self.drain() : 0)
    }
}
