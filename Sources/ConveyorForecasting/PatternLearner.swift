/// Chooses the model structure (season lengths, trend) and fits its smoothing parameters
/// on a window of recent history, minimising the mean absolute forecast error at the
/// horizons in use.
///
/// Structure choice is out of sample: each candidate is fitted on the first two thirds of
/// the window and scored on the last third; the simplest candidate within
/// `tolerance` of the best wins. The winner is then refitted on the whole window.
struct PatternLearner: Sendable {
    let values: [Double]
    let horizons: [Int]
    let setting: SeasonSetting
    let maximumSeason: Int
    let allowsTwoSeasons: Bool
    let previous: ForecastModel?

    /// Relative out-of-sample error margin within which a simpler structure is preferred.
    static let tolerance = 0.005
    /// Relative out-of-sample error margin by which another structure must beat the current one.
    static let switchingMargin = 0.01
    static let quickSearch = PatternSearch(initialStep: 0.25, minimumStep: 0.03, maximumEvaluations: 60)
    static let fullSearch = PatternSearch(initialStep: 0.125, minimumStep: 0.008, maximumEvaluations: 160)

    struct Result: Sendable {
        var structure: ModelStructure
        var parameters: SmoothingParameters
    }

    private struct Candidate {
        var structure: ModelStructure
        var parameters: SmoothingParameters
        var outOfSampleError: Double
    }

    func learn() -> Result? {
        let finiteCount = self.values.reduce(0) { $0 + ($1.isFinite ? 1 : 0) }
        guard finiteCount >= 4 else { return nil }
        let scorer = ReplayScorer(values: self.values, horizons: self.horizons)
        let n = self.values.count
        let split = n * 2 / 3
        let minimumScored = max(8, split / 6)

        // Window too short for an out-of-sample comparison: fit a level-only model.
        guard n >= 24 else {
            return self.fit(.ewma, scorer: scorer, targets: self.targets(.ewma, end: n), search: Self.fullSearch)
        }

        func fits(_ periods: [Int]) -> Bool {
            guard let length = HoltWintersState.initializationLength(periods: periods, count: n) else { return false }
            return length <= split - minimumScored
        }

        var candidates: [Candidate] = []
        func evaluate(_ structure: ModelStructure) {
            guard fits(structure.periods), !candidates.contains(where: { $0.structure == structure }),
                let quick = self.fit(
                    structure, scorer: scorer, targets: self.targets(structure, end: split), search: Self.quickSearch)
            else { return }
            let error = scorer.meanAbsoluteError(structure, quick.parameters, targets: split..<n)
            guard error.isFinite else { return }
            candidates.append(Candidate(structure: structure, parameters: quick.parameters, outOfSampleError: error))
        }

        evaluate(.ewma)
        evaluate(.holt)
        let previousStructure = self.previous.map { ModelStructure(periods: $0.seasons, hasTrend: $0.hasTrend) }
        if let previousStructure, self.setting.permits(previousStructure.periods) {
            evaluate(previousStructure)
        }
        let maximumLag = min(self.maximumSeason, n / 4)
        switch self.setting {
        case .none:
            break
        case .fixed(let periods):
            evaluate(ModelStructure(periods: periods, hasTrend: true))
            evaluate(ModelStructure(periods: periods, hasTrend: false))
        case .automatic:
            for period in SeasonDetector.candidatePeriods(self.values, maxLag: maximumLag) {
                evaluate(ModelStructure(periods: [period], hasTrend: true))
                evaluate(ModelStructure(periods: [period], hasTrend: false))
            }
            let bestSingle = candidates.filter { $0.structure.periods.count == 1 }
                .min { $0.outOfSampleError < $1.outOfSampleError }
            if let bestSingle, self.allowsTwoSeasons,
                let primary = bestSingle.structure.periods.first,
                let second = SeasonDetector.secondPeriod(self.values, primary: primary, maxLag: maximumLag)
            {
                evaluate(ModelStructure(periods: [second], hasTrend: true))
                evaluate(ModelStructure(periods: [primary, second], hasTrend: true))
            }
            // The chosen seasons without a trend, in case the trend only adds noise.
            if let best = candidates.min(by: { $0.outOfSampleError < $1.outOfSampleError }),
                !best.structure.periods.isEmpty
            {
                evaluate(ModelStructure(periods: best.structure.periods, hasTrend: false))
            }
        }

        guard let bestError = candidates.map(\.outOfSampleError).min() else {
            return self.fit(.ewma, scorer: scorer, targets: self.targets(.ewma, end: n), search: Self.fullSearch)
        }
        let ordered = candidates.sorted { $0.structure.complexity.lexicographicallyPrecedes($1.structure.complexity) }
        // Keep the current structure unless another is clearly better (avoids flip-flopping
        // between near-equivalent seasons); otherwise take the simplest near-best one.
        let kept = candidates.first {
            $0.structure == previousStructure && $0.outOfSampleError <= bestError * (1 + Self.switchingMargin)
        }
        guard let chosen = kept ?? ordered.first(where: { $0.outOfSampleError <= bestError * (1 + Self.tolerance) })
        else {
            return nil
        }
        return self.fit(
            chosen.structure,
            scorer: scorer,
            targets: self.targets(chosen.structure, end: n),
            search: Self.fullSearch,
            start: chosen.parameters
        )
    }

    /// Targets that may be scored when replaying `0..<end`: those after initialisation.
    private func targets(_ structure: ModelStructure, end: Int) -> Range<Int> {
        let start = HoltWintersState.initializationLength(periods: structure.periods, count: end) ?? end
        return min(start, end)..<end
    }

    /// Fits the parameters of `structure` by pattern search from the best of a few starts.
    private func fit(
        _ structure: ModelStructure,
        scorer: ReplayScorer,
        targets: Range<Int>,
        search: PatternSearch,
        start: SmoothingParameters? = nil
    ) -> Result? {
        guard !targets.isEmpty else { return nil }
        var starts: [SmoothingParameters] = []
        if let start { starts.append(start) }
        if let previous = self.previous, previous.seasons == structure.periods, previous.hasTrend == structure.hasTrend {
            starts.append(previous.parameters)
        }
        let seasons = structure.periods.count
        starts.append(SmoothingParameters(alpha: 0.3, beta: 0.05, phi: 0.98, gammas: .init(repeating: 0.2, count: seasons), ar: 0))
        if start == nil {
            starts.append(SmoothingParameters(alpha: 0.7, beta: 0.05, phi: 0.98, gammas: .init(repeating: 0.1, count: seasons), ar: 0.5))
            starts.append(SmoothingParameters(alpha: 0.05, beta: 0.05, phi: 0.98, gammas: .init(repeating: 0.05, count: seasons), ar: 0))
        }
        let objective: ([Double]) -> Double = { unit in
            scorer.meanAbsoluteError(structure, structure.parameters(from: unit), targets: targets)
        }
        var best: (point: [Double], value: Double)?
        for candidate in starts {
            let unit = structure.unitCoordinates(of: candidate)
            let value = objective(unit)
            if let current = best, current.value <= value { continue }
            best = (unit, value)
        }
        guard let best, best.value.isFinite else { return nil }
        let result = search.minimize(from: best.point, objective)
        guard result.value.isFinite else { return nil }
        return Result(structure: structure, parameters: structure.parameters(from: result.point))
    }
}
