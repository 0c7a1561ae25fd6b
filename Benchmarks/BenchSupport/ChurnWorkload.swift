// Same-thread allocation churn, for the core table (conveyor-corebench) and the allocator
// comparison (conveyor-allocators).
import Conveyor

/// A fixed-size allocator as the allocator workloads see it: `FixedSizeAllocator` (every
/// kind, through its seam) or a benchmark's direct calls (`mallocx`, `__libc_malloc`, a slab
/// pool). The workloads are generic over it and `@inlinable`, so each runner gets them
/// specialized for its allocator: no indirect call between the loop and the allocation.
@usableFromInline package protocol BenchAllocator: Sendable {
    /// Bytes the workload may write into a block (at least 8).
    var objectSize: Int { get }
    func allocate() throws -> UnsafeMutableRawPointer
    func deallocate(_ pointer: UnsafeMutableRawPointer)
}

extension FixedSizeAllocator: BenchAllocator {}

/// Same-thread churn on one OS thread (pinned to the first allowed CPU with `pin`), in one of
/// two patterns:
///
/// - ``Pattern/batches(of:)``: repeat { allocate `n` blocks, writing one word into each; free
///   the `n` in allocation order } — the allocator's fast path (the core table, `n` = 64).
/// - ``Pattern/replacement(workingSet:seed:)``: keep `workingSet` blocks live and, per
///   operation, free a pseudo-random one (seeded SplitMix64) and allocate its replacement —
///   task-record traffic (the allocator comparison). Every new block gets its slot's index in
///   its first and last word, and the working set is checked at the end: a block handed to two
///   slots at once shows up as damaged. A tenth of the operations runs first as warm-up.
///
/// ```swift
/// let churn = ChurnWorkload(pattern: .replacement(workingSet: 16_384, seed: 42), operations: 1_000_000)
/// let result = try churn.run(on: try FixedSizeAllocator(.process, objectSize: Conveyor.taskRecordSize))
/// print(Double(result.nanoseconds) / Double(result.operations), "ns/op")
/// ```
@usableFromInline package struct ChurnWorkload: Sendable {
    @usableFromInline package enum Pattern: Sendable, Equatable {
        case batches(of: Int)
        case replacement(workingSet: Int, seed: UInt64)
    }

    @usableFromInline package var pattern: Pattern
    /// Operations to measure (one operation = one allocation + one free); batches round it
    /// down to whole batches (at least one).
    @usableFromInline package var operations: Int

    @usableFromInline package init(pattern: Pattern, operations: Int) { (self.pattern, self.operations) = (pattern, operations) }

    @usableFromInline package struct Result: Equatable, Sendable {
        /// Operations measured.
        @usableFromInline package var operations: Int
        @usableFromInline package var nanoseconds: UInt64
        /// Live blocks whose words did not hold their slot's index at the end (replacement; 0
        /// when sound), or 1 when the batches' checksum did not add up.
        @usableFromInline package var damagedBlocks: Int

        @usableFromInline package init(operations: Int, nanoseconds: UInt64, damagedBlocks: Int) {
            (self.operations, self.nanoseconds, self.damagedBlocks) = (operations, nanoseconds, damagedBlocks)
        }
    }

    @inlinable
    package func run<A: BenchAllocator>(on allocator: A, pin: Bool = false) throws -> Result {
        let pattern = self.pattern
        let operations = self.operations
        let outcome = Box<Swift.Result<Result, any Error>?>(nil)
        _ = runOnThreads(pin: pin, [
            {
                outcome.value = Swift.Result {
                    switch pattern {
                    case .batches(let count):
                        try Self.batches(allocator, count: count, operations: operations)
                    case .replacement(let workingSet, let seed):
                        try Self.replacement(allocator, workingSet: workingSet, seed: seed, operations: operations)
                    }
                }
            }
        ])
        return try outcome.value!.get()
    }

    @inlinable
    package static func batches<A: BenchAllocator>(_ allocator: A, count: Int, operations: Int) throws -> Result {
        precondition(count >= 1 && allocator.objectSize >= 8)
        let rounds = max(1, operations / count)
        let blocks = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: count)
        defer { blocks.deallocate() }
        var checksum: UInt = 0
        var expected: UInt = 0
        let start = nowNanoseconds()
        for round in 0..<rounds {
            for index in 0..<count {
                let block = try allocator.allocate()
                block.storeBytes(of: UInt(truncatingIfNeeded: round &+ index), as: UInt.self)
                blocks[index] = block
            }
            checksum &+= blocks[count - 1].load(as: UInt.self)
            expected &+= UInt(truncatingIfNeeded: round &+ count &- 1)
            for index in 0..<count { allocator.deallocate(blocks[index]) }
        }
        let elapsed = nowNanoseconds() &- start
        return Result(operations: rounds * count, nanoseconds: elapsed, damagedBlocks: checksum == expected ? 0 : 1)
    }

    @inlinable
    package static func replacement<A: BenchAllocator>(_ allocator: A, workingSet: Int, seed: UInt64, operations: Int) throws
        -> Result
    {
        precondition(workingSet >= 1 && allocator.objectSize >= 8)
        let lastWord = (allocator.objectSize - 8) & ~7
        let slots = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: workingSet)
        defer { slots.deallocate() }
        @inline(__always) func fill(_ slot: Int) throws {
            let block = try allocator.allocate()
            block.storeBytes(of: UInt64(slot), as: UInt64.self)
            block.storeBytes(of: UInt64(slot), toByteOffset: lastWord, as: UInt64.self)
            slots[slot] = block
        }
        for slot in 0..<workingSet { try fill(slot) }
        var generator = SplitMix64(state: seed)
        let count = UInt64(workingSet)
        func replace(_ operations: Int) throws {
            for _ in 0..<operations {
                // Multiply-shift: a slot in 0..<workingSet without a division.
                let slot = Int(((generator.next() >> 32) &* count) >> 32)
                allocator.deallocate(slots[slot])
                try fill(slot)
            }
        }
        try replace(operations / 10)
        let start = nowNanoseconds()
        try replace(operations)
        let elapsed = nowNanoseconds() &- start
        var damaged = 0
        for slot in 0..<workingSet {
            let block = slots[slot]
            if block.load(as: UInt64.self) != UInt64(slot)
                || block.load(fromByteOffset: lastWord, as: UInt64.self) != UInt64(slot)
            {
                damaged += 1
            }
            allocator.deallocate(block)
        }
        return Result(operations: operations, nanoseconds: elapsed, damagedBlocks: damaged)
    }
}
