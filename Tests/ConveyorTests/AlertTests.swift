import Foundation
import Metrics
import MetricsTestKit
import Testing

@testable import Conveyor

@Suite("Alerts: rules on scripted metrics with an injected clock")
struct AlertTests {
    private func sample(_ values: [AlertMetric: Double], group: String = "io") -> AlertSample {
        AlertSample(group: group, values: values)
    }

    @Test("A threshold fires only after holding for its duration, and resolves when it clears")
    func thresholdDuration() throws {
        let clock = ManualScalingClock()
        let monitor = try AlertMonitor(
            rules: [AlertRule(name: "slow", condition: .threshold(metric: .queueWaitP99, .above, 0.2, for: .seconds(30)))],
            cooldown: .zero, clock: clock)
        #expect(monitor.evaluate(self.sample([.queueWaitP99: 0.5])).isEmpty)  // pending
        clock.advance(by: .seconds(29))
        #expect(monitor.evaluate(self.sample([.queueWaitP99: 0.5])).isEmpty)
        clock.advance(by: .seconds(1))
        let fired = monitor.evaluate(self.sample([.queueWaitP99: 0.5]))
        #expect(fired.map(\.state) == [.firing])
        #expect(fired.first?.time == .seconds(30))
        #expect(fired.first?.rule == "slow")
        #expect(fired.first?.group == "io")
        #expect(fired.first?.message.contains("queueWaitP99 0.5 above 0.2") == true)
        #expect(monitor.firing.map(\.rule) == ["slow"])
        // Still firing: no second event.
        clock.advance(by: .seconds(5))
        #expect(monitor.evaluate(self.sample([.queueWaitP99: 0.6])).isEmpty)
        // A sample without the metric changes nothing.
        #expect(monitor.evaluate(self.sample([.throughput: 3])).isEmpty)
        clock.advance(by: .seconds(5))
        let resolved = monitor.evaluate(self.sample([.queueWaitP99: 0.1]))
        #expect(resolved.map(\.state) == [.resolved])
        #expect(resolved.first?.time == .seconds(40))
        #expect(monitor.firing.isEmpty)
        // An interruption restarts the duration.
        #expect(monitor.evaluate(self.sample([.queueWaitP99: 0.5])).isEmpty)
        clock.advance(by: .seconds(20))
        _ = monitor.evaluate(self.sample([.queueWaitP99: 0.1]))
        clock.advance(by: .seconds(20))
        #expect(monitor.evaluate(self.sample([.queueWaitP99: 0.5])).isEmpty)
        clock.advance(by: .seconds(29))
        #expect(monitor.evaluate(self.sample([.queueWaitP99: 0.5])).isEmpty)
    }

    @Test("The cooldown holds back a flapping alert; groups are tracked separately")
    func cooldown() throws {
        let clock = ManualScalingClock()
        let monitor = try AlertMonitor(
            rules: [AlertRule(name: "errors", condition: .threshold(metric: .errorRate, .above, 0.05, for: .zero))],
            cooldown: .seconds(60), clock: clock)
        #expect(monitor.evaluate(self.sample([.errorRate: 0.2])).map(\.state) == [.firing])
        #expect(monitor.evaluate(self.sample([.errorRate: 0.2], group: "cpu")).map(\.group) == ["cpu"])
        clock.advance(by: .seconds(1))
        #expect(monitor.evaluate(self.sample([.errorRate: 0])).map(\.state) == [.resolved])
        var storm = 0
        for _ in 0..<59 {
            clock.advance(by: .seconds(1))
            storm += monitor.evaluate(self.sample([.errorRate: 0.3])).count
            storm += monitor.evaluate(self.sample([.errorRate: 0])).count
        }
        #expect(storm == 0)
        clock.advance(by: .seconds(1))
        #expect(monitor.evaluate(self.sample([.errorRate: 0.3])).map(\.state) == [.firing])
    }

