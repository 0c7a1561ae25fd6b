import Synchronization

/// One bit per task id: set once when the task ran, was reported failed or expired, was
/// cancelled (the cancel returned true) or was refused at submit. A second set of the same bit
/// is a duplicate; a bit still clear at the end is a lost task. 10⁹ ids take 125 MB.
final class SeenBitmap: @unchecked Sendable {
    /// Who set a bit: the counts of each, and the cause of the first duplicate.
    enum Cause: Int, CaseIterable, Sendable {
        case ran, failed, expired, cancelled, refused

        var label: String {
            switch self {
            case .ran: "ran"
            case .failed: "failed (reported once)"
            case .expired: "expired (reported once)"
            case .cancelled: "cancelled (cancel returned true)"
            case .refused: "refused at submit (never accepted)"
            }
        }
    }

    let bits: Int
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private let wordCount: Int
    let duplicates = Atomic<Int>(0)
    /// The first duplicated id and its second cause (−1: none).
    let firstDuplicate = Atomic<Int>(-1)
    let firstDuplicateCause = Atomic<Int>(-1)

    init(bits: Int) {
        self.bits = bits
        self.wordCount = (bits + 63) / 64
        self.words = .allocate(capacity: self.wordCount)
        for index in 0..<self.wordCount { (self.words + index).initialize(to: Atomic(0)) }
    }

    deinit {
        self.words.deinitialize(count: self.wordCount)
        self.words.deallocate()
    }

    /// Sets `id`'s bit; counts a duplicate when it was set already. Relaxed: the bit itself
    /// is the only datum, every set is an atomic read-modify-write (so two sets of one bit
    /// always see each other), and the final audit runs after every marking thread was
    /// joined or every worker stopped (shutdown waits for them), which orders their writes
    /// before its loads.
    @inline(__always)
    func mark(_ id: Int, _ cause: Cause) {
        guard id >= 0, id < self.bits else {
            // An id outside the run is a corrupted payload: count it as a duplicate so the run fails.
            self.noteDuplicate(id, cause)
            return
        }
        let mask = UInt64(1) << UInt64(id & 63)
        let old = self.words[id >> 6].bitwiseOr(mask, ordering: .relaxed).oldValue
        if old & mask != 0 { self.noteDuplicate(id, cause) }
    }

    private func noteDuplicate(_ id: Int, _ cause: Cause) {
        if self.duplicates.add(1, ordering: .relaxed).oldValue == 0 {
            self.firstDuplicate.store(id, ordering: .relaxed)
            self.firstDuplicateCause.store(cause.rawValue, ordering: .relaxed)
        }
    }

    /// Bits set and the first few ids never set.
    func audit(sampleLimit: Int = 10) -> (set: Int, lost: [Int]) {
        var set = 0
        var lost: [Int] = []
        for index in 0..<self.wordCount {
            let word = self.words[index].load(ordering: .relaxed)
            let valid = index == self.wordCount - 1 && self.bits % 64 != 0 ? (UInt64(1) << UInt64(self.bits % 64)) - 1 : ~UInt64(0)
            set += (word & valid).nonzeroBitCount
            if word & valid != valid, lost.count < sampleLimit {
                for bit in 0..<64 where valid & (UInt64(1) << UInt64(bit)) != 0 && word & (UInt64(1) << UInt64(bit)) == 0 {
                    if lost.count < sampleLimit { lost.append(index * 64 + bit) }
                }
            }
        }
        return (set, lost)
    }
}
