import Foundation
import Testing

@testable import ConveyorForecasting

@Suite("Forecaster")
struct ForecasterTests {
    @Test("forecasts steps 1…H with intervals around the point forecast")
    func forecastShape() throws {
        let forecaster = try TestSeries.learned(TestSeries.seasonal(period: 24, count: 400))
        let forecasts = try forecaster.forecast(horizon: 6)
        #expect(forecasts.map(\.step) == [1, 2, 3, 4, 5, 6])
        for forecast in forecasts {
            #expect(forecast.lower < forecast.value && forecast.value < forecast.upper)
        }
        #expect(try forecaster.forecast(step: 6) == forecasts[5])
    }

    @Test("follows a seasonal pattern: forecasts beat the naive forecast")
    func seasonalAccuracy() throws {
        let values = TestSeries.seasonal(period: 24, count: 720, noise: 1, seed: 11)
        let result = try RollingEvaluation(horizon: 6, refitInterval: 128).run(values.map { $0 })
        let ours = try #require(result.accuracy.value)
        let naive = try #require(result.naiveAccuracy.value)
        #expect(ours > naive)
        #expect(ours > 0.97)
    }

    @Test("bad arguments are typed errors, not crashes")
    func badArguments() throws {
        var forecaster = try Forecaster()
        #expect(throws: ForecastError.noObservations) { try forecaster.forecast(horizon: 1) }
        forecaster.observeMissing()
        #expect(throws: ForecastError.noObservations) { try forecaster.forecast(step: 1) }
        forecaster.observe(3)
        #expect(throws: ForecastError.invalidHorizon(0)) { try forecaster.forecast(horizon: 0) }
        #expect(throws: ForecastError.invalidHorizon(-2)) { try forecaster.forecast(step: -2) }
        #expect(try forecaster.forecast(step: 1).value == 3)

        #expect(throws: ForecastError.invalidHorizon(0)) { try Forecaster(configuration: .init(horizons: [1, 0])) }
        #expect(throws: ForecastError.invalidSeason(1)) { try Forecaster(configuration: .init(season: .fixed([1]))) }
        #expect(throws: ForecastError.self) { try Forecaster(configuration: .init(historyCapacity: 3)) }
        #expect(throws: ForecastError.self) { try Forecaster(configuration: .init(intervalCoverage: 1)) }
        #expect(throws: ForecastError.invalidHorizon(0)) { try RollingEvaluation(horizon: 0) }
    }

    @Test("recovers from a level shift")
    func levelShift() throws {
        var generator = SeededGenerator(seed: 5)
        var forecaster = try Forecaster()
        for t in 0..<400 {
            forecaster.observe(10 + 0.5 * generator.gaussian())
            if (t + 1) % 100 == 0 { forecaster.learnFromPatterns() }
        }
        #expect(abs(try forecaster.forecast(step: 1).value - 10) < 1)
        // The learned alpha is small (the series was flat noise); the shift is caught anyway.
        #expect(forecaster.model.parameters.alpha < 0.3)
        for _ in 0..<12 { forecaster.observe(50 + 0.5 * generator.gaussian()) }
        #expect(abs(try forecaster.forecast(step: 1).value - 50) < 2.5)
        forecaster.learnFromPatterns()
        for _ in 0..<20 { forecaster.observe(50 + 0.5 * generator.gaussian()) }
        #expect(abs(try forecaster.forecast(step: 3).value - 50) < 2.5)
    }

    @Test("handles zeros: an all-zero series and a series that is zero every night")
    func zeros() throws {
        let allZero = try TestSeries.learned(Array(repeating: 0, count: 300))
        #expect(allZero.model.seasons.isEmpty)
        let forecasts = try allZero.forecast(horizon: 4)
        #expect(forecasts.allSatisfy { $0.value == 0 && $0.lower == 0 && $0.upper == 0 })
        let zeroResult = try RollingEvaluation(horizon: 1).run(Array(repeating: 0, count: 300))
        #expect(zeroResult.accuracy.value == nil)  // undefined, not NaN or a crash

        // Arrivals that stop for 8 of every 24 intervals.
        var generator = SeededGenerator(seed: 6)
        var night: [Double?] = []
        for t in 0..<720 {
            let hour = Double(t % 24)
            let busy: Double = 30 + 10 * sin(hour / 3) + generator.gaussian()
            night.append(t % 24 < 8 ? 0 : max(0, busy))
        }
        let result = try RollingEvaluation(horizon: 2, refitInterval: 128).run(night)
        #expect(result.predictions.compactMap { $0 }.allSatisfy { $0.isFinite })
        #expect(result.model.seasons.contains { abs($0 - 24) <= 1 })
        #expect(try #require(result.accuracy.value) > (try #require(result.naiveAccuracy.value)))
    }

    @Test("handles gaps: missing values neither crash nor derail the season")
    func gaps() throws {
        let full = TestSeries.seasonal(period: 24, count: 600, seed: 8)
        var withGaps: [Double?] = full
        for t in withGaps.indices where t % 17 == 3 || (300..<310).contains(t) { withGaps[t] = nil }
        let result = try RollingEvaluation(horizon: 1, refitInterval: 128).run(withGaps)
        #expect(result.model.seasons.contains { abs($0 - 24) <= 1 })
        #expect(result.predictions[1...].allSatisfy { $0?.isFinite == true })
        #expect(!result.scoredRows.contains { withGaps[$0] == nil })
        #expect(try #require(result.accuracy.value) > 0.95)

        var forecaster = try Forecaster()
        forecaster.observe(5)
        forecaster.observe(.nan)
        forecaster.observeMissing()
        forecaster.observe(.infinity)
        #expect(forecaster.observationCount == 4)
        #expect(try forecaster.forecast(step: 1).value == 5)
    }

    @Test("95 % intervals cover roughly 95 % of outcomes")
    func intervalCoverage() throws {
        var forecaster = try TestSeries.learned(TestSeries.seasonal(period: 24, count: 480, seed: 12))
        let future = TestSeries.seasonal(period: 24, count: 480 + 400, seed: 13).suffix(400)
        var covered = 0
        for value in future {
            let forecast = try forecaster.forecast(step: 1)
            if forecast.lower <= value && value <= forecast.upper { covered += 1 }
            forecaster.observe(value)
        }
        let coverage = Double(covered) / 400
        #expect(coverage > 0.88 && coverage < 0.995, "coverage \(coverage)")
    }

    @Test("the online update keeps memory bounded by the history capacity")
    func boundedHistory() throws {
        var forecaster = try Forecaster(configuration: .init(historyCapacity: 64))
        for t in 0..<1000 { forecaster.observe(Double(t % 7)) }
        #expect(forecaster.history.values().count == 64)
        #expect(forecaster.history.values().last == Double(999 % 7))
        #expect(forecaster.observationCount == 1000)
        #expect(forecaster.observationsSinceLearning == 1000)
        forecaster.learnFromPatterns()
        #expect(forecaster.observationsSinceLearning == 0)
    }
}
