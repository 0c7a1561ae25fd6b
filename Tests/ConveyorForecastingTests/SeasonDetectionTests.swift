import Foundation
import Testing

@testable import ConveyorForecasting

@Suite("Season detection")
struct SeasonDetectionTests {
    @Test(
        "recovers a known season within one interval (noise and trend)",
        arguments: [(24, 600), (37, 600), (168, 1400)]
    )
    func recoversSeason(period: Int, count: Int) throws {
        let values = TestSeries.seasonal(period: period, count: count, seed: UInt64(period))
        let forecaster = try TestSeries.learned(values)
        let model = forecaster.model
        #expect(model.kind == .holtWinters)
        #expect(model.seasons.contains { abs($0 - period) <= 1 }, "found \(model.seasons) for \(period)")
    }

    @Test("finds no season in noise and falls back to EWMA or Holt")
    func noSeasonInNoise() throws {
        let forecaster = try TestSeries.learned(TestSeries.noise(count: 600))
        #expect(forecaster.model.seasons.isEmpty)
        #expect(forecaster.model.kind == .ewma || forecaster.model.kind == .holt)
        let next = try forecaster.forecast(step: 1).value
        #expect(abs(next - 50) < 3)
    }

    @Test("finds no season in a random walk")
    func noSeasonInRandomWalk() throws {
        var generator = SeededGenerator(seed: 9)
        var value = 100.0
        let values = (0..<600).map { _ in
            value += generator.gaussian()
            return value
        }
        let forecaster = try TestSeries.learned(values)
        #expect(forecaster.model.seasons.isEmpty)
    }

    @Test("proposes a second, longer season from the series differenced at the first")
    func secondSeason() {
        // A 12-interval "day" whose size depends on a 5-"day" cycle: the week is 60 intervals.
        var generator = SeededGenerator(seed: 4)
        let weekdayFactor: [Double] = [1.0, 1.1, 1.2, 0.6, 0.5]
        let values: [Double] = (0..<1200).map { t in
            let day = 10 + 8 * sin(2 * Double.pi * Double(t % 12) / 12)
            return 20 + day * weekdayFactor[(t / 12) % 5] + 0.5 * generator.gaussian()
        }
        let candidates = SeasonDetector.candidatePeriods(values, maxLag: 300)
        #expect(candidates.contains(12) || candidates.contains(60))
        let second = SeasonDetector.secondPeriod(values, primary: 12, maxLag: 300)
        #expect(second == 60)
    }

    @Test("a fixed season is used as given and .none never models one")
    func settings() throws {
        let values = TestSeries.seasonal(period: 24, count: 400, seed: 3)
        let fixed = try TestSeries.learned(values, configuration: .init(season: .fixed([24])))
        #expect(fixed.model.seasons == [24])
        let none = try TestSeries.learned(values, configuration: .init(season: .none))
        #expect(none.model.seasons.isEmpty)
    }

    @Test("season settings parse from the command-line form")
    func parsing() throws {
        #expect(try SeasonSetting(parsing: "auto") == .automatic)
        #expect(try SeasonSetting(parsing: " none ") == SeasonSetting.none)
        #expect(try SeasonSetting(parsing: "24") == .fixed([24]))
        #expect(try SeasonSetting(parsing: "168,24") == .fixed([24, 168]))
        #expect(throws: ForecastError.invalidSeason(1)) { try SeasonSetting(parsing: "1") }
        #expect(throws: ForecastError.invalidSeasonSpecification("daily")) { try SeasonSetting(parsing: "daily") }
        #expect(throws: ForecastError.invalidSeasonSpecification("1,2,3")) { try SeasonSetting(parsing: "1,2,3") }
    }

    @Test("the autocorrelation of a pure cycle peaks at its period")
    func autocorrelation() {
        let x = (0..<200).map { Double($0 % 10) }
        let acf = SeasonDetector.autocorrelation(x, maxLag: 25)
        #expect(abs(acf[0] - 1) < 1e-12)
        #expect(SeasonDetector.peaks(acf, maxLag: 24, sampleCount: 200).first == 10)
    }
}