    @Test("Anomaly detection: quiet during warm-up and on noise, fires on a spike, resolves after")
    func anomaly() throws {
        let clock = ManualScalingClock()
        let monitor = try AlertMonitor(
            rules: [AlertRule(name: "throughput", condition: .anomaly(metric: .throughput, zScore: 4, warmUp: 20))],
            cooldown: .zero, clock: clock)
        var random = SplitMix64(state: 3)
        var events: [AlertEvent] = []
        // Warm-up with a wild first value: never fires during the warm-up.
        events += monitor.evaluate(self.sample([.throughput: 5000]))
        for _ in 0..<200 {
            clock.advance(by: .seconds(1))
            events += monitor.evaluate(self.sample([.throughput: 1000 + Double(random.next() % 100)]))
        }
        #expect(events.isEmpty)
        clock.advance(by: .seconds(1))
        let drop = monitor.evaluate(self.sample([.throughput: 100]))
        #expect(drop.map(\.state) == [.firing])
        #expect(drop.first?.message.contains("standard deviations") == true)
        clock.advance(by: .seconds(1))
        #expect(monitor.evaluate(self.sample([.throughput: 1040])).map(\.state) == [.resolved])

        // One-sided: a drop does not fire a rule that watches for rises.
        let rises = try AlertMonitor(
            rules: [AlertRule(name: "wait", condition: .anomaly(metric: .queueWaitP99, direction: .above, zScore: 3, warmUp: 10))],
            clock: clock)
        for index in 0..<50 { rises.evaluate(self.sample([.queueWaitP99: 0.010 + Double(index % 3) * 0.001])) }
        #expect(rises.evaluate(self.sample([.queueWaitP99: 0.0001])).isEmpty)
        #expect(rises.evaluate(self.sample([.queueWaitP99: 0.5])).map(\.state) == [.firing])
    }

    @Test("A forecast above the capacity at the maximum workers warns, and resolves")
    func capacityForecast() throws {
        let clock = ManualScalingClock()
        let monitor = try AlertMonitor(rules: [AlertRule(name: "capacity", severity: .critical, condition: .capacityForecast)], clock: clock)
        var configuration = GroupScaling(group: "io", minWorkers: 1, maxWorkers: 4)
        configuration.season = .none
        var planner = try ScalingPlanner(configuration)
        for _ in 0..<40 { planner.record(.init(arrivals: 10, meanServiceTime: .milliseconds(10), queued: 0)) }
        let calm = try planner.predictLoad(horizon: 6)
        #expect(calm.exceedsCapacityAt == nil)
        #expect(monitor.evaluate(prediction: calm).isEmpty)
        // 4 workers at 10 ms serve well under 400 tasks per second.
        for _ in 0..<40 { planner.record(.init(arrivals: 2000, meanServiceTime: .milliseconds(10), queued: 0)) }
        let busy = try planner.predictLoad(horizon: 6)
        #expect(busy.exceedsCapacityAt == 1)
        #expect(busy.requiredWorkers > 4)
        #expect(busy.recommendedWorkers == 4)
        let warning = monitor.evaluate(prediction: busy)
        #expect(warning.map(\.state) == [.firing])
        #expect(warning.first?.severity == .critical)
        clock.advance(by: .seconds(61))
        #expect(monitor.evaluate(prediction: calm).map(\.state) == [.resolved])
    }

