import Foundation
import Testing

@testable import ConveyorReport

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Parses `text` as XML; returns the parser error, or nil when well-formed.
private func xmlError(_ text: String) -> (any Error)? {
    let parser = XMLParser(data: Data(text.utf8))
    return parser.parse() ? nil : (parser.parserError ?? CocoaError(.fileReadCorruptFile))
}

/// The numeric attribute `name` of every element `tag` in `svg`, in order.
private func attributes(_ name: String, of tag: String, in svg: String) -> [Double] {
    let pattern = try! Regex("<\(tag) [^>]*\(name)=\"([-0-9.]+)\"")
    return svg.matches(of: pattern).compactMap { match in
        (match.output[1].substring).flatMap { Double($0) }
    }
}

private func occurrences(_ needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
}

private func sampleDocument(id: String = "engine", aimMet: Bool = false) -> BenchDocument {
    BenchDocument(
        id: id, title: "Engine <vs> Dispatch", machine: "test machine", date: "2026-11-28 10:00 UTC",
        revision: "abc123", method: "median of 3 runs",
        figures: [BenchFigure(key: "typed", label: "typed", unit: "tasks/s", runs: [3, 1, 2])],
        aims: [BenchAim(text: "typed ≥ 2× Dispatch", result: "1.5×", met: aimMet)],
        tables: [BenchTable(title: "Throughput", header: ["row", "tasks/s"], rows: [["typed", "2"]])],
        charts: [BenchChart(
            kind: .bars, title: "Throughput", valueLabel: "tasks/s", categories: ["typed", "Dispatch & co"],
            series: [ChartSeries(name: "median", points: [ChartPoint(x: 0, y: 2, low: 1, high: 3), ChartPoint(x: 1, y: 1)])],
            reference: ChartReference(value: 1, label: "1×"))])
}

@Suite("Bench report")
struct ReportTests {
    @Test("Median of odd, even and empty runs; NaN runs are ignored")
    func median() {
        #expect(BenchFigure.median(of: [5, 1, 3]) == 3)
        #expect(BenchFigure.median(of: [4, 1, 3, 2]) == 2.5)
        #expect(BenchFigure.median(of: []).isNaN)
        #expect(BenchFigure.median(of: [.nan, 7]) == 7)
        #expect(BenchFigure(key: "k", label: "l", unit: "u", runs: [9, 1, 5]).median == 5)
    }

    @Test("Linear axes start at 0 with 1-2-5 ticks; log axes tick at powers of ten")
    func axes() {
        let linear = ChartAxis(scale: .linear, values: [3, 47], start: 0, end: 100)
        #expect(linear.lower == 0)
        #expect(linear.upper == 50)
        #expect(linear.ticks == [0, 10, 20, 30, 40, 50])
        #expect(linear.position(25) == 50)
        #expect(linear.position(1_000) == 100)  // clamped

        let log = ChartAxis(scale: .log, values: [0.5, 3_000, -1, 0], start: 0, end: 300)
        #expect(log.lower <= 0.5 && log.upper >= 3_000)
        #expect(log.ticks.contains(1) && log.ticks.contains(1_000) && !log.ticks.contains(2))
        #expect(abs(log.position(10) - log.position(1) - (log.position(100) - log.position(10))) < 1e-9)
        #expect(log.position(0) == 0)  // not drawable on a log axis: pinned to the start

        let narrow = ChartAxis(scale: .log, values: [3, 40], start: 0, end: 100)
        #expect(narrow.ticks.contains(5) && narrow.ticks.contains(20))

        #expect(ChartAxis.niceStep(0.37) == 0.5)
        #expect(ChartAxis.niceStep(12) == 20)
        #expect(ChartAxis.niceStep(0) == 1)
    }

    @Test("Number labels: thousands suffixes, three significant digits")
    func numbers() {
        #expect(ChartFormat.number(950) == "950")
        #expect(ChartFormat.number(1_500) == "1.5k")
        #expect(ChartFormat.number(6_543_210) == "6.54M")
        #expect(ChartFormat.number(0.25) == "0.25")
        #expect(ChartFormat.number(12.5) == "12.5")
        #expect(ChartFormat.number(.nan) == "n/a")
    }

    @Test("Bars: well-formed SVG, lengths proportional to values, labels escaped")
    func bars() throws {
        let chart = BenchChart(
            kind: .bars, title: "A < B", valueLabel: "ops/s", categories: ["one", "two & <three>"],
            series: [ChartSeries(name: "median", points: [ChartPoint(x: 0, y: 10), ChartPoint(x: 1, y: 40)])],
            reference: ChartReference(value: 20, label: "aim"))
        let svg = chart.svg
        #expect(xmlError(svg) == nil)
        #expect(svg.contains("two &amp; &lt;three&gt;"))
        #expect(!svg.contains("<three>"))
        let widths = attributes("width", of: "rect", in: svg)
        #expect(widths.count == 2)
        #expect(abs(widths[1] / widths[0] - 4) < 0.05)
        #expect(svg.contains("class=\"ref\""))
    }

    @Test("Bars on a log scale and a missing point draw without breaking the SVG")
    func logBars() {
        let chart = BenchChart(
            kind: .bars, title: "ratios", valueLabel: "×", valueScale: .log, categories: ["a", "b", "c"],
            series: [
                ChartSeries(name: "x", points: [ChartPoint(x: 0, y: 0.5), ChartPoint(x: 1, y: 30)]),
                ChartSeries(name: "y", points: [ChartPoint(x: 2, y: .nan)]),
            ])
        let svg = chart.svg
        #expect(xmlError(svg) == nil)
        #expect(attributes("width", of: "rect", in: svg).count == 2 + 2)  // two bars + two legend swatches
    }

