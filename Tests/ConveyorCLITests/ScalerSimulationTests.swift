import Conveyor
import ConveyorForecasting
import ConveyorReport
import Foundation
import Testing

@testable import ConveyorCLI

/// A daily-style trace: `days` cycles of 48 rows, a smooth peak in the afternoon.
private func dailyTrace(days: Int) -> [Double?] {
    (0..<(48 * days)).map { row in
        let phase = Double(row % 48) / 48
        return 1000 + 800 * max(0, sin(Double.pi * (phase * 1.4 - 0.2)))
    }
}

private func settings() -> SimulationSettings {
    var settings = SimulationSettings()
    settings.maxWorkers = 8
    settings.workerStartDelay = .seconds(3)
    settings.serviceTime = .milliseconds(50)
    settings.slo = .milliseconds(200)
    return settings
}

@Suite("conveyor simulate: model mode and bad input")
struct ScalerSimulationTests {
    @Test("Model mode is deterministic for a seed, and the seed matters")
    func deterministic() throws {
        let counts = dailyTrace(days: 8)
        let first = ModelSimulation(settings: settings(), plan: try ArrivalPlan(counts: counts, settings: settings(), path: "t")).run()
        let second = ModelSimulation(settings: settings(), plan: try ArrivalPlan(counts: counts, settings: settings(), path: "t")).run()
        #expect(first.policies.map(\.name) == ["static", "reactive", "predictive", "oracle"])
        for (a, b) in zip(first.policies, second.policies) {
            #expect(a.sloViolationIntervals == b.sloViolationIntervals)
            #expect(a.workerSeconds == b.workerSeconds)
            #expect(a.workers == b.workers)
            #expect(a.p99QueueWaitMilliseconds == b.p99QueueWaitMilliseconds)
            #expect(a.decisions == b.decisions)
        }
        #expect(first.arrivals == second.arrivals)
        #expect(first.forecastAccuracy == second.forecastAccuracy)
        var other = settings()
        other.seed = 2
        let reseeded = ModelSimulation(settings: other, plan: try ArrivalPlan(counts: counts, settings: other, path: "t")).run()
        #expect(reseeded.arrivals != first.arrivals)
    }

