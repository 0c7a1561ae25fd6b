// Statistics and seeded randomness shared by every runner: percentiles, medians, SplitMix64,
// Poisson arrival schedules.
import ConveyorReport

#if canImport(Glibc)
import Glibc
#endif

/// Nearest-rank percentiles of a latency sample (nanoseconds).
@usableFromInline package struct Percentiles: Codable, Sendable {
    @usableFromInline package var p50: Double
    @usableFromInline package var p99: Double
    @usableFromInline package var p999: Double
    @usableFromInline package var max: Double
    @usableFromInline package var count: Int

    @usableFromInline package init(_ samples: [UInt64]) {
        let sorted = samples.sorted()
        func rank(_ quantile: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let index = Int((quantile * Double(sorted.count)).rounded(.up)) - 1
            return Double(sorted[Swift.min(Swift.max(index, 0), sorted.count - 1)])
        }
        self.p50 = rank(0.5)
        self.p99 = rank(0.99)
        self.p999 = rank(0.999)
        self.max = Double(sorted.last ?? 0)
        self.count = sorted.count
    }
}

/// SplitMix64: a small seeded generator, so every run replays the same arrival pattern.
@usableFromInline package struct SplitMix64: RandomNumberGenerator {
    @usableFromInline package var state: UInt64

    @usableFromInline package init(state: UInt64) { self.state = state }

    @usableFromInline package mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    @usableFromInline package mutating func unit() -> Double { Double(self.next() >> 11) * 0x1p-53 }
}

/// Poisson arrivals: `count` submit times (ns after the start) with exponential gaps of mean
/// 1/rate, from a seeded generator.
@usableFromInline package func poissonSchedule(rate: Double, count: Int, seed: UInt64) -> [UInt64] {
    var generator = SplitMix64(state: seed)
    var schedule = [UInt64]()
    schedule.reserveCapacity(count)
    var time = 0.0
    let mean = 1e9 / rate
    for _ in 0..<count {
        time += -log1p(-generator.unit()) * mean
        schedule.append(UInt64(time))
    }
    return schedule
}

extension Array where Element == Double {
    /// Median (mean of the two middle values for an even count; NaN values left out), NaN
    /// when empty: the one median of every table and report (``BenchFigure/median(of:)``).
    @usableFromInline package var median: Double { BenchFigure.median(of: self) }
}
