import Synchronization

/// The time source of the scaler and the alerts: elapsed time since an arbitrary origin.
///
/// Production code uses ``SystemScalingClock``; tests and simulations inject a
/// ``ManualScalingClock`` and move it by hand, so rules with durations, cooldowns and the
/// scaler's intervals run on scripted time.
///
/// ```swift
/// let clock = ManualScalingClock()
/// let monitor = try AlertMonitor(rules: rules, clock: clock)
/// clock.advance(by: .seconds(30))
/// ```
public protocol ScalingClock: Sendable {
    /// Time elapsed since the clock's origin. Never decreases.
    var now: Duration { get }
}

/// The monotonic clock of the process (``MonotonicClock``).
public struct SystemScalingClock: ScalingClock {
    public init() {}

    public var now: Duration { .nanoseconds(Int64(MonotonicClock.nowNanoseconds())) }
}

/// A clock that moves only when told to: for tests and simulations.
///
/// ```swift
/// let clock = ManualScalingClock()
/// clock.advance(by: .seconds(1))
/// print(clock.now)  // 1.0 seconds
/// ```
public final class ManualScalingClock: ScalingClock {
    private let elapsed: Atomic<Int64>

    /// A clock reading `start`.
    public init(start: Duration = .zero) {
        self.elapsed = Atomic(Self.nanoseconds(start))
    }

    public var now: Duration { .nanoseconds(self.elapsed.load(ordering: .acquiring)) }

    /// Moves the clock forward; a negative duration is ignored (the clock never goes back).
    public func advance(by duration: Duration) {
        let step = Self.nanoseconds(duration)
        guard step > 0 else { return }
        self.elapsed.add(step, ordering: .releasing)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var scalingSeconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
