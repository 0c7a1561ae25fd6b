extension Forecaster {
    /// Settings of a ``Forecaster``; every field has a sensible default.
    ///
    /// ```swift
    /// var configuration = Forecaster.Configuration()
    /// configuration.horizons = [1, 6]        // learnFromPatterns minimises error at 1 and 6 steps
    /// configuration.season = .automatic
    /// configuration.historyCapacity = 4096   // recent values kept for learnFromPatterns
    /// let forecaster = try Forecaster(configuration: configuration)
    /// ```
    public struct Configuration: Sendable, Hashable {
        /// How season lengths are chosen. Default: `.automatic`.
        public var season: SeasonSetting
        /// The horizons (in intervals) whose forecast error `learnFromPatterns()` minimises.
        /// Default: `[1]`.
        public var horizons: [Int]
        /// How many recent values are kept for `learnFromPatterns()` (the only history it sees).
        /// Default: 4096.
        public var historyCapacity: Int
        /// Longest season considered by automatic detection; `nil` means a quarter of
        /// `historyCapacity`. Detection also needs four cycles of history.
        public var maximumSeason: Int?
        /// Whether automatic detection may combine two seasons (daily and weekly style).
        /// Default: `true`.
        public var allowsTwoSeasons: Bool
        /// Coverage of the prediction intervals, in (0, 1). Default: 0.95.
        public var intervalCoverage: Double

        /// Creates a configuration.
        public init(
            season: SeasonSetting = .automatic,
            horizons: [Int] = [1],
            historyCapacity: Int = 4096,
            maximumSeason: Int? = nil,
            allowsTwoSeasons: Bool = true,
            intervalCoverage: Double = 0.95
        ) {
            self.season = season
            self.horizons = horizons
            self.historyCapacity = historyCapacity
            self.maximumSeason = maximumSeason
            self.allowsTwoSeasons = allowsTwoSeasons
            self.intervalCoverage = intervalCoverage
        }

        /// The longest season automatic detection considers.
        var effectiveMaximumSeason: Int {
            self.maximumSeason ?? max(2, self.historyCapacity / 4)
        }

        /// Checks every field, naming the first that is out of range.
        func validate() throws(ForecastError) {
            guard !self.horizons.isEmpty else {
                throw .invalidConfiguration("horizons is empty: give at least one horizon such as [1]")
            }
            for horizon in self.horizons where horizon < 1 { throw .invalidHorizon(horizon) }
            guard self.historyCapacity >= 16 else {
                throw .invalidConfiguration("historyCapacity \(self.historyCapacity) is below the minimum of 16")
            }
            if let maximumSeason = self.maximumSeason, maximumSeason < 2 {
                throw .invalidConfiguration("maximumSeason \(maximumSeason) is below 2")
            }
            guard self.intervalCoverage > 0, self.intervalCoverage < 1 else {
                throw .invalidConfiguration("intervalCoverage \(self.intervalCoverage) must be strictly between 0 and 1")
            }
            if case .fixed(let periods) = self.season {
                guard (1...2).contains(periods.count) else {
                    throw .invalidConfiguration("a fixed season has one or two lengths, not \(periods.count)")
                }
                for period in periods where period < 2 { throw .invalidSeason(period) }
                if periods.count == 2, periods[0] == periods[1] {
                    throw .invalidConfiguration("the two season lengths must differ")
                }
            }
        }
    }
}
