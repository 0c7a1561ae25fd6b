import ArgumentParser

/// The `conveyor` command-line tool.
@main
struct ConveyorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor",
        abstract: "Tools for the Conveyor task queue.",
        subcommands: [ForecastCommand.self, BenchCommand.self, AllocatorsCommand.self, SoakCommand.self, ReportCommand.self]
            + dashboardCommands
    )
}
