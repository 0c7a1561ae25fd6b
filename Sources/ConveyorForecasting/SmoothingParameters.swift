/// The smoothing parameters of the additive Holt-Winters model, in error-correction form.
///
/// With one-step error `e = y − (level + phi·trend + Σ season)`:
/// - `level  ← level + phi·trend + alpha·e`
/// - `trend  ← phi·trend + alpha·beta·e` (only when the model has a trend)
/// - `season_i[phase] ← season_i[phase] + gammas[i]·e`
///
/// and the `h`-step forecast adds `ar^h · e` (a first-order autoregressive correction of the
/// last one-step error, as in Taylor's double-seasonal Holt-Winters).
///
/// ```swift
/// let p = SmoothingParameters(alpha: 0.3, beta: 0.05, phi: 0.98, gammas: [0.2], ar: 0.5)
/// ```
public struct SmoothingParameters: Sendable, Hashable {
    /// Level smoothing, in (0, 1).
    public var alpha: Double
    /// Trend smoothing as a fraction of `alpha`, in [0, 1]; ignored without a trend.
    public var beta: Double
    /// Trend damping, in [0.8, 1]; 1 is an undamped trend.
    public var phi: Double
    /// Seasonal smoothing, one per season length, each in [0, 1 − alpha].
    public var gammas: [Double]
    /// Autoregressive correction of the last one-step error, in [−0.5, 0.99].
    public var ar: Double

    /// Creates a parameter set.
    public init(alpha: Double, beta: Double, phi: Double, gammas: [Double], ar: Double) {
        self.alpha = alpha
        self.beta = beta
        self.phi = phi
        self.gammas = gammas
        self.ar = ar
    }

    /// Defaults used before the first `learnFromPatterns()`: a responsive EWMA-like setting.
    public static func initial(seasons: Int) -> SmoothingParameters {
        SmoothingParameters(
            alpha: 0.5,
            beta: 0.1,
            phi: 0.98,
            gammas: Array(repeating: 0.2, count: seasons),
            ar: 0
        )
    }
}
