extension PerformanceProfiler {
    /// Starts a profiling interval. Starting again while one runs discards the running
    /// interval and starts a new one.
    ///
    /// ```swift
    /// profiler.startProfiling()
    /// runWorkload()
    /// let report = try profiler.stopProfiling()
    /// ```
    public func startProfiling() {
        let now = self.sample()
        self.state.withLock { $0.running = now }
    }

    /// Whether a profiling interval is running.
    public var isProfiling: Bool {
        self.state.withLock { $0.running != nil }
    }

    /// Ends the running interval and reports it: counts, throughput and latency histograms as
    /// deltas over the interval, memory at both ends, CPU use.
    /// - Throws: ``ConveyorError/profilerNotStarted`` when no interval runs (the state is
    ///   unchanged).
    public func stopProfiling() throws -> ProfilingReport {
        let end = self.sample()
        let start = try self.state.withLock { state throws(ConveyorError) -> ProfilerSample in
            guard let start = state.running else { throw ConveyorError.profilerNotStarted }
            state.running = nil
            return start
        }
        return ProfilingReport(
            startedAt: start.date, stoppedAt: end.date,
            metrics: PerformanceMetrics(from: start, to: end),
            memoryAtStart: start.memory, memoryAtEnd: end.memory)
    }

    /// The figures since the profiler was created or last ``resetMetrics()``, also published
    /// to swift-metrics (as ``exportMetrics()`` does).
    ///
    /// ```swift
    /// let metrics = profiler.metrics()
    /// print(metrics.throughput.overall, metrics.latency.queueWait.p99, metrics.cpuUsage.percentOfCore)
    /// ```
    public func metrics() -> PerformanceMetrics {
        let now = self.sample()
        let since = self.state.withLock { $0.window }
        let metrics = PerformanceMetrics(from: since, to: now)
        self.exporter.export(metrics)
        return metrics
    }

    /// Publishes the current figures to swift-metrics (gauges for rates, percentiles, memory,
    /// CPU and queue depths; counters for tasks and profiled calls). Call it periodically,
    /// e.g. every few seconds; the metric objects are created once and reused.
    ///
    /// ```swift
    /// Task { while !Task.isCancelled { profiler.exportMetrics(); try await Task.sleep(for: .seconds(5)) } }
    /// ```
    public func exportMetrics() {
        _ = self.metrics()
    }

    /// Starts the ``metrics()`` window afresh from now.
    public func resetMetrics() {
        let now = self.sample()
        self.state.withLock { $0.window = now }
    }

    /// The names of every context recorded so far, sorted.
    public var contextNames: [String] {
        self.contexts.snapshots().keys.sorted()
    }

    /// The figures of one context since the profiler was created or last reset.
    ///
    /// ```swift
    /// let decode = try profiler.summary(for: "decode")
    /// print(decode.calls, decode.duration.p50, decode.duration.p99)
    /// ```
    /// - Throws: ``ConveyorError/unknownContext(name:)`` for a context never profiled.
    public func summary(for context: String) throws -> ContextSummary {
        guard let now = self.contexts.snapshot(of: context) else { throw ConveyorError.unknownContext(name: context) }
        let since = self.state.withLock { $0.window.contexts[context] }
        return ContextSummary(context: context, snapshot: since.map { now.subtracting($0) } ?? now)
    }
}
