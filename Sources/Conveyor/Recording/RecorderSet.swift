import CConveyor

/// The recorders of one group, one per thread, and their totals merged on read.
///
/// Worker threads each make a ``Recorder`` and write to it alone; nothing shared is written
/// per task. Any thread reads the set at any time, without locks, while the workers record:
/// counters are summed and histograms merged over all recorders, those of threads that
/// have exited included.
///
/// ```swift
/// let set = try RecorderSet(layout: .tasks)
/// // each worker thread:
/// let recorder = try set.makeRecorder()
/// recorder.record(1_500, in: RecorderLayout.Tasks.service)
/// recorder.increment(RecorderLayout.Tasks.completed)
/// // any thread:
/// let service = set.histogram(RecorderLayout.Tasks.service)
/// print(service.p50, service.p99, set.counter(RecorderLayout.Tasks.completed))
/// set.timing = .sampled(oneIn: 16)            // or .off: Recorder.shouldTime() says when to time
/// ```
///
/// Snapshots taken while threads record are not one instant: each value read is whole and
/// never older than in an earlier snapshot, but a histogram's sum or a counter may be a few
/// records ahead of or behind the buckets. Quiescent sets read exactly.
final class RecorderSet: @unchecked Sendable {
    // @unchecked: the C set is synchronized inside (registry under a mutex, atomics for the rest).
    let set: OpaquePointer
    /// The histograms and counters of every recorder in the set.
    let layout: RecorderLayout
    /// Most recorders owned at the same time.
    let capacity: Int

    /// When the owners of recorders take timestamps (see ``Recorder/shouldTime()``).
    enum Timing: Sendable, Equatable {
        /// No timestamps: counters only.
        case off
        /// Every task.
        case everyTask
        /// One task in `oneIn` (rounded up to a power of two).
        case sampled(oneIn: Int)
    }

    /// Creates an empty set.
    /// - Parameters:
    ///   - layout: what each recorder holds; ``RecorderLayout/tasks`` for the engine.
    ///   - capacity: most recorders owned at once, 1…4096 (threads of the group).
    /// - Throws: `ConveyorError.invalidConfiguration` for a capacity out of range,
    ///   `ConveyorError.outOfMemory`.
    init(layout: RecorderLayout = .tasks, capacity: Int = 256) throws {
        let maximum = Int(CNV_RECORDER_SET_MAX_CAPACITY)
        guard capacity >= 1, capacity <= maximum else {
            throw ConveyorError.invalidConfiguration(
                reason: "RecorderSet capacity \(capacity) must be from 1 to \(maximum) (one recorder per thread); use \(Swift.min(Swift.max(capacity, 1), maximum))"
            )
        }
        var created: OpaquePointer?
        let status = cnv_recorder_set_create(
            UInt32(layout.histograms.count), UInt32(layout.counters.count), UInt32(capacity), &created)
        guard status == CNV_OK.rawValue, let created else {
            throw ConveyorError.fromStatus(status, context: "a RecorderSet of \(capacity) recorders")
        }
        self.set = created
        self.layout = layout
        self.capacity = capacity
    }

    deinit {
        // Every Recorder holds its set, so none is left.
        cnv_recorder_set_destroy(self.set)
    }

    /// A recorder for the calling thread (a fresh one, or one a finished thread released,
    /// with its statistics). Cold path: takes the set's mutex.
    /// - Throws: `ConveyorError.limitReached` when ``capacity`` recorders are alive.
    func makeRecorder() throws -> Recorder {
        var acquired: OpaquePointer?
        let status = cnv_recorder_set_acquire(self.set, &acquired)
        guard status == CNV_OK.rawValue, let acquired else {
            if status == CNV_ELIMIT.rawValue {
                throw ConveyorError.limitReached(
                    reason: "this RecorderSet has \(self.capacity) recorders in use; release one or create the set with a larger capacity"
                )
            }
            throw ConveyorError.fromStatus(status, context: "a Recorder")
        }
        return Recorder(set: self, recorder: acquired)
    }

    /// Recorders made so far, alive or released (each thread's share stays in the totals).
    var recorderCount: Int { Int(cnv_recorder_set_count(self.set)) }

    /// When recorders' owners take timestamps; changes reach each owner on its next task.
    var timing: Timing {
        get {
            switch cnv_recorder_set_timing_period(self.set) {
            case 0: .off
            case 1: .everyTask
            case let period: .sampled(oneIn: Int(clamping: period))
            }
        }
        set {
            let period: UInt64 =
                switch newValue {
                case .off: 0
                case .everyTask: 1
                case .sampled(let oneIn): UInt64(Swift.max(oneIn, 1))
                }
            cnv_recorder_set_set_timing_period(self.set, period)
        }
    }

    /// Whether timing is on at all (cheap; for threads without a recorder, such as submitters).
    @inline(__always)
    var isTimingEnabled: Bool { cnv_recorder_set_timing_period(self.set) != 0 }

    /// Histogram `histogram`, merged over all recorders.
    func histogram(_ histogram: Int) -> LatencyHistogram {
        precondition(UInt(bitPattern: histogram) < UInt(self.layout.histograms.count), "histogram index out of range")
        return LatencyHistogram { snapshot in
            cnv_recorder_set_merge_histogram(self.set, UInt32(histogram), snapshot)
        }
    }

    /// The histogram called `name`, merged over all recorders; `nil` if the layout has none.
    func histogram(named name: String) -> LatencyHistogram? {
        self.layout.histogramIndex(named: name).map { self.histogram($0) }
    }

    /// Counter `counter`, summed over all recorders.
    func counter(_ counter: Int) -> UInt64 {
        precondition(UInt(bitPattern: counter) < UInt(self.layout.counters.count), "counter index out of range")
        return cnv_recorder_set_counter(self.set, UInt32(counter))
    }

    /// The counter called `name`, summed over all recorders; `nil` if the layout has none.
    func counter(named name: String) -> UInt64? {
        self.layout.counterIndex(named: name).map { self.counter($0) }
    }

    /// Every histogram and counter, merged over all recorders.
    func snapshot() -> RecorderSnapshot {
        RecorderSnapshot(
            layout: self.layout,
            histograms: self.layout.histograms.indices.map { self.histogram($0) },
            counters: self.layout.counters.indices.map { self.counter($0) }
        )
    }
}
