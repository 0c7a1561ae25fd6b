import CConveyor

/// What each recorder of a ``RecorderSet`` holds: named latency histograms and named
/// counters, addressed by index on the hot path.
///
/// ```swift
/// let layout = try RecorderLayout(histograms: ["decode", "store"], counters: ["rows", "errors"])
/// let set = try RecorderSet(layout: layout)
/// // The engine's layout, with index constants:
/// let tasks = RecorderLayout.tasks
/// print(tasks.histograms[RecorderLayout.Tasks.queueWait])   // "queueWait"
/// ```
struct RecorderLayout: Sendable, Equatable {
    /// Histogram names; a histogram's index is its position here.
    let histograms: [String]
    /// Counter names; a counter's index is its position here.
    let counters: [String]

    /// Most histograms per recorder.
    static let maximumHistograms = Int(CNV_RECORDER_MAX_HISTOGRAMS)
    /// Most counters per recorder.
    static let maximumCounters = Int(CNV_RECORDER_MAX_COUNTERS)

    /// A layout with the given names (each list unique, at most ``maximumHistograms``
    /// histograms and ``maximumCounters`` counters).
    /// - Throws: `ConveyorError.invalidConfiguration` naming the list to shorten or the duplicate.
    init(histograms: [String], counters: [String]) throws {
        guard histograms.count <= Self.maximumHistograms else {
            throw ConveyorError.invalidConfiguration(
                reason: "a recorder holds at most \(Self.maximumHistograms) histograms, \(histograms.count) were given; merge some"
            )
        }
        guard counters.count <= Self.maximumCounters else {
            throw ConveyorError.invalidConfiguration(
                reason: "a recorder holds at most \(Self.maximumCounters) counters, \(counters.count) were given; merge some"
            )
        }
        for (kind, names) in [("histogram", histograms), ("counter", counters)] {
            var seen = Set<String>()
            for name in names where !seen.insert(name).inserted {
                throw ConveyorError.invalidConfiguration(reason: "\(kind) name \"\(name)\" appears twice; names must be unique")
            }
        }
        self.init(validHistograms: histograms, counters: counters)
    }

    private init(validHistograms histograms: [String], counters: [String]) {
        self.histograms = histograms
        self.counters = counters
    }

    /// The engine's layout: queue wait (start − submit) and service (end − start)
    /// histograms; submitted, completed, failed, cancelled and expired counters. Indices in
    /// ``Tasks``.
    static let tasks = RecorderLayout(
        validHistograms: ["queueWait", "service"],
        counters: ["submitted", "completed", "failed", "cancelled", "expired", "executorJobs"]
    )

    /// The layout of a profiling context (``PerformanceProfiler``): one duration histogram
    /// and an error counter.
    static let profilingContext = RecorderLayout(validHistograms: ["duration"], counters: ["errors"])

    /// Indices into ``RecorderLayout/tasks``.
    enum Tasks {
        /// Histogram: submit to handler start, nanoseconds.
        static let queueWait = 0
        /// Histogram: handler start to end, nanoseconds.
        static let service = 1

        /// Counter: tasks accepted.
        static let submitted = 0
        /// Counter: tasks whose handler returned.
        static let completed = 1
        /// Counter: tasks whose handler threw.
        static let failed = 2
        /// Counter: tasks cancelled before they ran.
        static let cancelled = 3
        /// Counter: tasks dropped because their deadline passed.
        static let expired = 4
        /// Counter: Swift jobs run for a group's ``GroupExecutor`` (not tasks).
        static let executorJobs = 5
    }

    /// The index of the histogram called `name`, if any.
    func histogramIndex(named name: String) -> Int? {
        self.histograms.firstIndex(of: name)
    }

    /// The index of the counter called `name`, if any.
    func counterIndex(named name: String) -> Int? {
        self.counters.firstIndex(of: name)
    }
}
