/// Every histogram and counter of a ``RecorderSet`` at one reading, merged over its
/// recorders.
///
/// ```swift
/// let before = set.snapshot()
/// try await Task.sleep(for: .seconds(10))
/// let interval = set.snapshot().subtracting(before)      // the last 10 seconds
/// print(interval.counter(named: "completed") ?? 0, interval.histogram(named: "service")?.p99 ?? 0)
/// ```
struct RecorderSnapshot: Sendable, Equatable {
    /// Names of the histograms and counters.
    let layout: RecorderLayout
    /// Histograms, in the layout's order.
    let histograms: [LatencyHistogram]
    /// Counters, in the layout's order.
    let counters: [UInt64]

    /// A snapshot from its parts (`histograms` and `counters` in `layout`'s order).
    init(layout: RecorderLayout, histograms: [LatencyHistogram], counters: [UInt64]) {
        precondition(histograms.count == layout.histograms.count && counters.count == layout.counters.count,
                     "snapshot parts do not match the layout")
        self.layout = layout
        self.histograms = histograms
        self.counters = counters
    }

    /// The histogram called `name`, or `nil`.
    func histogram(named name: String) -> LatencyHistogram? {
        self.layout.histogramIndex(named: name).map { self.histograms[$0] }
    }

    /// The counter called `name`, or `nil`.
    func counter(named name: String) -> UInt64? {
        self.layout.counterIndex(named: name).map { self.counters[$0] }
    }

    /// What was recorded since `earlier`, an older snapshot of the same set.
    func subtracting(_ earlier: RecorderSnapshot) -> RecorderSnapshot {
        precondition(earlier.layout == self.layout, "snapshots of different layouts")
        return RecorderSnapshot(
            layout: self.layout,
            histograms: zip(self.histograms, earlier.histograms).map { $0.subtracting($1) },
            counters: zip(self.counters, earlier.counters).map { $0 > $1 ? $0 - $1 : 0 }
        )
    }

    /// This snapshot and `other` (same layout) together, e.g. two groups' totals.
    func merging(_ other: RecorderSnapshot) -> RecorderSnapshot {
        precondition(other.layout == self.layout, "snapshots of different layouts")
        return RecorderSnapshot(
            layout: self.layout,
            histograms: zip(self.histograms, other.histograms).map { $0.merging($1) },
            counters: zip(self.counters, other.counters).map { $0 &+ $1 }
        )
    }
}
