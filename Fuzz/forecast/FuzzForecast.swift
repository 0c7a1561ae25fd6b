// libFuzzer harness: the CSV trace parser (LoadTrace.parse), the season parser
// (SeasonSetting(parsing:)) and the Forecaster, on arbitrary bytes.
//
// Built by `make fuzz-forecast` together with Sources/ConveyorForecasting/*.swift into one
// module (swiftc -sanitize=fuzzer,address), so it calls the library directly.
//
// Checked: nothing traps (a Swift trap is a crash libFuzzer saves); every failure is a
// typed ForecastError; a parsed trace has at least one row, finite counts or nil, and line
// numbers that grow; the first line, read as a season specification, either parses to a
// setting the configuration accepts or throws; the forecaster fed the trace (missing values
// included, learning every 64 values and at the end) forecasts exactly the asked steps, or
// throws noObservations when no value was finite; and on values of moderate size
// (|x| <= 1e6) every forecast and interval bound is finite and lower <= value <= upper.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzForecast(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    var mix: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes.prefix(64) { mix = (mix ^ UInt64(byte)) &* 0x100_0000_01b3 }

    // The first line as a season specification, as on the command line.
    let firstLine = String(text.prefix(while: { !$0.isNewline }).prefix(80))
    var season: SeasonSetting
    do throws(ForecastError) {
        season = try SeasonSetting(parsing: firstLine)
    } catch {
        _ = error.description  // typed, with a message
        switch mix % 3 {
        case 0: season = .automatic
        case 1: season = .fixed([2 + Int((mix >> 8) % 40)])
        default: season = .none
        }
    }

    let trace: LoadTrace
    do throws(ForecastError) {
        trace = try LoadTrace.parse(text)
    } catch {
        _ = error.description
        return 0
    }
    precondition(!trace.rows.isEmpty, "a parsed trace has rows")
    var previousLine = 0
    for row in trace.rows {
        precondition(row.line > previousLine, "line numbers grow")
        previousLine = row.line
        if let count = row.count { precondition(count.isFinite, "counts are finite") }
    }

    let horizon = 1 + Int((mix >> 16) % 12)
    let configuration = Forecaster.Configuration(
        season: season,
        horizons: [1, horizon],
        historyCapacity: 16 + Int((mix >> 24) % 240),
        maximumSeason: (mix >> 40) & 1 == 0 ? nil : 2 + Int((mix >> 41) % 60),
        allowsTwoSeasons: (mix >> 50) & 1 == 0,
        intervalCoverage: 0.5 + Double((mix >> 52) % 49) / 100
    )
    var forecaster: Forecaster
    do throws(ForecastError) {
        forecaster = try Forecaster(configuration: configuration)
    } catch {
        // Only a parsed season can be refused (e.g. "2,2" or a length above the history).
        if case .fixed = season { return 0 }
        preconditionFailure("a valid configuration was refused: \(error)")
    }
    var sawFinite = false
    var moderate = true
    for (index, count) in trace.counts.enumerated() {
        if let count {
            forecaster.observe(count)
            sawFinite = true
            if abs(count) > 1e6 { moderate = false }
        } else {
            forecaster.observeMissing()
        }
        if (index + 1) % 64 == 0 { forecaster.learnFromPatterns() }
    }
    forecaster.learnFromPatterns()
    do throws(ForecastError) {
        let forecasts = try forecaster.forecast(horizon: horizon)
        precondition(sawFinite, "a forecast without a finite observation")
        precondition(forecasts.count == horizon, "forecast count")
        for (index, forecast) in forecasts.enumerated() {
            precondition(forecast.step == index + 1, "forecast steps")
            if moderate {
                precondition(
                    forecast.value.isFinite && forecast.lower.isFinite && forecast.upper.isFinite,
                    "non-finite forecast \(forecast) from moderate values")
                precondition(forecast.lower <= forecast.value && forecast.value <= forecast.upper, "interval order")
            }
        }
    } catch {
        precondition(error == .noObservations && !sawFinite, "forecast failed: \(error)")
    }
    return 0
}
