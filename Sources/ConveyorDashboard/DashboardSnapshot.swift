import Foundation

/// One reading of an engine, taken by the dashboard's sampler on its timer (every second by
/// default) and served as JSON by `GET /api/snapshot`, streamed by `GET /events` and kept for
/// the page's charts (`GET /api/history`). Durations are in seconds, sizes in bytes, rates in
/// tasks per second over the last sampling interval.
///
/// ```swift
/// let snapshot = dashboard.snapshot          // the latest reading; never waits on the engine
/// for group in snapshot.groups {
///     print(group.name, group.workers, group.throughput, group.serviceTime.p99)
/// }
/// ```
///
/// Optional sections are `nil` (and left out of the JSON) when nothing feeds them: ``load``
/// comes from ``Dashboard/Sources/load``. Scaler decisions, alerts, the result cache and
/// batch figures are meant to plug in the same way, as further optional sections fed by a
/// closure of ``Dashboard/Sources`` (docs/Dashboard.md, "Adding a section").
public struct DashboardSnapshot: Sendable, Codable, Equatable {
    /// Increases by one per reading, from 1.
    public var sequence: UInt64
    /// Wall-clock time of the reading, seconds since 1970.
    public var time: Double
    /// Seconds since the dashboard started sampling.
    public var uptime: Double
    /// Length of the interval the rates and interval percentiles cover (seconds).
    public var interval: Double
    /// Upper bounds (seconds) of the latency histogram buckets in ``Group/serviceBuckets`` and
    /// ``Group/queueWaitBuckets`` and of the Prometheus histograms; a last, open bucket follows.
    public var bucketBounds: [Double]
    /// Every group, in configuration order.
    public var groups: [Group]
    /// All groups together (its ``Group/name`` is `"all"`; workers and queue summed).
    public var total: Group
    /// Tasks per registered kind (the dashboard turns kind counting on).
    public var kinds: [Kind]
    /// The process: CPU, heap and resident memory.
    public var process: Process
    /// Offered against target arrivals (and a forecast), when a load source is given.
    public var load: Load?

    /// One group's reading.
    public struct Group: Sendable, Codable, Equatable {
        public var name: String
        public var workers: Int
        public var minWorkers: Int
        public var maxWorkers: Int
        /// Tasks waiting to start.
        public var queued: Int
        /// Cumulative counts since the engine started.
        public var completed: UInt64
        public var failed: UInt64
        public var cancelled: UInt64
        public var expired: UInt64
        /// Completed and failed tasks per second over the last interval.
        public var throughput: Double
        /// Submit-to-start percentiles of the tasks that started in the last interval.
        public var queueWait: Percentiles
        /// Handler run-time percentiles of the tasks that ended in the last interval.
        public var serviceTime: Percentiles
        /// Service times over the last ``Dashboard/Configuration/histogramWindow`` readings, per
        /// bucket of ``DashboardSnapshot/bucketBounds`` (not cumulative; the last is the open bucket).
        public var serviceBuckets: [UInt64]
        /// Queue waits over the same window, per bucket.
        public var queueWaitBuckets: [UInt64]
    }

    /// Percentiles in seconds over one interval (all zero when nothing was measured).
    public struct Percentiles: Sendable, Codable, Equatable {
        public var count: UInt64
        public var p50: Double
        public var p95: Double
        public var p99: Double
        public var max: Double
    }

    /// One task kind's reading.
    public struct Kind: Sendable, Codable, Equatable {
        public var name: String
        public var completed: UInt64
        public var failed: UInt64
        /// Tasks per second over the last interval.
        public var throughput: Double
        /// Mean handler run time over the last interval (seconds; 0 when none ran).
        public var meanServiceTime: Double
    }

    /// The process.
    public struct Process: Sendable, Codable, Equatable {
        /// CPU time used over the last interval, percent of one core (200 = two cores busy).
        public var cpuPercent: Double
        /// Cumulative user and system CPU seconds.
        public var cpuSeconds: Double
        /// Heap bytes allocated (jemalloc or glibc statistics, whichever serves malloc).
        public var heapBytes: Int
        /// Resident set size and its peak.
        public var residentBytes: Int
        public var peakResidentBytes: Int
    }

    /// Arrivals: what the workload offered against what it aimed at.
    public struct Load: Sendable, Codable, Equatable {
        /// Tasks per second the source aimed at (for `conveyor demo`, the trace's rate).
        public var targetPerSecond: Double
        /// Tasks per second actually submitted.
        public var offeredPerSecond: Double
        /// A forecast of the arrival rate, when a forecaster or scaler supplies one.
        public var forecastPerSecond: Double?

        public init(targetPerSecond: Double, offeredPerSecond: Double, forecastPerSecond: Double? = nil) {
            self.targetPerSecond = targetPerSecond
            self.offeredPerSecond = offeredPerSecond
            self.forecastPerSecond = forecastPerSecond
        }
    }
}
