import Foundation
import MetricsTestKit
import Synchronization
import Testing

// Recorders, the clock and the router's learning API are internal: the tests reach them here.
@testable import Conveyor

struct ProfiledJob: BitwiseCopyable, Sendable {
    var index: UInt64
}

struct ProfilerTestFailure: Error {}

/// The exact value at `percentile` of sorted `values`: the smallest with at least that share
/// of the values at or below it.
private func exactPercentile(_ sorted: [UInt64], _ percentile: Double) -> UInt64 {
    let rank = max(1, Int((percentile / 100 * Double(sorted.count)).rounded(.up)))
    return sorted[min(rank, sorted.count) - 1]
}

/// Checks a summary against the exact order statistics, within the histogram's precision.
private func expectWithinPrecision(_ summary: LatencySummary, of values: [UInt64], sourceLocation: SourceLocation = #_sourceLocation) {
    let sorted = values.sorted()
    #expect(summary.count == UInt64(values.count), sourceLocation: sourceLocation)
    #expect(summary.max == sorted.last, sourceLocation: sourceLocation)
    #expect(summary.min == sorted.first, sourceLocation: sourceLocation)
    let mean = Double(values.reduce(0, +)) / Double(values.count)
    #expect(abs(summary.mean - mean) <= mean * 1e-9, sourceLocation: sourceLocation)
    for (percentile, reported) in [(50.0, summary.p50), (95, summary.p95), (99, summary.p99), (99.9, summary.p999)] {
        let exact = exactPercentile(sorted, percentile)
        let bound = Double(exact) * (1 + LatencyHistogram.relativePrecision)
        #expect(reported >= exact && Double(reported) < max(bound, Double(exact) + 1),
                "p\(percentile): reported \(reported), exact \(exact)", sourceLocation: sourceLocation)
    }
}

/// Runs `body` on a new pthread and joins it, so the thread's key destructors have run on return.
private func runOnJoinedThread(_ body: @escaping @Sendable () -> Void) {
    final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(&thread, nil, { raw in
        Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
    }, context)
    precondition(status == 0, "pthread_create failed")
    pthread_join(thread, nil)
}

@Suite("Profiler: contexts")
struct ProfilerContextTests {
    @Test("Percentiles of known distributions recorded under a context are within 1/128")
    func percentilesOfKnownDistributions() throws {
        let profiler = try PerformanceProfiler()
        // Uniform 1…100,000 in a scrambled order.
        var uniform = Array(UInt64(1)...100_000)
        var generator = SplitMix64(state: 7)
        uniform.shuffle(using: &generator)
        for value in uniform { profiler.record(nanoseconds: value, context: "uniform") }
        expectWithinPrecision(try profiler.summary(for: "uniform").duration, of: uniform)
        // A deterministic log-normal-like sample with a long tail (µs to seconds).
        var skewed: [UInt64] = []
        for _ in 0..<50_000 {
            let u1 = Double(generator.next() % 1_000_000 + 1) / 1_000_001
            let u2 = Double(generator.next() % 1_000_000) / 1_000_000
            let normal = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
            skewed.append(UInt64(exp(11 + 1.5 * normal)))
        }
        for value in skewed { profiler.record(nanoseconds: value, context: "skewed") }
        expectWithinPrecision(try profiler.summary(for: "skewed").duration, of: skewed)
        #expect(profiler.contextNames == ["skewed", "uniform"])
    }

    @Test("profile times sync and async operations, counts errors, and rethrows")
    func profileTimesOperations() async throws {
        let profiler = try PerformanceProfiler()
        let value = profiler.profile(context: "sleep") { () -> Int in
            usleep(2_000)
            return 42
        }
        #expect(value == 42)
        #expect(throws: ProfilerTestFailure.self) {
            try profiler.profile({ () throws -> Int in throw ProfilerTestFailure() }, context: "sleep")
        }
        let sleep = try profiler.summary(for: "sleep")
        #expect(sleep.calls == 2)
        #expect(sleep.errors == 1)
        #expect(sleep.duration.max >= 2_000_000)

