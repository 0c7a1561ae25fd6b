import Foundation

/// Runs a model over a window of history, as it would have run online, and measures its
/// forecast errors at the horizons in use. Every forecast is made from earlier values only.
struct ReplayScorer: Sendable {
    /// The window, oldest first; NaN marks a missing interval.
    let values: [Double]
    /// Horizons whose absolute errors are summed.
    let horizons: [Int]

    /// Builds the initial state for `structure` from the window's first values.
    func initialState(_ structure: ModelStructure, _ parameters: SmoothingParameters) -> HoltWintersState? {
        self.values.withUnsafeBufferPointer { buffer in
            HoltWintersState.initialized(
                from: buffer,
                periods: structure.periods,
                hasTrend: structure.hasTrend,
                parameters: parameters
            )
        }
    }

    /// Mean absolute error of the forecasts for targets in `targets`, replaying
    /// values `0..<targets.upperBound`. Returns `.infinity` for an unusable model.
    func meanAbsoluteError(
        _ structure: ModelStructure,
        _ parameters: SmoothingParameters,
        targets: Range<Int>
    ) -> Double {
        guard var state = self.initialState(structure, parameters) else { return .infinity }
        let phi = structure.hasTrend ? parameters.phi : 1
        let horizons = self.horizons
        var dampedSums: [Double] = []
        var arPowers: [Double] = []
        for h in horizons {
            dampedSums.append(phi == 1 ? Double(h) : phi * (1 - pow(phi, Double(h))) / (1 - phi))
            arPowers.append(pow(parameters.ar, Double(h)))
        }
        let end = min(targets.upperBound, self.values.count)
        var errorSum = 0.0
        var errorCount = 0
        self.values.withUnsafeBufferPointer { y in
            for t in 0..<end {
                state.update(y[t])
                for k in horizons.indices {
                    let target = t + horizons[k]
                    guard target >= targets.lowerBound, target < end else { continue }
                    let actual = y[target]
                    guard actual.isFinite else { continue }
                    let predicted = state.forecast(horizons[k], dampedSum: dampedSums[k], arPower: arPowers[k])
                    errorSum += abs(actual - predicted)
                    errorCount += 1
                }
            }
        }
        guard errorCount > 0, errorSum.isFinite else { return .infinity }
        return errorSum / Double(errorCount)
    }

    /// Replays the whole window and returns the final state with the root-mean-square
    /// error of the forecasts 1…`maxHorizon` steps ahead (targets after initialisation).
    func finalState(
        _ structure: ModelStructure,
        _ parameters: SmoothingParameters,
        maxHorizon: Int
    ) -> (state: HoltWintersState, rmse: [Double])? {
        guard var state = self.initialState(structure, parameters),
            let start = HoltWintersState.initializationLength(periods: structure.periods, count: self.values.count)
        else { return nil }
        let horizon = max(1, maxHorizon)
        var squared = [Double](repeating: 0, count: horizon)
        var counts = [Int](repeating: 0, count: horizon)
        let n = self.values.count
        self.values.withUnsafeBufferPointer { y in
            for t in 0..<n {
                state.update(y[t])
                for h in 1...horizon {
                    let target = t + h
                    guard target >= start, target < n, y[target].isFinite else { continue }
                    let error = y[target] - state.forecast(h)
                    if error.isFinite {
                        squared[h - 1] += error * error
                        counts[h - 1] += 1
                    }
                }
            }
        }
        var rmse: [Double] = []
        for h in 0..<horizon {
            guard counts[h] > 0 else { break }
            rmse.append((squared[h] / Double(counts[h])).squareRoot())
        }
        return (state, rmse)
    }
}
