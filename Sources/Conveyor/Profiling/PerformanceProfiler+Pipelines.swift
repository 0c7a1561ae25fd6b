/// A pipeline attached to a profiler: how to read its per-stage statistics.
struct AttachedPipeline: Sendable {
    var name: String
    var read: @Sendable () -> [PipelineStageStatistics]
}

extension PerformanceProfiler {
    /// Adds a pipeline's per-stage figures (throughput, queue depth, queue wait and service
    /// time with p50/p95/p99) to ``metrics()`` and to the reports of
    /// ``startProfiling()``/``stopProfiling()``, in ``PerformanceMetrics/pipelines`` under
    /// `name`. Counts start at the attach: the running ``metrics()`` window and a running
    /// interval count the pipeline's items from now on. The profiler holds the pipeline until
    /// ``detach(pipelineNamed:)``; reading it takes each stage worker's histogram lock once
    /// per ``metrics()`` call, off the items' path.
    ///
    /// ```swift
    /// let profiler = try PerformanceProfiler(conveyor: conveyor)
    /// try profiler.attach(pipeline, name: "ingest")
    /// // … items flow …
    /// for stage in profiler.metrics().pipelines?.first?.stages ?? [] {
    ///     print(stage.stage, stage.throughput, stage.queued, stage.serviceTime.p95)
    /// }
    /// ```
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a blank name or a name
    ///   already attached.
    public func attach<Input: Sendable, Output: Sendable>(_ pipeline: Pipeline<Input, Output>, name: String) throws {
        guard name.contains(where: { !$0.isWhitespace }) else {
            throw ConveyorError.invalidConfiguration(reason: "an attached pipeline needs a visible name (got \"\(name)\")")
        }
        let attached = AttachedPipeline(name: name) { pipeline.statistics }
        let now = attached.read()
        try self.state.withLock { state throws(ConveyorError) -> Void in
            guard !state.pipelines.contains(where: { $0.name == name }) else {
                throw ConveyorError.invalidConfiguration(
                    reason: "a pipeline is already attached as \"\(name)\"; give this one another name or detach that one first")
            }
            state.pipelines.append(attached)
            state.window.pipelines[name] = now
            state.running?.pipelines[name] = now
        }
    }

    /// Removes the pipeline attached as `name` from the figures (and lets it go); returns
    /// whether one was attached.
    ///
    /// ```swift
    /// profiler.detach(pipelineNamed: "ingest")
    /// ```
    @discardableResult
    public func detach(pipelineNamed name: String) -> Bool {
        self.state.withLock { state in
            guard let index = state.pipelines.firstIndex(where: { $0.name == name }) else { return false }
            state.pipelines.remove(at: index)
            state.window.pipelines[name] = nil
            state.running?.pipelines[name] = nil
            return true
        }
    }

    /// The names of the attached pipelines, in attach order.
    public var pipelineNames: [String] {
        self.state.withLock { $0.pipelines.map(\.name) }
    }

    /// A sample of the engine, the contexts, the process and the attached pipelines now.
    func sample() -> ProfilerSample {
        let attached = self.state.withLock { $0.pipelines }
        var sample = ProfilerSample.take(conveyor: self.conveyor, contexts: self.contexts)
        for pipeline in attached { sample.pipelines[pipeline.name] = pipeline.read() }
        return sample
    }
}
