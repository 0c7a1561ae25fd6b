import Conveyor
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A live web dashboard and Prometheus endpoint for a ``Conveyor``, on Hummingbird.
///
/// Routes:
/// - `GET /`: one self-contained page (no CDN, no downloaded asset) whose charts are drawn by
///   its own SVG code and update every second over Server-Sent Events, without reload.
/// - `GET /metrics`: Prometheus text (`text/plain; version=0.0.4`), or OpenMetrics 1.0 when
///   the `Accept` header asks for `application/openmetrics-text`.
/// - `GET /api/snapshot`: the latest ``DashboardSnapshot`` as JSON.
/// - `GET /api/history`: the recent snapshots (``Configuration/history`` of them), oldest first.
/// - `GET /events`: Server-Sent Events, one `snapshot` event per reading.
///
/// ```swift
/// let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 2)])
/// let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 9464))
/// let address = try await dashboard.start()      // binds 127.0.0.1:9464, starts sampling
/// print("dashboard: http://\(address.host):\(address.port)/")
/// // … the application runs …
/// await dashboard.stop()
/// ```
///
/// Figures are snapshots taken on a timer (``Configuration/interval``): requests read the
/// latest one and never the engine, and a slow or stalled client only delays its own
/// stream, never the sampler or the engine's workers. There is **no authentication**: it
/// binds to 127.0.0.1 unless ``Configuration/allowRemote`` is set.
public final class Dashboard: Sendable {
    /// Where and how often.
    public struct Configuration: Sendable {
        /// The address to bind (default `127.0.0.1`). A non-loopback address needs ``allowRemote``.
        public var host: String
        /// The port (default 9464; 0 picks a free one, reported by ``Dashboard/start()``).
        public var port: Int
        /// Whether a non-loopback ``host`` is accepted (the endpoint has no authentication).
        public var allowRemote: Bool
        /// Time between two readings, and between two events of the stream (0.1 s to 60 s).
        public var interval: Duration
        /// Readings kept for the page's charts (10…86 400; default 300 = 5 minutes at 1 s).
        public var history: Int
        /// Readings the latency histogram covers (1…history; default 10).
        public var histogramWindow: Int

        public init(
            host: String = "127.0.0.1", port: Int = 9464, allowRemote: Bool = false,
            interval: Duration = .seconds(1), history: Int = 300, histogramWindow: Int = 10
        ) {
            self.host = host
            self.port = port
            self.allowRemote = allowRemote
            self.interval = interval
            self.history = history
            self.histogramWindow = histogramWindow
        }

        /// Whether `host` names this machine's loopback interface.
        public static func isLoopback(_ host: String) -> Bool {
            host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
        }

        func validate() throws(DashboardError) {
            guard (0...65_535).contains(self.port) else {
                throw .invalidConfiguration(reason: "port \(self.port) must be from 0 to 65535")
            }
            guard !self.host.isEmpty else { throw .invalidConfiguration(reason: "host is empty; use 127.0.0.1") }
            guard self.allowRemote || Self.isLoopback(self.host) else { throw .remoteAddressNotAllowed(host: self.host) }
            guard self.interval >= .milliseconds(100), self.interval <= .seconds(60) else {
                throw .invalidConfiguration(reason: "interval \(self.interval) must be from 0.1 s to 60 s")
            }
            guard (10...86_400).contains(self.history) else {
                throw .invalidConfiguration(reason: "history \(self.history) must be from 10 to 86400 readings")
            }
            guard (1...self.history).contains(self.histogramWindow) else {
                throw .invalidConfiguration(
                    reason: "histogramWindow \(self.histogramWindow) must be from 1 to history (\(self.history))")
            }
        }
    }

    /// Extra figures the snapshot carries, each read once per reading on the sampler's timer
    /// (cheap reads under the features' own locks; nothing waits on the engine). Each one
    /// left `nil` (or empty) leaves its section out of the snapshot, the page and `/metrics`.
    ///
    /// ```swift
    /// let sources = Dashboard.Sources(
    ///     scaler: scaler,                                   // workers, decisions, forecast vs arrivals
    ///     alerts: monitor,                                  // active and resolved alerts
    ///     caches: [.init(name: "prices", cache: prices)])   // hits, misses, coalesced, evictions, bytes
    /// let dashboard = try Dashboard(conveyor: conveyor, sources: sources)
    /// ```
    public struct Sources: Sendable {
        /// Offered against target arrivals (``DashboardSnapshot/load``).
        public var load: (@Sendable () -> DashboardSnapshot.Load?)?
        /// A profiler whose ``PerformanceProfiler/exportMetrics()`` runs at every reading:
        /// periodic swift-metrics snapshots to the factory the application gave the profiler
        /// (the dashboard bootstraps nothing).
        public var profiler: PerformanceProfiler?
        /// The predictive scaler (``DashboardSnapshot/scaling``): read with
        /// ``PredictiveScaler/status(for:)``. When ``load`` gives no forecast, the scaler's
        /// forecasts summed over its groups become ``DashboardSnapshot/Load/forecastPerSecond``.
        public var scaler: PredictiveScaler?
        /// The alert monitor (``DashboardSnapshot/alerts``): read with ``AlertMonitor/status``.
        public var alerts: AlertMonitor?
        /// Result caches (``DashboardSnapshot/caches``), each with a name for the page and the
        /// `cache` label of `/metrics`.
        public var caches: [CacheSource]

