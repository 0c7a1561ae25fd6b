extension BenchReportBundle {
    /// One HTML page with everything inline (styles and SVG charts): no script, no network,
    /// so it opens the same from a CI artifact, a mail attachment or a file URL.
    public var html: String {
        var out = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        out += "<title>Conveyor bench report</title><style>\(Self.styles)</style></head><body>"
        out += "<h1>Conveyor bench report</h1>"
        out += "<p class=\"meta\">Assembled \(ChartFormat.escape(self.generated)). Every speed figure is a ratio "
            + "against a peer measured in the same process run, the median of several runs.</p>"
        let aims = self.aims
        if !aims.isEmpty {
            let met = aims.filter(\.aim.met).count
            out += "<h2 id=\"aims\">Aims: \(met) of \(aims.count) met</h2><table><thead><tr><th>part</th><th>aim</th>"
                + "<th>result</th><th></th></tr></thead><tbody>"
            for (part, aim) in aims {
                out += "<tr><td>\(ChartFormat.escape(part))</td><td>\(ChartFormat.escape(aim.text))</td>"
                    + "<td>\(ChartFormat.escape(aim.result))</td>"
                    + "<td class=\"\(aim.met ? "met" : "missed")\">\(aim.met ? "met" : "missed")</td></tr>"
            }
            out += "</tbody></table>"
        }
        out += "<nav><ul>"
        for document in self.documents {
            out += "<li><a href=\"#\(Self.anchor(document.id))\">\(ChartFormat.escape(document.title))</a></li>"
        }
        out += "</ul></nav>"
        for document in self.documents {
            out += Self.section(document)
        }
        return out + "</body></html>\n"
    }

    static func anchor(_ id: String) -> String {
        String(id.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
    }

    static func section(_ document: BenchDocument) -> String {
        var out = "<section id=\"\(Self.anchor(document.id))\"><h2>\(ChartFormat.escape(document.title))</h2>"
        out += "<p class=\"meta\">\(ChartFormat.escape(document.date)) · git \(ChartFormat.escape(document.revision))<br>"
            + "\(ChartFormat.escape(document.machine))</p>"
        out += "<p class=\"method\">\(ChartFormat.escape(document.method))</p>"
        for chart in document.charts {
            out += "<figure>\(chart.svg)"
            if !chart.note.isEmpty { out += "<figcaption>\(ChartFormat.escape(chart.note))</figcaption>" }
            out += "</figure>"
        }
        for table in document.tables {
            out += "<h3>\(ChartFormat.escape(table.title))</h3>"
            if !table.note.isEmpty { out += "<p class=\"note\">\(ChartFormat.escape(table.note))</p>" }
            out += "<table><thead><tr>"
            for (index, cell) in table.header.enumerated() {
                out += "<th\(index > 0 ? " class=\"num\"" : "")>\(ChartFormat.escape(cell))</th>"
            }
            out += "</tr></thead><tbody>"
            for row in table.rows {
                out += "<tr>"
                for (index, cell) in row.enumerated() {
                    out += "<td\(index > 0 ? " class=\"num\"" : "")>\(ChartFormat.escape(cell))</td>"
                }
                out += "</tr>"
            }
            out += "</tbody></table>"
        }
        out += "<details><summary>All \(document.figures.count) figures (every run)</summary><table><thead><tr>"
            + "<th>figure</th><th class=\"num\">median</th><th>unit</th><th class=\"num\">runs</th></tr></thead><tbody>"
        for figure in document.figures {
            out += "<tr><td>\(ChartFormat.escape(figure.label))</td><td class=\"num\">\(ChartFormat.number(figure.median))</td>"
                + "<td>\(ChartFormat.escape(figure.unit))</td>"
                + "<td class=\"num\">\(figure.runs.map(ChartFormat.number).joined(separator: " · "))</td></tr>"
        }
        return out + "</tbody></table></details></section>"
    }

    static let styles = """
        body{font:15px/1.45 system-ui,sans-serif;color:#1b1b1b;max-width:980px;margin:2em auto;padding:0 1em}
        h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
        h3{font-size:1.05em;margin-top:1.6em}.meta{color:#555;font-size:.9em}.method,.note{font-size:.92em;color:#333}
        table{border-collapse:collapse;margin:.6em 0;font-size:.88em}th,td{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:left;vertical-align:top}
        th{background:#f6f6f6}.num{text-align:right;font-variant-numeric:tabular-nums}
        .met{color:#06752f;font-weight:600}.missed{color:#b00020;font-weight:600}
        figure{margin:1.2em 0}figcaption{font-size:.85em;color:#555;max-width:760px}
        nav ul{padding-left:1.2em}details{margin:1em 0}summary{cursor:pointer;color:#0b57d0}
        svg{max-width:100%;height:auto}
        """
}
