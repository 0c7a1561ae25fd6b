import Foundation

/// The online state of an additive Holt-Winters model with up to two seasons,
/// a (damped) trend and an AR(1) correction of the one-step error.
///
/// `update` and `forecast` are O(1) (O(number of seasons)); memory is O(sum of season lengths).
struct HoltWintersState: Sendable {
    /// Season lengths, ascending; at most two.
    let periods: [Int]
    let hasTrend: Bool
    private(set) var parameters: SmoothingParameters

    private(set) var level: Double
    private(set) var trend: Double
    /// Seasonal components: the first season's `periods[0]` slots then the second's.
    private(set) var seasonal: [Double]
    /// Phase of the next observation within each season.
    private(set) var positions: [Int]
    /// The last one-step error of the base model (before the AR correction).
    private(set) var lastError: Double

    // Cached derived coefficients.
    private var alpha: Double
    private var trendGain: Double
    private var phi: Double
    private var gamma0: Double
    private var gamma1: Double
    private var ar: Double

    /// Creates a state with explicit components (season slots indexed by phase, phase 0 next).
    init(
        periods: [Int],
        hasTrend: Bool,
        parameters: SmoothingParameters,
        level: Double,
        trend: Double,
        seasonal: [Double]
    ) {
        self.periods = periods
        self.hasTrend = hasTrend
        self.parameters = parameters
        self.level = level
        self.trend = hasTrend ? trend : 0
        self.seasonal = seasonal
        self.positions = Array(repeating: 0, count: periods.count)
        self.lastError = 0
        self.alpha = 0
        self.trendGain = 0
        self.phi = 1
        self.gamma0 = 0
        self.gamma1 = 0
        self.ar = 0
        self.apply(parameters)
    }

    /// Replaces the smoothing parameters, keeping the components.
    mutating func apply(_ parameters: SmoothingParameters) {
        self.parameters = parameters
        self.alpha = parameters.alpha
        self.trendGain = self.hasTrend ? parameters.alpha * parameters.beta : 0
        self.phi = self.hasTrend ? parameters.phi : 1
        self.gamma0 = parameters.gammas.count > 0 ? parameters.gammas[0] : 0
        self.gamma1 = parameters.gammas.count > 1 ? parameters.gammas[1] : 0
        self.ar = parameters.ar
    }

    /// Sum of the seasonal components for the observation `offset` steps after the next one.
    @inline(__always)
    private func seasonalSum(offset: Int) -> Double {
        var sum = 0.0
        if self.periods.count > 0 {
            let m = self.periods[0]
            sum += self.seasonal[(self.positions[0] + offset) % m]
        }
        if self.periods.count > 1 {
            let m0 = self.periods[0]
            let m1 = self.periods[1]
            sum += self.seasonal[m0 + (self.positions[1] + offset) % m1]
        }
        return sum
    }

    /// The base one-step forecast (without the AR correction).
    @inline(__always)
    var baseOneStep: Double {
        self.level + self.phi * self.trend + self.seasonalSum(offset: 0)
    }

    /// The full one-step forecast.
    var oneStep: Double {
        self.baseOneStep + self.ar * self.lastError
    }

    /// The `h`-step forecast from the current state (h ≥ 1).
    func forecast(_ h: Int) -> Double {
        let dampedSum: Double
        if self.phi == 1 {
            dampedSum = Double(h)
        } else {
            dampedSum = self.phi * (1 - pow(self.phi, Double(h))) / (1 - self.phi)
        }
        return self.forecast(h, dampedSum: dampedSum, arPower: pow(self.ar, Double(h)))
    }

    /// The `h`-step forecast with precomputed `phi + … + phi^h` and `ar^h`.
    @inline(__always)
    func forecast(_ h: Int, dampedSum: Double, arPower: Double) -> Double {
        self.level + dampedSum * self.trend + self.seasonalSum(offset: h - 1) + arPower * self.lastError
    }

    /// Moves the level by `shift` and forgets the last error (after a detected level shift).
    mutating func shiftLevel(by shift: Double) {
        self.level += shift
        self.lastError = 0
    }

