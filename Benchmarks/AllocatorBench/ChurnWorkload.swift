import BenchSupport
import Conveyor

/// Same-thread churn: one thread keeps `workingSet` blocks live and, per operation, frees a
/// pseudo-random one and allocates its replacement (one free + one allocation).
///
/// Every new block gets its slot's index written into its first and last word, and the
/// working set is checked at the end: a block handed to two slots at once shows up as damaged.
///
/// ```swift
/// let churn = ChurnWorkload(workingSet: 16_384, operations: 1_000_000, seed: 42)
/// let result = try churn.run(on: try FixedSizeAllocator(.process, objectSize: Conveyor.taskRecordSize))
/// print(Double(result.nanoseconds) / Double(result.operations), "ns/op")
/// ```
struct ChurnWorkload {
    let workingSet: Int
    let operations: Int
    let seed: UInt64

    struct Result: Equatable {
        /// Replacements measured (a tenth as many ran before as warm-up).
        var operations: Int
        var nanoseconds: UInt64
        /// Live blocks whose words did not hold their slot's index at the end (0 when sound).
        var damagedBlocks: Int
    }

    func run(on allocator: FixedSizeAllocator) throws -> Result {
        precondition(self.workingSet >= 1 && allocator.objectSize >= 8)
        let lastWord = (allocator.objectSize - 8) & ~7
        let slots = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: self.workingSet)
        defer { slots.deallocate() }
        @inline(__always) func fill(_ slot: Int) throws {
            let block = try allocator.allocate()
            block.storeBytes(of: UInt64(slot), as: UInt64.self)
            block.storeBytes(of: UInt64(slot), toByteOffset: lastWord, as: UInt64.self)
            slots[slot] = block
        }
        for slot in 0..<self.workingSet { try fill(slot) }
        var generator = SplitMix64(state: self.seed)
        let count = UInt64(self.workingSet)
        func replace(_ operations: Int) throws {
            for _ in 0..<operations {
                // Multiply-shift: a slot in 0..<workingSet without a division.
                let slot = Int(((generator.next() >> 32) &* count) >> 32)
                allocator.deallocate(slots[slot])
                try fill(slot)
            }
        }
        try replace(self.operations / 10)
        let start = nowNanoseconds()
        try replace(self.operations)
        let elapsed = nowNanoseconds() &- start
        var damaged = 0
        for slot in 0..<self.workingSet {
            let block = slots[slot]
            if block.load(as: UInt64.self) != UInt64(slot)
                || block.load(fromByteOffset: lastWord, as: UInt64.self) != UInt64(slot)
            {
                damaged += 1
            }
            allocator.deallocate(block)
        }
        return Result(operations: self.operations, nanoseconds: elapsed, damagedBlocks: damaged)
    }
}
