@testable import Conveyor
import Foundation
import Synchronization
import Testing

/// Tasks each group of `conveyor` completed, by name.
private func completedByGroup(_ conveyor: Conveyor) -> [String: Int] {
    Dictionary(uniqueKeysWithValues: conveyor.statistics.map { ($0.group, $0.completed) })
}

@Suite("Engine: defaults a first loop survives", .serialized)
struct EngineDefaultsTests {
    @Test("The default overflow policy waits, with a bounded timeout")
    func defaultPolicy() {
        #expect(ResourceGroup("g").overflow == .wait(timeout: .seconds(10)))
        #expect(OverflowPolicy.defaultPolicy == .wait(timeout: .seconds(10)))
    }

    @Test("A tight loop of 10⁶ typed submits from one thread, default configuration: none refused, each runs once, memory stays bounded")
    func tightTypedLoop() async throws {
        let count = StressScale.scaled(1_000_000, minimum: 50_000)
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu")])
        let seen = PerThreadBitmaps(bitCount: count)
        let kind = try conveyor.register("first-loop", payload: Int.self) { seen.insert($0) }
        // Hold the only worker first, so the ring (4096 slots) fills and the loop must wait.
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "cpu").queued) == 0 })
        let release = Thread {
            usleep(50_000)
            hold.signal()
        }
        release.start()
        var refused: [String] = []
        var peakReserved = 0
        for index in 0..<count {
            do {
                try conveyor.submit(kind, index)
            } catch {
                if refused.count < 3 { refused.append("\(error)") }
            }
            if index & 4095 == 0 { peakReserved = max(peakReserved, conveyor.reservedBytes) }
        }
        await conveyor.shutdown(drain: true)
        #expect(refused.isEmpty, "refused: \(refused)")
        let audit = seen.audit()
        #expect(audit.missing == 0, "\(audit.missing) tasks never ran")
        #expect(audit.duplicated == 0, "\(audit.duplicated) tasks ran twice")
        #expect(try conveyor.statistics(for: "cpu").completed == count + 1)
        // The records the ring can hold (4096 per level, 3 levels, ~112 B each, in slabs) and
        // the rings themselves: well under 8 MiB. Unbounded queueing of the loop would hold
        // `count` records (~112 MB at 10⁶).
        #expect(peakReserved < 8 << 20, "the engine held \(peakReserved) bytes during the loop")
    }

    @Test("The same loop of closures: none refused, each runs once")
    func tightClosureLoop() async throws {
        let count = StressScale.scaled(200_000, minimum: 20_000)
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu")])
        let seen = PerThreadBitmaps(bitCount: count)
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "cpu").queued) == 0 })
        let release = Thread {
            usleep(50_000)
            hold.signal()
        }
        release.start()
        var refused = 0
        for index in 0..<count {
            do {
                try conveyor.submit { seen.insert(index) }
            } catch {
                refused += 1
            }
        }
        await conveyor.shutdown(drain: true)
        #expect(refused == 0)
        let audit = seen.audit()
        #expect(audit.missing == 0 && audit.duplicated == 0, "missing \(audit.missing), duplicated \(audit.duplicated)")
    }

    @Test("With .reject the same held loop is refused (what the default avoids)")
    func rejectRefuses() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", capacity: 1024, overflow: .reject)])
        let kind = try conveyor.register("first-loop", payload: Int.self) { _ in }
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "cpu").queued) == 0 })
        var refused = 0
        for index in 0..<4_096 {
            do { try conveyor.submit(kind, index) } catch ConveyorError.queueFull(_, _, .ring) { refused += 1 }
        }
        hold.signal()
        await conveyor.shutdown(drain: true)
        #expect(refused == 4_096 - 1_024)
    }
}

