import BenchSupport
import Conveyor
import Synchronization

/// What a soak's producers, handlers and coordinator share: the load level and counters.
final class SoakState: Sendable {
    /// Per-mille load level the producers follow; 0 pauses them.
    let level = Atomic<Int>(0)
    /// Whether "record" handlers keep their records (a memory burst).
    let retaining = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    /// Tasks accepted by a fire-and-forget submit.
    let accepted = Atomic<Int>(0)
    /// Fire-and-forget tasks whose handler ran (including those that threw).
    let handled = Atomic<Int>(0)
    let cancelled = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let rejected = Atomic<Int>(0)
    /// Tasks run through `run` and awaited.
    let awaited = Atomic<Int>(0)
    /// Handler calls of the batch kind.
    let batches = Atomic<Int>(0)
    /// Cache lookups that returned a value (hit or computed).
    let lookups = Atomic<Int>(0)
    /// Scaler decisions applied to the scaled group.
    let scalerApplied = Atomic<Int>(0)
    /// A sink for handler results, so their work is not optimized away.
    let sink = Atomic<UInt64>(0)

    /// Every accepted fire-and-forget task ran or was cancelled.
    var isDrained: Bool {
        self.handled.load(ordering: .relaxed) + self.cancelled.load(ordering: .relaxed)
            >= self.accepted.load(ordering: .relaxed)
    }
}
