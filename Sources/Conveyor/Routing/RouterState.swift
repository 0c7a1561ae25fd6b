/// The router's mutable state, behind its `PThreadMutex`; only publish and first sightings of
/// a kind touch it, never a plain route.
struct RouterState: Sendable {
    /// Every kind seen so far; also what keeps each `KindSlot` alive.
    var kinds: [String: KindLearning] = [:]
    /// The table readers use (also published in `Router.currentTable`).
    var table: KindTable
    /// Tables replaced by a bigger one, freed when the router is destroyed.
    var retiredTables: [KindTable] = []
}