    @Test("Every policy runs every task, stays in bounds, and static is the most expensive")
    func outcomes() throws {
        let counts = dailyTrace(days: 8)
        let plan = try ArrivalPlan(counts: counts, settings: settings(), path: "t")
        let outcome = ModelSimulation(settings: settings(), plan: plan).run()
        let fixed = try #require(outcome.policy(.static))
        #expect(fixed.workers.allSatisfy { $0 == 8 })
        #expect(abs(fixed.workerSeconds - Double(counts.count * 8)) < 1e-6)
        for policy in outcome.policies {
            #expect(policy.dropped == 0)
            #expect(policy.tasks == plan.offsets.count)
            #expect(policy.workers.allSatisfy { (1...8).contains($0) })
            #expect(policy.workerSeconds <= fixed.workerSeconds)
        }
        // The peak is scaled to need about the maximum: static keeps the SLO.
        #expect(fixed.sloViolationIntervals == 0)
        let predictive = try #require(outcome.policy(.predictive))
        #expect(predictive.workerSeconds < fixed.workerSeconds)
        let accuracy = try #require(outcome.forecastAccuracy)
        #expect(accuracy > 0.5 && accuracy <= 1)
        // JSON has the shape.
        let data = try JSONEncoder().encode(SimulationReport.json(outcome))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["rows"] as? Int == counts.count)
        #expect(object["forecastAccuracy"] is Double)
        let policies = try #require(object["policies"] as? [[String: Any]])
        #expect(Set(policies[0].keys).isSuperset(of: ["name", "sloViolationIntervals", "workerSeconds", "dropped", "p99QueueWaitMs"]))
        // The document carries the table, the aims and a chart per policy.
        let document = SimulationReport.document([outcome], settings: settings(), trace: "t", machine: "m", date: "d", revision: "r")
        #expect(document.id == "simulate")
        #expect(document.charts.count == 4)
        #expect(document.aims.count == 5)
        #expect(document.tables.first?.rows.count == 4)
    }

    @Test("Zeros and gaps: handled, accuracy defined; an all-zero or empty trace is a typed error")
    func zerosAndGaps() throws {
        var counts = dailyTrace(days: 4)
        for row in stride(from: 5, to: counts.count, by: 7) { counts[row] = nil }
        for row in stride(from: 3, to: counts.count, by: 11) { counts[row] = 0 }
        let plan = try ArrivalPlan(counts: counts, settings: settings(), path: "t")
        #expect(plan.count(3) == 0)
        #expect(plan.count(5) == 0 && plan.missing[5])
        let outcome = ModelSimulation(settings: settings(), plan: plan).run()
        #expect(outcome.policies.allSatisfy { $0.dropped == 0 })
        #expect(outcome.forecastAccuracy?.isFinite == true)

        #expect(throws: SimulationError.noLoad(path: "zeros.csv")) {
            _ = try ArrivalPlan(counts: [0, 0, nil, 0], settings: settings(), path: "zeros.csv")
        }
        #expect(throws: ForecastError.emptyTrace) { _ = try LoadTrace.parse("timestamp,count\n") }
    }

    @Test("Bad options are typed errors naming the option")
    func badOptions() throws {
        #expect(throws: SimulationError.self) { _ = try parseDuration("-1s", option: "--worker-start-delay") }
        #expect(throws: SimulationError.self) { _ = try parseDuration("soon", option: "--slo") }
        #expect(try parseDuration("250ms", option: "--slo") == .milliseconds(250))
        #expect(try parseDuration("0", option: "--worker-start-delay") == .zero)
        #expect(try parseDuration("1.5s", option: "--interval") == .milliseconds(1500))
        func message(_ change: (inout SimulationSettings) -> Void) -> String? {
            var value = settings()
            change(&value)
            do { try value.validate() } catch { return error.description }
            return nil
        }
        #expect(message { $0.minWorkers = 9 }?.contains("--min-workers 9 is greater than --max-workers 8") == true)
        #expect(message { $0.interval = .zero }?.contains("--interval") == true)
        #expect(message { $0.workerStartDelay = .seconds(-2) }?.contains("--worker-start-delay") == true)
        #expect(message { $0.horizon = 0 }?.contains("--horizon") == true)
        #expect(message { $0.slo = .zero }?.contains("--slo") == true)
        #expect(message { _ in } == nil)
    }
}

@Suite("conveyor simulate: replay mode on the real engine", .serialized)
struct ScalerReplayTests {
    @Test("A short replay runs every task on the engine, within bounds, with the forecaster warmed first")
    func replay() async throws {
        var settings = settings()
        settings.maxWorkers = 6
        let counts = dailyTrace(days: 5)
        let plan = try ArrivalPlan(counts: counts, settings: settings, path: "t")
        let start = counts.count - 24
        let outcome = try await ReplaySimulation(settings: settings, plan: plan, start: start, rows: 24, speedup: 40).run()
        #expect(outcome.mode == "replay")
        #expect(outcome.rows == 24)
        #expect(outcome.firstRow == start)
        let expected = (start..<counts.count).reduce(0) { $0 + plan.count($1) }
        for policy in outcome.policies {
            #expect(policy.dropped == 0)
            #expect(policy.tasks == expected)
            #expect(policy.workers.count == 24)
            #expect(policy.workers.allSatisfy { (1...6).contains($0) })
        }
        #expect(outcome.policy(.static)?.workers.allSatisfy { $0 == 6 } == true)
        // Warmed on the rows before the slice: forecasts exist from the first intervals.
        #expect(outcome.forecasts.prefix(12).contains { $0.isFinite })
        #expect(outcome.forecastAccuracy != nil)
    }
}
