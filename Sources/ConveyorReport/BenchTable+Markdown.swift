import Foundation

extension BenchTable {
    /// The first pipe table in `markdown` (header, `---` line, rows), with `\|` escapes undone
    /// and emphasis and code marks removed: the same table the terminal and README show,
    /// without writing its rows twice. `nil` when `markdown` has no table.
    ///
    /// ```swift
    /// let table = BenchTable(markdown: "| a | b |\n| --- | ---: |\n| **x** | `1` |\n", title: "T")
    /// // table?.rows == [["x", "1"]]
    /// ```
    public init?(markdown: String, title: String, note: String = "") {
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.indices.first(where: { index in
            index + 1 < lines.count && lines[index].hasPrefix("|") && Self.isDelimiterRow(lines[index + 1])
        }) else { return nil }
        let header = Self.cells(lines[start])
        var rows: [[String]] = []
        var index = start + 2
        while index < lines.count, lines[index].hasPrefix("|") {
            rows.append(Self.cells(lines[index]))
            index += 1
        }
        self.init(title: title, note: note, header: header, rows: rows)
    }

    static func isDelimiterRow(_ line: String) -> Bool {
        let cells = Self.cells(line)
        return !cells.isEmpty && cells.allSatisfy { cell in
            !cell.isEmpty && cell.allSatisfy { $0 == "-" || $0 == ":" } && cell.contains("-")
        }
    }

    /// Splits `| a | b \| c |` into ["a", "b | c"], stripping `**` and backticks.
    static func cells(_ line: String) -> [String] {
        var cells: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "|" {
                cells.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        cells.append(current)
        // The text before the first pipe and after the last one is not a cell.
        if cells.count >= 2 {
            cells.removeFirst()
            if cells.last!.trimmingCharacters(in: .whitespaces).isEmpty { cells.removeLast() }
        }
        return cells.map { cell in
            cell.replacing("**", with: "").replacing("`", with: "").replacing("&lt;", with: "<").replacing("&gt;", with: ">")
                .trimmingCharacters(in: .whitespaces)
        }
    }
}
