import BenchSupport
import Conveyor

/// The error the soak's "flaky" kind throws on purpose, to exercise failure reporting.
struct SoakFailure: Error {
    var seed: UInt64
}
