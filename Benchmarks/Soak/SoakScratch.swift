import BenchSupport
import Conveyor

/// The reusable object of a soak's ``ObjectPool``: a scratch buffer a handler fills and hashes.
final class SoakScratch {
    var bytes: [UInt8] = []
    var uses = 0

    init() {
        self.bytes.reserveCapacity(512)
    }
}
