import CoreMetrics
import Synchronization

/// Measures a Conveyor and your own code: per-context durations from
/// ``profile(_:context:)``, profiling intervals (``startProfiling()`` /
/// ``stopProfiling()`` → ``ProfilingReport``), live ``metrics()`` (throughput per group and
/// per kind, queue-wait and service-time percentiles, memory, CPU, queue depths), and
/// comparisons against a saved baseline (``compareWithBaseline(threshold:)``, the plan's `benchmarks()`).
///
/// ```swift
/// let profiler = try PerformanceProfiler(conveyor: conveyor)   // or PerformanceProfiler() standalone
///
/// let image = try profiler.profile(context: "decode") { try decode(data) }
/// let rows = try await profiler.profile(context: "query") { try await database.fetch() }
///
/// profiler.startProfiling()
/// runWorkload()
/// let report = try profiler.stopProfiling()
/// print(report)                                    // tables: throughput, latency, memory, CPU
///
/// profiler.saveBaseline()                          // later, after a change:
/// for comparison in try profiler.compareWithBaseline() { print(comparison) }   // "decode: … +12.0 %: slower"
/// ```
///
/// Recording is per thread: each thread writes its own histogram for a context (made on the
/// thread's first use of the context), with no lock and no allocation per call afterwards;
/// readers merge all threads. A context's histogram gives percentiles within 1/128.
///
/// Made for a Conveyor, the profiler reads the engine's per-worker recorders and turns on its
/// per-kind counting (``Conveyor/enableKindCounting()``). Figures are also published to
/// swift-metrics (``exportMetrics()``); the library never bootstraps a metrics backend.
public final class PerformanceProfiler: Sendable {
    /// The profiled engine (`nil` for a standalone profiler, which measures contexts only).
    public let conveyor: Conveyor?
    let contexts: ProfilerContexts
    let exporter: MetricsExporter
    let state: PThreadMutex<ProfilerState>
    private let enabled = Atomic<Bool>(true)

    /// Most threads that may record one context at the same time.
    public static let defaultThreadCapacity = 1_024

    /// Creates a profiler.
    /// - Parameters:
    ///   - conveyor: the engine to measure; `nil` to profile contexts only.
    ///   - metricsFactory: where ``exportMetrics()`` publishes; defaults to the global
    ///     `MetricsSystem.factory` at the time of this call (a no-op until the application
    ///     bootstraps a backend).
    ///   - threadCapacity: most threads recording one context at once, 1…4096; further
    ///     threads run their operations unrecorded.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a capacity out of range,
    ///   ``ConveyorError/limitReached(reason:)`` when the process has no pthread key left.
    public init(
        conveyor: Conveyor? = nil,
        metricsFactory: (any MetricsFactory)? = nil,
        threadCapacity: Int = PerformanceProfiler.defaultThreadCapacity
    ) throws {
        guard (1...4_096).contains(threadCapacity) else {
            throw ConveyorError.invalidConfiguration(
                reason: "threadCapacity \(threadCapacity) must be from 1 to 4096; use \(min(max(threadCapacity, 1), 4_096))")
        }
        _ = MonotonicClock.initialize()
        conveyor?.enableKindCounting()
        self.conveyor = conveyor
        self.contexts = try ProfilerContexts(threadCapacity: threadCapacity)
        self.exporter = MetricsExporter(factory: metricsFactory ?? MetricsSystem.factory)
        let now = ProfilerSample.take(conveyor: conveyor, contexts: self.contexts)
        self.state = PThreadMutex(ProfilerState(window: now, running: nil, baseline: nil, benchmarkMark: [:]))
    }

    /// Whether ``profile(_:context:)`` records (default `true`). When `false` it only runs
    /// the operation; engine statistics are unaffected.
    public var isEnabled: Bool {
        get { self.enabled.load(ordering: .relaxed) }
        set { self.enabled.store(newValue, ordering: .relaxed) }
    }

