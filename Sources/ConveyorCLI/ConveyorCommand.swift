import ArgumentParser

/// The `conveyor` command-line tool: what users run on their own data. The benchmarks and the
/// soak are executables of the nested `Benchmarks` package (`make bench`, `make soak`).
@main
struct ConveyorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor",
        abstract: "Tools for the Conveyor task queue.",
        subcommands: [ForecastCommand.self, SimulateCommand.self, ReportCommand.self]
            + dashboardCommands + postgresCommands
    )
}
