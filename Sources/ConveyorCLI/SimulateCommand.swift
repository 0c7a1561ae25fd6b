import ArgumentParser
import Conveyor
import ConveyorForecasting
import ConveyorReport
import Dispatch
import Foundation

/// `conveyor simulate`: the predictive scaler against static, reactive and oracle policies on
/// a load trace, in a deterministic model or on the real engine.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Compare scaling policies (static, reactive, predictive, oracle) on a load trace.",
        discussion: """
            Reads the 'timestamp,count' CSV that `conveyor forecast` reads and replays it as task \
            arrivals: one trace row per --interval, Poisson within each interval, the counts scaled \
            so that the peak needs about --max-workers. Every policy shares the same bounds, \
            hysteresis and scale-in rule (docs/Scaling.md): static stays at the maximum; reactive \
            provisions for the highest arrivals of the last 3 intervals plus the queue; predictive \
            for the forecast's upper bound over horizon + start delay plus the queue; oracle for the \
            true arrivals over the same lead time. --mode model is a discrete-event run of the \
            scaler's code on a virtual clock (deterministic for --seed); --mode replay drives the \
            real engine over --replay-rows rows from --replay-start, --speedup intervals per second, \
            with handlers that sleep the service time.
            """
    )

    @Option(name: .long, help: "The trace: a CSV with header 'timestamp,count'.")
    var trace: String

    @Option(name: .long, help: "Season length: 'auto' (detect), 'none', N, or N,M.")
    var season: String = "auto"

    @Option(name: .long, help: "Simulated length of one trace row (e.g. 1s, 500ms).")
    var interval: String = "1s"

    @Option(name: .long, help: "Service time of one task.")
    var serviceTime: String = "50ms"

    @Option(name: .long, help: "Time a new worker needs before it serves (0 for none).")
    var workerStartDelay: String = "5s"

    @Option(name: .long, help: "Queue-wait p99 target per interval.")
    var slo: String = "200ms"

    @Option(name: .long, help: "Fewest workers.")
    var minWorkers: Int = 1

    @Option(name: .long, help: "Most workers (the static policy's count; the peak is scaled to need about this many).")
    var maxWorkers: Int = 32

    @Option(name: .long, help: "Intervals a scale-out covers beyond the start delay.")
    var horizon: Int = 1

    @Option(name: .long, help: "Scaler: coverage of the forecast interval provisioned for, in [0.5, 1) (0.5: the point forecast; default 0.8).")
    var provisioningCoverage: Double?

    @Option(name: .long, help: "Scaler: scale-in headroom on the observed load (default 0.1).")
    var hysteresis: Double?

    @Option(name: .long, help: "Scaler: consecutive low intervals before a scale-in (default 3).")
    var scaleInAfter: Int?

    @Option(name: .long, help: "Scaler: highest mean utilisation planned for, in (0, 1] (default 0.8).")
    var targetUtilisation: Double?

    @Option(name: .long, help: "'model' (discrete-event, virtual clock) or 'replay' (the real engine).")
    var mode: String = "model"

    @Option(name: .long, help: "Replay: intervals per wall-clock second.")
    var speedup: Double = 10

    @Option(name: .long, help: "Replay: first trace row of the slice (the rows before it warm the forecaster).")
    var replayStart: Int?

    @Option(name: .long, help: "Replay: rows in the slice.")
    var replayRows: Int = 192

    @Option(name: .long, help: "Seed of the arrival process.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Write {policies, forecastAccuracy, rows} as JSON here.")
    var json: String?

    @Option(name: .long, help: "Write a bench-report document (table, aims, charts) here.")
    var document: String?

    @Flag(name: .long, help: "Run the model over the whole trace, then the replay slice; both go to the document (the JSON holds the first).")
    var withReplay = false

    func settings() throws -> SimulationSettings {
        var settings = SimulationSettings()
        do {
            settings.interval = try parseDuration(self.interval, option: "--interval")
            settings.serviceTime = try parseDuration(self.serviceTime, option: "--service-time")
            settings.workerStartDelay = try parseDuration(self.workerStartDelay, option: "--worker-start-delay")
            settings.slo = try parseDuration(self.slo, option: "--slo")
            settings.season = try SeasonSetting(parsing: self.season)
        } catch let error as SimulationError {
            throw ValidationError(error.description)
        } catch {
            throw ValidationError("--season: \(error)")
        }
        settings.minWorkers = self.minWorkers
        settings.maxWorkers = self.maxWorkers
        settings.horizon = self.horizon
        settings.seed = self.seed
        settings.provisioningCoverage = self.provisioningCoverage
        settings.hysteresis = self.hysteresis
        settings.scaleInAfter = self.scaleInAfter
        settings.targetUtilisation = self.targetUtilisation
        do { try settings.validate() } catch { throw ValidationError(error.description) }
        return settings
    }

    func run() throws {
        let settings = try self.settings()
        guard ["model", "replay"].contains(self.mode) else {
            throw ValidationError("--mode must be 'model' or 'replay' (got '\(self.mode)')")
        }
        guard self.speedup > 0, self.speedup.isFinite else { throw ValidationError("--speedup must be positive (got \(self.speedup))") }
        let date = simulationTimestamp()
        let trace: LoadTrace
        do { trace = try LoadTrace.load(contentsOf: self.trace) } catch {
            throw ValidationError(SimulationError.trace(path: self.trace, error).description)
        }
        let plan: ArrivalPlan
        do { plan = try ArrivalPlan(counts: trace.counts, settings: settings, path: self.trace) } catch {
            throw ValidationError(error.description)
        }
        var outcomes: [SimulationOutcome] = []
        if self.mode == "model" || self.withReplay {
            let started = ContinuousClock.now
            let outcome = ModelSimulation(settings: settings, plan: plan).run()
            print(SimulationReport.text(outcome, settings: settings, path: self.trace, elapsed: ContinuousClock.now - started))
            outcomes.append(outcome)
        }
        if self.mode == "replay" || self.withReplay {
            let start = self.replayStart ?? max(0, plan.intervals - self.replayRows)
            guard start >= 0, self.replayRows >= 1, start + self.replayRows <= plan.intervals else {
                throw ValidationError(SimulationError.slice(
                    "rows \(start)..<\(start + self.replayRows) are not inside the trace's \(plan.intervals) rows").description)
            }
            let replay = ReplaySimulation(settings: settings, plan: plan, start: start, rows: self.replayRows, speedup: self.speedup)
            let result = ReplayResult()
            let finished = DispatchSemaphore(value: 0)
            let started = ContinuousClock.now
            Task {
                do { result.set(.success(try await replay.run())) } catch { result.set(.failure(error)) }
                finished.signal()
            }
            finished.wait()
            let outcome = try result.get()
            print(SimulationReport.text(outcome, settings: settings, path: self.trace, elapsed: ContinuousClock.now - started))
            outcomes.append(outcome)
        }
        if let path = self.json, let main = outcomes.first {
            try writeSimulationJSON(SimulationReport.json(main), to: path)
            print("JSON: \(path)")
        }
        if let path = self.document {
            let document = SimulationReport.document(
                outcomes, settings: settings, trace: self.trace, machine: simulationMachine(), date: date, revision: simulationRevision())
            try writeSimulationJSON(document, to: path)
            print("document: \(path)")
        }
        if outcomes.contains(where: { $0.policies.contains { $0.dropped > 0 } }) {
            print("FAIL: tasks were dropped")
            throw ExitCode.failure
        }
    }
}

