/// A count-min sketch of 4-bit counters (4 rows, saturating at 15) that estimates how often a
/// key was seen recently, for W-TinyLFU admission. After `10 × capacity` increments every
/// counter is halved (aging), so old popularity fades and new hot keys can be admitted.
///
/// Layout (as in Caffeine): a key's four counters, one per row, all sit in one 64-byte block
/// (4 rows × 16 one-byte counters) chosen by the key's hash, so counting or estimating a key
/// touches one cache line. The table has `nextPowerOfTwo(capacity)` counters per row, in
/// blocks aligned to 64 bytes.
@usableFromInline
struct FrequencySketch {
    @usableFromInline let storage: SketchStorage
    @usableFromInline let blockMask: Int
    @usableFromInline let sampleSize: Int
    @usableFromInline var additions = 0
    /// How many times the sketch aged (halved every counter).
    private(set) var resets = 0

    init(capacity: Int) {
        var width = 16
        while width < capacity { width <<= 1 }
        // 4 rows × width counters of one byte, in blocks of 64 bytes (16 counters per row).
        let blocks = width * 4 / 64
        self.storage = SketchStorage(blocks: blocks)
        self.blockMask = blocks - 1
        self.sampleSize = max(10 * capacity, 160)
    }

    /// The block of `hash` and the offset of its counter in each row (16 counters a row).
    @inlinable
    @inline(__always)
    func slots(_ hash: Int) -> (block: Int, mixed: UInt64) {
        let mixed = (UInt64(bitPattern: Int64(hash)) ^ 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9
        let block = Int(truncatingIfNeeded: mixed >> 40) & self.blockMask
        return (block, mixed)
    }

    /// The estimated recent frequency of `hash`: the smallest of its four counters (0…15).
    @inlinable
    func frequency(_ hash: Int) -> Int {
        let (block, mixed) = self.slots(hash)
        let base = self.storage.counters + block * 64
        var least = UInt8.max
        for row in 0..<4 {
            let counter = Int(truncatingIfNeeded: mixed >> UInt64(row * 4)) & 15
            least = min(least, base[row * 16 + counter])
        }
        return Int(least)
    }

    /// Counts `weight` accesses to `hash` (each counter saturates at 15), then ages the
    /// sketch when the sample is full. A weight above 1 stands for sampled hits.
    @inlinable
    mutating func increment(_ hash: Int, by weight: Int = 1) {
        let (block, mixed) = self.slots(hash)
        let base = self.storage.counters + block * 64
        var added = false
        for row in 0..<4 {
            let slot = row * 16 + Int(truncatingIfNeeded: mixed >> UInt64(row * 4)) & 15
            let counter = base[slot]
            if counter < 15 {
                base[slot] = UInt8(truncatingIfNeeded: min(15, Int(counter) &+ weight))
                added = true
            }
        }
        guard added else { return }
        self.additions += weight
        if self.additions >= self.sampleSize { self.age() }
    }

    /// Halves every counter (the "reset" of TinyLFU) and the addition count with it.
    @usableFromInline
    mutating func age() {
        let counters = self.storage.counters
        for slot in 0..<self.storage.count { counters[slot] >>= 1 }
        self.additions /= 2
        self.resets += 1
    }
}

/// The sketch's counters: `blocks × 64` bytes aligned to 64, zeroed, freed with the sketch.
@usableFromInline
final class SketchStorage: @unchecked Sendable {
    // @unchecked: used only under the owning shard's lock.
    @usableFromInline let counters: UnsafeMutablePointer<UInt8>
    @usableFromInline let count: Int

    init(blocks: Int) {
        self.count = blocks * 64
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.count, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: self.count)
        self.counters = raw.assumingMemoryBound(to: UInt8.self)
    }

    deinit {
        UnsafeMutableRawPointer(self.counters).deallocate()
    }
}
