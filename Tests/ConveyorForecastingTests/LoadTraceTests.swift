import Testing

@testable import ConveyorForecasting

@Suite("LoadTrace CSV parsing")
struct LoadTraceTests {
    @Test("parses decimals, CRLF, quotes, blank lines and missing counts")
    func parsesValidTrace() throws {
        let text = "\u{FEFF}timestamp,count\r\n2024-01-01T00:00Z,12\r\n2024-01-01T01:00Z, 3.25 \r\n\r\n\"t3\",\r\n2024-01-01T03:00Z,1e2\n"
        let trace = try LoadTrace.parse(text)
        #expect(trace.rows.count == 4)
        #expect(trace.counts == [12, 3.25, nil, 100])
        #expect(trace.rows[2].timestamp == "t3")
        #expect(trace.rows.map(\.line) == [2, 3, 5, 6])
    }

    @Test("a missing header names line 1")
    func missingHeader() {
        #expect(throws: ForecastError.missingHeader(line: 1, found: "2024-01-01,5")) {
            try LoadTrace.parse("2024-01-01,5\n2024-01-02,6\n")
        }
        #expect(throws: ForecastError.missingHeader(line: 1, found: "time,value")) {
            try LoadTrace.parse("time,value\n1,2\n")
        }
    }

    @Test("a non-numeric count names its line")
    func nonNumeric() {
        #expect(throws: ForecastError.nonNumericCount(line: 4, value: "lots")) {
            try LoadTrace.parse("timestamp,count\na,1\nb,2\nc,lots\n")
        }
        #expect(throws: ForecastError.nonNumericCount(line: 2, value: "nan")) {
            try LoadTrace.parse("timestamp,count\na,nan\n")
        }
        #expect(throws: ForecastError.nonNumericCount(line: 3, value: "inf")) {
            try LoadTrace.parse("timestamp,count\na,1\nb,inf\n")
        }
    }

    @Test("empty files and header-only files are rejected")
    func empty() {
        #expect(throws: ForecastError.emptyTrace) { try LoadTrace.parse("") }
        #expect(throws: ForecastError.emptyTrace) { try LoadTrace.parse("\n\n") }
        #expect(throws: ForecastError.emptyTrace) { try LoadTrace.parse("timestamp,count\n") }
    }

    @Test("a row with the wrong number of fields names its line")
    func wrongFieldCount() {
        #expect(throws: ForecastError.wrongFieldCount(line: 3, found: 3)) {
            try LoadTrace.parse("timestamp,count\na,1\nb,2,3\n")
        }
        #expect(throws: ForecastError.wrongFieldCount(line: 2, found: 1)) {
            try LoadTrace.parse("timestamp,count\njust-a-timestamp\n")
        }
    }

    @Test("an unreadable file is a typed error")
    func unreadable() {
        #expect(throws: ForecastError.unreadableFile(path: "/nonexistent/trace.csv", reason: "no such file")) {
            try LoadTrace.load(contentsOf: "/nonexistent/trace.csv")
        }
    }

    @Test("error messages say what to fix")
    func messages() {
        #expect(ForecastError.nonNumericCount(line: 7, value: "x").description.hasPrefix("line 7:"))
        #expect(ForecastError.missingHeader(line: 1, found: "a,b").description.contains("timestamp,count"))
        #expect(ForecastError.emptyTrace.description.contains("no data rows"))
    }
}
