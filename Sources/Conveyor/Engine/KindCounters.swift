/// The engine's per-kind totals, shared by all workers: each worker folds its ``KindTally``
/// in here in batches (one lock per batch), readers copy the table under the same lock.
///
/// Counting is off until something asks for it (``Conveyor/enableKindCounting()``, which a
/// ``PerformanceProfiler`` attached to the engine calls), so an engine nobody profiles pays
/// one relaxed load per task for it.
final class KindCounters: Sendable {
    private let totals = PThreadMutex([String: KindTotals]())

    /// Adds a worker's batch.
    func add(_ batch: [String: KindTotals]) {
        self.totals.withLock { totals in
            for (kind, entry) in batch where entry.tasks > 0 {
                totals[kind, default: KindTotals()].add(entry)
            }
        }
    }

    /// A copy of the totals per kind.
    func snapshot() -> [String: KindTotals] {
        self.totals.withLock { $0 }
    }
}
