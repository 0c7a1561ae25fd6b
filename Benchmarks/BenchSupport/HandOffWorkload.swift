// Producer allocates, consumer frees: the cross-thread allocator workload of the core table
// (conveyor-corebench) and the allocator comparison (conveyor-allocators).
import Conveyor
import Synchronization

/// The producer thread allocates a block, writes its sequence number into it and passes the
/// pointer through an ``SPSCRing`` in batches (`enqueueAll`); the consumer thread dequeues up
/// to a batch at a time, checks the number and frees the block, so every block is freed on
/// another thread than the one that allocated it. With no allocator the producer passes the
/// numbers themselves and nothing is allocated: the hand-off floor every allocator row
/// includes. Both run on OS threads started at one gate (pinned to the first two allowed
/// CPUs with `pin`); the time is from the gate opening until the consumer freed the last block.
///
/// ```swift
/// let handOff = HandOffWorkload(operations: 1_000_000, ringCapacity: 1024, batch: 32)
/// let result = try handOff.run(on: try FixedSizeAllocator(.process, objectSize: 128))
/// print(result.isIntact)  // true
/// ```
@usableFromInline package struct HandOffWorkload: Sendable {
    @usableFromInline package var operations: Int
    @usableFromInline package var ringCapacity: Int
    @usableFromInline package var batch: Int

    @usableFromInline package init(operations: Int, ringCapacity: Int, batch: Int) {
        (self.operations, self.ringCapacity, self.batch) = (operations, ringCapacity, batch)
    }

    @usableFromInline package struct Result: Equatable, Sendable {
        @usableFromInline package var operations: Int
        /// From the start gate until the consumer freed the last block.
        @usableFromInline package var nanoseconds: UInt64
        /// Sum of the sequence numbers read (operations × (operations − 1) / 2 when none is lost).
        @usableFromInline package var checksum: UInt64
        /// Blocks whose number was not the one expected next (0 when sound).
        @usableFromInline package var outOfOrder: Int

        @usableFromInline package init(operations: Int, nanoseconds: UInt64, checksum: UInt64, outOfOrder: Int) {
            (self.operations, self.nanoseconds, self.checksum, self.outOfOrder) = (operations, nanoseconds, checksum, outOfOrder)
        }

        /// The numbers read add up to 0 + 1 + … + (operations − 1): none lost, none twice.
        @usableFromInline package var checksumMatches: Bool {
            self.checksum == UInt64(self.operations) &* UInt64(max(0, self.operations - 1)) / 2
        }

        @usableFromInline package var isIntact: Bool { self.outOfOrder == 0 && self.checksumMatches }
    }

    /// The producer's failure, shared by both threads.
    @usableFromInline package final class Shared: @unchecked Sendable {
        // @unchecked: `error` is written by the producer before it sets `failed` (release)
        // and read by the consumer after it saw `failed` (acquire), or after both joined.
        @usableFromInline package let failed = Atomic<Bool>(false)
        @usableFromInline package var error: (any Error)?
        @usableFromInline package var result: Result?

        @usableFromInline package init() {}
    }

    @inlinable
    package func run<A: BenchAllocator>(on allocator: A?, pin: Bool = false) throws -> Result {
        precondition(self.batch >= 1 && self.batch <= self.ringCapacity && (allocator?.objectSize ?? 8) >= 8)
        let ring = try SPSCRing(capacity: self.ringCapacity)
        let shared = Shared()
        let operations = self.operations
        let batch = self.batch
        let producer: @Sendable () -> Void = {
            let buffer = UnsafeMutableBufferPointer<UInt>.allocate(capacity: batch)
            defer { buffer.deallocate() }
            var backoff = Backoff()
            var made = 0
            do {
                while made < operations {
                    let count = min(batch, operations - made)
                    for offset in 0..<count {
                        if let allocator {
                            let block = try allocator.allocate()
                            block.storeBytes(of: UInt64(made + offset), as: UInt64.self)
                            buffer[offset] = UInt(bitPattern: block)
                        } else {
                            buffer[offset] = UInt(made + offset)
                        }
                    }
                    while !ring.enqueueAll(UnsafeBufferPointer(rebasing: buffer[0..<count])) { backoff.wait() }
                    backoff.reset()
                    made += count
                }
            } catch {
                shared.error = error
                shared.failed.store(true, ordering: .releasing)
            }
        }
        let consumer: @Sendable () -> Void = {
            let buffer = UnsafeMutableBufferPointer<UInt>.allocate(capacity: batch)
            defer { buffer.deallocate() }
            var backoff = Backoff()
            var freed = 0
            var expected: UInt64 = 0
            var checksum: UInt64 = 0
            var outOfOrder = 0
            while freed < operations {
                let count = ring.dequeue(into: buffer)
                if count == 0 {
                    if shared.failed.load(ordering: .acquiring) && ring.count == 0 { break }
                    backoff.wait()
                    continue
                }
                backoff.reset()
                for offset in 0..<count {
                    let number: UInt64
                    if let allocator {
                        let block = UnsafeMutableRawPointer(bitPattern: buffer[offset]).unsafelyUnwrapped
                        number = block.load(as: UInt64.self)
                        allocator.deallocate(block)
                    } else {
                        number = UInt64(buffer[offset])
                    }
                    if number != expected { outOfOrder += 1 }
                    expected = number &+ 1
                    checksum &+= number
                }
                freed += count
            }
            shared.result = Result(operations: operations, nanoseconds: 0, checksum: checksum, outOfOrder: outOfOrder)
        }
        let elapsed = runOnThreads(pin: pin, [producer, consumer])
        if let error = shared.error { throw error }
        var result = shared.result!
        result.nanoseconds = elapsed
        return result
    }
}