    /// Feeds one observation. A non-finite value is a missing interval: the state advances
    /// as if the full one-step forecast had been observed.
    ///
    /// - Returns: the full one-step error (0 for a missing value).
    @discardableResult
    @inline(__always)
    mutating func update(_ value: Double) -> Double {
        let base = self.baseOneStep
        let full = base + self.ar * self.lastError
        let observed = value.isFinite ? value : full
        let error = observed - base
        self.level = self.level + self.phi * self.trend + self.alpha * error
        if self.hasTrend {
            self.trend = self.phi * self.trend + self.trendGain * error
        }
        if self.periods.count > 0 {
            let m0 = self.periods[0]
            let p0 = self.positions[0]
            self.seasonal[p0] += self.gamma0 * error
            self.positions[0] = p0 + 1 == m0 ? 0 : p0 + 1
            if self.periods.count > 1 {
                let m1 = self.periods[1]
                let p1 = self.positions[1]
                self.seasonal[m0 + p1] += self.gamma1 * error
                self.positions[1] = p1 + 1 == m1 ? 0 : p1 + 1
            }
        }
        self.lastError = error
        return observed - full
    }
}

extension HoltWintersState {
    /// Builds an initial state from the start of `values` by classical decomposition:
    /// a least-squares line over the first `initializationLength(periods:count:)` values,
    /// then the mean detrended value of each phase of each season (shortest first).
    ///
    /// Returns `nil` when `values` is too short for the season lengths.
    static func initialized(
        from values: UnsafeBufferPointer<Double>,
        periods: [Int],
        hasTrend: Bool,
        parameters: SmoothingParameters
    ) -> HoltWintersState? {
        guard let length = Self.initializationLength(periods: periods, count: values.count) else {
            return nil
        }
        // Least-squares line through the finite values of the block.
        var n = 0.0
        var sumT = 0.0
        var sumY = 0.0
        var sumTT = 0.0
        var sumTY = 0.0
        for t in 0..<length where values[t].isFinite {
            let x = Double(t)
            n += 1
            sumT += x
            sumY += values[t]
            sumTT += x * x
            sumTY += x * values[t]
        }
        guard n > 0 else { return nil }
        var intercept = sumY / n
        var slope = 0.0
        let denominator = n * sumTT - sumT * sumT
        if hasTrend, n >= 2, denominator > 0 {
            slope = (n * sumTY - sumT * sumY) / denominator
            intercept = (sumY - slope * sumT) / n
        }
        var residual = [Double](repeating: .nan, count: length)
        for t in 0..<length where values[t].isFinite {
            residual[t] = values[t] - (intercept + slope * Double(t))
        }
        var seasonal: [Double] = []
        for m in periods {
            var sums = [Double](repeating: 0, count: m)
            var counts = [Double](repeating: 0, count: m)
            for t in 0..<length where residual[t].isFinite {
                sums[t % m] += residual[t]
                counts[t % m] += 1
            }
            var pattern = [Double](repeating: 0, count: m)
            var total = 0.0
            var filled = 0.0
            for j in 0..<m where counts[j] > 0 {
                pattern[j] = sums[j] / counts[j]
                total += pattern[j]
                filled += 1
            }
            let mean = filled > 0 ? total / filled : 0
            for j in 0..<m where counts[j] > 0 { pattern[j] -= mean }
            for t in 0..<length where residual[t].isFinite {
                residual[t] -= pattern[t % m]
            }
            seasonal.append(contentsOf: pattern)
        }
        let phi = hasTrend ? parameters.phi : 1
        return HoltWintersState(
            periods: periods,
            hasTrend: hasTrend,
            parameters: parameters,
            level: intercept - phi * slope,
            trend: slope,
            seasonal: seasonal
        )
    }

    /// How many leading values initialisation uses: two cycles of the longest season
    /// (or a short block without a season); `nil` if `count` is too small.
    static func initializationLength(periods: [Int], count: Int) -> Int? {
        guard let longest = periods.max() else {
            return count >= 1 ? min(count, 12) : nil
        }
        let length = 2 * longest
        return count >= length ? length : nil
    }
}
