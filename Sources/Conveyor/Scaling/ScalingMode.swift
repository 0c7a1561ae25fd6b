/// What a group's scaler does with its decisions.
///
/// ```swift
/// var scaling = GroupScaling(group: "io", minWorkers: 2, maxWorkers: 16)
/// scaling.mode = .forecastOnly   // decide, report and log, but never resize
/// ```
public enum ScalingMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// No sampling-driven decisions: the group keeps the workers it has.
    case off
    /// Samples, forecasts and decides as `active` would, publishes and logs each decision
    /// (with `applied == false`), but never resizes the group.
    case forecastOnly
    /// Decides and applies each decision with ``Conveyor/resize(group:workers:)``.
    case active
}
