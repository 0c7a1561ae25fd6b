/// Forecast accuracy as 1 − WAPE: `1 − Σ|actual − predicted| ÷ Σ|actual|`, accumulated one
/// pair at a time (rolling origin).
///
/// The value is `nil` (undefined) while `Σ|actual|` is zero, e.g. over an all-zero stretch,
/// instead of dividing by zero.
///
/// ```swift
/// var accuracy = ForecastAccuracy()
/// accuracy.record(actual: 10, predicted: 8)
/// accuracy.record(actual: 30, predicted: 33)
/// print(accuracy.value ?? .nan)  // 1 − (2 + 3) / (10 + 30) = 0.875
/// ```
public struct ForecastAccuracy: Sendable, Hashable {
    /// Σ|actual − predicted| over the recorded pairs.
    public private(set) var absoluteErrorSum: Double
    /// Σ|actual| over the recorded pairs.
    public private(set) var absoluteActualSum: Double
    /// How many pairs were recorded.
    public private(set) var count: Int

    /// An empty accumulator.
    public init() {
        self.absoluteErrorSum = 0
        self.absoluteActualSum = 0
        self.count = 0
    }

    /// Adds one (actual, predicted) pair. Pairs with a non-finite member are ignored.
    public mutating func record(actual: Double, predicted: Double) {
        guard actual.isFinite, predicted.isFinite else { return }
        self.absoluteErrorSum += abs(actual - predicted)
        self.absoluteActualSum += abs(actual)
        self.count += 1
    }

    /// Weighted absolute percentage error as a fraction, or `nil` when `Σ|actual|` is zero.
    public var wape: Double? {
        guard self.absoluteActualSum > 0 else { return nil }
        return self.absoluteErrorSum / self.absoluteActualSum
    }

    /// Accuracy 1 − WAPE (may be negative for very poor forecasts), or `nil` when undefined.
    public var value: Double? {
        self.wape.map { 1 - $0 }
    }

    /// The accuracy of `predicted` against `actual` (same length, pairwise).
    ///
    /// ```swift
    /// let a = try ForecastAccuracy.of(actual: [10, 30], predicted: [8, 33])  // 0.875
    /// let undefined = try ForecastAccuracy.of(actual: [0, 0], predicted: [1, 2])  // nil
    /// ```
    public static func of(actual: [Double], predicted: [Double]) throws(ForecastError) -> Double? {
        guard actual.count == predicted.count else {
            throw .lengthMismatch(actual: actual.count, predicted: predicted.count)
        }
        var accuracy = ForecastAccuracy()
        for (a, p) in zip(actual, predicted) { accuracy.record(actual: a, predicted: p) }
        return accuracy.value
    }
}
