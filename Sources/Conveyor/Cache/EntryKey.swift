/// A cache key inside the table: the task kind and the user's key, with their hash computed
/// once (it picks the shard, the dictionary bucket and the frequency-sketch counters).
struct EntryKey<Key: Hashable & Sendable>: Hashable, Sendable {
    let kind: String
    let key: Key
    let hash: Int

    init(kind: String, key: Key) {
        self.kind = kind
        self.key = key
        var hasher = Hasher()
        hasher.combine(key)
        hasher.combine(kind)
        self.hash = hasher.finalize()
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.hash == rhs.hash && lhs.key == rhs.key && lhs.kind == rhs.kind
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.hash)
    }
}
