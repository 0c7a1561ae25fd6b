import ArgumentParser
import ConveyorReport
import Foundation

/// `conveyor report`: merges the parts of `make bench` into one JSON file and one HTML page.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Merge bench-report documents into report.json and a self-contained report.html.",
        discussion: """
            Each part of `make bench` writes a document: conveyor-corebench --json, \
            conveyor-enginebench --document, conveyor-allocators --document, conveyor-soak --document \
            (executables of the Benchmarks package). \
            This command reads them in the order given, prints the aims met and missed, and writes \
            the merged JSON (every figure of every run, the machine, the date, the git revision) and \
            an HTML page with SVG charts that needs no network and no script.
            """
    )

    @Argument(help: "Documents to merge, in report order.")
    var documents: [String]

    @Option(name: .long, help: "Where to write the merged JSON.")
    var json: String = "bench-report/report.json"

    @Option(name: .long, help: "Where to write the HTML page.")
    var html: String = "bench-report/report.html"

    @Option(name: .long, help: "Where to write the Markdown summary (the aims table the README carries).")
    var markdown: String = "bench-report/summary.md"

    @Flag(name: .long, help: "Skip documents that do not exist (a part that was not run) instead of failing.")
    var skipMissing = false

    func validate() throws {
        guard !self.documents.isEmpty else { throw ValidationError("name at least one document to merge") }
    }

    func run() throws {
        var paths = self.documents
        if self.skipMissing {
            let missing = paths.filter { !FileManager.default.fileExists(atPath: $0) }
            for path in missing { FileHandle.standardError.write(Data("note: \(path) not found (part not run); skipped\n".utf8)) }
            paths.removeAll { missing.contains($0) }
            guard !paths.isEmpty else { throw ValidationError("none of the documents exists") }
        }
        let bundle: BenchReportBundle
        do {
            bundle = try BenchReportBundle(loading: paths, generated: BenchDocument.timestamp())
            try bundle.write(json: self.json, html: self.html, markdown: self.markdown)
        } catch let error as BenchReportError {
            throw ValidationError(error.description)
        }
        print(bundle.summary, terminator: "")
        print("report: \(self.html) (open in a browser), every figure: \(self.json)")
    }
}