        let awaited = try await profiler.profile(context: "async") { () async throws -> String in
            try await Task.sleep(for: .milliseconds(3))
            return "done"
        }
        #expect(awaited == "done")
        await #expect(throws: ProfilerTestFailure.self) {
            try await profiler.profile({ () async throws in
                await Task.yield()
                throw ProfilerTestFailure()
            }, context: "async")
        }
        let async = try profiler.summary(for: "async")
        #expect(async.calls == 2)
        #expect(async.errors == 1)
        #expect(async.duration.max >= 3_000_000)

        profiler.isEnabled = false
        _ = profiler.profile(context: "off") { 1 }
        #expect(throws: ConveyorError.unknownContext(name: "off")) { try profiler.summary(for: "off") }
    }

    @Test("No allocation per profile call after a thread's first use of a context")
    func zeroAllocationsPerProfileCall() throws {
        let profiler = try PerformanceProfiler()
        let calls = StressScale.scaled(100_000, minimum: 100_000)
        var sum = 0
        // Warm-up: this thread's table and its recorders for both contexts.
        for index in 0..<1_000 {
            sum &+= profiler.profile(context: "hot") { index }
            sum &+= profiler.profile(context: "other") { index }
        }
        let before = MemoryStatistics.threadAllocatedBytes()
        for index in 0..<calls {
            // Alternating contexts misses the one-entry cache: the dictionary path is measured too.
            sum &+= profiler.profile(context: index & 1 == 0 ? "hot" : "other") { index }
        }
        let after = MemoryStatistics.threadAllocatedBytes()
        #expect(sum != 0)
        if jemallocLinked, let before, let after {
            #expect(after - before == 0, "\(after - before) bytes over \(calls) profile calls after warm-up")
        }
        let total = try profiler.summary(for: "hot").calls + profiler.summary(for: "other").calls
        #expect(total == UInt64(calls + 2_000))
    }

    @Test("Concurrent profile calls from several threads add up exactly")
    func concurrentProfiling() throws {
        let profiler = try PerformanceProfiler()
        let perThread = StressScale.scaled(100_000, minimum: 20_000)
        let threads = 4
        let reading = Atomic<Bool>(true)
        let reader = Thread {
            var lastCalls: UInt64 = 0
            while reading.load(ordering: .relaxed) {
                let calls = (try? profiler.summary(for: "shared").calls) ?? 0
                precondition(calls >= lastCalls, "counts never go backwards")
                lastCalls = calls
                usleep(200)
            }
        }
        reader.start()
        runOnThreads(threads) { index in
            for step in 0..<perThread {
                profiler.profile(context: "shared") { _ = step }
                profiler.record(nanoseconds: UInt64(index * 1_000 + 500), context: "thread-\(index)")
            }
        }
        reading.store(false, ordering: .relaxed)
        #expect(try profiler.summary(for: "shared").calls == UInt64(threads * perThread))
        for index in 0..<threads {
            let summary = try profiler.summary(for: "thread-\(index)")
            #expect(summary.calls == UInt64(perThread))
            #expect(summary.duration.p50 == UInt64(index * 1_000 + 500))
        }
    }
}

@Suite("Profiler: engine intervals and metrics")
struct ProfilerEngineTests {
    /// Two groups; typed "alpha" tasks in a, closure "beta" tasks and failing "gamma" tasks in b.
    private func runTasks(
        on conveyor: Conveyor, alpha: TaskKind<ProfiledJob>, done: SharedCounter, counts: (Int, Int, Int)
    ) throws {
        for index in 0..<counts.0 {
            try conveyor.submit(alpha, ProfiledJob(index: UInt64(index)), QueueTask(kind: "alpha", group: "a"))
        }
        for _ in 0..<counts.1 {
            try conveyor.submit(QueueTask(kind: "beta", group: "b")) { done.add(1) }
        }
        for _ in 0..<counts.2 {
            try conveyor.submit(QueueTask(kind: "gamma", group: "b")) {
                done.add(1)
                throw ProfilerTestFailure()
            }
        }
    }

