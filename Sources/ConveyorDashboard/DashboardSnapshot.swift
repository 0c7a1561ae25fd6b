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
/// comes from ``Dashboard/Sources/load``, ``scaling`` from ``Dashboard/Sources/scaler``,
/// ``alerts`` from ``Dashboard/Sources/alerts`` and ``caches`` from
/// ``Dashboard/Sources/caches``; ``batches`` is read from the engine itself whenever a batch
/// kind is registered (``Conveyor/batchStatistics``).
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
    /// The predictive scaler's view of each group it sizes and its latest decisions, when a
    /// scaler is attached.
    public var scaling: Scaling?
    /// Active and recently resolved alerts, when an alert monitor is attached.
    public var alerts: Alerts?
    /// One entry per attached result cache.
    public var caches: [Cache]?
    /// One entry per registered batch kind (``Conveyor/registerBatch(_:payload:in:options:_:)``).
    public var batches: [Batch]?

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

    /// The scaler's groups and decisions.
    public struct Scaling: Sendable, Codable, Equatable {
        /// Every group the scaler sizes, in its configuration order.
        public var groups: [ScaledGroup]
        /// The latest decisions of all its groups, oldest first (at most 24).
        public var decisions: [Decision]
    }

    /// One scaled group: its arrivals against the forecast made for them, and what the scaler set.
    /// Rates are tasks per second (the scaler's per-interval counts ÷ its interval).
    public struct ScaledGroup: Sendable, Codable, Equatable {
        public var name: String
        /// `off`, `forecastOnly` or `active`.
        public var mode: String
        /// The scaler's sampling interval, seconds.
        public var interval: Double
        /// The scaler's bounds.
        public var minWorkers: Int
        public var maxWorkers: Int
        /// The engine's workers now, and the count the scaler set (or would set) last.
        public var workers: Int
        public var decidedWorkers: Int?
        /// Arrivals in the scaler's last interval.
        public var observedPerSecond: Double
        /// The one-interval-ahead forecast that was made for that interval.
        public var forecastPerSecond: Double?
        /// The forecast for the coming interval and the upper bound of its prediction interval.
        public var nextForecastPerSecond: Double?
        public var nextUpperPerSecond: Double?
        /// 1 − WAPE of the one-interval-ahead forecasts so far.
        public var accuracy: Double?
        /// The mean service time the sizing uses, seconds.
        public var meanServiceTime: Double?
        /// Decisions so far that added and that removed workers, and how many of each were applied.
        public var scaleOuts: Int
        public var scaleIns: Int
        public var appliedScaleOuts: Int
        public var appliedScaleIns: Int
    }

    /// One decision of the scaler.
    public struct Decision: Sendable, Codable, Equatable {
        /// Wall-clock time of the decision, seconds since 1970.
        public var time: Double
        public var group: String
        public var from: Int
        public var to: Int
        /// `forecastLoad`, `observedLoad`, `sustainedLowLoad` or `bounds`.
        public var reason: String
        /// The arrivals per second provisioned for, and those of the last interval.
        public var forecastPerSecond: Double
        public var observedPerSecond: Double
        /// Whether the worker count was changed (`false` in forecast-only mode or after a failed resize).
        public var applied: Bool
    }

    /// Alerts of the attached monitor.
    public struct Alerts: Sendable, Codable, Equatable {
        /// The alerts firing now (each one's firing event), oldest first.
        public var active: [Alert]
        /// The latest events, firing and resolved, newest first (at most 24).
        public var recent: [Alert]
        /// Alerts fired and resolved since the monitor started.
        public var fired: Int
        public var resolved: Int
    }

    /// One alert event.
    public struct Alert: Sendable, Codable, Equatable {
        public var rule: String
        public var group: String
        /// `warning` or `critical`.
        public var severity: String
        /// `firing` or `resolved`.
        public var state: String
        /// Wall-clock time of the event, seconds since 1970.
        public var time: Double
        public var value: Double
        public var message: String
    }

    /// One result cache's counters (cumulative) and its hit ratio.
    public struct Cache: Sendable, Codable, Equatable {
        public var name: String
        public var hits: UInt64
        public var misses: UInt64
        /// Lookups that joined a computation already running for their key.
        public var coalesced: UInt64
        public var evictions: UInt64
        public var expirations: UInt64
        public var rejections: UInt64
        public var entries: Int
        public var bytes: Int
        /// hits ÷ lookups since the cache was made.
        public var hitRatio: Double
        /// hits ÷ lookups over the last interval (`nil`: no lookup in it).
        public var intervalHitRatio: Double?
        /// Lookups (hits, misses, coalesced) per second over the last interval.
        public var lookupsPerSecond: Double
    }

    /// One batch kind's figures: counts since registration, rates over the last interval.
    public struct Batch: Sendable, Codable, Equatable {
        public var kind: String
        public var group: String
        /// Handler calls and the tasks they took, since registration.
        public var batches: Int
        public var tasks: Int
        /// Tasks whose item failed; tasks cancelled while they waited in a batch.
        public var failedTasks: Int
        public var removedCancelled: Int
        /// Tasks waiting in the accumulators now.
        public var pending: Int
        /// The size limit in force now.
        public var maxBatchSize: Int
        /// Tasks per handler call, since registration.
        public var meanBatchSize: Double
        /// Handler calls per second over the last interval.
        public var batchesPerSecond: Double
        /// The wait batching added (a worker taking a task → its batch's call), seconds,
        /// since registration.
        public var addedWait: Percentiles
    }
}
