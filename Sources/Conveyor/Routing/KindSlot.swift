import Synchronization

/// What the router knows about one task kind, shared with every thread that routes it.
///
/// Everything but `word` is fixed when the kind is first seen, before the slot is published
/// in the `KindTable`; `word` is written under the router's lock and read without it.
final class KindSlot: Sendable {
    let kind: String
    let hash: Int
    /// Indices of the rules whose kind conditions this kind meets, in rule order.
    let candidateRules: [Int]
    /// The `RouteWord` for this kind: learned sides, warm flag and cached decision.
    let word: Atomic<UInt64>

    init(kind: String, hash: Int, candidateRules: [Int], word: RouteWord) {
        self.kind = kind
        self.hash = hash
        self.candidateRules = candidateRules
        self.word = Atomic(word.rawValue)
    }
}
