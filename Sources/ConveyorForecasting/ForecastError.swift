/// Everything that can go wrong when configuring the forecaster, reading a trace or evaluating it.
///
/// Every case carries enough context to say what to fix; `description` is the message
/// the `conveyor` command prints.
///
/// ```swift
/// do {
///     _ = try LoadTrace.parse("time,value\n1,2\n")
/// } catch {
///     print(error)  // line 1: expected the header 'timestamp,count' but found 'time,value'
/// }
/// ```
public enum ForecastError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The trace file could not be read.
    case unreadableFile(path: String, reason: String)
    /// The trace holds no data rows (it is empty, or has only a header).
    case emptyTrace
    /// The first non-blank line is not the `timestamp,count` header.
    case missingHeader(line: Int, found: String)
    /// A data row does not have exactly two comma-separated fields.
    case wrongFieldCount(line: Int, found: Int)
    /// A data row's count is not a finite decimal number.
    case nonNumericCount(line: Int, value: String)
    /// A data row's count is a number, but not a count of arrivals: negative, or above
    /// ``LoadTrace/maximumCount`` (where sums over a trace would lose precision or overflow).
    case countOutOfRange(line: Int, value: String)
    /// A forecast was asked for before any finite value was observed.
    case noObservations
    /// A forecast horizon below 1 was asked for.
    case invalidHorizon(Int)
    /// A fixed season length below 2 was given.
    case invalidSeason(Int)
    /// A season specification string (as on the command line) could not be understood.
    case invalidSeasonSpecification(String)
    /// A configuration value is out of its allowed range.
    case invalidConfiguration(String)
    /// Two series that must be the same length are not.
    case lengthMismatch(actual: Int, predicted: Int)
    /// The predictions file could not be written.
    case unwritableOutput(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read trace '\(path)': \(reason)"
        case .emptyTrace:
            return "the trace has no data rows: expected the header 'timestamp,count' followed by one row per interval"
        case .missingHeader(let line, let found):
            return "line \(line): expected the header 'timestamp,count' but found '\(found)'; add that header as the first line"
        case .wrongFieldCount(let line, let found):
            return "line \(line): expected 2 fields 'timestamp,count' but found \(found)"
        case .nonNumericCount(let line, let value):
            return "line \(line): count '\(value)' is not a finite number; use a decimal such as 12 or 3.5, or leave it empty for a missing interval"
        case .countOutOfRange(let line, let value):
            return "line \(line): count '\(value)' is out of range: a count is arrivals per interval, from 0 to 1e15"
        case .noObservations:
            return "no observation yet: feed at least one finite value with observe(_:) before forecasting"
        case .invalidHorizon(let horizon):
            return "horizon \(horizon) is invalid: it must be at least 1 interval"
        case .invalidSeason(let season):
            return "season \(season) is invalid: a season spans at least 2 intervals"
        case .invalidSeasonSpecification(let text):
            return "season '\(text)' is invalid: use 'auto', 'none', a length such as 24, or two lengths such as 24,168"
        case .invalidConfiguration(let message):
            return "invalid forecaster configuration: \(message)"
        case .lengthMismatch(let actual, let predicted):
            return "\(actual) actual values but \(predicted) predictions: both series must have the same length"
        case .unwritableOutput(let path, let reason):
            return "cannot write predictions to '\(path)': \(reason)"
        }
    }
}
