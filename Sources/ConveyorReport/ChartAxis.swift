import Foundation

/// Maps values to pixels along one axis and picks readable tick values.
struct ChartAxis {
    let scale: BenchChart.Scale
    let lower: Double
    let upper: Double
    /// Pixel positions of `lower` and `upper`.
    let start: Double
    let end: Double

    /// An axis covering `values` (and `extra`, e.g. a reference line), widened to nice bounds.
    /// Linear axes start at 0 when every value is positive, so bar lengths compare honestly.
    init(scale: BenchChart.Scale, values: [Double], start: Double, end: Double) {
        let finite = values.filter { $0.isFinite && (scale == .linear || $0 > 0) }
        self.scale = scale
        self.start = start
        self.end = end
        switch scale {
        case .linear:
            let low = min(0, finite.min() ?? 0)
            var high = max(0, finite.max() ?? 1)
            if high == low { high = low + 1 }
            let step = ChartAxis.niceStep((high - low) / 5)
            self.lower = (low / step).rounded(.down) * step
            self.upper = (high / step).rounded(.up) * step
        case .log:
            let low = finite.min() ?? 1
            let high = finite.max() ?? 10
            var lowerExponent = log10(low).rounded(.down)
            var upperExponent = log10(high).rounded(.up)
            if upperExponent <= lowerExponent { upperExponent = lowerExponent + 1 }
            // A value on a decade boundary would touch the frame: leave half a decade around it.
            if log10(low) - lowerExponent < 0.05 { lowerExponent -= 0.5 }
            if upperExponent - log10(high) < 0.05 { upperExponent += 0.5 }
            self.lower = pow(10, lowerExponent)
            self.upper = pow(10, upperExponent)
        }
    }

    /// The pixel position of `value`, clamped to the axis.
    func position(_ value: Double) -> Double {
        let fraction: Double
        switch self.scale {
        case .linear:
            fraction = (value - self.lower) / (self.upper - self.lower)
        case .log:
            guard value > 0 else { return self.start }
            fraction = (log10(value) - log10(self.lower)) / (log10(self.upper) - log10(self.lower))
        }
        let clamped = min(max(fraction.isFinite ? fraction : 0, 0), 1)
        return self.start + (self.end - self.start) * clamped
    }

    /// Tick values inside the axis: multiples of a 1-2-5 step, or powers of ten (with 2 and 5
    /// between them when the axis spans fewer than three decades).
    var ticks: [Double] {
        switch self.scale {
        case .linear:
            let step = ChartAxis.niceStep((self.upper - self.lower) / 5)
            var values: [Double] = []
            var value = self.lower
            while value <= self.upper + step * 1e-9 {
                values.append(abs(value) < step * 1e-9 ? 0 : value)
                value += step
            }
            return values
        case .log:
            let first = Int(log10(self.lower).rounded(.down))
            let last = Int(log10(self.upper).rounded(.up))
            let multipliers: [Double] = last - first < 3 ? [1, 2, 5] : [1]
            var values: [Double] = []
            for exponent in first...last {
                for multiplier in multipliers {
                    let value = multiplier * pow(10, Double(exponent))
                    if value >= self.lower * 0.999 && value <= self.upper * 1.001 { values.append(value) }
                }
            }
            return values
        }
    }

    /// 1, 2 or 5 times a power of ten, at least `rough`.
    static func niceStep(_ rough: Double) -> Double {
        guard rough > 0, rough.isFinite else { return 1 }
        let magnitude = pow(10, log10(rough).rounded(.down))
        for multiplier in [1.0, 2, 5, 10] where multiplier * magnitude >= rough * 0.999 {
            return multiplier * magnitude
        }
        return 10 * magnitude
    }
}
