// The command-line options the runners share, as ArgumentParser option groups.
import ArgumentParser

/// How `conveyor-enginebench` and `conveyor-allocators` measure and what they write besides
/// the terminal table.
///
/// ```swift
/// @main struct MyBench: ParsableCommand {
///     @OptionGroup var measurement: MeasurementOptions
///     @OptionGroup var report: ReportDocumentOption
/// }
/// ```
package struct MeasurementOptions: ParsableArguments {
    @Option(name: .long, help: "Measured runs of every workload, interleaved round-robin; medians are reported (the project's rule: at least 5).")
    package var runs: Int = 5

    @Flag(name: .long, help: "Small sizes and short windows: a smoke test, the numbers mean nothing.")
    package var quick = false

    @Option(name: .long, help: "Seed of every seeded choice (arrival schedules, burst sizes, slot choices).")
    package var seed: UInt64 = 42

    @Option(name: .long, help: "Also write the tables as Markdown to this file.")
    package var markdown: String?

    @Option(name: .long, help: "Also write every run's raw results as JSON to this file.")
    package var json: String?

    package init() {}

    package func validate() throws {
        guard self.runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    /// The note printed when fewer runs than the project's rule were asked for.
    package var fewRunsNote: String? {
        self.runs < 5 ? "note: fewer than 5 runs; the project's rule is the median of ≥ 5\n" : nil
    }
}

/// `--document FILE`: the part of the `make bench` report a runner writes (every runner has it).
package struct ReportDocumentOption: ParsableArguments {
    @Option(name: .long, help: "Also write the figures, aims, tables and charts as a bench-report document (JSON) for `conveyor report`.")
    package var document: String?

    package init() {}
}
