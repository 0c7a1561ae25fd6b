/// Proposes season lengths from the autocorrelation of recent history.
///
/// Candidates are only proposals: the learner confirms them (or not) by out-of-sample
/// forecast error, so a spurious peak costs time, never accuracy.
enum SeasonDetector {
    /// Smallest autocorrelation a peak needs to be proposed (besides beating noise, 2.5/√n).
    static let minimumPeak = 0.1

    /// The sample autocorrelation of `x` for lags 0…`maxLag` (x is centred first).
    static func autocorrelation(_ x: [Double], maxLag: Int) -> [Double] {
        let n = x.count
        guard n > 1 else { return [1] }
        let mean = x.reduce(0, +) / Double(n)
        let centred = x.map { $0 - mean }
        let variance = centred.reduce(0) { $0 + $1 * $1 }
        let lags = min(maxLag, n - 1)
        guard variance > 0 else { return [Double](repeating: 0, count: lags + 1) }
        var result = [Double](repeating: 0, count: lags + 1)
        centred.withUnsafeBufferPointer { c in
            for k in 0...lags {
                var sum = 0.0
                for t in k..<n { sum += c[t] * c[t - k] }
                result[k] = sum / variance
            }
        }
        return result
    }

    /// Replaces missing values with the previous finite value (the first finite one at the start).
    static func filled(_ values: [Double]) -> [Double] {
        guard let firstFinite = values.first(where: { $0.isFinite }) else { return [] }
        var last = firstFinite
        return values.map { value in
            if value.isFinite { last = value }
            return last
        }
    }

    /// `x` minus its least-squares line.
    static func detrended(_ x: [Double]) -> [Double] {
        let n = Double(x.count)
        guard x.count >= 2 else { return x }
        var sumT = 0.0
        var sumY = 0.0
        var sumTT = 0.0
        var sumTY = 0.0
        for (t, y) in x.enumerated() {
            let tt = Double(t)
            sumT += tt
            sumY += y
            sumTT += tt * tt
            sumTY += tt * y
        }
        let denominator = n * sumTT - sumT * sumT
        let slope = denominator > 0 ? (n * sumTY - sumT * sumY) / denominator : 0
        let intercept = (sumY - slope * sumT) / n
        return x.enumerated().map { $0.element - (intercept + slope * Double($0.offset)) }
    }

    /// Local maxima of `acf` in 2…`maxLag` that clear the thresholds, strongest first.
    static func peaks(_ acf: [Double], maxLag: Int, sampleCount: Int, minimumLag: Int = 2) -> [Int] {
        let threshold = max(Self.minimumPeak, 2.5 / Double(max(1, sampleCount)).squareRoot())
        let upper = min(maxLag, acf.count - 2)
        guard upper >= minimumLag else { return [] }
        var found: [Int] = []
        for k in minimumLag...upper where acf[k] > threshold && acf[k] > acf[k - 1] && acf[k] >= acf[k + 1] {
            found.append(k)
        }
        return found.sorted { acf[$0] > acf[$1] }
    }

    /// Single-season candidates: the strongest autocorrelation peaks of the linearly
    /// detrended window, plus the neighbours of the strongest (a peak can sit one lag off
    /// the true period when the seasonal shape is asymmetric).
    static func candidatePeriods(_ values: [Double], maxLag: Int, limit: Int = 3) -> [Int] {
        let x = Self.detrended(Self.filled(values))
        guard maxLag >= 2, x.count > 2 * maxLag else { return [] }
        let acf = Self.autocorrelation(x, maxLag: maxLag + 1)
        let found = Self.peaks(acf, maxLag: maxLag, sampleCount: x.count)
        var candidates: [Int] = []
        for k in found.prefix(limit) where !candidates.contains(k) { candidates.append(k) }
        if let strongest = found.first {
            for k in [strongest - 1, strongest + 1] where k >= 2 && k <= maxLag && !candidates.contains(k) {
                candidates.append(k)
            }
        }
        return candidates
    }

    /// A second, longer season on top of `primary`: the strongest autocorrelation peak,
    /// at a lag of at least twice `primary`, of the series differenced at lag `primary`
    /// (which removes the first season and leaves what repeats on a longer cycle).
    static func secondPeriod(_ values: [Double], primary: Int, maxLag: Int) -> Int? {
        let x = Self.filled(values)
        guard primary >= 2, maxLag >= 2 * primary, x.count > primary + 2 * maxLag else { return nil }
        var differenced: [Double] = []
        differenced.reserveCapacity(x.count - primary)
        for t in primary..<x.count { differenced.append(x[t] - x[t - primary]) }
        let acf = Self.autocorrelation(differenced, maxLag: maxLag + 1)
        return Self.peaks(acf, maxLag: maxLag, sampleCount: differenced.count, minimumLag: 2 * primary).first
    }
}
