import Foundation
import Conveyor

/// The task arrivals of a simulation: the trace's counts scaled so that the peak needs about
/// `maxWorkers`, then a Poisson process within each interval (exponential gaps), from a seeded
/// generator, so every policy (and every run with the same seed) sees the same arrivals.
struct ArrivalPlan: Sendable {
    /// Arrival offsets within their interval, seconds, interval after interval.
    let offsets: [Float]
    /// `offsets[starts[i]..<starts[i + 1]]` are interval i's arrivals.
    let starts: [Int]
    /// Expected arrivals per interval for a count of 1 in the trace.
    let scale: Double
    /// Which rows were missing in the trace (replayed with no arrivals; the scaler sees a gap).
    let missing: [Bool]

    var intervals: Int { self.starts.count - 1 }

    func count(_ interval: Int) -> Int { self.starts[interval + 1] - self.starts[interval] }

    /// The true arrivals of intervals `from..<from + count` (cut at the end of the trace).
    func counts(from: Int, count: Int) -> [Double] {
        guard from < self.intervals else { return [] }
        return (from..<min(self.intervals, from + count)).map { Double(self.count($0)) }
    }

    init(counts: [Double?], settings: SimulationSettings, path: String) throws(SimulationError) {
        let peak = counts.compactMap { $0 }.max() ?? 0
        guard peak > 0 else { throw .noLoad(path: path) }
        let scaling = settings.scaling(policy: .fixedAtMaximum)
        let capacity = WorkerSizing.capacity(
            workers: settings.maxWorkers, meanServiceTime: settings.serviceSeconds, targetUtilisation: scaling.targetUtilisation,
            latencyTarget: seconds(scaling.latencyTarget), percentile: scaling.latencyPercentile)
        self.scale = capacity * settings.intervalSeconds / peak
        var offsets: [Float] = []
        var starts: [Int] = [0]
        starts.reserveCapacity(counts.count + 1)
        let length = settings.intervalSeconds
        for (index, count) in counts.enumerated() {
            let rate = max(0, count ?? 0) * self.scale / length
            if rate > 0 {
                var random = SimulationRandom(state: settings.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
                var time = 0.0
                while true {
                    time += -Foundation.log(random.positiveUnit()) / rate
                    if time >= length { break }
                    offsets.append(Float(time))
                }
            }
            starts.append(offsets.count)
        }
        self.offsets = offsets
        self.starts = starts
        self.missing = counts.map { $0 == nil }
    }
}
