import Conveyor
import ConveyorReport
import Foundation

/// The table, JSON and bench-report document of `conveyor simulate`.
enum SimulationReport {
    struct PolicyJSON: Encodable {
        var name: String
        var sloViolationIntervals: Int
        var workerSeconds: Double
        var dropped: Int
        var p99QueueWaitMs: Double
    }

    struct JSON: Encodable {
        var mode: String
        var policies: [PolicyJSON]
        var forecastAccuracy: Double?
        var rows: Int
    }

    static func json(_ outcome: SimulationOutcome) -> JSON {
        JSON(
            mode: outcome.mode,
            policies: outcome.policies.map {
                PolicyJSON(
                    name: $0.name, sloViolationIntervals: $0.sloViolationIntervals, workerSeconds: $0.workerSeconds,
                    dropped: $0.dropped, p99QueueWaitMs: $0.p99QueueWaitMilliseconds)
            },
            forecastAccuracy: outcome.forecastAccuracy, rows: outcome.rows)
    }

    static func percent(_ value: Double?) -> String {
        value.map { String(format: "%.2f %%", $0 * 100) } ?? "undefined (no load)"
    }

    static func tableRows(_ outcome: SimulationOutcome) -> [[String]] {
        let staticSeconds = outcome.policy(.static)?.workerSeconds ?? .nan
        return outcome.policies.map { policy in
            [policy.name, "\(policy.sloViolationIntervals)", String(format: "%.0f", policy.workerSeconds),
             String(format: "%.2f", policy.workerSeconds / staticSeconds), "\(policy.dropped)",
             String(format: "%.1f", policy.p99QueueWaitMilliseconds), "\(policy.decisions)"]
        }
    }

    static let header = ["policy", "SLO-violation intervals", "worker-seconds", "× static", "dropped", "p99 queue wait ms", "decisions"]

    /// The issue's aims, judged on one outcome.
    static func aims(_ outcome: SimulationOutcome) -> [BenchAim] {
        guard let predictive = outcome.policy(.predictive), let reactive = outcome.policy(.reactive),
            let oracle = outcome.policy(.oracle), let fixed = outcome.policy(.static)
        else { return [] }
        let mode = outcome.mode
        let within = Double(predictive.sloViolationIntervals) <= 1.25 * Double(oracle.sloViolationIntervals)
        return [
            BenchAim(
                text: "\(mode): predictive has fewer SLO-violation intervals than reactive",
                result: "\(predictive.sloViolationIntervals) vs \(reactive.sloViolationIntervals)",
                met: predictive.sloViolationIntervals < reactive.sloViolationIntervals),
            BenchAim(
                text: "\(mode): predictive uses ≤ reactive's worker-seconds",
                result: String(format: "%.3f× reactive", predictive.workerSeconds / reactive.workerSeconds),
                met: predictive.workerSeconds <= reactive.workerSeconds),
            BenchAim(
                text: "\(mode): predictive within 25 % of the oracle's violations",
                result: "\(predictive.sloViolationIntervals) vs oracle \(oracle.sloViolationIntervals)", met: within),
            BenchAim(
                text: "\(mode): predictive under 0.6× static's worker-seconds",
                result: String(format: "%.3f× static", predictive.workerSeconds / fixed.workerSeconds),
                met: predictive.workerSeconds < 0.6 * fixed.workerSeconds),
            BenchAim(
                text: "\(mode): no task dropped by any policy",
                result: "\(outcome.policies.map(\.dropped).reduce(0, +)) dropped",
                met: outcome.policies.allSatisfy { $0.dropped == 0 }),
        ]
    }

