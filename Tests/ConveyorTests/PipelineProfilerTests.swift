import Conveyor
import Foundation
import Synchronization
import Testing

/// Polls `condition` every 200 µs for at most `limit`; returns whether it became true.
private func pipelineEventually(within limit: Duration = .seconds(20), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(200)
    }
    return condition()
}

@Suite("PipelineProfiler", .serialized)
struct PipelineProfilerTests {
    @Test("An attached pipeline's stages in metrics() and a report: exact counts since the attach, the depth of a held stage, plausible latencies; 2 submitting threads")
    func attachedFigures() async throws {
        let profiler = try PerformanceProfiler()
        #expect(profiler.metrics().pipelines == nil)
        let open = Atomic<Bool>(true)
        let outputs = PipelineOutputs<Int>()
        let pipeline = try PipelineBuilder(input: Int.self)
            .stage("parse", workers: 2, capacity: 1024) { (id: Int) -> Int in
                let end = ContinuousClock.now + .microseconds(20)
                while ContinuousClock.now < end {}
                return id
            }
            .stage("check") { (id: Int) throws -> Int in
                if id % 10 == 3 { throw StageBoom(id: id) }
                return id
            }
            .stage("store", capacity: 4096) { (id: Int) -> Int in
                while !open.load(ordering: .acquiring) { usleep(100) }
                return id
            }
            .build { outputs.add($0) }
        // Items before the attach are not counted. (A stage adds to its counts once per take,
        // after the take's items went on: wait until every stage counted them.)
        for id in 0..<100 { try pipeline.submit(-1 - id) }
        #expect(pipelineEventually { pipeline.statistics.allSatisfy { $0.processed == 100 && $0.serviceTime.count == 100 } })

        try profiler.attach(pipeline, name: "ingest")
        #expect(profiler.pipelineNames == ["ingest"])
        #expect(throws: ConveyorError.self) { try profiler.attach(pipeline, name: "ingest") }
        #expect(throws: ConveyorError.self) { try profiler.attach(pipeline, name: "  ") }
        profiler.startProfiling()
        let start = ContinuousClock.now

        open.store(false, ordering: .releasing)
        let total = 2_000
        let failing = (0..<total).filter { $0 % 10 == 3 }.count
        let stored = total - failing
        runOnThreads(2) { thread in
            for index in 0..<(total / 2) { try! pipeline.submit(thread * (total / 2) + index) }
        }
        // Everything passed "check" and waits at the held "store": in its ring or its worker's take.
        #expect(pipelineEventually {
            let stages = profiler.metrics().pipelines?.first?.stages ?? []
            return stages.count == 3 && stages[0].processed == total && stages[0].serviceTime.count == UInt64(total)
                && stages[1].processed + stages[1].failed == total && stages[1].running == 0
                && stages[2].queued + stages[2].running == stored
        })
        let held = try #require(profiler.metrics().pipelines?.first)
        #expect(held.name == "ingest" && held.stages.map(\.stage) == ["parse", "check", "store"])
        let (parse, check, store) = (held.stages[0], held.stages[1], held.stages[2])
        #expect(parse.workers == 2 && parse.processed == total && parse.failed == 0 && parse.queued == 0 && parse.running == 0)
        #expect(check.processed == stored && check.failed == failing && check.queued == 0)
        #expect(store.processed == 0 && store.queued + store.running == stored)
        #expect(store.queued >= stored - 32, "a worker takes at most 32 items: \(store.queued) queued")
        // Latencies: "parse" spins 20 µs per item; every item ran there once since the attach.
        #expect(parse.serviceTime.count == UInt64(total) && check.serviceTime.count == UInt64(total))
        #expect(parse.serviceTime.p50 >= 20_000 && parse.serviceTime.p50 <= parse.serviceTime.p95)
        #expect(parse.serviceTime.p95 <= parse.serviceTime.p99 && parse.serviceTime.p99 < 1_000_000_000)
        #expect(parse.queueWait.count == UInt64(total) && store.serviceTime.count == 0)
        let metrics = profiler.metrics()
        let parseNow = try #require(metrics.pipelines?.first?.stages.first)
        #expect(abs(parseNow.throughput * metrics.interval - Double(total)) < 1e-6 * Double(total))
        // Two workers spinning 20 µs per item need at least total × 10 µs.
        #expect(metrics.interval >= Double(total) * 10e-6)

        // Hold "store" 50 ms more: every item but the one its worker is stuck on waits at least that.
        try await Task.sleep(for: .milliseconds(50))
        open.store(true, ordering: .releasing)
        let report = await pipeline.shutdown(drain: true)
        #expect(report.inFlight.values.allSatisfy { $0 == 0 })
        let elapsed = ContinuousClock.now - start
        #expect(outputs.successes.count == stored + 100 && outputs.failures.count == failing)

        let after = try #require(profiler.metrics().pipelines?.first)
        #expect(after.stages.map(\.processed) == [total, stored, stored])
        #expect(after.stages.map(\.failed) == [0, failing, 0])
        #expect(after.stages.allSatisfy { $0.queued == 0 && $0.running == 0 })
        let drained = after.stages[2]
        #expect(drained.serviceTime.count == UInt64(stored) && drained.queueWait.count == UInt64(stored))
        #expect(drained.queueWait.p50 >= 50_000_000, "queue wait p50 \(drained.queueWait.p50) ns behind a 50 ms hold")
        #expect(drained.queueWait.max <= UInt64(elapsed.components.seconds + 1) * 1_000_000_000)
        #expect(drained.serviceTime.p50 < drained.queueWait.p50)

        // The interval started at the attach counts the same items.
        let interval = try profiler.stopProfiling()
        let stages = try #require(interval.metrics.pipelines?.first?.stages)
        #expect(stages.map(\.processed) == [total, stored, stored] && stages.map(\.failed) == [0, failing, 0])
        // Printed and encoded.
        #expect(metrics.description.contains("Pipelines") && metrics.description.contains("ingest: parse"))
        let decoded = try JSONDecoder().decode(PerformanceMetrics.self, from: try metrics.jsonData())
        #expect(decoded.pipelines == metrics.pipelines)

        #expect(profiler.detach(pipelineNamed: "ingest"))
        #expect(!profiler.detach(pipelineNamed: "ingest"))
        #expect(profiler.metrics().pipelines == nil && profiler.pipelineNames.isEmpty)
    }

    @Test("resetMetrics starts every attached pipeline afresh; two pipelines come sorted by name")
    func resetAndTwoPipelines() async throws {
        let profiler = try PerformanceProfiler()
        let outputs = PipelineOutputs<Int>()
        let one = try PipelineBuilder(input: Int.self).stage("only") { $0 }.build { outputs.add($0) }
        let two = try PipelineBuilder(input: Int.self).stage("first", workers: 2) { $0 }.stage("second") { $0 }
            .build { outputs.add($0) }
        try profiler.attach(two, name: "b")
        try profiler.attach(one, name: "a")
        runOnThreads(2) { thread in
            for id in 0..<500 {
                try! one.submit(id)
                try! two.submit(thread * 500 + id)
            }
        }
        #expect(pipelineEventually { outputs.count == 2_000 })
        let before = try #require(profiler.metrics().pipelines)
        #expect(before.map(\.name) == ["a", "b"])
        #expect(pipelineEventually {
            let figures = profiler.metrics().pipelines ?? []
            return figures.count == 2 && figures[0].stages.map(\.processed) == [1_000] && figures[1].stages.map(\.processed) == [1_000, 1_000]
        })
        profiler.resetMetrics()
        for id in 0..<10 { try one.submit(id) }
        await one.shutdown(drain: true)
        await two.shutdown(drain: true)
        let after = try #require(profiler.metrics().pipelines)
        #expect(after[0].stages.map(\.processed) == [10] && after[0].stages[0].serviceTime.count == 10)
        #expect(after[1].stages.map(\.processed) == [0, 0] && after[1].stages[1].serviceTime.count == 0)
    }
}
