import BenchSupport
import Foundation

// Key traces for the hit-ratio rows: Zipf-distributed keys, a one-pass scan, and the
// Bélády (optimal, with bypass) hit ratio of a trace.

/// Zipf(s) over `keys` ranks by inverse CDF (binary search); rank r is mapped to a key by a
/// random permutation, so popular keys are spread over the hash space.
struct ZipfTrace {
    let cdf: [Double]
    let permutation: [Int32]

    init(keys: Int, s: Double, seed: UInt64) {
        var cdf = [Double](repeating: 0, count: keys)
        var total = 0.0
        for rank in 0..<keys {
            total += 1 / pow(Double(rank + 1), s)
            cdf[rank] = total
        }
        for rank in 0..<keys { cdf[rank] /= total }
        self.cdf = cdf
        var generator = SplitMix64(state: seed ^ 0xA5A5)
        var permutation = (0..<Int32(keys)).map { $0 }
        permutation.shuffle(using: &generator)
        self.permutation = permutation
    }

    func make(count: Int, seed: UInt64) -> [Int32] {
        var generator = SplitMix64(state: seed)
        var trace = [Int32](repeating: 0, count: count)
        for index in 0..<count {
            let u = Double(generator.next() >> 11) * 0x1.0p-53
            var low = 0
            var high = self.cdf.count - 1
            while low < high {
                let mid = (low + high) / 2
                if self.cdf[mid] < u { low = mid + 1 } else { high = mid }
            }
            trace[index] = self.permutation[low]
        }
        return trace
    }
}

/// Bélády's MIN with bypass: on a miss, keep the key only if its next use comes before the
/// latest next use among the cached keys (evicting that one). The optimal hit ratio for the
/// capacity, the ceiling any online policy can reach.
func beladyHits(_ trace: [Int32], capacity: Int, keySpace: Int, counted: (Int) -> Bool = { _ in true }) -> (hits: Int, lookups: Int) {
    let never = trace.count
    var nextUse = [Int](repeating: never, count: trace.count)
    var last = [Int](repeating: never, count: keySpace)
    for index in stride(from: trace.count - 1, through: 0, by: -1) {
        let key = Int(trace[index])
        nextUse[index] = last[key]
        last[key] = index
    }
    // Max-heap of (next use << 21 | key); stale entries (key no longer cached, or cached
    // with a later next use) are skipped when popped.
    var heap: [UInt64] = []
    heap.reserveCapacity(capacity * 4)
    var cachedNext = [Int](repeating: -1, count: keySpace)  // -1: not cached
    var size = 0
    var hits = 0
    var lookups = 0
    func push(_ value: UInt64) {
        heap.append(value)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if heap[parent] >= heap[child] { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }
    func pop() -> UInt64 {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                if left >= heap.count { break }
                var larger = left
                if left + 1 < heap.count, heap[left + 1] > heap[left] { larger = left + 1 }
                if heap[parent] >= heap[larger] { break }
                heap.swapAt(parent, larger)
                parent = larger
            }
        }
        return top
    }
    for index in 0..<trace.count {
        let key = Int(trace[index])
        let next = nextUse[index]
        if counted(index) { lookups += 1 }
        if cachedNext[key] >= 0 {
            if counted(index) { hits += 1 }
            cachedNext[key] = next
            push(UInt64(next) << 21 | UInt64(key))
            continue
        }
        if next == never { continue }  // never used again: bypass
        if size == capacity {
            // The cached key used furthest in the future, unless the new key is used later still.
            while true {
                let top = heap[0]
                let topKey = Int(top & 0x1F_FFFF)
                let topNext = Int(top >> 21)
                if cachedNext[topKey] != topNext { _ = pop(); continue }
                if topNext <= next { break }
                _ = pop()
                cachedNext[topKey] = -1
                size -= 1
                break
            }
            if size == capacity { continue }  // every cached key is needed sooner: bypass
        }
        cachedNext[key] = next
        size += 1
        push(UInt64(next) << 21 | UInt64(key))
    }
    return (hits, lookups)
}
