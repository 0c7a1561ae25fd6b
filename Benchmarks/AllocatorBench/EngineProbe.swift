#if canImport(Glibc)
import BenchSupport
import Glibc
#endif

/// Wraps the bench's ``ConveyorLatency`` to time what ``OpenLoop`` does not: the generator
/// thread's own CPU over the measured window (so the engine's CPU is the process's minus
/// it) and when the last task completed (for the rate the engine really sustained).
///
/// ```swift
/// let probe = EngineProbe(ConveyorLatency(…), warmup: 20_000, last: 199_999)
/// let result = OpenLoop.run(probe, rate: 100_000, schedule: schedule, warmup: 20_000, spin: true)
/// print(probe.generatorCPUPercent, probe.completionRate(tasks: 180_000))
/// ```
final class EngineProbe: LatencyContender, @unchecked Sendable {
    // @unchecked: written by the generator thread, read after OpenLoop joined it.
    let inner: ConveyorLatency
    let warmup: Int
    let last: Int
    private var windowStart: UInt64 = 0
    private var generatorCPUStart: UInt64 = 0
    private var generatorCPUEnd: UInt64 = 0
    private var lastSubmitted: UInt64 = 0
    private var finished: UInt64 = 0

    init(_ inner: ConveyorLatency, warmup: Int, last: Int) {
        self.inner = inner
        self.warmup = warmup
        self.last = last
    }

    var samples: SampleBuffer { self.inner.samples }

    func submit(index: Int, since: UInt64) {
        if index == self.warmup {
            self.windowStart = since  // the scheduled time (the generator spins)
            self.generatorCPUStart = Self.threadCPUNanoseconds()
        }
        self.inner.submit(index: index, since: since)
        if index == self.last {
            self.generatorCPUEnd = Self.threadCPUNanoseconds()
            self.lastSubmitted = nowNanoseconds()
        }
    }

    func waitUntilDone() {
        self.inner.waitUntilDone()
        self.finished = nowNanoseconds()
    }

    /// The generator thread's CPU over the measured window, in % of one core.
    var generatorCPUPercent: Double {
        Double(self.generatorCPUEnd &- self.generatorCPUStart) / Double(max(1, self.lastSubmitted &- self.windowStart)) * 100
    }

    /// `tasks` ÷ (first measured scheduled time → the engine reported the last one completed), tasks/s.
    func completionRate(tasks: Int) -> Double {
        Double(tasks) / (Double(max(1, self.finished &- self.windowStart)) / 1e9)
    }

    /// CPU time of the calling thread, in nanoseconds.
    private static func threadCPUNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
