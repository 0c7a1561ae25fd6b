/// How the forecaster chooses its season lengths.
///
/// ```swift
/// var configuration = Forecaster.Configuration()
/// configuration.season = .automatic      // detect from recent history (default)
/// configuration.season = .fixed([24])    // daily season on hourly data
/// configuration.season = .fixed([24, 168])  // daily and weekly
/// configuration.season = .none           // Holt or EWMA only
/// ```
public enum SeasonSetting: Sendable, Hashable {
    /// Detect zero, one or two seasons from recent history on every `learnFromPatterns()`.
    case automatic
    /// Use these season lengths (one or two, each at least 2) once enough history exists.
    case fixed([Int])
    /// Never model a season: the forecaster uses Holt (damped trend) or EWMA.
    case none

    /// Whether a model with these season lengths is allowed by this setting.
    func permits(_ periods: [Int]) -> Bool {
        switch self {
        case .automatic: return true
        case .none: return periods.isEmpty
        case .fixed(let fixed): return periods.isEmpty || periods == fixed
        }
    }

    /// Parses the command-line form: `auto`, `none`, `24` or `24,168`.
    ///
    /// ```swift
    /// let setting = try SeasonSetting(parsing: "24,168")  // .fixed([24, 168])
    /// ```
    public init(parsing text: String) throws(ForecastError) {
        let trimmed = text.trimmingWhitespace().lowercased()
        switch trimmed {
        case "auto", "automatic":
            self = .automatic
        case "none", "0":
            self = .none
        default:
            let parts = trimmed.split(separator: ",", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count) else { throw .invalidSeasonSpecification(text) }
            var lengths: [Int] = []
            for part in parts {
                guard let length = Int(part.trimmingWhitespace()) else {
                    throw .invalidSeasonSpecification(text)
                }
                guard length >= 2 else { throw .invalidSeason(length) }
                lengths.append(length)
            }
            self = .fixed(lengths.sorted())
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and line breaks.
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