    static func text(_ outcome: SimulationOutcome, settings: SimulationSettings, path: String, elapsed: Duration) -> String {
        var lines: [String] = []
        let rowsText = outcome.mode == "replay"
            ? "rows \(outcome.firstRow)..<\(outcome.firstRow + outcome.rows) (the \(outcome.firstRow) rows before warm the forecaster)"
            : "\(outcome.rows) rows"
        lines.append("simulate (\(outcome.mode)): \(path), \(rowsText)")
        lines.append(
            "interval \(settings.interval), service time \(settings.serviceTime), worker start delay \(settings.workerStartDelay), "
                + "SLO p99 queue wait \(settings.slo), workers \(settings.minWorkers)…\(settings.maxWorkers), horizon \(settings.horizon) "
                + "(lead \(outcome.leadIntervals) intervals), seed \(settings.seed); "
                + String(format: "%.4g", outcome.scale) + " tasks per unit of count")
        let widths = self.header.indices.map { column in
            max(self.header[column].count, self.tableRows(outcome).map { $0[column].count }.max() ?? 0)
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == 0 ? cell.padding(toLength: widths[0], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  ")
        }
        lines.append(line(self.header))
        for row in self.tableRows(outcome) { lines.append(line(row)) }
        lines.append("forecast accuracy (1 - WAPE): \(self.percent(outcome.forecastAccuracy)) at the lead of \(outcome.leadIntervals) intervals, "
            + "\(self.percent(outcome.nextIntervalAccuracy)) one interval ahead")
        for aim in self.aims(outcome) { lines.append("  [\(aim.met ? "met" : "MISSED")] \(aim.text): \(aim.result)") }
        lines.append("took \(elapsed)")
        return lines.joined(separator: "\n")
    }

    /// Up to `limit` points: means over equal buckets of the series.
    static func downsample(_ values: [Double], limit: Int, firstX: Int) -> [ChartPoint] {
        guard !values.isEmpty else { return [] }
        let bucket = max(1, (values.count + limit - 1) / limit)
        return stride(from: 0, to: values.count, by: bucket).compactMap { start in
            let slice = values[start..<min(values.count, start + bucket)].filter(\.isFinite)
            guard !slice.isEmpty else { return nil }
            return ChartPoint(x: Double(firstX + start), y: slice.reduce(0, +) / Double(slice.count))
        }
    }

    static func charts(_ outcome: SimulationOutcome, settings: SimulationSettings) -> [BenchChart] {
        // Load and forecast as busy workers (Little's law: arrivals per second × service time).
        let busy = settings.serviceSeconds / settings.intervalSeconds
        let load = outcome.arrivals.map { Double($0) * busy }
        let forecast = outcome.forecasts.map { $0 * busy }
        let limit = 720
        return outcome.policies.map { policy in
            var series = [
                ChartSeries(name: "load (busy workers)", points: self.downsample(load, limit: limit, firstX: outcome.firstRow)),
                ChartSeries(name: "workers", points: self.downsample(policy.workers.map(Double.init), limit: limit, firstX: outcome.firstRow)),
            ]
            if policy.name == PolicyName.predictive.rawValue {
                series.insert(ChartSeries(
                    name: "forecast \(outcome.leadIntervals) ahead (busy workers)",
                    points: self.downsample(forecast, limit: limit, firstX: outcome.firstRow)), at: 1)
            }
            return BenchChart(
                kind: .lines, title: "\(outcome.mode): \(policy.name) — load and workers",
                note: "\(policy.sloViolationIntervals) SLO-violation intervals, " + String(format: "%.0f", policy.workerSeconds)
                    + " worker-seconds. Points are means over buckets of \(max(1, (outcome.rows + limit - 1) / limit)) intervals.",
                valueLabel: "workers", xLabel: "trace row", series: series)
        }
    }

    static func document(
        _ outcomes: [SimulationOutcome], settings: SimulationSettings, trace: String, machine: String, date: String, revision: String
    ) -> BenchDocument {
        var figures: [BenchFigure] = []
        var tables: [BenchTable] = []
        var aims: [BenchAim] = []
        var charts: [BenchChart] = []
        for outcome in outcomes {
            for policy in outcome.policies {
                let key = "simulate.\(outcome.mode).\(policy.name)"
                figures.append(BenchFigure(key: key + ".violations", label: "\(outcome.mode) \(policy.name): SLO-violation intervals", unit: "intervals", runs: [Double(policy.sloViolationIntervals)]))
                figures.append(BenchFigure(key: key + ".workerSeconds", label: "\(outcome.mode) \(policy.name): worker-seconds", unit: "s", runs: [policy.workerSeconds]))
                figures.append(BenchFigure(key: key + ".dropped", label: "\(outcome.mode) \(policy.name): dropped", unit: "tasks", runs: [Double(policy.dropped)]))
                figures.append(BenchFigure(key: key + ".p99", label: "\(outcome.mode) \(policy.name): p99 queue wait", unit: "ms", runs: [policy.p99QueueWaitMilliseconds]))
            }
            if let accuracy = outcome.forecastAccuracy {
                figures.append(BenchFigure(key: "simulate.\(outcome.mode).forecastAccuracy", label: "\(outcome.mode): forecast accuracy (1 − WAPE) at the lead", unit: "%", runs: [accuracy * 100]))
            }
            let slice = outcome.mode == "replay" ? "rows \(outcome.firstRow)..<\(outcome.firstRow + outcome.rows), the real engine" : "\(outcome.rows) rows, virtual clock"
            tables.append(BenchTable(
                title: "Scaling policies, \(outcome.mode) mode (\(slice))",
                note: "Forecast accuracy (1 − WAPE) \(self.percent(outcome.forecastAccuracy)) at the lead of \(outcome.leadIntervals) intervals. "
                    + "A violation interval: the p99 queue wait of the tasks started in it exceeded \(settings.slo).",
                header: self.header, rows: self.tableRows(outcome)))
            aims += self.aims(outcome)
            charts += self.charts(outcome, settings: settings)
        }
        let method = "conveyor simulate on \(trace): one trace row per \(settings.interval), Poisson arrivals within each interval "
            + "scaled so that the peak needs about \(settings.maxWorkers) workers; service time \(settings.serviceTime), worker start delay "
            + "\(settings.workerStartDelay), SLO p99 queue wait \(settings.slo), workers \(settings.minWorkers)…\(settings.maxWorkers), seed \(settings.seed). "
            + "Every policy has the same bounds, hysteresis and scale-in rule; model mode is a discrete-event run of the scaler's code, "
            + "replay mode the real engine in compressed time (docs/Scaling.md). One run each: model mode is deterministic."
        return BenchDocument(
            id: "simulate", title: "Predictive scaling: policies on a load trace", machine: machine, date: date, revision: revision,
            method: method, figures: figures, aims: aims, tables: tables, charts: charts)
    }
}
