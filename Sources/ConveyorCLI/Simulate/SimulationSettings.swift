import Conveyor
import ConveyorForecasting

/// What `conveyor simulate` runs: the trace's counts and every option, validated.
struct SimulationSettings: Sendable {
    var interval: Duration = .seconds(1)
    var serviceTime: Duration = .milliseconds(50)
    var workerStartDelay: Duration = .seconds(5)
    var slo: Duration = .milliseconds(200)
    var minWorkers = 1
    var maxWorkers = 32
    var horizon = 1
    var season: SeasonSetting = .automatic
    var seed: UInt64 = 1
    /// Intervals of the reactive policy's look-back.
    var reactiveWindow = 3
    /// Shared by every policy (see ``GroupScaling``); `nil` keeps the scaler's default.
    var provisioningCoverage: Double?
    var hysteresis: Double?
    var scaleInAfter: Int?
    var targetUtilisation: Double?

    /// Checks the options; the error names the option to change.
    func validate() throws(SimulationError) {
        guard self.interval > .zero else { throw .invalidOption("--interval must be positive (got \(self.interval))") }
        guard self.serviceTime > .zero else { throw .invalidOption("--service-time must be positive (got \(self.serviceTime))") }
        guard self.workerStartDelay >= .zero else {
            throw .invalidOption("--worker-start-delay must not be negative (got \(self.workerStartDelay)); use 0 for instant workers")
        }
        guard self.slo > .zero else { throw .invalidOption("--slo must be positive (got \(self.slo))") }
        guard self.minWorkers >= 1 else { throw .invalidOption("--min-workers must be at least 1 (got \(self.minWorkers))") }
        guard self.minWorkers <= self.maxWorkers else {
            throw .invalidOption("--min-workers \(self.minWorkers) is greater than --max-workers \(self.maxWorkers)")
        }
        guard self.maxWorkers <= ResourceGroup.maximumWorkers else {
            throw .invalidOption("--max-workers \(self.maxWorkers) is above the engine's limit of \(ResourceGroup.maximumWorkers)")
        }
        guard self.horizon >= 1 else { throw .invalidOption("--horizon must be at least 1 interval (got \(self.horizon))") }
        do { _ = try self.scaling(policy: .predictive).validate() } catch { throw .invalidOption("\(error)") }
    }

    /// The scaler configuration every dynamic policy shares; only the load estimate differs.
    func scaling(policy: ScalingPolicy) -> GroupScaling {
        var scaling = GroupScaling(group: "simulated", minWorkers: self.minWorkers, maxWorkers: self.maxWorkers)
        scaling.interval = self.interval
        scaling.horizon = self.horizon
        scaling.workerStartDelay = self.workerStartDelay
        scaling.latencyTarget = self.slo
        scaling.season = self.season
        scaling.policy = policy
        if let value = self.provisioningCoverage { scaling.provisioningCoverage = value }
        if let value = self.hysteresis { scaling.hysteresis = value }
        if let value = self.scaleInAfter { scaling.scaleInAfter = value }
        if let value = self.targetUtilisation { scaling.targetUtilisation = value }
        return scaling
    }

    var intervalSeconds: Double { seconds(self.interval) }
    var serviceSeconds: Double { seconds(self.serviceTime) }
}

func seconds(_ duration: Duration) -> Double {
    let (whole, attoseconds) = duration.components
    return Double(whole) + Double(attoseconds) * 1e-18
}

/// A `conveyor simulate` failure, with what to change.
enum SimulationError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case trace(path: String, ForecastError)
    /// Every count of the trace is zero or missing: there is no peak to scale to.
    case noLoad(path: String)
    case slice(String)

    var description: String {
        switch self {
        case .invalidOption(let message): "invalid option: \(message)"
        case .trace(let path, let error):
            if case .unreadableFile = error { "\(error)" } else { "\(path): \(error)" }
        case .noLoad(let path):
            "\(path): every count is zero or missing, so there is no peak to scale the arrivals to; use a trace with load"
        case .slice(let message): "invalid replay slice: \(message)"
        }
    }
}

/// The policies, in the order reported.
enum PolicyName: String, CaseIterable, Sendable {
    case `static`
    case reactive
    case predictive
    case oracle
}