    private func settled(_ conveyor: Conveyor, tasks: Int) -> Bool {
        eventually {
            conveyor.statistics.reduce(0) { $0 + $1.completed + $1.failed } == tasks
                && conveyor.kindStatistics.values.reduce(0) { $0 + Int($1.tasks) } == tasks
        }
    }

    @Test("A profiling interval reports exact counts per group and per kind, as deltas")
    func intervalReport() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("a", minWorkers: 2), ResourceGroup("b")])
        let done = SharedCounter()
        let alpha = try conveyor.register("alpha", payload: ProfiledJob.self) { job in
            done.add(1)
            if job.index % 7 == 0 { usleep(50) }
        }
        let profiler = try PerformanceProfiler(conveyor: conveyor, metricsFactory: TestMetrics())
        #expect(conveyor.isCountingKinds)
        // Before the interval: must not show up in the report.
        try self.runTasks(on: conveyor, alpha: alpha, done: done, counts: (300, 200, 10))
        #expect(self.settled(conveyor, tasks: 510))

        profiler.startProfiling()
        #expect(profiler.isProfiling)
        try self.runTasks(on: conveyor, alpha: alpha, done: done, counts: (1_000, 600, 25))
        let work = profiler.profile(context: "between") { (0..<10_000).reduce(0, &+) }
        #expect(work > 0)
        #expect(self.settled(conveyor, tasks: 510 + 1_625))
        let report = try profiler.stopProfiling()
        #expect(!profiler.isProfiling)

        let metrics = report.metrics
        #expect(metrics.tasks == 1_625)
        let a = try #require(metrics.groups.first { $0.group == "a" })
        let b = try #require(metrics.groups.first { $0.group == "b" })
        #expect(a.completed == 1_000 && a.failed == 0)
        #expect(b.completed == 600 && b.failed == 25)
        #expect(a.queueWait.count == 1_000 && a.serviceTime.count == 1_000)
        #expect(metrics.latency.serviceTime.count == 1_625)
        #expect(metrics.latency.queueWait.count == 1_625)
        #expect(metrics.latency.serviceTime.p99 >= metrics.latency.serviceTime.p50)
        #expect(a.workers == 2 && b.workers == 1)
        let kinds = Dictionary(uniqueKeysWithValues: metrics.kinds.map { ($0.kind, $0) })
        #expect(kinds["alpha"]?.completed == 1_000)
        #expect(kinds["beta"]?.completed == 600)
        #expect(kinds["gamma"]?.failed == 25 && kinds["gamma"]?.completed == 0)
        #expect(kinds["alpha"].map { $0.meanServiceTime > 0 } == true)
        #expect(metrics.interval > 0)
        #expect(metrics.throughput.overall > 0)
        #expect(metrics.throughput.perGroup["a"].map { $0 > 0 } == true)
        #expect(metrics.throughput.perKind["gamma"].map { $0 > 0 } == true)
        #expect(abs(metrics.throughput.overall - 1_625 / metrics.interval) < 1e-6 * metrics.throughput.overall)
        #expect(metrics.queueDepths == ["a": 0, "b": 0])
        #expect(metrics.contexts.map(\.context) == ["between"])
        // Memory and CPU readings are sane.
        #expect(report.memoryAtEnd == metrics.memory)
        #expect(metrics.memory.heap > 0)
        #expect(metrics.memory.external > 0)
        #expect(metrics.memory.resident > 0)
        #expect(metrics.memory.peak >= metrics.memory.resident)
        #expect(metrics.cpuUsage.percentOfCore >= 0)
        #expect(metrics.cpuUsage.percentOfCore <= Double(ProcessInfo.processInfo.activeProcessorCount) * 100 + 10)
        #expect(metrics.cpuUsage.userSeconds + metrics.cpuUsage.systemSeconds > 0)
        #expect(report.stoppedAt >= report.startedAt)

        // The live window counts everything since the profiler was created.
        let live = profiler.metrics()
        #expect(live.tasks == 510 + 1_625)
        #expect(live.kinds.first { $0.kind == "alpha" }?.completed == 1_300)
        await conveyor.shutdown(drain: true)
    }

    @Test("Reports encode to JSON and back, and render as text with headings")
    func jsonAndText() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("a")])
        let profiler = try PerformanceProfiler(conveyor: conveyor, metricsFactory: TestMetrics())
        profiler.startProfiling()
        for _ in 0..<100 { try conveyor.submit(QueueTask(kind: "tick")) { usleep(10) } }
        profiler.record(.microseconds(3), context: "ctx")
        #expect(eventually { conveyor.kindStatistics["tick"]?.completed == 100 })
        let report = try profiler.stopProfiling()

        let data = try report.jsonData()
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let decoded = try decoder.decode(ProfilingReport.self, from: data)
        #expect(decoded.metrics == report.metrics)
        #expect(decoded.memoryAtStart == report.memoryAtStart)
        #expect(abs(decoded.startedAt.timeIntervalSince(report.startedAt)) < 1)
        let json = try #require(String(data: data, encoding: .utf8))
        for key in ["\"throughput\"", "\"perKind\"", "\"queueWait\"", "\"p999\"", "\"heap\"", "\"external\"",
                    "\"peak\"", "\"percentOfCore\"", "\"queueDepths\""] {
            #expect(json.contains(key), "JSON lacks \(key)")
        }
        let metricsData = try profiler.metrics().jsonData()
        #expect(try decoder.decode(PerformanceMetrics.self, from: metricsData).groups.count == 1)

        let text = report.description
        for heading in ["Profiling report", "Throughput", "Groups", "Latency", "Kinds", "Contexts", "Memory", "CPU",
                        "p99.9", "tick", "ctx"] {
            #expect(text.contains(heading), "text lacks \(heading)")
        }
        await conveyor.shutdown(drain: true)
    }

    @Test("Figures flow to swift-metrics through the given factory; metrics are made once")
    func swiftMetricsExport() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("a"), ResourceGroup("b")])
        let factory = TestMetrics()
        let profiler = try PerformanceProfiler(conveyor: conveyor, metricsFactory: factory)
        for _ in 0..<200 { try conveyor.submit(QueueTask(kind: "k", group: "a")) {} }
        profiler.record(nanoseconds: 1_000, context: "c")
        #expect(eventually { conveyor.kindStatistics["k"]?.completed == 200 })
        profiler.exportMetrics()
        let firstRecorders = factory.recorders.count
        let firstCounters = factory.counters.count
        #expect(try factory.expectGauge("conveyor_queue_depth", [("group", "a")]).lastValue == 0)
        #expect(try factory.expectGauge("conveyor_workers", [("group", "b")]).lastValue == 1)
        #expect(try factory.expectGauge("conveyor_memory_bytes", [("type", "heap")]).lastValue.map { $0 > 0 } == true)
        #expect(try factory.expectGauge("conveyor_kind_throughput_tasks_per_second", [("kind", "k")]).lastValue.map { $0 > 0 } == true)
        #expect(factory.counterTotal(label: "conveyor_tasks_total", dimensions: [("group", "a"), ("outcome", "completed")]) == 200)
        #expect(factory.counterTotal(label: "conveyor_profile_calls_total") == 1)
        // A second export adds only what ran since, and makes no new metric objects.
        for _ in 0..<50 { try conveyor.submit(QueueTask(kind: "k", group: "a")) {} }
        #expect(eventually { conveyor.kindStatistics["k"]?.completed == 250 })
        _ = profiler.metrics()
        #expect(factory.counterTotal(label: "conveyor_tasks_total", dimensions: [("group", "a"), ("outcome", "completed")]) == 250)
        #expect(factory.recorders.count == firstRecorders)
        #expect(factory.counters.count == firstCounters)
        await conveyor.shutdown(drain: true)
    }

    @Test("Kind counting is off until enabled, and exact once workers are idle")
    func kindCountingIsOptIn() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("a", minWorkers: 2)])
        #expect(!conveyor.isCountingKinds)
        for _ in 0..<100 { try conveyor.submit(QueueTask(kind: "early")) {} }
        #expect(eventually { conveyor.statistics[0].completed == 100 })
        #expect(conveyor.kindStatistics.isEmpty)
        conveyor.enableKindCounting()
        for index in 0..<1_000 { try conveyor.submit(QueueTask(kind: index % 2 == 0 ? "even" : "odd")) {} }
        #expect(eventually { conveyor.kindStatistics.values.reduce(0) { $0 + $1.completed } == 1_000 })
        #expect(conveyor.kindStatistics["even"]?.completed == 500)
        #expect(conveyor.kindStatistics["odd"]?.completed == 500)
        #expect(conveyor.kindStatistics["early"] == nil)
        await conveyor.shutdown(drain: true)
    }
}