/// The replay's result, handed from its Task to the waiting command.
final class ReplayResult: @unchecked Sendable {
    // @unchecked: `result` is only touched under `lock`.
    private let lock = NSLock()
    private var result: Result<SimulationOutcome, any Error>?

    func set(_ result: Result<SimulationOutcome, any Error>) { self.lock.withLock { self.result = result } }

    func get() throws -> SimulationOutcome { try self.lock.withLock { self.result }!.get() }
}

/// Parses "250ms", "5s", "2m", "1h", "100us" or a plain number of seconds; 0 is allowed
/// (the options that need more say so), a negative value is an error naming the option.
func parseDuration(_ text: String, option: String) throws(SimulationError) -> Duration {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let units: [(String, Double)] = [("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
    var value: Double?
    for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
        if let number = Double(trimmed.dropLast(suffix.count)) { value = number * scale }
        break
    }
    if value == nil { value = Double(trimmed) }
    guard let value, value.isFinite else {
        throw .invalidOption("\(option) '\(text)' is not a duration; write 250ms, 5s, 2m or 1h")
    }
    guard value >= 0 else { throw .invalidOption("\(option) must not be negative (got '\(text)')") }
    // Int64 nanoseconds end at ~292 years; a longer duration would trap in the conversion.
    guard value < 9e9 else { throw .invalidOption("\(option) '\(text)' is too long; at most 9e9 seconds (~285 years)") }
    return .nanoseconds(Int64((value * 1e9).rounded()))
}
