// The few flags of the runners that write a bench-report part without ArgumentParser
// (conveyor-cachebench, conveyor-batchbench): one parser instead of a copy in each.
import ConveyorReport
import Foundation

/// `--runs N --json FILE --markdown FILE --revision TEXT --quick`, read from the command line.
///
/// ```swift
/// let options = ReportRunOptions.parse(program: "conveyor-cachebench")
/// for run in 0..<options.runs { … }
/// ```
package struct ReportRunOptions {
    package var runs = 5
    package var jsonPath: String?
    package var markdownPath: String?
    package var revision = "unknown"
    /// One run at small sizes: a smoke test, the numbers mean nothing.
    package var quick = false

    /// Parses `CommandLine.arguments`; prints the usage and exits 2 on an unknown argument.
    package static func parse(program: String, _ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Self {
        var options = Self()
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--runs": options.runs = max(1, Int(iterator.next() ?? "") ?? 5)
            case "--json": options.jsonPath = iterator.next()
            case "--markdown": options.markdownPath = iterator.next()
            case "--revision": options.revision = iterator.next() ?? "unknown"
            case "--quick":
                options.quick = true
                options.runs = 1
            default:
                FileHandle.standardError.write(
                    "usage: \(program) [--runs N] [--json FILE] [--markdown FILE] [--revision TEXT] [--quick]\n".data(using: .utf8)!)
                exit(2)
            }
        }
        return options
    }
}

extension ReportRunOptions {
    /// Prints the document's tables and aims as Markdown, and writes them to `--markdown`
    /// and the document to `--json` when given.
    package func publish(_ document: BenchDocument) throws {
        var markdown = "# \(document.title)\n\n\(document.method)\n\n"
        for table in document.tables {
            markdown += "## \(table.title)\n\n\(table.note)\n\n| " + table.header.joined(separator: " | ") + " |\n|"
            markdown += String(repeating: " --- |", count: table.header.count) + "\n"
            for row in table.rows { markdown += "| " + row.joined(separator: " | ") + " |\n" }
            markdown += "\n"
        }
        markdown += "## Aims\n\n"
        for aim in document.aims { markdown += "- \(aim.text): \(aim.result) — \(aim.met ? "met" : "**missed**")\n" }
        print(markdown)
        if let path = self.markdownPath { try markdown.write(toFile: path, atomically: true, encoding: .utf8) }
        if let path = self.jsonPath {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(document).write(to: URL(fileURLWithPath: path))
        }
    }
}
