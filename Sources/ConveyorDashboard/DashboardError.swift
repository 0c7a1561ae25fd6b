/// Errors of ``Dashboard``; each says what to change.
///
/// ```swift
/// do {
///     try await dashboard.start()
/// } catch let error as DashboardError {
///     print(error)   // "port 9464 on 127.0.0.1 is already in use: stop what listens there or pick another port"
/// }
/// ```
public enum DashboardError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another socket listens on the port.
    case portInUse(host: String, port: Int)
    /// The address is not a loopback address and ``Dashboard/Configuration/allowRemote`` is off.
    case remoteAddressNotAllowed(host: String)
    /// A configuration value is out of range; `reason` names it and a valid choice.
    case invalidConfiguration(reason: String)
    /// The server could not start for another reason (the underlying error's description).
    case startFailed(host: String, port: Int, reason: String)
    /// ``Dashboard/start()`` was called twice.
    case alreadyStarted

    public var description: String {
        switch self {
        case .portInUse(let host, let port):
            "port \(port) on \(host) is already in use: stop what listens there or pick another port (0 picks a free one)"
        case .remoteAddressNotAllowed(let host):
            "\(host) is not a loopback address: the dashboard has no authentication, so binding it needs an explicit "
                + "opt-in (Configuration.allowRemote, `conveyor demo --allow-remote`); or bind 127.0.0.1"
        case .invalidConfiguration(let reason): "invalid dashboard configuration: \(reason)"
        case .startFailed(let host, let port, let reason): "the dashboard could not listen on \(host):\(port): \(reason)"
        case .alreadyStarted: "the dashboard is already started: call start() once, stop() to end it"
        }
    }
}
