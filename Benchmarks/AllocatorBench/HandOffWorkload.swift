import BenchSupport
import Conveyor
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Producer allocates, consumer frees: the producer thread allocates a block, writes its
/// sequence number into it and passes the pointer through an ``SPSCRing`` in batches; the
/// consumer thread (the caller's) reads the number and frees the block, so every block is
/// freed on another thread than the one that allocated it.
///
/// ```swift
/// let handOff = HandOffWorkload(operations: 1_000_000, ringCapacity: 1024, batch: 32)
/// let result = try handOff.run(on: try FixedSizeAllocator(.process, objectSize: 128))
/// print(result.outOfOrder)  // 0
/// ```
struct HandOffWorkload {
    let operations: Int
    let ringCapacity: Int
    let batch: Int

    struct Result: Equatable {
        var operations: Int
        /// From the start signal until the consumer freed the last block.
        var nanoseconds: UInt64
        /// Sum of the sequence numbers read (operations × (operations − 1) / 2 when none is lost).
        var checksum: UInt64
        /// Blocks whose number was not the one expected next (0 when sound).
        var outOfOrder: Int
    }

    /// The start signal and the producer's failure flag, shared by both threads.
    private final class Shared: @unchecked Sendable {
        // @unchecked: `error` is written by the producer before it sets `failed` (release)
        // and read by the consumer after it saw `failed` (acquire).
        let go = Atomic<Bool>(false)
        let failed = Atomic<Bool>(false)
        var error: (any Error)?
    }

    func run(on allocator: FixedSizeAllocator) throws -> Result {
        precondition(self.batch >= 1 && self.batch <= self.ringCapacity && allocator.objectSize >= 8)
        let ring = try SPSCRing(capacity: self.ringCapacity)
        let shared = Shared()
        let operations = self.operations
        let batch = self.batch
        let producer = JoinableThread {
            let buffer = UnsafeMutableBufferPointer<UInt>.allocate(capacity: batch)
            defer { buffer.deallocate() }
            while !shared.go.load(ordering: .acquiring) {}
            var made = 0
            do {
                while made < operations {
                    let count = min(batch, operations - made)
                    for offset in 0..<count {
                        let block = try allocator.allocate()
                        block.storeBytes(of: UInt64(made + offset), as: UInt64.self)
                        buffer[offset] = UInt(bitPattern: block)
                    }
                    var attempts = 0
                    while !ring.enqueueAll(UnsafeBufferPointer(rebasing: buffer[0..<count])) { Self.backOff(&attempts) }
                    made += count
                }
            } catch {
                shared.error = error
                shared.failed.store(true, ordering: .releasing)
            }
        }
        let buffer = UnsafeMutableBufferPointer<UInt>.allocate(capacity: batch)
        defer { buffer.deallocate() }
        var freed = 0
        var expected: UInt64 = 0
        var checksum: UInt64 = 0
        var outOfOrder = 0
        var attempts = 0
        let start = nowNanoseconds()
        shared.go.store(true, ordering: .releasing)
        while freed < operations {
            let count = ring.dequeue(into: buffer)
            if count == 0 {
                if shared.failed.load(ordering: .acquiring) && ring.count == 0 { break }
                Self.backOff(&attempts)
                continue
            }
            attempts = 0
            for offset in 0..<count {
                let block = UnsafeMutableRawPointer(bitPattern: buffer[offset]).unsafelyUnwrapped
                let number = block.load(as: UInt64.self)
                if number != expected { outOfOrder += 1 }
                expected = number &+ 1
                checksum &+= number
                allocator.deallocate(block)
            }
            freed += count
        }
        let elapsed = nowNanoseconds() &- start
        producer.join()
        if let error = shared.error { throw error }
        return Result(operations: operations, nanoseconds: elapsed, checksum: checksum, outOfOrder: outOfOrder)
    }

    /// Spins briefly, then yields the CPU (the other side may share this core).
    @inline(__always)
    private static func backOff(_ attempts: inout Int) {
        attempts += 1
        if attempts > 64 { sched_yield() }
    }
}