        public init(
            load: (@Sendable () -> DashboardSnapshot.Load?)? = nil, profiler: PerformanceProfiler? = nil,
            scaler: PredictiveScaler? = nil, alerts: AlertMonitor? = nil, caches: [CacheSource] = []
        ) {
            self.load = load
            self.profiler = profiler
            self.scaler = scaler
            self.alerts = alerts
            self.caches = caches
        }
    }

    /// A named result cache whose ``CacheStatistics`` the dashboard reads at every reading.
    ///
    /// ```swift
    /// let prices = try ResultCache<String, Double>(maxEntries: 10_000, ttl: .seconds(30))
    /// let source = Dashboard.CacheSource(name: "prices", cache: prices)
    /// ```
    public struct CacheSource: Sendable {
        public var name: String
        /// Reads the counters (``ResultCache/statistics`` sums them under each shard's lock).
        public var statistics: @Sendable () -> CacheStatistics

        public init(name: String, statistics: @escaping @Sendable () -> CacheStatistics) {
            self.name = name
            self.statistics = statistics
        }

        /// The source of a ``ResultCache``.
        public init<Key: Hashable & Sendable, Value: Sendable>(name: String, cache: ResultCache<Key, Value>) {
            self.init(name: name) { cache.statistics }
        }
    }

