import Foundation

/// One part of the `make bench` report (the core table, the engine, the allocators, the soak),
/// as every producer writes it and `conveyor report` merges it: every measured figure with its
/// runs, the aims and their verdicts, tables as shown, and charts to draw.
///
/// ```swift
/// var document = BenchDocument(id: "engine", title: "Engine vs Dispatch", machine: machine,
///                              date: "2026-11-28 10:00 UTC", revision: "c117c75", method: "…")
/// document.figures.append(BenchFigure(key: "conveyor.typed", label: "typed tasks/s",
///                                     unit: "tasks/s", runs: [6.4e6, 6.5e6, 6.6e6]))
/// let data = try BenchDocument.encoder.encode(document)
/// ```
public struct BenchDocument: Codable, Sendable, Hashable {
    /// Stable name of the part: "core", "engine", "allocators", "soak".
    public var id: String
    public var title: String
    /// CPU, cores, kernel, build, load: where the figures were measured.
    public var machine: String
    /// When the measurement started, "YYYY-MM-DD HH:MM UTC".
    public var date: String
    /// Git revision of the measured tree.
    public var revision: String
    /// How the figures were measured (runs, medians, what a ratio means).
    public var method: String
    public var figures: [BenchFigure]
    public var aims: [BenchAim]
    public var tables: [BenchTable]
    public var charts: [BenchChart]

    public init(
        id: String, title: String, machine: String, date: String, revision: String, method: String,
        figures: [BenchFigure] = [], aims: [BenchAim] = [], tables: [BenchTable] = [], charts: [BenchChart] = []
    ) {
        self.id = id
        self.title = title
        self.machine = machine
        self.date = date
        self.revision = revision
        self.method = method
        self.figures = figures
        self.aims = aims
        self.tables = tables
        self.charts = charts
    }
}

/// One measured quantity: the value of every run and their median.
public struct BenchFigure: Codable, Sendable, Hashable {
    public var key: String
    public var label: String
    /// "ns/op", "tasks/s", "µs", "bytes", "%", "×" (a ratio), …
    public var unit: String
    public var runs: [Double]
    /// The median of ``runs`` (the mean of the middle two for an even count).
    public var median: Double

    public init(key: String, label: String, unit: String, runs: [Double]) {
        self.key = key
        self.label = label
        self.unit = unit
        self.runs = runs
        self.median = BenchFigure.median(of: runs)
    }

    /// The median of `values`; NaN when empty.
    public static func median(of values: [Double]) -> Double {
        let sorted = values.filter { !$0.isNaN }.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

/// A target from the issues and whether this run met it.
public struct BenchAim: Codable, Sendable, Hashable {
    /// What is aimed at: "typed tasks ≥ 8× Dispatch".
    public var text: String
    /// What was measured: "1.73×".
    public var result: String
    public var met: Bool

    public init(text: String, result: String, met: Bool) {
        self.text = text
        self.result = result
        self.met = met
    }
}

/// A table as the terminal and Markdown show it.
public struct BenchTable: Codable, Sendable, Hashable {
    public var title: String
    public var note: String
    public var header: [String]
    public var rows: [[String]]

    public init(title: String, note: String = "", header: [String], rows: [[String]]) {
        self.title = title
        self.note = note
        self.header = header
        self.rows = rows
    }
}

extension BenchDocument {
    /// The current time as documents carry it in ``date``: "YYYY-MM-DD HH:MM UTC".
    ///
    /// ```swift
    /// let document = BenchDocument(id: "soak", title: "Soak", machine: machine,
    ///                              date: BenchDocument.timestamp(), revision: revision, method: "…")
    /// ```
    public static func timestamp(_ date: Date = Date()) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M UTC", &parts)
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
