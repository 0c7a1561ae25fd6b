extension Conveyor {
    /// The longest duration the engine keeps: deadlines, `.wait` timeouts and aging bounds
    /// above it are treated as this long (about 100 years: "never" in practice). Durations
    /// are clamped, never trapped on: `Task.sleep` and nanosecond arithmetic cannot represent
    /// `.seconds(Int64.max)`.
    ///
    /// ```swift
    /// try conveyor.submit(QueueTask(deadline: .seconds(Int64.max))) { work() }  // same as 100 years
    /// ```
    public static let longestDuration: Duration = .seconds(100 * 365 * 86_400)

    /// A task's start deadline as the engine keeps it: nil stays nil, a negative one is
    /// refused, a huge one is clamped to ``longestDuration``.
    static func validatedDeadline(_ deadline: Duration?, kind: String) throws -> Duration? {
        guard let deadline else { return nil }
        guard deadline >= .zero else {
            throw ConveyorError.invalidConfiguration(
                reason: "task \"\(kind)\": deadline \(deadline) is negative; use .zero to require an immediate "
                    + "start, or pass no deadline")
        }
        return min(deadline, Self.longestDuration)
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64.min`/`Int64.max`.
    @usableFromInline var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, sumOverflow) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        if sumOverflow { return seconds < 0 ? .min : .max }
        return sum
    }

    /// The duration limited to `0...Conveyor.longestDuration`.
    @usableFromInline var clampedForEngine: Duration {
        min(max(self, .zero), Conveyor.longestDuration)
    }
}
