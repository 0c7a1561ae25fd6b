import BenchSupport
import Foundation

/// The burst's blocks, fixed by a seed so every allocator sees the same sequence: sizes
/// log-uniform from `minimumBytes` to `maximumBytes` (size = ⌊min · (max/min)^u⌋, u uniform in
/// [0, 1); each doubling of size gets the same share of blocks; 16 B–4 KiB averages ~736 B),
/// drawn until their sum reaches `targetBytes`; and the order in which the first
/// `freedShare` of them are freed (a seeded shuffle of all indices).
///
/// ```swift
/// let plan = BurstPlan(targetBytes: 8 << 20, minimumBytes: 16, maximumBytes: 4096, freedShare: 0.75, seed: 42)
/// print(plan.sizes.count, plan.totalBytes, plan.liveBytesAfterPartialFree)
/// ```
struct BurstPlan: Sendable {
    /// Requested bytes of each block, in allocation order.
    let sizes: [Int32]
    /// Block indices: a permutation of `sizes.indices`; the first `freedCount` are freed
    /// (in this order) before fragmentation is measured, the rest after.
    let freeOrder: [Int32]
    let freedCount: Int
    /// Sum of `sizes`.
    let totalBytes: Int
    /// Requested bytes of the blocks not among the first `freedCount` of `freeOrder`.
    let liveBytesAfterPartialFree: Int

    init(targetBytes: Int, minimumBytes: Int, maximumBytes: Int, freedShare: Double, seed: UInt64) {
        precondition(minimumBytes >= 1 && maximumBytes >= minimumBytes && targetBytes >= 1)
        precondition(freedShare >= 0 && freedShare <= 1)
        var generator = SplitMix64(state: seed)
        let span = Double(maximumBytes) / Double(minimumBytes)
        var sizes: [Int32] = []
        sizes.reserveCapacity(targetBytes / max(1, (minimumBytes + maximumBytes) / 4))
        var total = 0
        while total < targetBytes {
            let size = min(maximumBytes, max(minimumBytes, Int(Double(minimumBytes) * pow(span, generator.unit()))))
            sizes.append(Int32(size))
            total += size
        }
        var order = (0..<Int32(sizes.count)).map { $0 }
        // Fisher-Yates with the same generator.
        for index in stride(from: order.count - 1, to: 0, by: -1) {
            let other = Int(generator.next() % UInt64(index + 1))
            order.swapAt(index, other)
        }
        let freed = Int(Double(sizes.count) * freedShare)
        self.sizes = sizes
        self.freeOrder = order
        self.freedCount = freed
        self.totalBytes = total
        self.liveBytesAfterPartialFree = total - order[0..<freed].reduce(0) { $0 + Int(sizes[Int($1)]) }
    }
}
