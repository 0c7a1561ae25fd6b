/// A cache key inside the table: the task kind and the user's key, with their hash computed
/// once (it picks the shard, the read-table slot, the dictionary bucket and the
/// frequency-sketch counters).
@usableFromInline
struct EntryKey<Key: Hashable & Sendable>: Hashable, Sendable {
    @usableFromInline let kind: String
    @usableFromInline let key: Key
    @usableFromInline let hash: Int

    @inlinable
    init(kind: String, key: Key) {
        self.kind = kind
        self.key = key
        if kind.isEmpty {
            // The common case of one kind per cache: one hash of the key (what a
            // Dictionary<Key, _> lookup costs), not a second pass over the kind.
            self.hash = key.hashValue
        } else {
            var hasher = Hasher()
            hasher.combine(key)
            hasher.combine(kind)
            self.hash = hasher.finalize()
        }
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