    @Test("Events reach the stream and the metrics backend; bad rules are typed errors")
    func streamAndMetrics() async throws {
        let metrics = TestMetrics()
        let clock = ManualScalingClock()
        let monitor = try AlertMonitor(
            rules: [AlertRule(name: "deep", group: "io", condition: .threshold(metric: .queueDepth, .above, 100, for: .zero))],
            cooldown: .zero, clock: clock, metricsFactory: metrics)
        monitor.evaluate(self.sample([.queueDepth: 500]))
        monitor.evaluate(self.sample([.queueDepth: 500], group: "cpu"))  // not this rule's group
        monitor.evaluate(self.sample([.queueDepth: 5]))
        monitor.finish()
        var streamed: [AlertEvent.State] = []
        for await event in monitor.events { streamed.append(event.state) }
        #expect(streamed == [.firing, .resolved])
        let firing = try metrics.expectCounter("conveyor_alerts_total", [("rule", "deep"), ("group", "io"), ("state", "firing")])
        #expect(firing.totalValue == 1)

        #expect(throws: ConveyorError.self) { _ = try AlertMonitor(rules: [AlertRule(name: "", condition: .capacityForecast)]) }
        #expect(throws: ConveyorError.self) {
            _ = try AlertMonitor(rules: [AlertRule(name: "a", condition: .capacityForecast), AlertRule(name: "a", condition: .capacityForecast)])
        }
        #expect(throws: ConveyorError.self) {
            _ = try AlertMonitor(rules: [AlertRule(name: "a", condition: .threshold(metric: .workers, .above, 1, for: .seconds(-1)))])
        }
        #expect(throws: ConveyorError.self) {
            _ = try AlertMonitor(rules: [AlertRule(name: "a", condition: .anomaly(metric: .workers, zScore: 0))])
        }
        #expect(throws: ConveyorError.self) { _ = try AlertMonitor(rules: [], cooldown: .seconds(-1)) }
    }

    @Test("status lists the alerts firing now and the latest events, oldest first, at most 64")
    func status() throws {
        let clock = ManualScalingClock()
        let monitor = try AlertMonitor(
            rules: [AlertRule(name: "deep", severity: .critical, condition: .threshold(metric: .queueDepth, .above, 10, for: .zero))],
            cooldown: .zero, clock: clock)
        #expect(monitor.status.active.isEmpty && monitor.status.recent.isEmpty)
        monitor.evaluate(self.sample([.queueDepth: 50], group: "io"))
        clock.advance(by: .seconds(1))
        monitor.evaluate(self.sample([.queueDepth: 20], group: "cpu"))
        var status = monitor.status
        #expect(status.active.map(\.group) == ["io", "cpu"])
        #expect(status.active.map(\.value) == [50, 20])
        #expect(status.active.allSatisfy { $0.state == .firing && $0.severity == .critical })
        #expect(status.now == .seconds(1) && status.fired == 2 && status.resolved == 0)
        clock.advance(by: .seconds(1))
        monitor.evaluate(self.sample([.queueDepth: 0], group: "io"))
        status = monitor.status
        #expect(status.active.map(\.group) == ["cpu"])
        #expect(status.recent.map(\.state) == [.firing, .firing, .resolved])
        #expect(status.recent.last?.time == .seconds(2) && status.resolved == 1)
        // 40 more flaps of io: 80 events, of which the latest 64 are kept.
        for _ in 0..<40 {
            clock.advance(by: .seconds(1))
            monitor.evaluate(self.sample([.queueDepth: 50], group: "io"))
            monitor.evaluate(self.sample([.queueDepth: 0], group: "io"))
        }
        status = monitor.status
        #expect(status.recent.count == AlertMonitor.recentEventLimit)
        #expect(status.recent.last?.state == .resolved && status.recent.last?.time == .seconds(42))
        #expect(status.fired == 42 && status.resolved == 41 && status.active.map(\.group) == ["cpu"])
    }

    @Test("evaluate(conveyor:) derives queue depth, throughput and error rate from the engine")
    func fromEngine() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("io", minWorkers: 1, capacity: 1024, overflow: .spill(memoryLimit: 16 << 20))])
        let clock = ManualScalingClock()
        let monitor = try AlertMonitor(
            rules: [
                AlertRule(name: "errors", condition: .threshold(metric: .errorRate, .above, 0.4, for: .zero)),
                AlertRule(name: "busy", condition: .threshold(metric: .throughput, .above, 50, for: .zero)),
            ],
            cooldown: .zero, clock: clock)
        #expect(monitor.evaluate(conveyor: conveyor).isEmpty)  // the baseline
        struct Failure: Error {}
        for index in 0..<100 {
            try conveyor.submit(QueueTask(kind: "x", group: "io")) { if index % 2 == 0 { throw Failure() } }
        }
        #expect(eventually { (try? conveyor.statistics(for: "io")).map { $0.completed + $0.failed == 100 } ?? false })
        clock.advance(by: .seconds(1))
        let events = monitor.evaluate(conveyor: conveyor)
        #expect(Set(events.map(\.rule)) == ["errors", "busy"])
        #expect(events.allSatisfy { $0.state == .firing })
        clock.advance(by: .seconds(1))
        let quiet = monitor.evaluate(conveyor: conveyor)  // nothing ended: throughput 0, no error rate
        #expect(quiet.map(\.rule) == ["busy"])
        #expect(quiet.first?.state == .resolved)
        await conveyor.shutdown(drain: true)
    }
}
