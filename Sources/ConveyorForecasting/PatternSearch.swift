/// A bounded coordinate pattern search on the unit cube: tries a step up and down each
/// coordinate, keeps any improvement, and halves the step when a full pass finds none.
struct PatternSearch: Sendable {
    var initialStep: Double
    var minimumStep: Double
    var maximumEvaluations: Int

    func minimize(from start: [Double], _ objective: ([Double]) -> Double) -> (point: [Double], value: Double) {
        var point = start
        var value = objective(point)
        var evaluations = 1
        var step = self.initialStep
        while step >= self.minimumStep, evaluations < self.maximumEvaluations {
            var improved = false
            for i in point.indices where evaluations < self.maximumEvaluations {
                for direction in [1.0, -1.0] where evaluations < self.maximumEvaluations {
                    var candidate = point
                    candidate[i] = min(1, max(0, point[i] + direction * step))
                    guard candidate[i] != point[i] else { continue }
                    let candidateValue = objective(candidate)
                    evaluations += 1
                    if candidateValue < value {
                        point = candidate
                        value = candidateValue
                        improved = true
                        break
                    }
                }
            }
            if !improved { step /= 2 }
        }
        return (point, value)
    }
}
