import Foundation

extension BenchChart {
    /// The chart as a standalone `<svg>` element (inline in HTML, or saved as a `.svg` file).
    public var svg: String {
        switch self.kind {
        case .bars: return self.barsSVG
        case .lines: return self.linesSVG
        }
    }

    static let width = 820.0
    static let labelWidth = 320.0
    static let rightMargin = 70.0

    private var allValues: [Double] {
        var values = self.series.flatMap { $0.points.flatMap { [$0.y, $0.low, $0.high].compactMap { $0 } } }
        if let reference = self.reference { values.append(reference.value) }
        return values
    }

    /// Legend entries laid out left to right from the label column, wrapping at the chart's
    /// right edge: (series index, x, row).
    private var legendLayout: [(index: Int, x: Double, row: Int)] {
        guard self.series.count > 1 else { return [] }
        var layout: [(Int, Double, Int)] = []
        var x = Self.labelWidth
        var row = 0
        for (index, series) in self.series.enumerated() {
            let width = 24 + Double(series.name.count) * 6.5
            if x + width > Self.width - 10, x > Self.labelWidth {
                x = Self.labelWidth
                row += 1
            }
            layout.append((index, x, row))
            x += width
        }
        return layout
    }

    /// Height the legend takes above the plot.
    private var legendHeight: Double {
        guard let last = self.legendLayout.last else { return 0 }
        return Double(last.row + 1) * 18
    }

    private func legend(y: Double) -> String {
        var out = ""
        for (index, x, row) in self.legendLayout {
            let baseline = y + Double(row) * 18
            out += "<rect x=\"\(ChartFormat.pixel(x))\" y=\"\(ChartFormat.pixel(baseline - 9))\" width=\"10\" height=\"10\" fill=\"\(ChartFormat.color(index))\"/>"
            out += "<text x=\"\(ChartFormat.pixel(x + 14))\" y=\"\(ChartFormat.pixel(baseline))\" class=\"legend\">\(ChartFormat.escape(self.series[index].name))</text>"
        }
        return out
    }

    private func valueGrid(_ axis: ChartAxis, top: Double, bottom: Double) -> String {
        var out = ""
        for tick in axis.ticks {
            let x = ChartFormat.pixel(axis.position(tick))
            out += "<line x1=\"\(x)\" y1=\"\(ChartFormat.pixel(top))\" x2=\"\(x)\" y2=\"\(ChartFormat.pixel(bottom))\" class=\"grid\"/>"
            out += "<text x=\"\(x)\" y=\"\(ChartFormat.pixel(bottom + 14))\" class=\"tick\" text-anchor=\"middle\">\(ChartFormat.number(tick))</text>"
        }
        return out
    }

