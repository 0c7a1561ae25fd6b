/// How failed jobs are retried: exponential backoff with jitter, up to a number of attempts.
///
/// The delay after attempt `n` (1-based) is `min(maximumDelay, base × factorⁿ⁻¹)`, scaled by a
/// random factor in `1 − jitter ... 1 + jitter` so that jobs that failed together do not all
/// retry in the same instant.
///
/// ```swift
/// let policy = RetryPolicy(maxAttempts: 5, base: .seconds(1), maximumDelay: .seconds(600))
/// policy.delay(afterAttempt: 3, unit: 0.5)   // 4 s (no jitter at the midpoint)
/// ```
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included (1 = never retried).
    public var maxAttempts: Int
    public var base: Duration
    public var factor: Double
    public var maximumDelay: Duration
    /// Relative spread of the delay, 0 ... 1.
    public var jitter: Double

    public init(
        maxAttempts: Int = 20, base: Duration = .seconds(1), factor: Double = 2,
        maximumDelay: Duration = .seconds(3_600), jitter: Double = 0.1
    ) {
        self.maxAttempts = maxAttempts
        self.base = base
        self.factor = factor
        self.maximumDelay = maximumDelay
        self.jitter = jitter
    }

    func validate() throws(DurableQueueError) {
        guard maxAttempts >= 1 else { throw .invalidConfiguration(reason: "maxAttempts \(maxAttempts) must be at least 1") }
        guard base >= .zero, maximumDelay >= .zero else {
            throw .invalidConfiguration(reason: "retry delays must not be negative")
        }
        guard factor >= 1, factor.isFinite else { throw .invalidConfiguration(reason: "retry factor \(factor) must be ≥ 1") }
        guard (0...1).contains(jitter) else { throw .invalidConfiguration(reason: "retry jitter \(jitter) must be in 0...1") }
    }

    /// The delay before the attempt after `attempt`; `unit` is a uniform random number in
    /// 0 ..< 1 (injected, so the schedule is testable).
    public func delay(afterAttempt attempt: Int, unit: Double) -> Duration {
        let baseSeconds = Self.seconds(base)
        let cap = Self.seconds(maximumDelay)
        let exponent = Double(max(0, attempt - 1))
        let raw = min(cap, baseSeconds * pow(factor, exponent))
        let spread = 1 + jitter * (2 * min(max(unit, 0), 1) - 1)
        let value = min(cap * (1 + jitter), max(0, raw * spread))
        return .nanoseconds(Int64((value * 1e9).rounded()))
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        var remaining = Int(exponent)
        while remaining > 0 {
            result *= base
            remaining -= 1
            if result > 1e12 { return result }
        }
        return result
    }
}
