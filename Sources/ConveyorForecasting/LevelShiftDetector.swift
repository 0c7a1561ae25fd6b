/// A two-sided CUSUM on standardised one-step errors that flags a sustained level shift,
/// so the forecaster can move its level at once instead of waiting for a small `alpha`
/// to catch up. O(1) per value.
///
/// Each standardised error is clipped to ±`clip`, so one outlier can never trigger it: it
/// takes several consecutive large errors of the same sign.
struct LevelShiftDetector: Sendable {
    /// Drift allowance per value, in standard deviations.
    static let allowance = 1.0
    /// Decision threshold, in standard deviations.
    static let threshold = 12.0
    /// Largest standardised error one value may contribute.
    static let clip = 4.0

    private var upper = 0.0
    private var lower = 0.0
    private var upperSum = 0.0
    private var lowerSum = 0.0
    private var upperCount = 0
    private var lowerCount = 0

    /// Feeds one one-step `error` with the current error scale `sigma`.
    ///
    /// - Returns: the estimated shift (mean error over the run that crossed the threshold),
    ///   or `nil` when no shift is detected.
    mutating func observe(error: Double, sigma: Double) -> Double? {
        guard error.isFinite else { return nil }
        let z: Double
        if sigma > 0 {
            z = max(-Self.clip, min(Self.clip, error / sigma))
        } else {
            z = error == 0 ? 0 : (error > 0 ? Self.clip : -Self.clip)
        }
        self.upper = max(0, self.upper + z - Self.allowance)
        if self.upper == 0 {
            self.upperSum = 0
            self.upperCount = 0
        } else {
            self.upperSum += error
            self.upperCount += 1
        }
        self.lower = max(0, self.lower - z - Self.allowance)
        if self.lower == 0 {
            self.lowerSum = 0
            self.lowerCount = 0
        } else {
            self.lowerSum += error
            self.lowerCount += 1
        }
        if self.upper > Self.threshold, self.upperCount > 0 {
            let shift = self.upperSum / Double(self.upperCount)
            self = LevelShiftDetector()
            return shift
        }
        if self.lower > Self.threshold, self.lowerCount > 0 {
            let shift = self.lowerSum / Double(self.lowerCount)
            self = LevelShiftDetector()
            return shift
        }
        return nil
    }
}
