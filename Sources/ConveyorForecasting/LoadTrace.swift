import Foundation

/// A load trace: one row per interval, read from a CSV with the header `timestamp,count`.
///
/// Counts may be decimals; an empty count marks a missing interval. Timestamps are kept as
/// text and only copied to the output. Blank lines are skipped; anything else malformed is a
/// ``ForecastError`` naming the line.
///
/// ```swift
/// let trace = try LoadTrace.parse("""
///     timestamp,count
///     2024-01-01T00:00:00Z,12
///     2024-01-01T01:00:00Z,14.5
///     """)
/// print(trace.counts)  // [Optional(12.0), Optional(14.5)]
/// ```
public struct LoadTrace: Sendable, Hashable {
    /// One interval of the trace.
    public struct Row: Sendable, Hashable {
        /// The timestamp text as written in the file.
        public var timestamp: String
        /// The count, or `nil` for a missing interval.
        public var count: Double?
        /// The 1-based line of the file this row came from.
        public var line: Int

        /// Creates a row.
        public init(timestamp: String, count: Double?, line: Int) {
            self.timestamp = timestamp
            self.count = count
            self.line = line
        }
    }

    /// The largest count a row may hold (10^15 arrivals in one interval): far above any real
    /// load, and low enough that sums over millions of rows stay exact to a fraction of a
    /// count, so accuracy figures never overflow to infinity.
    public static let maximumCount: Double = 1e15

    /// The rows, in file order.
    public var rows: [Row]

    /// Creates a trace from rows.
    public init(rows: [Row]) {
        self.rows = rows
    }

    /// The counts, in order (`nil` for missing intervals).
    public var counts: [Double?] { self.rows.map(\.count) }

    /// Reads and parses the CSV file at `path`.
    ///
    /// - Throws: ``ForecastError/unreadableFile(path:reason:)`` or any parse error of ``parse(_:)``.
    public static func load(contentsOf path: String) throws(ForecastError) -> LoadTrace {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadableFile(path: path, reason: Self.reason(for: error, path: path))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .unreadableFile(path: path, reason: "the file is not UTF-8 text")
        }
        return try Self.parse(text)
    }

    private static func reason(for error: any Error, path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return "no such file"
        }
        if isDirectory.boolValue { return "it is a directory" }
        return "\(error.localizedDescription)"
    }

    /// Parses CSV text with the header `timestamp,count` and one row per interval.
    ///
    /// - Throws: ``ForecastError/emptyTrace``, ``ForecastError/missingHeader(line:found:)``,
    ///   ``ForecastError/wrongFieldCount(line:found:)``, ``ForecastError/nonNumericCount(line:value:)`` or
    ///   ``ForecastError/countOutOfRange(line:value:)`` (a negative count, or one above ``maximumCount``).
    public static func parse(_ text: String) throws(ForecastError) -> LoadTrace {
        var rows: [Row] = []
        var sawHeader = false
        var lineNumber = 0
        // "\r\n" is a single Character in Swift, and a newline, like "\n" and a lone "\r".
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            var line = Substring(rawLine)
            if lineNumber == 1, line.first == "\u{FEFF}" { line.removeFirst() }
            if line.allSatisfy(\.isWhitespace) { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { Self.unquoted($0) }
            if !sawHeader {
                guard fields.count == 2, fields[0].lowercased() == "timestamp", fields[1].lowercased() == "count" else {
                    throw .missingHeader(line: lineNumber, found: String(line))
                }
                sawHeader = true
                continue
            }
            guard fields.count == 2 else { throw .wrongFieldCount(line: lineNumber, found: fields.count) }
            let countText = fields[1]
            var count: Double?
            if !countText.isEmpty {
                guard let value = Double(countText), value.isFinite else {
                    throw .nonNumericCount(line: lineNumber, value: countText)
                }
                guard value >= 0, value <= Self.maximumCount else {
                    throw .countOutOfRange(line: lineNumber, value: countText)
                }
                count = value
            }
            rows.append(Row(timestamp: fields[0], count: count, line: lineNumber))
        }
        guard !rows.isEmpty else { throw .emptyTrace }
        return LoadTrace(rows: rows)
    }

    /// A field without surrounding whitespace and double quotes.
    private static func unquoted(_ field: Substring) -> String {
        var text = field.trimmingWhitespace()
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") {
            text = String(text.dropFirst().dropLast())
        }
        return text
    }
}
