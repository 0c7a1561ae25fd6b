import Foundation

/// How many workers a load needs: Little's law for the busy workers, Erlang C (M/M/c) for
/// the queue wait against a latency target.
///
/// With arrival rate λ (tasks per second), mean service time s and c workers, the offered
/// load is a = λ·s busy workers on average (Little's law). Erlang C gives the probability
/// that a task waits at all, C(c, a), and the wait tail
/// `P(wait > t) = C(c, a) · exp(−(c/s − λ)·t)`. The recommended count is the smallest c that
/// keeps the utilisation a/c at or below the target *and* keeps `P(wait > target)` at or
/// below 1 − percentile (for p99: 1 %).
///
/// ```swift
/// let workers = WorkerSizing.recommendedWorkers(
///     arrivalRate: 400, meanServiceTime: 0.02, targetUtilisation: 0.8,
///     latencyTarget: 0.05, percentile: 0.99)   // 10: 8 busy on average, p99 wait ≤ 50 ms
/// ```
public enum WorkerSizing {
    /// The most workers ``recommendedWorkers(arrivalRate:meanServiceTime:targetUtilisation:latencyTarget:percentile:)``
    /// ever returns (ten times the engine's group limit), so absurd inputs stay finite.
    public static let ceiling = 10 * ResourceGroup.maximumWorkers

    /// Probability that an arriving task has to wait (Erlang C) with `servers` workers and
    /// offered load `offeredLoad` (λ·s); 1 when the load is at or above the worker count.
    public static func waitProbability(servers: Int, offeredLoad: Double) -> Double {
        guard offeredLoad > 0 else { return 0 }
        guard servers > 0, offeredLoad < Double(servers) else { return 1 }
        // Erlang B by its stable recursion B(k) = a·B(k−1) / (k + a·B(k−1)), then C from B.
        var blocking = 1.0
        for k in 1...servers {
            blocking = offeredLoad * blocking / (Double(k) + offeredLoad * blocking)
        }
        let c = Double(servers)
        return c * blocking / (c - offeredLoad * (1 - blocking))
    }

    /// `P(wait > latency)` in an M/M/c queue (seconds throughout).
    public static func waitExceedance(servers: Int, arrivalRate: Double, meanServiceTime: Double, latency: Double) -> Double {
        let load = arrivalRate * meanServiceTime
        let waiting = self.waitProbability(servers: servers, offeredLoad: load)
        guard waiting < 1 else { return 1 }
        let drain = Double(servers) / meanServiceTime - arrivalRate
        return waiting * exp(-drain * max(0, latency))
    }

    /// The fewest workers for the load (see the type's documentation); 0 when nothing arrives.
    /// Rates and times are in seconds; non-finite or negative inputs count as 0.
    public static func recommendedWorkers(
        arrivalRate: Double, meanServiceTime: Double, targetUtilisation: Double,
        latencyTarget: Double, percentile: Double
    ) -> Int {
        guard arrivalRate.isFinite, meanServiceTime.isFinite, arrivalRate > 0, meanServiceTime > 0 else { return 0 }
        let load = arrivalRate * meanServiceTime
        let utilisation = min(1, max(0.01, targetUtilisation.isFinite ? targetUtilisation : 1))
        let busyBound = load / utilisation
        guard busyBound < Double(self.ceiling) else { return self.ceiling }
        var servers = max(1, Int(busyBound.rounded(.up)))
        if Double(servers) <= load { servers = Int(load.rounded(.down)) + 1 }
        let tail = 1 - min(0.999_999, max(0, percentile))
        while servers < self.ceiling,
            self.waitExceedance(servers: servers, arrivalRate: arrivalRate, meanServiceTime: meanServiceTime, latency: latencyTarget) > tail
        {
            servers += 1
        }
        return servers
    }

    /// The highest arrival rate (tasks per second) that `workers` workers serve within the
    /// same utilisation and latency targets: the capacity a predictive warning compares with.
    public static func capacity(
        workers: Int, meanServiceTime: Double, targetUtilisation: Double, latencyTarget: Double, percentile: Double
    ) -> Double {
        guard workers > 0, meanServiceTime > 0, meanServiceTime.isFinite else { return 0 }
        var low = 0.0
        var high = Double(workers) / meanServiceTime
        for _ in 0..<60 {
            let middle = (low + high) / 2
            let needed = self.recommendedWorkers(
                arrivalRate: middle, meanServiceTime: meanServiceTime, targetUtilisation: targetUtilisation,
                latencyTarget: latencyTarget, percentile: percentile)
            if needed <= workers { low = middle } else { high = middle }
        }
        return low
    }
}
