import BenchSupport
import Conveyor

/// The inline payload of the soak's typed kinds.
struct SoakPayload: BitwiseCopyable, Sendable {
    var seed: UInt64
    var length: UInt32
    var flags: UInt32
}
