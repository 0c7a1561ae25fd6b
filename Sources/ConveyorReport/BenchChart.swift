/// A chart of a ``BenchDocument``: data and labels only; ``svg`` draws it.
///
/// Bars are horizontal, one group per category and one bar per series in the group, so long
/// labels stay readable. Lines plot each series' points; with ``categories`` set, a point's
/// `x` is the index of its category (percentile curves: p50, p99, p99.9, max).
///
/// ```swift
/// let chart = BenchChart(
///     kind: .bars, title: "Throughput", valueLabel: "million tasks/s",
///     categories: ["Conveyor typed", "Dispatch"],
///     series: [ChartSeries(name: "median of 5", points: [ChartPoint(x: 0, y: 6.5), ChartPoint(x: 1, y: 1.8)])])
/// let svg = chart.svg
/// ```
public struct BenchChart: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable {
        case bars
        case lines
    }

    public enum Scale: String, Codable, Sendable {
        case linear
        /// Base-10 logarithmic: for values spanning orders of magnitude (latency tails, ratios).
        case log
    }

    public var kind: Kind
    public var title: String
    public var note: String
    /// Title of the value axis (bars: horizontal; lines: vertical).
    public var valueLabel: String
    public var valueScale: Scale
    /// Title of the horizontal axis of a line chart.
    public var xLabel: String
    /// Bars: the groups. Lines: tick labels of a categorical x axis (empty: x is numeric).
    public var categories: [String]
    public var series: [ChartSeries]
    /// A value marked across the chart: an aim, or 1× for ratios.
    public var reference: ChartReference?

    public init(
        kind: Kind, title: String, note: String = "", valueLabel: String, valueScale: Scale = .linear,
        xLabel: String = "", categories: [String] = [], series: [ChartSeries], reference: ChartReference? = nil
    ) {
        self.kind = kind
        self.title = title
        self.note = note
        self.valueLabel = valueLabel
        self.valueScale = valueScale
        self.xLabel = xLabel
        self.categories = categories
        self.series = series
        self.reference = reference
    }
}

public struct ChartSeries: Codable, Sendable, Hashable {
    public var name: String
    public var points: [ChartPoint]

    public init(name: String, points: [ChartPoint]) {
        self.name = name
        self.points = points
    }
}

/// One value; `low`/`high` draw a range (the min and max of the runs).
public struct ChartPoint: Codable, Sendable, Hashable {
    public var x: Double
    public var y: Double
    public var low: Double?
    public var high: Double?

    public init(x: Double, y: Double, low: Double? = nil, high: Double? = nil) {
        self.x = x
        self.y = y
        self.low = low
        self.high = high
    }
}

public struct ChartReference: Codable, Sendable, Hashable {
    public var value: Double
    public var label: String

    public init(value: Double, label: String) {
        self.value = value
        self.label = label
    }
}
