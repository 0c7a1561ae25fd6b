/// A description of the model a ``Forecaster`` currently uses.
///
/// ```swift
/// let model = forecaster.learnFromPatterns()
/// print(model)              // Holt-Winters, seasons 24, damped trend, alpha 0.31 …
/// print(model.seasons)      // [24]
/// ```
public struct ForecastModel: Sendable, Hashable, CustomStringConvertible {
    /// The family the model falls back to.
    public enum Kind: String, Sendable, Hashable {
        /// Level only (simple exponential smoothing).
        case ewma = "EWMA"
        /// Level and (damped) trend.
        case holt = "Holt"
        /// Level, (damped) trend and one or two additive seasons.
        case holtWinters = "Holt-Winters"
    }

    /// Season lengths in intervals, ascending; empty when no season is modelled.
    public var seasons: [Int]
    /// Whether the model has a trend component.
    public var hasTrend: Bool
    /// The smoothing parameters.
    public var parameters: SmoothingParameters

    /// Creates a model description.
    public init(seasons: [Int], hasTrend: Bool, parameters: SmoothingParameters) {
        self.seasons = seasons
        self.hasTrend = hasTrend
        self.parameters = parameters
    }

    /// The model family.
    public var kind: Kind {
        if !self.seasons.isEmpty { return .holtWinters }
        return self.hasTrend ? .holt : .ewma
    }

    /// Whether the trend is damped (phi below 1).
    public var isDamped: Bool { self.hasTrend && self.parameters.phi < 1 }

    public var description: String {
        var parts = [self.kind.rawValue]
        if !self.seasons.isEmpty {
            parts.append("seasons " + self.seasons.map(String.init).joined(separator: " + "))
        }
        if self.hasTrend {
            parts.append(self.isDamped ? "damped trend (phi \(format(self.parameters.phi)))" : "trend")
        }
        parts.append("alpha \(format(self.parameters.alpha))")
        if self.hasTrend { parts.append("beta \(format(self.parameters.beta))") }
        if !self.parameters.gammas.isEmpty {
            parts.append("gamma " + self.parameters.gammas.map(format).joined(separator: "/"))
        }
        if self.parameters.ar != 0 { parts.append("ar \(format(self.parameters.ar))") }
        return parts.joined(separator: ", ")
    }
}

/// Formats a parameter with three decimals without Foundation.
func format(_ value: Double) -> String {
    let scaled = (value * 1000).rounded()
    let sign = scaled < 0 ? "-" : ""
    let magnitude = Int(abs(scaled))
    let fraction = magnitude % 1000
    let fractionText = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
    return "\(sign)\(magnitude / 1000).\(fractionText)"
}
