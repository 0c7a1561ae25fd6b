/// A cache key inside the table: the task kind and the user's key, with their hash computed
/// once (it picks the shard, the dictionary bucket and the frequency-sketch counters).
@usableFromInline
struct EntryKey<Key: Hashable & Sendable>: Hashable, Sendable {
    @usableFromInline let kind: String
    @usableFromInline let key: Key
    @usableFromInline let hash: Int

    @inlinable
    init(kind: String, key: Key) {
        self.kind = kind
        self.key = key
        var hasher = Hasher()
        hasher.combine(key)
        hasher.combine(kind)
        self.hash = hasher.finalize()
    }

    @inlinable
    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.hash == rhs.hash && lhs.key == rhs.key && lhs.kind == rhs.kind
    }

    @inlinable
    func hash(into hasher: inout Hasher) {
        hasher.combine(self.hash)
    }
}
