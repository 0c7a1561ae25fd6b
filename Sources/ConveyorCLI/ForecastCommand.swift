import ArgumentParser
import ConveyorForecasting
import Foundation

/// `conveyor forecast`: runs the load forecaster online over a trace and scores it.
struct ForecastCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast",
        abstract: "Forecast a load trace online and compare with naive baselines.",
        discussion: """
            Reads a CSV with the header 'timestamp,count' (one row per interval; an empty count \
            is a missing interval), runs the forecaster over it so that the prediction for row t \
            uses rows 0…t−H only, writes 'timestamp,actual,predicted' for every scored row, and \
            prints the accuracy (1 − WAPE) next to the naive and seasonal-naive baselines.
            """
    )

    @Option(name: .long, help: "The trace: a CSV with header 'timestamp,count'.")
    var trace: String

    // `.unconditional`: "-1" is read as the value (and refused with a message naming the
    // option), not as an unknown flag ("Missing value for '--horizon <horizon>'").
    @Option(name: .long, parsing: .unconditional, help: "How many intervals ahead each prediction is made (at least 1).")
    var horizon: Int

    @Option(name: .long, help: "Season length: 'auto' (detect), 'none', N, or N,M for two seasons.")
    var season: String = "auto"

    @Option(name: .long, help: "Where to write 'timestamp,actual,predicted'.")
    var out: String

    @Option(name: .long, parsing: .unconditional, help: "Rows between refits (learnFromPatterns) once warmed up.")
    var refitEvery: Int = 512

    @Option(name: .long, parsing: .unconditional, help: "Leading rows never scored.")
    var warmup: Int = 0

    func run() throws {
        let setting = try SeasonSetting(parsing: self.season)
        let evaluation = try RollingEvaluation(
            horizon: self.horizon,
            configuration: Forecaster.Configuration(season: setting),
            refitInterval: self.refitEvery,
            warmup: self.warmup
        )
        let trace: LoadTrace
        do {
            trace = try LoadTrace.load(contentsOf: self.trace)
        } catch {
            throw TraceFailure(path: self.trace, error: error)
        }
        let result = evaluation.run(trace.counts)
        try self.write(result, trace: trace)
        print(Self.report(result, trace: trace, path: self.trace, output: self.out))
        guard !result.scoredRows.isEmpty else {
            throw NothingScored(rows: trace.rows.count, horizon: self.horizon, warmup: self.warmup)
        }
    }

    func validate() throws {
        guard self.horizon >= 1 else { throw ValidationError("--horizon must be at least 1 interval (got \(self.horizon))") }
        guard self.warmup >= 0 else { throw ValidationError("--warmup must not be negative (got \(self.warmup))") }
        guard self.refitEvery >= 1 else { throw ValidationError("--refit-every must be at least 1 row (got \(self.refitEvery))") }
    }

    private func write(_ result: EvaluationResult, trace: LoadTrace) throws {
        var text = "timestamp,actual,predicted\n"
        text.reserveCapacity(result.scoredRows.count * 48)
        for row in result.scoredRows {
            guard let actual = result.actuals[row], let predicted = result.predictions[row] else { continue }
            text += "\(trace.rows[row].timestamp),\(Self.number(actual)),\(Self.number(predicted))\n"
        }
        do {
            try text.write(toFile: self.out, atomically: true, encoding: .utf8)
        } catch {
            throw ForecastError.unwritableOutput(path: self.out, reason: error.localizedDescription)
        }
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    static func report(_ result: EvaluationResult, trace: LoadTrace, path: String, output: String) -> String {
        func percent(_ accuracy: ForecastAccuracy) -> String {
            guard let value = accuracy.value else {
                return result.scoredRows.isEmpty ? "n/a (no row scored)" : "undefined (all actual values are zero)"
            }
            return String(format: "%.2f %%", value * 100)
        }
        var lines: [String] = []
        lines.append("trace: \(path) (\(trace.rows.count) rows), horizon \(result.horizon)")
        let seasons = result.model.seasons
        lines.append(
            "season found: "
                + (seasons.isEmpty ? "none" : seasons.map(String.init).joined(separator: " + ") + " intervals"))
        lines.append("model: \(result.model)")
        let history = result.seasonChanges.map { change in
            "row \(change.afterRow + 1): " + (change.seasons.isEmpty ? "none" : change.seasons.map(String.init).joined(separator: "+"))
        }
        if !history.isEmpty { lines.append("season choices: " + history.joined(separator: ", ")) }
        if let first = result.scoredRows.first, let last = result.scoredRows.last {
            lines.append("scored rows: \(result.scoredRows.count) (rows \(first + 1)…\(last + 1) of the data)")
        } else {
            lines.append("scored rows: 0 (the trace is too short for this horizon and season)")
        }
        func row(_ label: String, _ value: String) -> String {
            "  " + label + String(repeating: " ", count: max(1, 32 - label.count)) + value
        }
        lines.append("accuracy (1 - WAPE):")
        lines.append(row("forecaster", percent(result.accuracy)))
        lines.append(row("naive (\(result.horizon) rows earlier)", percent(result.naiveAccuracy)))
        if result.seasonalNaive.isEmpty {
            lines.append(row("seasonal naive", "n/a (no season found)"))
        }
        for baseline in result.seasonalNaive {
            lines.append(row("seasonal naive (\(baseline.season) earlier)", percent(baseline.accuracy)))
        }
        lines.append("wrote \(result.scoredRows.count) predictions to \(output)")
        return lines.joined(separator: "\n")
    }
}

/// The trace ran, but no row could be scored: the command fails rather than print an accuracy.
struct NothingScored: Error, CustomStringConvertible {
    var rows: Int
    var horizon: Int
    var warmup: Int

    var description: String {
        "no row was scored: the trace has \(self.rows) row\(self.rows == 1 ? "" : "s"), and a row is scored only after "
            + "the horizon (\(self.horizon)), the warm-up (\(self.warmup)) and one season of the detected seasons; "
            + "use a longer trace, or a smaller --horizon/--warmup, or --season none"
    }
}

/// A trace error, prefixed with the file it came from.
private struct TraceFailure: Error, CustomStringConvertible {
    var path: String
    var error: ForecastError

    var description: String {
        if case .unreadableFile = self.error { return self.error.description }
        return "\(self.path): \(self.error)"
    }
}