@Suite("Engine: sampled timing and routing resolved at registration", .serialized)
struct EngineSamplingTests {
    @Test("timingSampleInterval out of range is refused with a message")
    func intervalValidated() {
        for interval in [0, -3, (1 << 16) + 1] {
            #expect {
                try Conveyor(configuration: .init(groups: [ResourceGroup("a")], timingSampleInterval: interval))
            } throws: { error in
                guard case ConveyorError.invalidConfiguration(let reason) = error else { return false }
                return reason.contains("timingSampleInterval")
            }
        }
    }

    /// Runs `count` typed tasks on one worker and returns the group's statistics.
    private func statistics(interval: Int, count: Int, timing: Bool = true) async throws -> Conveyor.GroupStatistics {
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("a", capacity: 1 << 14, priorityLevels: 1)], timing: timing,
            timingSampleInterval: interval))
        let kind = try conveyor.register("sampled", payload: Int.self) { _ in }
        for index in 0..<count { try conveyor.submit(kind, index) }
        await conveyor.shutdown(drain: true)
        return try conveyor.statistics(for: "a")
    }

    @Test("One task in N is recorded (N rounded up to a power of two); every task is counted")
    func oneInN() async throws {
        let every = try await self.statistics(interval: 1, count: 1_600)
        #expect(every.completed == 1_600)
        #expect(every.queueWait.count == 1_600 && every.serviceTime.count == 1_600)
        #expect(every.timingSampleInterval == 1)
        let sampled = try await self.statistics(interval: 16, count: 1_600)
        #expect(sampled.completed == 1_600)
        #expect(sampled.queueWait.count == 100 && sampled.serviceTime.count == 100, "\(sampled.queueWait.count)")
        #expect(sampled.timingSampleInterval == 16)
        let rounded = try await self.statistics(interval: 10, count: 1_600)
        #expect(rounded.timingSampleInterval == 16 && rounded.queueWait.count == 100)
        let off = try await self.statistics(interval: 16, count: 100, timing: false)
        #expect(off.queueWait.count == 0 && off.timingSampleInterval == 0 && off.completed == 100)
    }

    @Test("run results keep their timings when the histograms are sampled")
    func runStillTimed() async throws {
        let conveyor = try Conveyor(configuration: .init(groups: [ResourceGroup("a")], timingSampleInterval: 1 << 16))
        for _ in 0..<4 {
            let result = try await conveyor.run { usleep(2_000) }
            #expect(result.serviceTime >= .milliseconds(1), "\(result.serviceTime)")
        }
        await conveyor.shutdown(drain: true)
    }

    @Test("A registered kind's route is resolved once and follows explicit groups, tags and learning")
    func typedRouting() async throws {
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("a"), ResourceGroup("b"), ResourceGroup("c")],
            routes: ["routed": "b"],
            rules: [RoutingRule(when: .tagsContainAny(["to-c"]), to: "c")]))
        let routed = try conveyor.register("routed", payload: Int.self) { _ in }
        func expectCompleted(_ expected: [String: Int], _ comment: Comment) async {
            #expect(eventually { completedByGroup(conveyor) == expected }, comment)
        }
        try conveyor.submit(routed, 0)
        await expectCompleted(["a": 0, "b": 1, "c": 0], "plain typed submit: the kind's route (b)")
        try conveyor.submit(routed, 1, QueueTask(kind: "routed", priority: .high))
        await expectCompleted(["a": 0, "b": 2, "c": 0], "a QueueTask with only a priority: the kind's route (b)")
        try conveyor.submit(routed, 2, QueueTask(kind: "routed", group: "a"))
        await expectCompleted(["a": 1, "b": 2, "c": 0], "an explicit group wins (a)")
        try conveyor.submit(routed, 3, QueueTask(kind: "other", tags: ["to-c"]))
        await expectCompleted(["a": 1, "b": 2, "c": 1], "tags and another kind take the full path (c)")
        #expect(try conveyor.submit(routed, contentsOf: [4, 5]) == 2)
        await expectCompleted(["a": 1, "b": 4, "c": 1], "bulk: the kind's route (b)")
        await conveyor.shutdown(drain: true)
    }

    @Test("A registered kind routed by learned service time: its cached decision moves with the learning")
    func typedLearnedRouting() async throws {
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("a"), ResourceGroup("slow")],
            rules: [RoutingRule(when: .serviceTime(above: .milliseconds(3)), to: "slow")],
            coldStart: .init(minimumSamples: 5, usesCostEstimate: false),
            hysteresis: .init(margin: 0.2, minimumDwell: .milliseconds(10))))
        let delay = Atomic<Int>(0)
        let learned = try conveyor.register("learned", payload: Int.self) { _ in
            let microseconds = delay.load(ordering: .relaxed)
            if microseconds > 0 { usleep(UInt32(microseconds)) }
        }
        for id in 0..<30 { try conveyor.submit(learned, id) }
        #expect(eventually { completedByGroup(conveyor) == ["a": 30, "slow": 0] }, "fast and warm: the fallback group")
        delay.store(8_000, ordering: .relaxed)
        var moved = false
        var sent = 30
        while !moved, sent < 330 {
            try conveyor.submit(learned, sent)
            sent += 1
            #expect(eventually { completedByGroup(conveyor).values.reduce(0, +) == sent })
            moved = completedByGroup(conveyor)["slow"]! > 0
        }
        #expect(moved, "the slowed kind's typed tasks were rerouted")
        await conveyor.shutdown(drain: true)
    }
}

@Suite("Engine: the idle estimate does not feed on its own wake-ups")
struct EngineIdleEstimateTests {
    @Test("A park a wake ended within a few park costs makes the next idle moments spin; long or timed-out parks do not")
    func shortWokenParkSpins() {
        var fresh = IdleEstimator()
        let short = fresh.spins  // starts as "sparse": a short spin, then park
        #expect(short < 100)
        fresh.parked(nanoseconds: 20_000, woken: true)
        #expect(fresh.spins > short, "a park woken after 20 µs should make the worker spin next time")

        var long = IdleEstimator()
        long.parked(nanoseconds: 1_000_000, woken: true)
        #expect(long.spins == short, "a 1 ms park is a real gap")
        var timedOut = IdleEstimator()
        timedOut.parked(nanoseconds: 20_000, woken: false)
        #expect(timedOut.spins == short, "a timeout is no evidence of arrivals")
    }
}
