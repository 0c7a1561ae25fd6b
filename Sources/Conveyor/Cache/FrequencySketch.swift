/// A count-min sketch of 4-bit counters (4 rows, saturating at 15) that estimates how often a
/// key was seen recently, for W-TinyLFU admission. After `10 × capacity` increments every
/// counter is halved (aging), so old popularity fades and new hot keys can be admitted.
///
/// Counters are stored one per byte (`UInt8`, never above 15); the table has
/// `nextPowerOfTwo(capacity)` counters per row, so a row index is `hash & mask`.
struct FrequencySketch {
    private var table: [UInt8]
    private let rowMask: Int
    private let rowWidth: Int
    private let sampleSize: Int
    private var additions = 0
    /// How many times the sketch aged (halved every counter).
    private(set) var resets = 0

    init(capacity: Int) {
        var width = 16
        while width < capacity { width <<= 1 }
        self.rowWidth = width
        self.rowMask = width - 1
        self.table = [UInt8](repeating: 0, count: width * 4)
        self.sampleSize = max(10 * capacity, 160)
    }

    /// Four row indices from one 64-bit hash (different odd multipliers, then the high bits).
    @inline(__always)
    private func index(_ hash: Int, row: Int) -> Int {
        let seeds: (UInt64, UInt64, UInt64, UInt64) = (
            0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9, 0x85EB_CA77_C2B2_AE63
        )
        let seed: UInt64
        switch row {
        case 0: seed = seeds.0
        case 1: seed = seeds.1
        case 2: seed = seeds.2
        default: seed = seeds.3
        }
        let mixed = (UInt64(bitPattern: Int64(hash)) &+ seed) &* seed
        return row * self.rowWidth + Int(truncatingIfNeeded: mixed >> 32) & self.rowMask
    }

    /// The estimated recent frequency of `hash`: the smallest of its four counters (0…15).
    func frequency(_ hash: Int) -> Int {
        var least = UInt8.max
        for row in 0..<4 { least = min(least, self.table[self.index(hash, row: row)]) }
        return Int(least)
    }

    /// Counts one access to `hash`, then ages the sketch when the sample is full.
    mutating func increment(_ hash: Int) {
        var added = false
        for row in 0..<4 {
            let slot = self.index(hash, row: row)
            if self.table[slot] < 15 {
                self.table[slot] += 1
                added = true
            }
        }
        guard added else { return }
        self.additions += 1
        if self.additions >= self.sampleSize { self.age() }
    }

    /// Halves every counter (the "reset" of TinyLFU) and the addition count with it.
    private mutating func age() {
        self.table.withUnsafeMutableBufferPointer { counters in
            for slot in counters.indices { counters[slot] >>= 1 }
        }
        self.additions /= 2
        self.resets += 1
    }
}
