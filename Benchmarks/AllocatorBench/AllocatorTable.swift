import BenchSupport

/// One table of the allocator report, rendered as Markdown or as aligned plain text.
///
/// ```swift
/// let table = AllocatorTable(title: "Churn", note: "…", headers: ["Allocator", "ns/op"], rows: [["glibc", "20.1"]])
/// print(table.plainText)
/// ```
struct AllocatorTable {
    var title: String
    /// What the columns mean (Markdown; shown under the title).
    var note: String
    var headers: [String]
    var rows: [[String]]
    /// Lines printed after the table (warnings).
    var footnotes: [String] = []

    var markdown: String {
        var out = "#### \(self.title)\n\n\(self.note)\n\n"
        out += "| " + self.headers.joined(separator: " | ") + " |\n"
        out += "| --- |" + String(repeating: " ---: |", count: max(0, self.headers.count - 1)) + "\n"
        for row in self.rows { out += "| " + row.joined(separator: " | ") + " |\n" }
        for line in self.footnotes { out += "\n" + line + "\n" }
        return out
    }

    /// Columns padded to their widest cell (first column left-aligned, the others right).
    var plainText: String {
        let all = [self.headers] + self.rows
        let widths = self.headers.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
        var out = self.title + "\n" + line(self.headers) + "\n"
        for row in self.rows { out += line(row) + "\n" }
        for footnote in self.footnotes { out += footnote + "\n" }
        return out
    }
}
