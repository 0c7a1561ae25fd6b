// CConveyor too: its headers include <time.h>, and when this file shares a compiler job with
// files that import CConveyor, `timespec` resolves through it (an @inlinable body must import it).
import CConveyor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The time source a ``ResultCache`` checks time-to-live against. The default,
/// ``MonotonicCacheClock``, reads `CLOCK_MONOTONIC`; tests inject a clock they move by hand.
///
/// ```swift
/// final class TestClock: CacheClock, @unchecked Sendable {
///     var current: Duration = .zero
///     func now() -> Duration { current }
/// }
/// let cache = try ResultCache<String, Int>(.init(maxEntries: 100, ttl: .seconds(5), clock: TestClock()))
/// ```
public protocol CacheClock: Sendable {
    /// The time now, from any fixed origin; it must never go backwards.
    func now() -> Duration
}

/// `CLOCK_MONOTONIC`, the default ``CacheClock``.
///
/// ```swift
/// let elapsed = MonotonicCacheClock().now()
/// ```
public struct MonotonicCacheClock: CacheClock {
    @inlinable
    public init() {}

    @inlinable
    public func now() -> Duration {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return .seconds(Int64(spec.tv_sec)) + .nanoseconds(Int64(spec.tv_nsec))
    }
}

extension Duration {
    /// Whole nanoseconds, saturating (the cache stores deadlines as Int64 nanoseconds).
    @inlinable
    var cacheNanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }
}