    // MARK: Profiling operations

    /// Runs `operation` and records how long it took under `context`; an error it throws is
    /// counted for the context and rethrown.
    ///
    /// ```swift
    /// let rows = try profiler.profile({ try parse(file) }, context: "parse")
    /// ```
    ///
    /// After the calling thread's first use of `context`, a call takes no lock and allocates
    /// nothing: two clock reads and plain stores into this thread's histogram.
    @inline(__always)
    public func profile<Value>(_ operation: () throws -> Value, context: String) rethrows -> Value {
        guard self.isEnabled else { return try operation() }
        let start = MonotonicClock.ticks()
        let value: Value
        do {
            value = try operation()
        } catch {
            self.recordElapsed(since: start, context: context, failed: true)
            throw error
        }
        self.recordElapsed(since: start, context: context, failed: false)
        return value
    }

    /// ``profile(_:context:)`` with the context first, for trailing-closure calls.
    ///
    /// ```swift
    /// let image = try profiler.profile(context: "decode") { try decode(data) }
    /// ```
    @inline(__always)
    public func profile<Value>(context: String, _ operation: () throws -> Value) rethrows -> Value {
        try self.profile(operation, context: context)
    }

    /// Awaits `operation` and records how long it took, suspensions included, under
    /// `context` (on the recorder of the thread it finishes on).
    ///
    /// ```swift
    /// let user = try await profiler.profile({ try await api.user(id) }, context: "api.user")
    /// ```
    public func profile<Value>(
        _ operation: () async throws -> Value, context: String
    ) async rethrows -> Value {
        guard self.isEnabled else { return try await operation() }
        let start = MonotonicClock.ticks()
        let value: Value
        do {
            value = try await operation()
        } catch {
            self.recordElapsed(since: start, context: context, failed: true)
            throw error
        }
        self.recordElapsed(since: start, context: context, failed: false)
        return value
    }

    /// The async ``profile(_:context:)`` with the context first, for trailing-closure calls.
    ///
    /// ```swift
    /// let rows = try await profiler.profile(context: "query") { try await database.fetch() }
    /// ```
    public func profile<Value>(
        context: String, _ operation: () async throws -> Value
    ) async rethrows -> Value {
        try await self.profile(operation, context: context)
    }

    /// Records a duration measured elsewhere under `context`, as if an operation had taken it.
    ///
    /// ```swift
    /// profiler.record(.microseconds(250), context: "cache.fill")
    /// ```
    public func record(_ duration: Duration, context: String) {
        self.record(nanoseconds: UInt64(clamping: max(0, duration.nanoseconds)), context: context)
    }

    /// Records `nanoseconds` under `context` (see ``record(_:context:)``).
    public func record(nanoseconds: UInt64, context: String) {
        guard self.isEnabled else { return }
        self.contexts.record(nanoseconds, failed: false, context: context)
    }

    @inline(__always)
    private func recordElapsed(since start: UInt64, context: String, failed: Bool) {
        let elapsed = MonotonicClock.nanoseconds(from: start, to: MonotonicClock.ticks())
        self.contexts.record(elapsed, failed: failed, context: context)
    }
}

/// A profiler's mutable state, behind its pthread mutex (read and written off the hot path).
struct ProfilerState: Sendable {
    /// Where ``PerformanceProfiler/metrics()`` counts from (creation or the last reset).
    var window: ProfilerSample
    /// Where the running ``PerformanceProfiler/startProfiling()`` interval began.
    var running: ProfilerSample?
    /// The baseline ``PerformanceProfiler/compareWithBaseline(threshold:)`` compares with.
    var baseline: ProfilingBaseline?
    /// The contexts' figures when the baseline was last saved: benchmarks compare what was
    /// recorded since then.
    var benchmarkMark: [String: RecorderSnapshot]
    /// The pipelines ``PerformanceProfiler/attach(_:name:)`` added, in attach order.
    var pipelines: [AttachedPipeline] = []
}
