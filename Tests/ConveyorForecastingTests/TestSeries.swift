import Foundation

@testable import ConveyorForecasting

/// A small deterministic generator (SplitMix64) so synthetic series are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal draw (Box-Muller).
    mutating func gaussian() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

enum TestSeries {
    /// A seasonal series: level + trend·t + an asymmetric repeating shape of length `period`
    /// (two harmonics) + Gaussian noise.
    static func seasonal(
        period: Int,
        count: Int,
        level: Double = 100,
        trend: Double = 0.02,
        amplitude: Double = 20,
        noise: Double = 2,
        seed: UInt64 = 1
    ) -> [Double] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { t in
            let phase = 2 * Double.pi * Double(t % period) / Double(period)
            let shape = amplitude * (sin(phase) + 0.4 * cos(2 * phase))
            return level + trend * Double(t) + shape + noise * generator.gaussian()
        }
    }

    /// Gaussian noise around a constant level.
    static func noise(count: Int, level: Double = 50, sd: Double = 5, seed: UInt64 = 2) -> [Double] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in level + sd * generator.gaussian() }
    }

    /// Runs a forecaster over `values`, then learns once.
    static func learned(
        _ values: [Double],
        configuration: Forecaster.Configuration = Forecaster.Configuration()
    ) throws -> Forecaster {
        var forecaster = try Forecaster(configuration: configuration)
        for value in values { forecaster.observe(value) }
        forecaster.learnFromPatterns()
        return forecaster
    }
}
