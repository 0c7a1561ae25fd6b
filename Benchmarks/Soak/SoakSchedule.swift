import BenchSupport
import Conveyor

/// The compressed day a soak runs: a load level per hour (per mille of the producers' full
/// rate), with bursts at the peaks and idle hours at night.
enum SoakSchedule {
    /// Per-mille load of each hour, 0 = a quiet hour (no submissions, workers park).
    static let levels: [Int] = [
        50, 30, 0, 0, 30, 50,  // night: trickle, then a fully quiet period
        200, 400, 700, 1000, 800, 800,  // morning ramp to the first peak (hour 9)
        600, 1000, 700, 700, 700, 800,  // lunch peak (hour 13)
        600, 1000, 500, 300, 150, 50,  // evening peak (hour 19), then wind-down
    ]

    /// Hours whose handlers retain records (a memory burst), freed at the hour's quiet end.
    static let burstHours: Set<Int> = [9, 13, 19]

    /// Hours after which the elastic group is resized (worker threads start and exit).
    static func ioWorkers(afterHour hour: Int) -> Int? {
        switch hour % 6 {
        case 0: 3
        case 3: 1
        default: nil
        }
    }
}
