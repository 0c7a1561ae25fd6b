// Allocator workloads: glibc (__libc_malloc/__libc_free), jemalloc (mallocx/sdallocx with its
// thread cache), the Conveyor slab pool, each called through its own fast API, and the same
// three through the FixedSizeAllocator seam. One "op" is one object's allocate + free.
import CBenchSupport
import Conveyor
import Synchronization

/// A fixed-size allocator as the loops see it. Generic code over it is specialized per kind.
protocol BenchAllocator: Sendable {
    func allocate() -> UnsafeMutableRawPointer
    func deallocate(_ pointer: UnsafeMutableRawPointer)
}

struct GlibcDirect: BenchAllocator {
    let size: Int
    @inline(__always) func allocate() -> UnsafeMutableRawPointer { __libc_malloc(self.size)! }
    @inline(__always) func deallocate(_ pointer: UnsafeMutableRawPointer) { __libc_free(pointer) }
}

struct JemallocDirect: BenchAllocator {
    let size: Int
    let mallocx: cb_mallocx_fn
    let sdallocx: cb_sdallocx_fn
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
    @inline(__always) func allocate() -> UnsafeMutableRawPointer { try! self.pool.allocate() }
    @inline(__always) func deallocate(_ pointer: UnsafeMutableRawPointer) { self.pool.deallocate(pointer) }
}

struct ThroughSeam: BenchAllocator {
    let allocator: FixedSizeAllocator
    @inline(__always) func allocate() -> UnsafeMutableRawPointer { try! self.allocator.allocate() }
    @inline(__always) func deallocate(_ pointer: UnsafeMutableRawPointer) { self.allocator.deallocate(pointer) }
}

/// Objects allocated before they are freed in the same-thread churn.
let churnBatch = 64

/// Same thread: `pairs / 64` rounds of { allocate 64 objects, writing one word into each;
/// then free the 64 in allocation order }. Runs on one pinned OS thread. Returns ns per
/// allocate+free pair.
func sameThreadChurn<A: BenchAllocator>(_ allocator: A, pairs: Int, pin: Bool) -> Double {
    let rounds = max(1, pairs / churnBatch)
    let tally = Tally()
    let elapsed = runOnThreads(pin: pin, [
        {
            let objects = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: churnBatch)
            defer { objects.deallocate() }
            var checksum: UInt = 0
            for round in 0..<rounds {
                for index in 0..<churnBatch {
                    let object = allocator.allocate()
                    object.storeBytes(of: UInt(truncatingIfNeeded: round &+ index), as: UInt.self)
                    objects[index] = object
                }
                checksum &+= objects[churnBatch - 1].load(as: UInt.self)
                for index in 0..<churnBatch { allocator.deallocate(objects[index]) }
            }
            tally.sum.add(checksum, ordering: .relaxed)
        }
    ])
    return Double(elapsed) / Double(rounds * churnBatch)
}

/// Cross thread: the producer allocates objects, writes a word into each and passes the
/// pointers through an SPSCRing (capacity 1024) in batches of 32 (`enqueueAll`); the consumer
/// dequeues up to 32 at a time, reads the word and frees each object. With `allocator == nil`
/// the producer passes plain integers and nothing is allocated: the hand-off floor that every
/// allocator row includes. Returns ns per object.
func crossThreadHandOff<A: BenchAllocator>(_ allocator: A?, objects: Int, pin: Bool) -> Double {
    let batches = max(1, objects / bulkBatch)
    let total = batches * bulkBatch
    let ring = try! SPSCRing(capacity: queueCapacity)
    let tally = Tally()
    let producer: @Sendable () -> Void = {
        let buffer = UnsafeMutablePointer<UInt>.allocate(capacity: bulkBatch)
        defer { buffer.deallocate() }
        var backoff = Backoff()
        var next: UInt = 1
        for _ in 0..<batches {
            for index in 0..<bulkBatch {
                if let allocator {
                    let object = allocator.allocate()
                    object.storeBytes(of: next, as: UInt.self)
                    buffer[index] = UInt(bitPattern: object)
                } else {
                    buffer[index] = next
                }
                next &+= 1
            }
            while !ring.enqueueAll(UnsafeBufferPointer(start: buffer, count: bulkBatch)) { backoff.wait() }
            backoff.reset()
        }
    }
    let consumer: @Sendable () -> Void = {
        let buffer = UnsafeMutablePointer<UInt>.allocate(capacity: bulkBatch)
        defer { buffer.deallocate() }
        var backoff = Backoff()
        var received = 0
        var sum: UInt = 0
        while received < total {
            let taken = ring.dequeue(into: UnsafeMutableBufferPointer(start: buffer, count: bulkBatch))
            if taken == 0 {
                backoff.wait()
                continue
            }
            backoff.reset()
            for index in 0..<taken {
                if let allocator {
                    let object = UnsafeMutableRawPointer(bitPattern: buffer[index])!
                    sum &+= object.load(as: UInt.self)
                    allocator.deallocate(object)
                } else {
                    sum &+= buffer[index]
                }
            }
            received += taken
        }
        tally.received.add(received, ordering: .relaxed)
        tally.sum.add(sum, ordering: .relaxed)
    }
    let elapsed = runOnThreads(pin: pin, [producer, consumer])
    let expected = UInt(total) &* UInt(total + 1) / 2
    precondition(
        tally.received.load(ordering: .relaxed) == total && tally.sum.load(ordering: .relaxed) == expected,
        "cross-thread hand-off lost objects")
    return Double(elapsed) / Double(total)
}
