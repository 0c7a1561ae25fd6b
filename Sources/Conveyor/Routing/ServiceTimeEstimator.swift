#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The learned service time of each task kind: an exponentially weighted moving average
/// (EWMA) of observed run times, fed in batches.
///
/// Workers never write to the estimator per task: each keeps a ``ServiceTimeSamples`` and
/// publishes it every N tasks or every few milliseconds. Publishing takes a lock (a pthread
/// mutex, visible to ThreadSanitizer), which is off the per-task path.
///
/// **Weighting is per sample, whatever the batch size.** With weight α, one sample x moves the
/// average as e ← (1 − α)·e + α·x. A batch of k samples with mean m moves it as
/// e ← (1 − α)^k·e + (1 − (1 − α)^k)·m: the old history decays exactly as it would over k
/// single samples, and the batch as a whole gets the weight its samples would have had
/// together. When the samples in a batch are equal this is exactly the per-sample result; when
/// they differ, only their order inside the batch is lost. The first batch of a kind sets the
/// average to its mean.
///
/// ```swift
/// let estimator = try ServiceTimeEstimator(weight: 0.05)
/// var samples = ServiceTimeSamples()
/// samples.record(kind: "resize", serviceTime: .microseconds(800))
/// estimator.publish(&samples)                      // merges and empties `samples`
/// estimator.estimate(for: "resize")?.serviceTime   // 800 µs
/// ```
///
/// A ``Router`` has its own estimator; publish through ``Router/publish(_:at:)`` so the
/// router sees the new estimates.
final class ServiceTimeEstimator: Sendable {
    /// The learned service time of one kind.
    struct Estimate: Sendable, Hashable {
        /// The EWMA of the observed service times.
        let serviceTime: Duration
        /// How many samples have been merged in so far.
        let sampleCount: Int

        init(serviceTime: Duration, sampleCount: Int) {
            self.serviceTime = serviceTime
            self.sampleCount = sampleCount
        }
    }

    /// One kind's running average, in nanoseconds.
    struct Entry: Sendable {
        var nanoseconds: Double
        var sampleCount: Int

        var estimate: Estimate {
            let clamped = min(max(self.nanoseconds.rounded(), 0), Double(Int64.max / 2))
            return Estimate(serviceTime: .nanoseconds(Int64(clamped)), sampleCount: self.sampleCount)
        }
    }

    /// α, the weight of one sample (0 < α ≤ 1). The memory is about 1/α samples.
    let weight: Double
    /// ln(1 − α), so that (1 − α)^k = exp(k · logDecay).
    private let logDecay: Double
    private let entries: PThreadMutex<[String: Entry]>

    /// Creates an estimator with no kinds yet.
    /// - Parameter weight: α, the weight of one sample, in (0, 1]. 0.05 averages over about
    ///   the last 20 samples.
    /// - Throws: `ConveyorError.invalidConfiguration` for a weight outside (0, 1].
    init(weight: Double = 0.05) throws(ConveyorError) {
        guard weight.isFinite, weight > 0, weight <= 1 else {
            throw .invalidConfiguration(
                reason: "service-time weight \(weight) must be in (0, 1]; use 0.05 to average over about the last 20 samples"
            )
        }
        self.weight = weight
        self.logDecay = log1p(-weight)
        self.entries = PThreadMutex([:])
    }

    /// Merges a batch of samples and empties it.
    func publish(_ samples: inout ServiceTimeSamples) {
        self.publish(&samples) { _, _ in }
    }

    /// Merges a batch and calls `updated` (under the estimator's lock) with each kind's new
    /// average.
    func publish(_ samples: inout ServiceTimeSamples, updated: (String, Entry) -> Void) {
        guard !samples.isEmpty else { return }
        self.entries.withLock { entries in
            for (kind, tally) in samples.tallies where tally.count > 0 {
                let mean = tally.totalNanoseconds / Double(tally.count)
                let entry: Entry
                if let previous = entries[kind] {
                    let keep = exp(Double(tally.count) * self.logDecay)  // (1 − α)^count
                    entry = Entry(
                        nanoseconds: keep * previous.nanoseconds + (1 - keep) * mean,
                        sampleCount: previous.sampleCount + tally.count
                    )
                } else {
                    entry = Entry(nanoseconds: mean, sampleCount: tally.count)
                }
                entries[kind] = entry
                updated(kind, entry)
            }
        }
        samples.removeAll()
    }

    /// The learned service time of `kind`, or `nil` before its first sample.
    func estimate(for kind: String) -> Estimate? {
        self.entries.withLock { $0[kind]?.estimate }
    }

    /// Every kind's learned service time.
    var estimates: [String: Estimate] {
        self.entries.withLock { $0.mapValues(\.estimate) }
    }

    /// The raw average of `kind` in nanoseconds (full precision, for tests and the router).
    func averageNanoseconds(for kind: String) -> Double? {
        self.entries.withLock { $0[kind]?.nanoseconds }
    }
}
