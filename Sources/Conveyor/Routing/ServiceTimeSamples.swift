/// Service-time samples gathered by one thread, to be published in a batch.
///
/// A worker keeps one of these as a local variable: ``record(kind:serviceTime:)`` is a local
/// dictionary update and writes nothing shared. Every so often (every N tasks, or every few
/// milliseconds) the worker hands the batch to ``Router/publish(_:at:)`` (or a
/// ``ServiceTimeEstimator``), which merges it and empties it. After the first batches the
/// dictionary keeps its capacity and its keys' storage, so recording does not allocate.
///
/// ```swift
/// var samples = ServiceTimeSamples()
/// for task in batch {
///     let start = clock.now
///     task.run()
///     samples.record(kind: task.kind, serviceTime: start.duration(to: clock.now))
/// }
/// if samples.count >= 64 { router.publish(&samples, at: clock.now) }
/// ```
struct ServiceTimeSamples: Sendable {
    /// The samples of one kind: their sum and how many there are.
    struct Tally: Sendable {
        var totalNanoseconds: Double
        var count: Int

        mutating func add(_ nanoseconds: Double) {
            self.totalNanoseconds += nanoseconds
            self.count += 1
        }
    }

    private(set) var tallies: [String: Tally]

    /// The number of samples recorded since the last publish.
    private(set) var count: Int = 0

    /// An empty accumulator with room for `kindCapacity` kinds before it grows.
    init(kindCapacity: Int = 16) {
        self.tallies = Dictionary(minimumCapacity: max(0, kindCapacity))
    }

    /// `true` when nothing was recorded since the last publish.
    var isEmpty: Bool { self.count == 0 }

    /// Records one observed run of a task of `kind`.
    mutating func record(kind: String, serviceTime: Duration) {
        let (seconds, attoseconds) = serviceTime.components
        self.record(kind: kind, nanoseconds: Double(seconds) * 1e9 + Double(attoseconds) * 1e-9)
    }

    /// Records one observed run of a task of `kind` that took `nanoseconds` (for callers that
    /// time with a cycle counter and convert once).
    mutating func record(kind: String, nanoseconds: Double) {
        let value = nanoseconds.isFinite ? max(0, nanoseconds) : 0
        if let index = self.tallies.index(forKey: kind) {
            self.tallies.values[index].add(value)
        } else {
            self.tallies[kind] = Tally(totalNanoseconds: value, count: 1)
        }
        self.count += 1
    }

    /// Forgets every sample, keeping the storage for the next batch.
    mutating func removeAll() {
        guard self.count > 0 else { return }
        // Keeps the keys' dictionary capacity; re-inserting a kind's key does not allocate.
        self.tallies.removeAll(keepingCapacity: true)
        self.count = 0
    }
}