    /// The host and port the server listens on.
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        /// `http://host:port/` (IPv6 hosts in brackets).
        public var url: String {
            let shown = self.host.contains(":") && !self.host.hasPrefix("[") ? "[\(self.host)]" : self.host
            return "http://\(shown):\(self.port)/"
        }
        public var description: String { self.url }
    }

    private struct Running: Sendable {
        var group: ServiceGroup?
        var server: Task<Void, Never>?
        var sampler: Task<Void, Never>?
        var address: Address?
        var started = false
    }

    public let configuration: Configuration
    let sampler: DashboardSampler
    private let running = Mutex(Running())
    /// Set by ``stop()``: event streams end at their next check.
    let stopping = Atomic<Bool>(false)
    /// Event streams open now (each a connected client).
    let openStreams = Atomic<Int>(0)
    private let logger: Logger

    /// The logger handed to Hummingbird when none is given: level `.notice`, so the server's
    /// own info lines (listening, shutting down) stay out of the application's log.
    public static func defaultLogger() -> Logger {
        var logger = Logger(label: "conveyor.dashboard")
        logger.logLevel = .notice
        return logger
    }

    /// Creates a dashboard for `conveyor` (it turns on the engine's per-kind counting).
    /// - Throws: ``DashboardError/remoteAddressNotAllowed(host:)`` for a non-loopback host
    ///   without ``Configuration/allowRemote``, ``DashboardError/invalidConfiguration(reason:)``.
    public init(
        conveyor: Conveyor, configuration: Configuration = Configuration(), sources: Sources = Sources(),
        logger: Logger = Dashboard.defaultLogger()
    ) throws(DashboardError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.sampler = DashboardSampler(
            conveyor: conveyor, historyLimit: configuration.history, histogramWindow: configuration.histogramWindow,
            sources: sources)
        self.sampler.sample()
    }

    /// The latest reading (taken at most one ``Configuration/interval`` ago once started).
    public var snapshot: DashboardSnapshot { self.sampler.latest! }

    /// Takes a reading now (the timer also does, every interval).
    @discardableResult
    public func sampleNow() -> DashboardSnapshot { self.sampler.sample() }

    /// The `/metrics` body: Prometheus text format 0.0.4, or OpenMetrics 1.0.
    public func metricsText(openMetrics: Bool = false) -> String {
        openMetrics ? self.sampler.exposition.openMetricsText() : self.sampler.exposition.text()
    }

    /// The address the server listens on (`nil` before ``start()`` returned).
    public var address: Address? { self.running.withLock { $0.address } }

    /// Binds the server, starts the sampler and returns once the server accepts connections.
    /// - Throws: ``DashboardError/portInUse(host:port:)`` when the port is taken,
    ///   ``DashboardError/startFailed(host:port:reason:)`` for another bind failure,
    ///   ``DashboardError/alreadyStarted``.
    @discardableResult
    public func start() async throws(DashboardError) -> Address {
        let first = self.running.withLock { running in
            defer { running.started = true }
            return !running.started
        }
        guard first else { throw .alreadyStarted }
        let host = self.configuration.host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let port = self.configuration.port
        let bound = BindOutcome()
        let application = Application(
            router: self.router(),
            configuration: .init(address: .hostname(host, port: port), serverName: nil, reuseAddress: true),
            onServerRunning: { channel in bound.resolve(.success(channel.localAddress?.port ?? port)) },
            logger: self.logger)
        let group = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [], logger: self.logger))
        let server = Task {
            do {
                try await group.run()
                bound.resolve(.failure(.startFailed(host: host, port: port, reason: "the server stopped at once")))
            } catch {
                bound.resolve(.failure(Self.startError(error, host: host, port: port)))
            }
        }
        let result = await bound.value()
        switch result {
        case .failure(let error):
            server.cancel()
            _ = await server.value
            throw error
        case .success(let actualPort):
            let interval = self.configuration.interval
            let sampler = Task { [sampler = self.sampler] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if Task.isCancelled { break }
                    sampler.sample()
                }
            }
            let address = Address(host: host, port: actualPort)
            self.running.withLock {
                $0.group = group
                $0.server = server
                $0.sampler = sampler
                $0.address = address
            }
            self.logger.debug("dashboard listening", metadata: ["url": "\(address.url)"])
            return address
        }
    }

    /// Ends the event streams, stops the sampler and shuts the server down gracefully
    /// (requests in flight finish), and returns once it stopped. A client that stalls a
    /// stream's write for more than two seconds has its connection cancelled.
    public func stop() async {
        self.stopping.store(true, ordering: .releasing)
        let (group, server, sampler) = self.running.withLock { running in
            defer {
                running.group = nil
                running.server = nil
                running.sampler = nil
            }
            return (running.group, running.server, running.sampler)
        }
        sampler?.cancel()
        await sampler?.value
        guard let group, let server else { return }
        await group.triggerGracefulShutdown()
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(2))
            if !Task.isCancelled { server.cancel() }
        }
        await server.value
        watchdog.cancel()
    }

    static func startError(_ error: any Error, host: String, port: Int) -> DashboardError {
        if let error = error as? IOError, error.errnoCode == EADDRINUSE {
            return .portInUse(host: host, port: port)
        }
        let text = "\(error)"
        if text.contains("Address already in use") || text.contains("errno: \(EADDRINUSE)") {
            return .portInUse(host: host, port: port)
        }
        return .startFailed(host: host, port: port, reason: text)
    }

    /// Whether the `Accept` header prefers OpenMetrics.
    static func wantsOpenMetrics(_ accept: String?) -> Bool {
        guard let accept else { return false }
        return accept.split(separator: ",").contains { part in
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.first == "application/openmetrics-text" else { return false }
            let quality = fields.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return quality > 0
        }
    }

    static let openMetricsType = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    static let textType = "text/plain; version=0.0.4; charset=utf-8"

    private func router() -> Hummingbird.Router<BasicRequestContext> {
        let router = Hummingbird.Router()
        let sampler = self.sampler
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
        }
        router.get("/metrics") { request, _ in
            let open = Self.wantsOpenMetrics(request.headers[.accept])
            let text = open ? sampler.exposition.openMetricsText() : sampler.exposition.text()
            return Response(
                status: .ok, headers: [.contentType: open ? Self.openMetricsType : Self.textType],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/api/snapshot") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: sampler.latestJSON)))
        }
        router.get("/api/history") { _, _ in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(sampler.history)) ?? Data("[]".utf8)
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/events") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: ResponseBody { writer in try await self.stream(into: &writer) })
        }
        return router
    }

    /// Writes the latest reading whenever there is a new one, until the client goes away (the
    /// write throws) or ``stop()``. Each stream polls an atomic sequence number; it never
    /// holds a lock across a write, so a stalled client only stalls itself.
    private func stream(into writer: inout any ResponseBodyWriter) async throws {
        self.openStreams.add(1, ordering: .relaxed)
        defer { self.openStreams.subtract(1, ordering: .relaxed) }
        var sent: UInt64 = 0
        // A comment first: the client sees the stream open before the next reading.
        try await writer.write(ByteBuffer(string: "retry: 1000\n: conveyor dashboard\n\n"))
        var idle = 0
        let poll = Duration.milliseconds(50)
        while !self.stopping.load(ordering: .acquiring), !Task.isCancelled {
            if self.sampler.sequence.load(ordering: .acquiring) != sent {
                let event = self.sampler.latestEvent
                try await writer.write(ByteBuffer(bytes: event.bytes))
                sent = event.sequence
                idle = 0
            } else {
                idle += 1
                // A heartbeat when no reading came for 15 s: a closed connection is noticed.
                if idle * 50 >= 15_000 {
                    try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    idle = 0
                }
            }
            try await Task.sleep(for: poll)
        }
        try await writer.finish(nil)
    }
}

/// The outcome of binding, resolved once by whichever comes first: the server running or
/// `run()` throwing.
private final class BindOutcome: Sendable {
    private struct State {
        var result: Result<Int, DashboardError>?
        var waiter: CheckedContinuation<Result<Int, DashboardError>, Never>?
    }
    private let state = Mutex(State())

    func resolve(_ result: Result<Int, DashboardError>) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Result<Int, DashboardError>, Never>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: result)
    }

    func value() async -> Result<Int, DashboardError> {
        await withCheckedContinuation { continuation in
            let ready = self.state.withLock { state -> Result<Int, DashboardError>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