@Suite("Profiler: baselines and bad input")
struct ProfilerBaselineTests {
    private func feed(_ profiler: PerformanceProfiler, _ context: String, around nanoseconds: UInt64, count: Int = 2_000) {
        for index in 0..<count {
            profiler.record(nanoseconds: nanoseconds + UInt64(index % 11), context: context)
        }
    }

    @Test("compareWithBaseline() (the plan's benchmarks()) marks a slowed context slower, a sped-up one faster, the rest unchanged")
    func baselineComparison() throws {
        let profiler = try PerformanceProfiler()
        #expect(throws: ConveyorError.noBaseline) { try profiler.compareWithBaseline() }
        #expect(throws: ConveyorError.noBaseline) { try profiler.benchmarks() }
        self.feed(profiler, "steady", around: 10_000)
        self.feed(profiler, "slowed", around: 10_000)
        self.feed(profiler, "sped-up", around: 10_000)
        let baseline = profiler.saveBaseline()
        #expect(baseline.contexts.map(\.context) == ["slowed", "sped-up", "steady"])
        self.feed(profiler, "steady", around: 10_100)        // +1 %: inside the 5 % threshold
        self.feed(profiler, "slowed", around: 11_200)        // +12 %
        self.feed(profiler, "sped-up", around: 8_000)        // −20 %
        self.feed(profiler, "new", around: 500)
        let comparisons = Dictionary(uniqueKeysWithValues: try profiler.compareWithBaseline().map { ($0.context, $0) })
        #expect(try profiler.benchmarks() == comparisons.values.sorted { $0.context < $1.context })  // the alias
        #expect(comparisons["steady"]?.verdict == .unchanged)
        #expect(comparisons["slowed"]?.verdict == .slower)
        #expect(comparisons["sped-up"]?.verdict == .faster)
        #expect(comparisons["new"]?.verdict == .noData)
        let slowed = try #require(comparisons["slowed"])
        #expect(abs((slowed.medianChange ?? 0) - 0.12) < 0.015)
        #expect(slowed.current?.calls == 2_000)               // only what ran since the baseline
        #expect(slowed.description.contains("slower"))
        #expect(try profiler.compareWithBaseline(for: "slowed").verdict == .slower)
        // A stricter threshold calls the 1 % change too.
        #expect(try profiler.benchmark(for: "steady", threshold: 0.005).verdict == .slower)
    }

