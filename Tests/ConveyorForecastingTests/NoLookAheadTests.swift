import Testing

@testable import ConveyorForecasting

@Suite("No look-ahead")
struct NoLookAheadTests {
    @Test("perturbing rows after k leaves every prediction up to row k + H unchanged", arguments: [1, 4])
    func perturbation(horizon: Int) throws {
        let original = TestSeries.seasonal(period: 24, count: 700, seed: 21)
        let k = 383  // just before the learning after 384 rows
        var generator = SeededGenerator(seed: 22)
        var perturbed = original
        for t in (k + 1)..<perturbed.count {
            perturbed[t] = perturbed[t] * 3 + 50 * generator.gaussian()
        }
        let evaluation = try RollingEvaluation(horizon: horizon, firstLearning: 24, refitInterval: 96)
        let a = evaluation.run(original)
        let b = evaluation.run(perturbed)
        for t in 0...(k + horizon) {
            #expect(a.predictions[t] == b.predictions[t], "row \(t) changed")
        }
        // The perturbation is visible afterwards, so the comparison above can fail.
        let changed = ((k + horizon + 1)..<original.count).filter { a.predictions[$0] != b.predictions[$0] }
        #expect(changed.count > 100)
        #expect(changed.first == k + horizon + 1)
    }

    @Test("a learning point only sees rows already observed")
    func schedule() throws {
        let evaluation = try RollingEvaluation(horizon: 1, firstLearning: 32, refitInterval: 512)
        let points = (1...2048).filter { evaluation.learnsAfter(count: $0) }
        #expect(points == [32, 64, 128, 256, 512, 1024, 1536, 2048])
    }
}
