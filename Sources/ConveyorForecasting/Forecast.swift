/// One point forecast with its prediction interval.
///
/// ```swift
/// let next = try forecaster.forecast(horizon: 3)
/// for f in next { print(f.step, f.value, f.lower, f.upper) }
/// ```
public struct Forecast: Sendable, Hashable {
    /// How many intervals ahead of the last observation this forecast is (1 = the next interval).
    public var step: Int
    /// The point forecast.
    public var value: Double
    /// Lower bound of the prediction interval.
    public var lower: Double
    /// Upper bound of the prediction interval.
    public var upper: Double

    /// Creates a forecast.
    public init(step: Int, value: Double, lower: Double, upper: Double) {
        self.step = step
        self.value = value
        self.lower = lower
        self.upper = upper
    }
}
