import CConveyor

/// The clock for task timestamps: the CPU's invariant time-stamp counter when it has one,
/// `CLOCK_MONOTONIC` otherwise.
///
/// Reading the time-stamp counter costs a few nanoseconds and touches no shared memory,
/// where `clock_gettime` costs tens. Take ``ticks()`` on the hot path, subtract, and convert
/// only the difference with ``nanoseconds(fromTicks:)`` (a multiply and a shift).
///
/// ```swift
/// MonotonicClock.initialize()                 // optional: calibrates now (~10 ms), not on first use
/// let start = MonotonicClock.ticks()
/// runTask()
/// let elapsed = MonotonicClock.nanoseconds(from: start, to: MonotonicClock.ticks())
/// print(MonotonicClock.source, MonotonicClock.ticksPerSecond)   // timeStampCounter 2793439223
/// ```
///
/// Ticks from different threads are comparable: the invariant counter runs at one rate on
/// every core. A timestamp from another core may be a few ticks ahead, so intervals are
/// computed with ``nanoseconds(from:to:)``, which returns 0 instead of wrapping around.
/// Set the environment variable `CONVEYOR_CLOCK=monotonic` before the first use to force
/// `CLOCK_MONOTONIC`.
@usableFromInline
enum MonotonicClock {
    /// The counter behind ``ticks()``.
    enum Source: Sendable, Equatable, CustomStringConvertible {
        /// RDTSC on a CPU with an invariant TSC, calibrated against `CLOCK_MONOTONIC`.
        case timeStampCounter
        /// `clock_gettime(CLOCK_MONOTONIC)`: one tick is one nanosecond.
        case monotonic

        var description: String {
            switch self {
            case .timeStampCounter: "timeStampCounter"
            case .monotonic: "monotonic"
            }
        }
    }

    /// Chooses the source and calibrates it, once per process (~10 ms the first time, free
    /// afterwards). Every other member initializes on first use; call this at startup to keep
    /// the calibration off the first task. Returns the source in use.
    @discardableResult
    static func initialize() -> Source {
        Self.source(cnv_clock_init())
    }

    /// The source in use.
    static var source: Source {
        Self.source(cnv_clock_source_in_use())
    }

    /// Ticks per second, as calibrated (1,000,000,000 for ``Source/monotonic``).
    static var ticksPerSecond: UInt64 {
        cnv_clock_ticks_per_second()
    }

    /// Whether this CPU advertises an invariant time-stamp counter (always `false` off x86-64).
    static var cpuHasInvariantTimeStampCounter: Bool {
        cnv_clock_cpu_has_invariant_tsc()
    }

    /// A timestamp in ticks. Not serializing: the CPU may execute it a few dozen cycles early
    /// or late, far below the resolution of the latency histograms.
    @inlinable @inline(__always)
    static func ticks() -> UInt64 {
        cnv_clock_ticks()
    }

    /// Converts a number of ticks (usually a difference of two timestamps) to nanoseconds.
    @inlinable @inline(__always)
    static func nanoseconds(fromTicks ticks: UInt64) -> UInt64 {
        cnv_clock_ticks_to_ns(ticks)
    }

    /// Nanoseconds from the timestamp `start` to the timestamp `end`; 0 when `end` is earlier.
    @inlinable @inline(__always)
    static func nanoseconds(from start: UInt64, to end: UInt64) -> UInt64 {
        cnv_clock_elapsed_ns(start, end)
    }

    /// Now, in nanoseconds on `CLOCK_MONOTONIC`'s time line (anchored at calibration; with
    /// the time-stamp counter it drifts from `CLOCK_MONOTONIC` only by the calibration error).
    @inlinable @inline(__always)
    static func nowNanoseconds() -> UInt64 {
        cnv_clock_now_ns()
    }

    /// A tick count as a `Duration`.
    static func duration(fromTicks ticks: UInt64) -> Duration {
        .nanoseconds(Int64(clamping: Self.nanoseconds(fromTicks: ticks)))
    }

    static func source(_ source: cnv_clock_source) -> Source {
        source == CNV_CLOCK_SOURCE_TSC ? .timeStampCounter : .monotonic
    }
}
