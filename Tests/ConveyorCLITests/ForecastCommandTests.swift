import ConveyorForecasting
import Foundation
import Testing

@testable import ConveyorCLI

/// `conveyor forecast` on bad input (issue 9, item 10): every refusal names the problem, and
/// a run that scores nothing fails instead of printing an accuracy.
@Suite("conveyor forecast: bad input")
struct ForecastCommandTests {
    private func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("conveyor-forecast-\(UUID().uuidString).csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("A negative --horizon, --warmup or --refit-every is named, not read as a missing value",
          arguments: [("--horizon", "-1", "--horizon must be at least 1"),
                      ("--warmup", "-5", "--warmup must not be negative"),
                      ("--refit-every", "-2", "--refit-every must be at least 1")])
    func negativeOptions(option: String, value: String, expected: String) {
        var arguments = ["--trace", "t.csv", "--out", "o.csv", "--horizon", "1"]
        if option == "--horizon" { arguments[5] = value } else { arguments += [option, value] }
        do {
            _ = try ForecastCommand.parse(arguments)
            Issue.record("\(option) \(value) was accepted")
        } catch {
            let message = ForecastCommand.message(for: error)
            #expect(message.contains(expected), "message: \(message)")
            #expect(!message.contains("Missing value"), "message: \(message)")
        }
    }

    @Test("A one-row trace scores nothing and fails, naming why")
    func oneRow() throws {
        let trace = try self.temporaryFile("timestamp,count\n2024-01-01T00:00Z,5\n")
        let out = trace + ".out"
        defer {
            try? FileManager.default.removeItem(atPath: trace)
            try? FileManager.default.removeItem(atPath: out)
        }
        let command = try ForecastCommand.parse(["--trace", trace, "--horizon", "1", "--out", out])
        #expect {
            try command.run()
        } throws: { error in
            "\(error)".contains("no row was scored") && "\(error)".contains("1 row,")
        }
    }

    @Test("A count too large to sum is refused with its line", arguments: ["1e308", "-3", "1e16"])
    func hugeCount(value: String) throws {
        let text = "timestamp,count\n2024-01-01T00:00Z,5\n2024-01-01T00:30Z,\(value)\n"
        #expect(throws: ForecastError.countOutOfRange(line: 3, value: value)) { try LoadTrace.parse(text) }
        let trace = try self.temporaryFile(text)
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let command = try ForecastCommand.parse(["--trace", trace, "--horizon", "1", "--out", trace + ".out"])
        #expect {
            try command.run()
        } throws: { error in
            "\(error)".contains("line 3") && "\(error)".contains("out of range")
        }
    }

    @Test("The largest allowed counts still give a finite accuracy")
    func largestCounts() throws {
        var text = "timestamp,count\n"
        for row in 0..<200 { text += "t\(row),\(row % 2 == 0 ? "1e15" : "9e14")\n" }
        let trace = try LoadTrace.parse(text)
        let result = try RollingEvaluation(horizon: 1, configuration: .init(season: .none)).run(trace.counts)
        let accuracy = try #require(result.accuracy.value)
        #expect(accuracy.isFinite)
    }
}
