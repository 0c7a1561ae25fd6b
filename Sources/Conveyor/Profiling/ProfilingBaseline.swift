import Foundation

/// Per-context figures saved to compare later runs with (``PerformanceProfiler/saveBaseline()``,
/// ``PerformanceProfiler/saveBaseline(to:)``, ``PerformanceProfiler/loadBaseline(from:)``).
///
/// ```swift
/// let baseline = profiler.saveBaseline()
/// print(baseline.contexts.map(\.context))
/// ```
public struct ProfilingBaseline: Sendable, Equatable, Codable {
    /// When the figures were taken.
    public var savedAt: Date
    /// One summary per context, by name.
    public var contexts: [ContextSummary]

    /// A baseline from its parts.
    public init(savedAt: Date, contexts: [ContextSummary]) {
        self.savedAt = savedAt
        self.contexts = contexts
    }

    /// The summary of `context`, if the baseline holds it.
    public func summary(for context: String) -> ContextSummary? {
        self.contexts.first { $0.context == context }
    }
}
