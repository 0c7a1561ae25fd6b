// The tables every runner prints: aligned plain text for the terminal, Markdown for files.

/// One table: a title, a note on what the columns mean, a header, rows of cells and lines
/// printed after it. Text columns are left-aligned, numbers right-aligned.
///
/// ```swift
/// let table = TextTable(title: "Churn", note: "ns per free + allocate", header: ["Allocator", "ns/op"],
///                       rows: [["glibc", "20.1"], ["slab", "11.8"]])
/// print(table.plainText)
/// ```
package struct TextTable: Sendable, Equatable {
    package var title: String
    /// What the columns mean (Markdown; shown under the title).
    package var note: String
    package var header: [String]
    package var rows: [[String]]
    /// Lines printed after the table (warnings).
    package var footnotes: [String]
    /// Columns whose cells are left-aligned (the others are right-aligned): the first by default.
    package var leftAligned: Set<Int>

    package init(
        title: String, note: String = "", header: [String], rows: [[String]], footnotes: [String] = [],
        leftAligned: Set<Int> = [0]
    ) {
        self.title = title
        self.note = note
        self.header = header
        self.rows = rows
        self.footnotes = footnotes
        self.leftAligned = leftAligned
    }

    /// The header, a rule and the rows, each column padded to its widest cell; no title.
    package var alignedLines: String {
        let all = [self.header] + self.rows
        let widths = self.header.indices.map { column in all.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            var text = cells.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: max(0, widths[column] - cell.count))
                return self.leftAligned.contains(column) ? cell + padding : padding + cell
            }.joined(separator: "  ")
            while text.hasSuffix(" ") { text.removeLast() }
            return text + "\n"
        }
        return line(self.header) + line(widths.map { String(repeating: "-", count: $0) }) + self.rows.map(line).joined()
    }

    /// Title, header, rule, rows and footnotes as aligned plain text.
    package var plainText: String {
        self.title + "\n" + self.alignedLines + self.footnotes.map { $0 + "\n" }.joined()
    }

    /// A Markdown table under a `####` title (none when the title is empty) and the note. With `escaping`, cells and the note
    /// are escaped (`|`, `<`, `>`), for labels such as `Mutex<Deque>`.
    package func markdown(escaping: Bool = false) -> String {
        func cell(_ text: String) -> String { escaping ? escapeMarkdown(text) : text }
        var out = self.title.isEmpty ? "" : "#### \(self.title)\n\n"
        if !self.note.isEmpty { out += cell(self.note) + "\n\n" }
        out += "| " + self.header.map(cell).joined(separator: " | ") + " |\n"
        out += "|" + self.header.indices.map { self.leftAligned.contains($0) ? " --- |" : " ---: |" }.joined() + "\n"
        for row in self.rows { out += "| " + row.map(cell).joined(separator: " | ") + " |\n" }
        for line in self.footnotes { out += "\n" + line + "\n" }
        return out
    }
}

/// Escapes what would break a Markdown table cell or read as HTML: `|`, `<`, `>`.
package func escapeMarkdown(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "|": out += "\\|"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        default: out.append(character)
        }
    }
    return out
}