    @Test("Lines: one polyline per series; categorical x labels; non-positive values skipped on log")
    func lines() {
        let chart = BenchChart(
            kind: .lines, title: "latency", valueLabel: "µs", valueScale: .log, xLabel: "percentile",
            categories: ["p50", "p99", "p99.9", "max"],
            series: [
                ChartSeries(name: "Conveyor", points: [0.5, 40, 90, 300].enumerated().map { ChartPoint(x: Double($0.offset), y: $0.element) }),
                ChartSeries(name: "Dispatch", points: [2, 0, 400, 900].enumerated().map { ChartPoint(x: Double($0.offset), y: $0.element) }),
            ])
        let svg = chart.svg
        #expect(xmlError(svg) == nil)
        #expect(occurrences("<polyline ", in: svg) == 2)
        #expect(svg.contains(">p99.9<"))
        #expect(occurrences("<circle ", in: svg) == 4 + 3)
        let numeric = BenchChart(
            kind: .lines, title: "memory", valueLabel: "MiB", xLabel: "s",
            series: [ChartSeries(name: "RSS", points: (0..<500).map { ChartPoint(x: Double($0), y: Double($0 % 7)) })])
        let text = numeric.svg
        #expect(xmlError(text) == nil)
        #expect(occurrences("<circle ", in: text) == 0)  // too many points for dots
    }

    @Test("A long legend wraps inside the chart instead of running off its edge")
    func legendWraps() {
        let names = ["heap allocated", "allocated − thread caches", "held (− free slabs)", "RSS", "heap resident", "one more series"]
        let chart = BenchChart(
            kind: .lines, title: "memory", valueLabel: "MiB", xLabel: "s",
            series: names.map { ChartSeries(name: $0, points: [ChartPoint(x: 0, y: 1), ChartPoint(x: 1, y: 2)]) })
        let svg = chart.svg
        #expect(xmlError(svg) == nil)
        let swatches = attributes("x", of: "rect", in: svg)
        #expect(swatches.count == names.count)
        for (x, name) in zip(swatches, names) {
            #expect(x + 24 + Double(name.count) * 6.5 <= BenchChart.width, "legend entry \(name) runs off the chart")
        }
        #expect(Set(attributes("y", of: "rect", in: svg)).count >= 2)  // more than one row
    }

    @Test("Documents round-trip through files; errors name the file")
    func bundleFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-report-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = directory.appendingPathComponent("engine.json").path
        let second = directory.appendingPathComponent("core.json").path
        try sampleDocument().write(to: first)
        try sampleDocument(id: "core", aimMet: true).write(to: second)

        let bundle = try BenchReportBundle(loading: [first, second], generated: "now")
        #expect(bundle.documents.map(\.id) == ["engine", "core"])
        #expect(bundle.documents[0] == sampleDocument())
        #expect(bundle.summary.contains("MISSED typed ≥ 2× Dispatch"))
        #expect(bundle.summary.contains("1 of 2 aims met"))

        let json = directory.appendingPathComponent("out/report.json").path
        let html = directory.appendingPathComponent("out/report.html").path
        try bundle.write(json: json, html: html)
        let decoded = try BenchDocument.decoder.decode(BenchReportBundle.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(decoded == bundle)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("Engine &lt;vs&gt; Dispatch"))
        #expect(page.contains("Aims: 1 of 2 met"))
        #expect(occurrences("<svg ", in: page) == 2)
        #expect(!page.contains("<script"))

        #expect(throws: BenchReportError.duplicatePart(id: "engine", path: first)) {
            try BenchReportBundle(loading: [first, first], generated: "now")
        }
        let missing = directory.appendingPathComponent("missing.json").path
        #expect {
            try BenchReportBundle(loading: [missing], generated: "now")
        } throws: { error in
            guard case .unreadable(let path, _) = error as? BenchReportError else { return false }
            return path == missing
        }
        let garbage = directory.appendingPathComponent("garbage.json").path
        try Data("{\"id\": 3}".utf8).write(to: URL(fileURLWithPath: garbage))
        #expect {
            try BenchReportBundle(loading: [garbage], generated: "now")
        } throws: { error in
            guard case .notADocument(let path, _) = error as? BenchReportError else { return false }
            return path == garbage
        }
    }

    @Test("NaN figures survive JSON as strings")
    func nanFigures() throws {
        var document = sampleDocument()
        document.figures = [BenchFigure(key: "k", label: "l", unit: "u", runs: [.nan])]
        let data = try BenchDocument.encoder.encode(document)
        #expect(String(decoding: data, as: UTF8.self).contains("\"nan\""))
        let decoded = try BenchDocument.decoder.decode(BenchDocument.self, from: data)
        #expect(decoded.figures[0].median.isNaN)
    }
}

@Suite("Bench report tables")
struct ReportTableTests {
    @Test("A Markdown pipe table becomes plain cells; escaped pipes stay in their cell")
    func markdownTable() throws {
        let markdown = """
            **Machine:** x

            | Measurement | Result | Aim |
            | --- | ---: | --- |
            | **Throughput** | | |
            | `DispatchQueue` a \\| b | 1.5× | p99: **met** |

            **Aims:** …
            """
        let table = try #require(BenchTable(markdown: markdown, title: "Engine"))
        #expect(table.header == ["Measurement", "Result", "Aim"])
        #expect(table.rows == [["Throughput", "", ""], ["DispatchQueue a | b", "1.5×", "p99: met"]])
        #expect(BenchTable(markdown: "no table here\n| a |\n", title: "x") == nil)
    }
}
