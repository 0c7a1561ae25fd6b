/// The shape of a candidate model: which seasons, and whether it has a trend.
struct ModelStructure: Sendable, Hashable {
    var periods: [Int]
    var hasTrend: Bool

    static let ewma = ModelStructure(periods: [], hasTrend: false)
    static let holt = ModelStructure(periods: [], hasTrend: true)

    /// Orders candidates from simplest to most complex; among near-equal errors the simplest wins.
    var complexity: [Int] {
        [self.periods.count, self.periods.first ?? 0, self.periods.last ?? 0, self.hasTrend ? 1 : 0]
    }

    /// Number of free smoothing parameters (for the search's coordinate list).
    var parameterCount: Int {
        1 + (self.hasTrend ? 2 : 0) + self.periods.count + 1
    }

    /// Maps unit-cube coordinates to smoothing parameters.
    func parameters(from unit: [Double]) -> SmoothingParameters {
        var index = 0
        func next() -> Double {
            defer { index += 1 }
            return min(1, max(0, unit[index]))
        }
        let alpha = 0.001 + 0.998 * next()
        var beta = 0.0
        var phi = 1.0
        if self.hasTrend {
            beta = next()
            phi = 0.8 + 0.2 * next()
        }
        var gammas: [Double] = []
        for _ in self.periods { gammas.append(next() * (1 - alpha)) }
        let ar = -0.5 + 1.49 * next()
        return SmoothingParameters(alpha: alpha, beta: beta, phi: phi, gammas: gammas, ar: ar)
    }

    /// The unit-cube coordinates of `parameters` (the inverse of `parameters(from:)`).
    func unitCoordinates(of parameters: SmoothingParameters) -> [Double] {
        func clamp(_ x: Double) -> Double { min(1, max(0, x.isFinite ? x : 0)) }
        var unit = [clamp((parameters.alpha - 0.001) / 0.998)]
        if self.hasTrend {
            unit.append(clamp(parameters.beta))
            unit.append(clamp((parameters.phi - 0.8) / 0.2))
        }
        let room = max(1e-9, 1 - parameters.alpha)
        for i in self.periods.indices {
            let gamma = i < parameters.gammas.count ? parameters.gammas[i] : 0.2
            unit.append(clamp(gamma / room))
        }
        unit.append(clamp((parameters.ar + 0.5) / 1.49))
        return unit
    }
}
