import Foundation

extension PerformanceProfiler {
    /// Records the contexts' current figures as the baseline and returns it. The figures
    /// are those since the previous `saveBaseline()` (or since the profiler was created);
    /// ``compareWithBaseline(threshold:)`` then compares what is recorded from now on with them.
    ///
    /// ```swift
    /// runWorkload(); profiler.saveBaseline()
    /// runWorkload(); for change in try profiler.compareWithBaseline() { print(change) }
    /// ```
    @discardableResult
    public func saveBaseline() -> ProfilingBaseline {
        let now = self.contexts.snapshots()
        return self.state.withLock { state in
            let baseline = ProfilingBaseline(
                savedAt: Date(),
                contexts: Self.summaries(now, since: state.benchmarkMark).filter { $0.calls > 0 })
            state.baseline = baseline
            state.benchmarkMark = now
            return baseline
        }
    }

    /// ``saveBaseline()``, then writes the baseline as JSON to `url`.
    ///
    /// ```swift
    /// try profiler.saveBaseline(to: URL(fileURLWithPath: "baseline.json"))
    /// ```
    /// - Throws: ``ConveyorError/baselineFile(path:reason:)`` when the file cannot be written.
    @discardableResult
    public func saveBaseline(to url: URL) throws -> ProfilingBaseline {
        let baseline = self.saveBaseline()
        do {
            try PerformanceMetrics.encoder.encode(baseline).write(to: url, options: .atomic)
        } catch {
            throw ConveyorError.baselineFile(path: url.path, reason: "could not be written (\(error.localizedDescription))")
        }
        return baseline
    }

    /// Makes the baseline in `url` (written by ``saveBaseline(to:)``, perhaps by an earlier
    /// run) the one ``compareWithBaseline(threshold:)`` compares with. What has been recorded since the
    /// last in-process ``saveBaseline()`` (or since creation) is compared with it.
    ///
    /// ```swift
    /// let profiler = try PerformanceProfiler()
    /// try profiler.loadBaseline(from: URL(fileURLWithPath: "baseline.json"))
    /// runWorkload()
    /// print(try profiler.compareWithBaseline().filter { $0.verdict == .slower })
    /// ```
    /// - Throws: ``ConveyorError/baselineFile(path:reason:)`` when the file is missing or is
    ///   not a baseline.
    @discardableResult
    public func loadBaseline(from url: URL) throws -> ProfilingBaseline {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ConveyorError.baselineFile(path: url.path, reason: "could not be read (\(error.localizedDescription))")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let baseline: ProfilingBaseline
        do {
            baseline = try decoder.decode(ProfilingBaseline.self, from: data)
        } catch {
            throw ConveyorError.baselineFile(path: url.path, reason: "is not a profiling baseline (\(error))")
        }
        self.state.withLock { $0.baseline = baseline }
        return baseline
    }

    /// The baseline in use, if one was saved or loaded.
    public var baseline: ProfilingBaseline? {
        self.state.withLock { $0.baseline }
    }

    /// Every context of the baseline or recorded since it, compared with the baseline: the
    /// relative change of p50, p99 and mean, and a verdict (``BenchmarkComparison/Verdict``)
    /// that calls a median change beyond `threshold` faster or slower. Sorted by name.
    ///
    /// ```swift
    /// for comparison in try profiler.compareWithBaseline(threshold: 0.05) where comparison.verdict == .slower {
    ///     print("\(comparison.context) got \(Int((comparison.medianChange ?? 0) * 100)) % slower than the baseline")
    /// }
    /// ```
    /// - Throws: ``ConveyorError/noBaseline`` before any baseline was saved or loaded;
    ///   ``ConveyorError/invalidConfiguration(reason:)`` for a negative or non-finite threshold.
    public func compareWithBaseline(threshold: Double = 0.05) throws -> [BenchmarkComparison] {
        let (baseline, current) = try self.comparisonInputs(threshold: threshold)
        let names = Set(baseline.contexts.map(\.context)).union(current.keys).sorted()
        return names.map {
            BenchmarkComparison(
                context: $0, baseline: baseline.summary(for: $0), current: current[$0], threshold: threshold)
        }
    }

    /// One context compared with the baseline (see ``compareWithBaseline(threshold:)``).
    /// - Throws: ``ConveyorError/noBaseline``; ``ConveyorError/unknownContext(name:)`` when
    ///   neither the baseline nor the recordings know `context`.
    public func compareWithBaseline(for context: String, threshold: Double = 0.05) throws -> BenchmarkComparison {
        let (baseline, current) = try self.comparisonInputs(threshold: threshold)
        let before = baseline.summary(for: context)
        guard before != nil || current[context] != nil || self.contexts.contains(context) else {
            throw ConveyorError.unknownContext(name: context)
        }
        return BenchmarkComparison(context: context, baseline: before, current: current[context], threshold: threshold)
    }

    /// The plan's name for ``compareWithBaseline(threshold:)``, kept so code written against
    /// the plan compiles: the same call. It runs no benchmark; it compares what was recorded
    /// since the baseline with the baseline.
    ///
    /// ```swift
    /// let changes = try profiler.benchmarks()   // same as try profiler.compareWithBaseline()
    /// ```
    public func benchmarks(threshold: Double = 0.05) throws -> [BenchmarkComparison] {
        try self.compareWithBaseline(threshold: threshold)
    }

    /// The plan's name for ``compareWithBaseline(for:threshold:)``: the same call.
    ///
    /// ```swift
    /// let parse = try profiler.benchmark(for: "parse")
    /// ```
    public func benchmark(for context: String, threshold: Double = 0.05) throws -> BenchmarkComparison {
        try self.compareWithBaseline(for: context, threshold: threshold)
    }

    private func comparisonInputs(threshold: Double) throws -> (ProfilingBaseline, [String: ContextSummary]) {
        guard threshold.isFinite, threshold >= 0 else {
            throw ConveyorError.invalidConfiguration(reason: "benchmark threshold \(threshold) must be a finite fraction ≥ 0, e.g. 0.05 for 5 %")
        }
        let now = self.contexts.snapshots()
        let (baseline, mark) = self.state.withLock { ($0.baseline, $0.benchmarkMark) }
        guard let baseline else { throw ConveyorError.noBaseline }
        let current = Self.summaries(now, since: mark).filter { $0.calls > 0 }
        return (baseline, Dictionary(uniqueKeysWithValues: current.map { ($0.context, $0) }))
    }

    static func summaries(_ now: [String: RecorderSnapshot], since mark: [String: RecorderSnapshot]) -> [ContextSummary] {
        now.keys.sorted().compactMap { name in
            guard let snapshot = now[name] else { return nil }
            return ContextSummary(context: name, snapshot: mark[name].map { snapshot.subtracting($0) } ?? snapshot)
        }
    }
}
