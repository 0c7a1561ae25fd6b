import ServiceLifecycle

/// Conveyor runs as a swift-service-lifecycle `Service` beside a server's other services:
/// a graceful shutdown of the group drains it (`shutdown(drain: true)`), and cancelling the
/// service stops it without draining (`shutdown(drain: false)`, every unstarted task failed
/// and reported).
///
/// ```swift
/// let conveyor = try Conveyor(groups: [ResourceGroup("jobs", minWorkers: 4)])
/// let group = ServiceGroup(services: [httpServer, conveyor], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
extension Conveyor: Service {
    /// The swift-service-lifecycle `Service` requirement (the protocol fixes the name): runs
    /// until the service group shuts the service down (it drains) or cancels it (it stops). Not
    /// ``run(_:_:)``, which runs one task and returns its value.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await self.waitUntilStopped()
            } onGracefulShutdown: {
                Task { await self.shutdown(drain: true) }
            }
        } onCancel: {
            Task { await self.shutdown(drain: false) }
        }
    }
}