    @Test("Baselines round-trip through a JSON file into another profiler")
    func baselineFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-baseline-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        let first = try PerformanceProfiler()
        self.feed(first, "decode", around: 20_000)
        let saved = try first.saveBaseline(to: url)

        let second = try PerformanceProfiler()
        let loaded = try second.loadBaseline(from: url)
        #expect(loaded.contexts == saved.contexts)
        #expect(second.baseline?.contexts == saved.contexts)
        self.feed(second, "decode", around: 26_000)
        #expect(try second.compareWithBaseline(for: "decode").verdict == .slower)

        let missing = url.appendingPathExtension("missing")
        #expect {
            try second.loadBaseline(from: missing)
        } throws: { error in
            guard case ConveyorError.baselineFile(let path, _) = error else { return false }
            return path == missing.path && "\(error)".contains("saveBaseline(to:)")
        }
        try Data("not json".utf8).write(to: missing)
        defer { try? FileManager.default.removeItem(at: missing) }
        #expect(throws: ConveyorError.self) { try second.loadBaseline(from: missing) }
    }

    @Test("Bad input: typed errors with helpful messages, never a crash")
    func badInput() async throws {
        let profiler = try PerformanceProfiler()
        #expect(throws: ConveyorError.profilerNotStarted) { try profiler.stopProfiling() }
        #expect("\(ConveyorError.profilerNotStarted)".contains("startProfiling()"))
        profiler.startProfiling()
        profiler.startProfiling()                                 // restarts: documented
        _ = try profiler.stopProfiling()
        #expect(throws: ConveyorError.profilerNotStarted) { try profiler.stopProfiling() }

        #expect(throws: ConveyorError.unknownContext(name: "never")) { try profiler.summary(for: "never") }
        #expect("\(ConveyorError.unknownContext(name: "never"))".contains("never"))
        profiler.record(nanoseconds: 5, context: "known")
        profiler.saveBaseline()
        #expect(throws: ConveyorError.unknownContext(name: "never")) { try profiler.compareWithBaseline(for: "never") }
        #expect(try profiler.compareWithBaseline(for: "known").verdict == .noData)   // nothing since the baseline
        #expect(throws: ConveyorError.self) { try profiler.compareWithBaseline(threshold: -1) }
        #expect(throws: ConveyorError.self) { try profiler.compareWithBaseline(threshold: .nan) }
        #expect(throws: ConveyorError.self) { try PerformanceProfiler(threadCapacity: 0) }

        // A standalone profiler's metrics have no groups but are well-formed.
        let metrics = profiler.metrics()
        #expect(metrics.groups.isEmpty && metrics.tasks == 0 && metrics.throughput.overall == 0)
        #expect(metrics.memory.external == 0)
        #expect(metrics.description.contains("Memory"))

        // A profiler made for a stopped Conveyor still reads it.
        let conveyor = try Conveyor(groups: [ResourceGroup("a")])
        await conveyor.shutdown(drain: true)
        let late = try PerformanceProfiler(conveyor: conveyor, metricsFactory: TestMetrics())
        #expect(late.metrics().groups.map(\.group) == ["a"])
    }

    @Test("A context full of threads drops further threads' records instead of failing")
    func threadCapacity() throws {
        let profiler = try PerformanceProfiler(threadCapacity: 1)
        profiler.record(nanoseconds: 10, context: "one")                     // this thread holds the slot
        runOnThreads(1) { _ in profiler.record(nanoseconds: 20, context: "one") }
        let summary = try profiler.summary(for: "one")
        #expect(summary.calls == 1 && summary.duration.max == 10)
    }

    @Test("An exiting thread gives its recorders back; their figures stay")
    func exitingThreadsReleaseRecorders() throws {
        let profiler = try PerformanceProfiler(threadCapacity: 1)
        for round in 1...5 {
            runOnJoinedThread {
                for _ in 0..<100 { profiler.record(nanoseconds: UInt64(round * 100), context: "churn") }
            }
        }
        let summary = try profiler.summary(for: "churn")
        #expect(summary.calls == 500)
        #expect(summary.duration.min == 100 && summary.duration.max == 500)
    }
}
