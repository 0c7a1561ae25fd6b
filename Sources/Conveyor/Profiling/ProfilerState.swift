/// A profiler's mutable state, behind its pthread mutex (read and written off the hot path).
struct ProfilerState: Sendable {
    /// Where ``PerformanceProfiler/metrics()`` counts from (creation or the last reset).
    var window: ProfilerSample
    /// Where the running ``PerformanceProfiler/startProfiling()`` interval began.
    var running: ProfilerSample?
    /// The baseline ``PerformanceProfiler/benchmarks(threshold:)`` compares with.
    var baseline: ProfilingBaseline?
    /// The contexts' figures when the baseline was last saved: benchmarks compare what was
    /// recorded since then.
    var benchmarkMark: [String: RecorderSnapshot]
}