    private func header(height: Double) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(Self.width)) \(Int(height))\" "
            + "width=\"\(Int(Self.width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(ChartFormat.escape(self.title))\">"
            + "<style>text{font:12px system-ui,sans-serif;fill:#222}.tick{fill:#555;font-size:11px}"
            + ".grid{stroke:#e3e3e3}.axis{stroke:#888}.title{font-weight:600;font-size:14px}"
            + ".ref{stroke:#c00;stroke-dasharray:4 3}.reflabel{fill:#c00;font-size:11px}.value{font-size:11px;fill:#333}"
            + ".legend{font-size:12px}</style>"
            + "<title>\(ChartFormat.escape(self.title))</title>"
            + "<text x=\"10\" y=\"20\" class=\"title\">\(ChartFormat.escape(self.title))</text>"
    }

    // MARK: Bars

    private var barsSVG: String {
        let barHeight = 14.0
        let groupGap = 10.0
        let top = 34.0 + self.legendHeight + (self.reference != nil ? 14 : 0)
        let groupHeight = Double(max(self.series.count, 1)) * barHeight + groupGap
        let plotBottom = top + Double(self.categories.count) * groupHeight
        let height = plotBottom + 40
        let axis = ChartAxis(scale: self.valueScale, values: self.allValues,
                             start: Self.labelWidth, end: Self.width - Self.rightMargin)
        var out = self.header(height: height)
        out += self.legend(y: 44)
        out += self.valueGrid(axis, top: top - 4, bottom: plotBottom)
        for (categoryIndex, category) in self.categories.enumerated() {
            let groupTop = top + Double(categoryIndex) * groupHeight
            let labelY = groupTop + Double(max(self.series.count, 1)) * barHeight / 2 + 4
            out += "<text x=\"\(ChartFormat.pixel(Self.labelWidth - 8))\" y=\"\(ChartFormat.pixel(labelY))\" text-anchor=\"end\">"
                + "\(ChartFormat.escape(Self.shortened(category)))<title>\(ChartFormat.escape(category))</title></text>"
            for (seriesIndex, series) in self.series.enumerated() {
                guard let point = series.points.first(where: { Int($0.x) == categoryIndex }), point.y.isFinite else { continue }
                let y = groupTop + Double(seriesIndex) * barHeight
                let origin = axis.position(self.valueScale == .log ? axis.lower : 0)
                let end = axis.position(point.y)
                let x0 = min(origin, end)
                out += "<rect x=\"\(ChartFormat.pixel(x0))\" y=\"\(ChartFormat.pixel(y + 1))\" "
                    + "width=\"\(ChartFormat.pixel(max(abs(end - origin), 1)))\" height=\"\(ChartFormat.pixel(barHeight - 2))\" "
                    + "fill=\"\(ChartFormat.color(seriesIndex))\"><title>\(ChartFormat.escape(series.name)): "
                    + "\(ChartFormat.number(point.y)) \(ChartFormat.escape(self.valueLabel))</title></rect>"
                if let low = point.low, let high = point.high, low.isFinite, high.isFinite {
                    let middle = ChartFormat.pixel(y + barHeight / 2)
                    out += "<line x1=\"\(ChartFormat.pixel(axis.position(low)))\" y1=\"\(middle)\" "
                        + "x2=\"\(ChartFormat.pixel(axis.position(high)))\" y2=\"\(middle)\" stroke=\"#222\" stroke-width=\"1.2\"/>"
                }
                out += "<text x=\"\(ChartFormat.pixel(max(end, axis.position(point.high ?? point.y)) + 4))\" "
                    + "y=\"\(ChartFormat.pixel(y + barHeight - 3))\" class=\"value\">\(ChartFormat.number(point.y))</text>"
            }
        }
        out += "<line x1=\"\(ChartFormat.pixel(Self.labelWidth))\" y1=\"\(ChartFormat.pixel(top - 4))\" "
            + "x2=\"\(ChartFormat.pixel(Self.labelWidth))\" y2=\"\(ChartFormat.pixel(plotBottom))\" class=\"axis\"/>"
        if let reference = self.reference {
            let x = ChartFormat.pixel(axis.position(reference.value))
            out += "<line x1=\"\(x)\" y1=\"\(ChartFormat.pixel(top - 6))\" x2=\"\(x)\" y2=\"\(ChartFormat.pixel(plotBottom))\" class=\"ref\"/>"
            out += "<text x=\"\(x)\" y=\"\(ChartFormat.pixel(top - 9))\" class=\"reflabel\" text-anchor=\"middle\">"
                + "\(ChartFormat.escape(reference.label))</text>"
        }
        out += "<text x=\"\(ChartFormat.pixel((Self.labelWidth + Self.width - Self.rightMargin) / 2))\" "
            + "y=\"\(ChartFormat.pixel(plotBottom + 32))\" text-anchor=\"middle\">"
            + "\(ChartFormat.escape(self.valueLabel))\(self.valueScale == .log ? " (log scale)" : "")</text>"
        return out + "</svg>"
    }

    /// Category labels longer than the label column are cut (the full text is the tooltip).
    static func shortened(_ text: String) -> String {
        let limit = 44
        return text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    // MARK: Lines

    private var linesSVG: String {
        let left = 70.0
        let top = 34.0 + self.legendHeight
        let plotHeight = 260.0
        let bottom = top + plotHeight
        let height = bottom + 48
        let right = Self.width - 30
        let values = self.allValues
        let yAxis = ChartAxis(scale: self.valueScale, values: values, start: bottom, end: top)
        let xs = self.series.flatMap { $0.points.map(\.x) }
        let categorical = !self.categories.isEmpty
        let xLower = categorical ? -0.3 : (xs.min() ?? 0)
        let xUpper = categorical ? Double(self.categories.count) - 0.7 : max(xs.max() ?? 1, xLower + 1e-9)
        func xPosition(_ x: Double) -> Double {
            left + (right - left) * (x - xLower) / (xUpper - xLower)
        }
        var out = self.header(height: height)
        out += self.legend(y: 44)
        for tick in yAxis.ticks {
            let y = ChartFormat.pixel(yAxis.position(tick))
            out += "<line x1=\"\(ChartFormat.pixel(left))\" y1=\"\(y)\" x2=\"\(ChartFormat.pixel(right))\" y2=\"\(y)\" class=\"grid\"/>"
            out += "<text x=\"\(ChartFormat.pixel(left - 6))\" y=\"\(ChartFormat.pixel(yAxis.position(tick) + 4))\" "
                + "class=\"tick\" text-anchor=\"end\">\(ChartFormat.number(tick))</text>"
        }
        let xTicks: [(Double, String)] =
            categorical
            ? self.categories.enumerated().map { (Double($0.offset), $0.element) }
            : ChartAxis(scale: .linear, values: [xLower, xUpper], start: left, end: right).ticks
                .filter { $0 >= xLower - 1e-9 && $0 <= xUpper + 1e-9 }.map { ($0, ChartFormat.number($0)) }
        for (x, label) in xTicks {
            let position = ChartFormat.pixel(xPosition(x))
            out += "<line x1=\"\(position)\" y1=\"\(ChartFormat.pixel(bottom))\" x2=\"\(position)\" y2=\"\(ChartFormat.pixel(bottom + 4))\" class=\"axis\"/>"
            out += "<text x=\"\(position)\" y=\"\(ChartFormat.pixel(bottom + 17))\" class=\"tick\" text-anchor=\"middle\">\(ChartFormat.escape(label))</text>"
        }
        out += "<line x1=\"\(ChartFormat.pixel(left))\" y1=\"\(ChartFormat.pixel(bottom))\" x2=\"\(ChartFormat.pixel(right))\" y2=\"\(ChartFormat.pixel(bottom))\" class=\"axis\"/>"
        out += "<line x1=\"\(ChartFormat.pixel(left))\" y1=\"\(ChartFormat.pixel(top))\" x2=\"\(ChartFormat.pixel(left))\" y2=\"\(ChartFormat.pixel(bottom))\" class=\"axis\"/>"
        if let reference = self.reference {
            let y = ChartFormat.pixel(yAxis.position(reference.value))
            out += "<line x1=\"\(ChartFormat.pixel(left))\" y1=\"\(y)\" x2=\"\(ChartFormat.pixel(right))\" y2=\"\(y)\" class=\"ref\"/>"
            out += "<text x=\"\(ChartFormat.pixel(right))\" y=\"\(ChartFormat.pixel(yAxis.position(reference.value) - 4))\" "
                + "class=\"reflabel\" text-anchor=\"end\">\(ChartFormat.escape(reference.label))</text>"
        }
        let dots = self.series.allSatisfy { $0.points.count <= 40 }
        for (index, series) in self.series.enumerated() {
            let points = series.points.filter { $0.y.isFinite && (self.valueScale == .linear || $0.y > 0) }.sorted { $0.x < $1.x }
            guard !points.isEmpty else { continue }
            let color = ChartFormat.color(index)
            let path = points.map { "\(ChartFormat.pixel(xPosition($0.x))),\(ChartFormat.pixel(yAxis.position($0.y)))" }
                .joined(separator: " ")
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"><title>\(ChartFormat.escape(series.name))</title></polyline>"
            if dots {
                for point in points {
                    out += "<circle cx=\"\(ChartFormat.pixel(xPosition(point.x)))\" cy=\"\(ChartFormat.pixel(yAxis.position(point.y)))\" "
                        + "r=\"3\" fill=\"\(color)\"><title>\(ChartFormat.escape(series.name)): \(ChartFormat.number(point.y))</title></circle>"
                }
            }
        }
        out += "<text x=\"\(ChartFormat.pixel((left + right) / 2))\" y=\"\(ChartFormat.pixel(bottom + 38))\" text-anchor=\"middle\">"
            + "\(ChartFormat.escape(self.xLabel))</text>"
        out += "<text transform=\"translate(16 \(ChartFormat.pixel((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">"
            + "\(ChartFormat.escape(self.valueLabel))\(self.valueScale == .log ? " (log)" : "")</text>"
        return out + "</svg>"
    }
}
