import CConveyor

/// One thread's statistics: the counters and latency histograms of a ``RecorderSet``'s
/// layout, written by the thread that owns it without locks or locked instructions.
///
/// Each worker thread makes its own recorder with ``RecorderSet/makeRecorder()`` and is the
/// only thread that calls its recording methods. Any thread reads the totals through the
/// set, merged over all recorders. Every recording call inlines to a few plain stores.
///
/// ```swift
/// let recorder = try set.makeRecorder()                    // on the worker thread
/// let start = MonotonicClock.ticks()
/// runTask()
/// recorder.recordElapsed(from: task.submitTicks, to: start, in: RecorderLayout.Tasks.queueWait)
/// recorder.recordElapsed(from: start, to: MonotonicClock.ticks(), in: RecorderLayout.Tasks.service)
/// recorder.increment(RecorderLayout.Tasks.completed)
/// ```
///
/// Not `Sendable`: recording from two threads at once would lose updates. Hand a recorder
/// to another thread only with synchronization (for example, create it on the thread that
/// uses it). When the recorder is deinitialized its statistics stay in the set's totals and
/// its memory goes to the next recorder the set makes.
final class Recorder {
    let recorder: OpaquePointer
    let histogramCount: Int
    let counterCount: Int
    /// The set this recorder belongs to (kept alive by it).
    let set: RecorderSet

    init(set: RecorderSet, recorder: OpaquePointer) {
        self.set = set
        self.recorder = recorder
        self.histogramCount = set.layout.histograms.count
        self.counterCount = set.layout.counters.count
    }

    deinit {
        cnv_recorder_release(self.recorder)
    }

    /// Records `nanoseconds` into histogram `histogram` (an index into the layout's
    /// histograms). Owner thread only.
    @inline(__always)
    func record(_ nanoseconds: UInt64, in histogram: Int) {
        precondition(UInt(bitPattern: histogram) < UInt(self.histogramCount), "histogram index out of range")
        cnv_recorder_record(self.recorder, UInt32(truncatingIfNeeded: histogram), nanoseconds)
    }

    /// Records the time from tick timestamp `start` to `end` (from ``MonotonicClock/ticks()``)
    /// into histogram `histogram`; 0 when `end` is earlier. Owner thread only.
    @inline(__always)
    func recordElapsed(from start: UInt64, to end: UInt64, in histogram: Int) {
        self.record(cnv_clock_elapsed_ns(start, end), in: histogram)
    }

    /// Adds `amount` to counter `counter` (an index into the layout's counters). Owner
    /// thread only.
    @inline(__always)
    func increment(_ counter: Int, by amount: UInt64 = 1) {
        precondition(UInt(bitPattern: counter) < UInt(self.counterCount), "counter index out of range")
        cnv_recorder_add(self.recorder, UInt32(truncatingIfNeeded: counter), amount)
    }

    /// Whether to take timestamps for the next task under the set's ``RecorderSet/timing``:
    /// always `false` when off, every N-th call when sampled. Owner thread only.
    @inline(__always)
    func shouldTime() -> Bool {
        cnv_recorder_should_time(self.recorder)
    }

    /// This recorder's counter `counter` (only this thread's share of the set's total).
    func counter(_ counter: Int) -> UInt64 {
        precondition(UInt(bitPattern: counter) < UInt(self.counterCount), "counter index out of range")
        return cnv_recorder_counter(self.recorder, UInt32(counter))
    }

    /// A snapshot of this recorder's histogram `histogram` (only this thread's share).
    func histogram(_ histogram: Int) -> LatencyHistogram {
        precondition(UInt(bitPattern: histogram) < UInt(self.histogramCount), "histogram index out of range")
        return LatencyHistogram { snapshot in
            cnv_histogram_merge_into(snapshot, cnv_recorder_histogram(self.recorder, UInt32(histogram)))
        }
    }
}

@available(*, unavailable, message: "a Recorder is written by one thread; make one per thread with RecorderSet.makeRecorder()")
extension Recorder: Sendable {}
