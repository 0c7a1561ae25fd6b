/// A fixed-capacity ring of the most recent observations (missing ones stored as NaN).
///
/// `append` is O(1); `values()` copies the contents oldest first.
struct HistoryBuffer: Sendable {
    let capacity: Int
    private var storage: [Double]
    private var start: Int
    private(set) var count: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        self.storage = []
        self.storage.reserveCapacity(self.capacity)
        self.start = 0
        self.count = 0
    }

    mutating func append(_ value: Double) {
        if self.count < self.capacity {
            self.storage.append(value)
            self.count += 1
        } else {
            self.storage[self.start] = value
            self.start = self.start + 1 == self.capacity ? 0 : self.start + 1
        }
    }

    /// The stored values, oldest first.
    func values() -> [Double] {
        if self.start == 0 { return self.storage }
        return Array(self.storage[self.start...]) + Array(self.storage[..<self.start])
    }
}
