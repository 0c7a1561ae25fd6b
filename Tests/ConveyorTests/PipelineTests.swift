import Conveyor
import Foundation
import Synchronization
import Testing

/// Every output of a pipeline, behind an NSLock (ThreadSanitizer sees it).
final class PipelineOutputs<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Value] = []
    private var errors: [PipelineStageError] = []

    func add(_ result: Result<Value, PipelineStageError>) {
        self.lock.lock()
        defer { self.lock.unlock() }
        switch result {
        case .success(let value): self.values.append(value)
        case .failure(let error): self.errors.append(error)
        }
    }

    var successes: [Value] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.values
    }

    var failures: [PipelineStageError] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.errors
    }

    var count: Int {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.values.count + self.errors.count
    }
}

struct StageBoom: Error { var id: Int }

@Suite("Pipelines", .serialized)
struct PipelineTests {
    @Test("Exactly once through every stage: 4 submitting threads, stages of 2, 1 and 2 workers, seen counts per stage")
    func exactlyOnce() async throws {
        let perThread = StressScale.scaled(25_000, minimum: 2_000)
        let total = 4 * perThread
        let seen = (0..<3).map { _ in SeenCounts(total) }
        let outputs = PipelineOutputs<Int>()
        let pipeline = try PipelineBuilder(input: Int.self)
            .stage("a", workers: 2, capacity: 256) { (id: Int) -> Int in
                seen[0].mark([id])
                return id
            }
            .stage("b", workers: 1, capacity: 64) { (id: Int) -> String in
                seen[1].mark([id])
                return String(id)
            }
            .stage("c", workers: 2, capacity: 256) { (text: String) -> Int in
                let id = Int(text)!
                seen[2].mark([id])
                return id
            }
            .build { outputs.add($0) }
        runOnThreads(4) { thread in
            for index in 0..<perThread { try! pipeline.submit(thread * perThread + index) }
        }
        let report = await pipeline.shutdown(drain: true)
        #expect(report.inFlight.values.allSatisfy { $0 == 0 })
        for stage in 0..<3 {
            let audit = seen[stage].audit
            #expect(audit.missing == 0 && audit.duplicated == 0, "stage \(stage): \(audit)")
        }
        let delivered = SeenCounts(total)
        delivered.mark(outputs.successes)
        #expect(delivered.audit.missing == 0 && delivered.audit.duplicated == 0 && outputs.failures.isEmpty)
        let figures = pipeline.statistics
        #expect(figures.map(\.processed) == [total, total, total])
        #expect(figures.allSatisfy { $0.queued == 0 && $0.running == 0 && $0.serviceTime.count == UInt64(total) })
        #expect(throws: ConveyorError.shutDown) { try pipeline.submit(0) }
    }

    @Test("One worker per stage keeps submit order end to end")
    func order() async throws {
        let outputs = PipelineOutputs<Int>()
        let pipeline = try PipelineBuilder(input: Int.self)
            .stage("x", capacity: 16) { $0 + 1 }
            .stage("y", capacity: 16) { $0 * 2 }
            .stage("z", capacity: 16) { $0 - 2 }
            .build { outputs.add($0) }
        for id in 0..<20_000 { try pipeline.submit(id) }
        await pipeline.shutdown(drain: true)
        #expect(outputs.successes == (0..<20_000).map { $0 * 2 })
    }

    @Test("An error fails only its item, named by the stage; the others go on")
    func errors() async throws {
        let outputs = PipelineOutputs<Int>()
        let pipeline = try PipelineBuilder(input: Int.self)
            .stage("parse") { $0 }
            .stage("check") { (id: Int) throws -> Int in
                if id % 10 == 3 { throw StageBoom(id: id) }
                return id
            }
            .build { outputs.add($0) }
        for id in 0..<1_000 { try pipeline.submit(id) }
        await pipeline.shutdown(drain: true)
        #expect(outputs.successes.count == 900)
        #expect(outputs.failures.count == 100)
        #expect(outputs.failures.allSatisfy { $0.stage == "check" && $0.stageIndex == 1 && (($0.underlying as? StageBoom)?.id ?? 0) % 10 == 3 })
        #expect(pipeline.statistics[1].failed == 100)
    }

