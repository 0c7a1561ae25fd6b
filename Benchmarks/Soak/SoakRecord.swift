import BenchSupport
import Conveyor

/// A 64-byte record the soak's handlers take from its ``RecordPool``.
struct SoakRecord: BitwiseCopyable {
    var id: UInt64
    var values: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
}
