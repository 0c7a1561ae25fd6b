// Aims from the issues and their verdicts, as every runner states them.
import ConveyorReport

/// An aim: a measured value must reach `target` (at least) or stay within it (at most).
///
/// ```swift
/// let aim = Aim("closure tasks ≥ 2× Dispatch concurrent", atLeast: 2)
/// let outcome = aim.judge(2.21, show: ratio)
/// print(outcome.verdict)  // met (2.21×)
/// ```
package struct Aim: Sendable, Equatable {
    package enum Bound: Sendable, Equatable { case atLeast, atMost }

    package let text: String
    package let target: Double
    package let bound: Bound

    /// The value must reach `target`.
    package init(_ text: String, atLeast target: Double) { (self.text, self.target, self.bound) = (text, target, .atLeast) }

    /// The value must not exceed `limit`.
    package init(_ text: String, atMost limit: Double) { (self.text, self.target, self.bound) = (text, limit, .atMost) }

    /// Whether `value` meets the aim, and by how much it missed: "MISSED: 1.73×, 78 % short of
    /// 8×" for a lower bound, "MISSED: 40.1 µs, 4.01× the limit of 10 µs" for an upper one.
    package func judge(_ value: Double, show: (Double) -> String) -> AimOutcome {
        switch self.bound {
        case .atLeast:
            let met = value >= self.target
            return AimOutcome(
                text: self.text, met: met,
                result: met ? show(value) : "\(show(value)), \(fixed((1 - value / self.target) * 100, 0)) % short of \(show(self.target))")
        case .atMost:
            let met = value <= self.target
            return AimOutcome(
                text: self.text, met: met,
                result: met ? show(value) : "\(show(value)), \(ratio(value / self.target)) the limit of \(show(self.target))")
        }
    }
}

/// An aim's verdict: met or missed, with the result as the report shows it.
package struct AimOutcome: Sendable, Equatable {
    package let text: String
    package let met: Bool
    /// What was measured, and by how much it missed: "2.21×", "1.73×, 78 % short of 8×".
    package let result: String

    package init(text: String, met: Bool, result: String) { (self.text, self.met, self.result) = (text, met, result) }

    /// "met (2.21×)" or "MISSED: 1.73×, 78 % short of 8×".
    package var verdict: String { self.met ? "met (\(self.result))" : "MISSED: \(self.result)" }

    /// The aim as a part of the `make bench` report.
    package var benchAim: BenchAim { BenchAim(text: self.text, result: self.result, met: self.met) }
}
