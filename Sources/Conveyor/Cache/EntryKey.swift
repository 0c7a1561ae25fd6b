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
            // The common case of one kind per cache: one hash of the key, not a second pass
            // over the kind; for a fixed-width integer key a seeded mixer instead of SipHash.
            self.hash = Self.hash(of: key)
        } else {
            var hasher = Hasher()
            hasher.combine(key)
            hasher.combine(kind)
            self.hash = hasher.finalize()
        }
    }

    /// The key's hash alone. Keys of the 64- and 32-bit integer types (the type test folds away
    /// once specialized) are mixed with `mixIntegerKey` — a seeded 64-bit finalizer, about 10
    /// instructions against SipHash's ~90 — and every other key uses `hashValue`.
    @inlinable
    static func hash(of key: Key) -> Int {
        if Key.self == Int.self || Key.self == UInt.self || Key.self == Int64.self || Key.self == UInt64.self {
            return Int(truncatingIfNeeded: mixIntegerKey(withUnsafeBytes(of: key) { $0.loadUnaligned(as: UInt64.self) }))
        }
        if Key.self == Int32.self || Key.self == UInt32.self {
            return Int(truncatingIfNeeded: mixIntegerKey(UInt64(withUnsafeBytes(of: key) { $0.loadUnaligned(as: UInt32.self) })))
        }
        return key.hashValue
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

/// A random seed per process for `mixIntegerKey`, so the hashes of integer keys (which pick
/// shards and read-table slots) are not the same from one run to the next.
@usableFromInline
let integerKeySeed = UInt64.random(in: UInt64.min...UInt64.max)

/// Mixes a 64-bit key into a hash whose every bit depends on every key bit: the seed, then
/// MurmurHash3's 64-bit finalizer (xor-shift and multiply, three rounds), a bijection, so
/// distinct keys never collide in the full 64 bits. Not a keyed PRF like SipHash: a cache fed
/// integer keys chosen by an adversary who can observe timing should wrap them in a struct,
/// which takes the SipHash path.
@inlinable
func mixIntegerKey(_ key: UInt64) -> UInt64 {
    var z = key ^ integerKeySeed
    z = (z ^ (z >> 33)) &* 0xff51_afd7_ed55_8ccd
    z = (z ^ (z >> 33)) &* 0xc4ce_b9fe_1a85_ec53
    return z ^ (z >> 33)
}
