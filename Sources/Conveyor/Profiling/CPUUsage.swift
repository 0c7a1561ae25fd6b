#if canImport(Glibc)
import Glibc
#endif

/// Processor time the whole process used over an interval (`getrusage(RUSAGE_SELF)`).
///
/// ```swift
/// let cpu = profiler.metrics().cpuUsage
/// print(cpu.percentOfCore)   // 150 = one and a half cores busy on average
/// ```
public struct CPUUsage: Sendable, Equatable, Codable {
    /// User-mode seconds in the interval.
    public var userSeconds: Double
    /// Kernel-mode seconds in the interval.
    public var systemSeconds: Double
    /// (user + system) ÷ wall time × 100: percent of one core (up to 100 × cores).
    public var percentOfCore: Double

    /// Figures from their parts.
    public init(userSeconds: Double, systemSeconds: Double, percentOfCore: Double) {
        self.userSeconds = userSeconds
        self.systemSeconds = systemSeconds
        self.percentOfCore = percentOfCore
    }

    /// The process's user and system seconds so far.
    static func processTimes() -> (user: Double, system: Double) {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime))
    }
}