    @Test("Backpressure: a slow stage holds the items inside to its rings; the entry refuses (.reject) or waits (.wait)")
    func backpressure() async throws {
        let inside = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let release = Atomic<Bool>(false)
        let outputs = PipelineOutputs<Int>()
        let rejecting = try PipelineBuilder(input: Int.self)
            .stage("fast", capacity: 8) { (id: Int) -> Int in id }
            .stage("slow", capacity: 8) { (id: Int) -> Int in
                while !release.load(ordering: .acquiring) { usleep(100) }
                return id
            }
            .build(overflow: .reject) { outputs.add($0) }
        var accepted = 0
        var refused = 0
        for id in 0..<200 {
            do {
                try rejecting.submit(id)
                accepted += 1
            } catch ConveyorError.queueFull {
                refused += 1
                usleep(50)
            }
        }
        // At most: 8 queued in each ring, and one take (≤ the ring's 8) held by each worker.
        #expect(accepted <= 8 + 8 + 8 + 8, "accepted \(accepted)")
        #expect(refused > 0)
        release.store(true, ordering: .releasing)
        await rejecting.shutdown(drain: true)
        #expect(outputs.count == accepted)

        let waiting = try PipelineBuilder(input: Int.self)
            .stage("fast", capacity: 8) { (id: Int) -> Int in
                let now = inside.add(1, ordering: .relaxed).newValue
                if now > peak.load(ordering: .relaxed) { peak.store(now, ordering: .relaxed) }
                return id
            }
            .stage("slow", capacity: 8) { (id: Int) -> Int in
                usleep(20)
                inside.subtract(1, ordering: .relaxed)
                return id
            }
            .build(overflow: .wait(timeout: .seconds(30))) { _ in }
        for id in 0..<3_000 { try waiting.submit(id) }
        await waiting.shutdown(drain: true)
        // Past "fast": its worker's take waiting for room, the slow ring, the slow worker's take.
        #expect(peak.load(ordering: .relaxed) <= 8 + 8 + 8, "items between the stages peaked at \(peak.load(ordering: .relaxed))")
        #expect(waiting.statistics[1].processed == 3_000)
    }

    @Test("Bad input: no stage, 0 workers, repeated or blank names, capacity not a power of two")
    func badInput() throws {
        #expect(throws: ConveyorError.self) { _ = try PipelineBuilder(input: Int.self).build { _ in } }
        #expect {
            _ = try PipelineBuilder(input: Int.self).stage("a", workers: 0) { $0 }.build { _ in }
        } throws: { error in
            guard case ConveyorError.invalidConfiguration(let reason) = error else { return false }
            return reason.contains("0 workers")
        }
        #expect {
            _ = try PipelineBuilder(input: Int.self).stage("a") { $0 }.stage("b") { $0 }.stage("a") { $0 }.build { _ in }
        } throws: { error in
            guard case ConveyorError.invalidConfiguration(let reason) = error else { return false }
            return reason.contains("twice") && reason.contains("cycle")
        }
        #expect(throws: ConveyorError.self) { _ = try PipelineBuilder(input: Int.self).stage(" ") { $0 }.build { _ in } }
        #expect(throws: ConveyorError.self) { _ = try PipelineBuilder(input: Int.self).stage("a", capacity: 100) { $0 }.build { _ in } }
    }

    @Test("drain: false stops after the current items and reports what was in flight per stage, each failed once")
    func stop() async throws {
        let outputs = PipelineOutputs<Int>()
        let gate = Atomic<Bool>(false)
        let pipeline = try PipelineBuilder(input: Int.self)
            .stage("first", capacity: 16) { $0 }
            .stage("blocked", capacity: 16) { (id: Int) -> Int in
                while !gate.load(ordering: .acquiring) { usleep(100) }
                return id
            }
            .build(overflow: .reject) { outputs.add($0) }
        // Fill it until both rings are full and the entry refuses.
        var accepted = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? pipeline.submit(accepted)) != nil {
                accepted += 1
            } else if pipeline.statistics[1].queued == 16, pipeline.statistics[0].queued == 16 {
                break
            } else {
                usleep(200)
            }
        }
        // The two full rings, and each worker's take (0...16: a worker may not have woken yet).
        #expect((32...64).contains(accepted), "accepted \(accepted)")
        let stopping = Task { await pipeline.shutdown(drain: false) }
        try await Task.sleep(for: .milliseconds(20))
        gate.store(true, ordering: .releasing)
        let report = await stopping.value
        let total = report.inFlight.values.reduce(0, +)
        #expect(outputs.count == accepted, "every accepted item delivered once (\(outputs.count) of \(accepted))")
        #expect(outputs.failures.count == total)
        #expect(outputs.failures.allSatisfy { ($0.underlying as? ConveyorError) == .notStarted(kind: $0.stage) })
        // The blocked stage's ring stayed full (only its stuck worker drains it): ≥ 16 there.
        #expect((report.inFlight["blocked"] ?? 0) >= 16 && report.inFlight["first"] != nil, "\(report)")
        #expect(outputs.successes.count == accepted - total && outputs.successes.count <= 1)
    }
}
