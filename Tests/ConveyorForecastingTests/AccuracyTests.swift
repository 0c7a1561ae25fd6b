import Testing

@testable import ConveyorForecasting

@Suite("Accuracy (1 − WAPE)")
struct AccuracyTests {
    @Test("hand-computed example")
    func handComputed() throws {
        // |10−12| + |20−15| + |30−30| + |0−1| = 2 + 5 + 0 + 1 = 8;  Σ|actual| = 60.
        let accuracy = try ForecastAccuracy.of(actual: [10, 20, 30, 0], predicted: [12, 15, 30, 1])
        let value = try #require(accuracy)
        #expect(abs(value - (1 - 8.0 / 60.0)) < 1e-12)

        var running = ForecastAccuracy()
        running.record(actual: -4, predicted: -2)  // |−4| counts as 4
        running.record(actual: 6, predicted: 9)
        #expect(running.count == 2)
        #expect(running.absoluteErrorSum == 5)
        #expect(running.absoluteActualSum == 10)
        #expect(running.wape == 0.5)
        #expect(running.value == 0.5)
    }

    @Test("undefined, not a division by zero, on all-zero actuals")
    func allZeros() throws {
        #expect(try ForecastAccuracy.of(actual: [0, 0, 0], predicted: [1, 0, 2]) == nil)
        #expect(ForecastAccuracy().value == nil)
        var accuracy = ForecastAccuracy()
        accuracy.record(actual: 0, predicted: 3)
        #expect(accuracy.value == nil)
        accuracy.record(actual: 5, predicted: 4)
        #expect(accuracy.value == 1 - 4.0 / 5.0)
    }

    @Test("non-finite pairs are ignored and mismatched lengths are an error")
    func edgeCases() {
        var accuracy = ForecastAccuracy()
        accuracy.record(actual: .nan, predicted: 1)
        accuracy.record(actual: 1, predicted: .infinity)
        #expect(accuracy.count == 0)
        #expect(throws: ForecastError.lengthMismatch(actual: 2, predicted: 1)) {
            try ForecastAccuracy.of(actual: [1, 2], predicted: [1])
        }
    }

    @Test("rolling windows over an all-zero stretch are undefined")
    func rollingWindows() throws {
        // Rows 0–7 at 10, rows 8–15 zero, rows 16–23 at 10 again; horizon 1.
        let values: [Double?] = (0..<24).map { ($0 / 8) == 1 ? 0 : 10 }
        let evaluation = try RollingEvaluation(horizon: 1, configuration: .init(season: .none), warmup: 8)
        let result = evaluation.run(values)
        #expect(result.scoredRows.first == 8)
        let windows = result.rollingAccuracy(window: 8)
        #expect(windows.count == 2)
        #expect(windows[0] == nil)  // rows 8–15: every actual is zero
        #expect(windows[1] != nil)
        #expect(result.accuracy.value != nil)
    }

    @Test("baselines are scored on the forecaster's rows")
    func baselines() throws {
        let values: [Double?] = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 5]
        let predictions: [Double?] = Array(repeating: nil, count: 4) + [1, 2, 3, 4, 1, 2, 3, 4]
        let result = EvaluationResult(
            horizon: 2,
            actuals: values,
            predictions: predictions,
            scoredRows: Array(4..<12),
            model: ForecastModel(seasons: [4], hasTrend: false, parameters: .initial(seasons: 1)),
            seasonChanges: [],
            learningCount: 0
        )
        // Σ|actual| over rows 4–11 = 1+2+3+4+1+2+3+5 = 21.
        // Forecaster: only row 11 is off, by 1.
        #expect(abs(try #require(result.accuracy.value) - (1 - 1.0 / 21.0)) < 1e-12)
        // Naive (row t−2): |1−3| |2−4| |3−1| |4−2| |1−3| |2−4| |3−1| |5−2| = 17.
        #expect(abs(try #require(result.naiveAccuracy.value) - (1 - 17.0 / 21.0)) < 1e-12)
        // Seasonal naive (row t−4): only row 11 is off, by 1.
        #expect(result.seasonalNaive.map(\.season) == [4])
        #expect(abs(try #require(result.seasonalNaive.first?.accuracy.value) - (1 - 1.0 / 21.0)) < 1e-12)
    }

    @Test("the evaluation scores rows from max(horizon, warm-up, season) on")
    func scoredRows() throws {
        let values: [Double?] = (0..<40).map { Double($0 % 5) + 1 }
        let result = try RollingEvaluation(horizon: 3, configuration: .init(season: .none), warmup: 7).run(values)
        #expect(result.scoredRows == Array(7..<40))
        #expect(result.predictions[0..<3].allSatisfy { $0 == nil })
        #expect(result.predictions[3..<40].allSatisfy { $0 != nil })
        #expect(result.accuracy.count == 33)
        #expect(result.naiveAccuracy.count == 33)
    }
}
