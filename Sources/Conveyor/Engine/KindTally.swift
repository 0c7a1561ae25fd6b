/// One worker's per-kind task counts since its last fold, written only by that worker.
///
/// The worker updates its tally per task (no shared write): consecutive tasks of one kind
/// (a batch usually holds one kind) add to a running entry after one string comparison;
/// a change of kind moves the running entry into a local dictionary. Every
/// `Conveyor.samplesPerPublish` tasks, and whenever the worker goes idle or exits, the tally
/// is folded into the engine's shared ``KindCounters`` under one lock. Folding zeroes the
/// entries but keeps their keys, so after a kind's first task its updates never allocate.
struct KindTally {
    private(set) var entries: [String: KindTotals]
    /// The kind of the running entry ("" before the first task).
    private var currentKind = ""
    private var current = KindTotals()
    /// Tasks recorded since the last fold.
    private(set) var pending = 0

    init(kindCapacity: Int = 16) {
        self.entries = Dictionary(minimumCapacity: kindCapacity)
    }

    /// Counts one task of `kind` that ran for `serviceNanoseconds` (0 when untimed).
    @inline(__always)
    mutating func record(kind: String, failed: Bool, serviceNanoseconds: UInt64) {
        if kind != self.currentKind {
            self.flushCurrent()
            self.currentKind = kind
        }
        self.current.add(failed: failed, serviceNanoseconds: serviceNanoseconds)
        self.pending += 1
    }

    /// Adds the tally to `counters` and zeroes it, keeping the keys.
    mutating func fold(into counters: KindCounters) {
        guard self.pending > 0 else { return }
        self.flushCurrent()
        counters.add(self.entries)
        // Walk by index, not `for index in self.entries.indices`: that collection holds a
        // reference to the storage while it iterates, so the first write would copy the whole
        // dictionary (one allocation per fold).
        var index = self.entries.startIndex
        while index != self.entries.endIndex {
            if self.entries.values[index].tasks > 0 { self.entries.values[index] = KindTotals() }
            self.entries.formIndex(after: &index)
        }
        self.pending = 0
    }

    /// Moves the running entry into the dictionary.
    private mutating func flushCurrent() {
        guard self.current.tasks > 0 else { return }
        if let index = self.entries.index(forKey: self.currentKind) {
            self.entries.values[index].add(self.current)
        } else {
            self.entries[self.currentKind] = self.current
        }
        self.current = KindTotals()
    }
}
