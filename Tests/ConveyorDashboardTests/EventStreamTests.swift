import Conveyor
import Foundation
import Testing

@testable import ConveyorDashboard

#if canImport(Glibc)
import Glibc
#endif

@Suite("Dashboard event stream")
struct EventStreamTests {
    /// Opens `/events` and reads until `events` snapshot events arrived; returns their JSON.
    static func readEvents(port: Int, events: Int) throws -> [DashboardSnapshot] {
        let socket = try HTTPProbe.connect(port: port)
        defer { close(socket) }
        try HTTPProbe.send(socket, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        let data = try HTTPProbe.receive(socket) { bytes in
            String(decoding: bytes, as: UTF8.self).components(separatedBy: "event: snapshot\ndata: ").count > events
        }
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"))
        #expect(text.lowercased().contains("content-type: text/event-stream"))
        return try text.components(separatedBy: "event: snapshot\ndata: ").dropFirst().map { part in
            let json = part.components(separatedBy: "\n")[0]
            return try JSONDecoder().decode(DashboardSnapshot.self, from: Data(json.utf8))
        }
    }

    @Test("events arrive once per interval with rising sequence numbers, without a new request")
    func eventsArrive() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1)])
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0, interval: .milliseconds(200)))
        let address = try await dashboard.start()
        let started = ContinuousClock.now
        let events = try Self.readEvents(port: address.port, events: 4)
        #expect(events.count == 4)
        let sequences = events.map(\.sequence)
        #expect(zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 })
        #expect(ContinuousClock.now - started >= .milliseconds(400))
        await dashboard.stop()
        await conveyor.shutdown()
    }

    @Test("1000 connect/disconnect cycles of the stream leave RSS flat and no stream open")
    func connectDisconnectCycles() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1)])
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0, interval: .milliseconds(100)))
        let address = try await dashboard.start()
        func cycle() throws {
            let socket = try HTTPProbe.connect(port: address.port)
            try HTTPProbe.send(socket, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            // Read the response head and the opening comment, then drop the connection mid-stream.
            _ = try HTTPProbe.receive(socket) { String(decoding: $0, as: UTF8.self).contains(": conveyor dashboard") }
            close(socket)
        }
        for _ in 0..<100 { try cycle() }
        try await waitForStreams(dashboard, atMost: 0)
        let before = residentBytes()
        for _ in 0..<1_000 { try cycle() }
        try await waitForStreams(dashboard, atMost: 0)
        let after = residentBytes()
        let growth = after - before
        // 1000 leaked streams (a task, a channel, buffers each) would be many megabytes.
        #expect(growth < 4 << 20, "RSS grew \(growth >> 10) KiB over 1000 cycles (from \(before >> 20) MiB)")
        #expect(dashboard.openStreams.load(ordering: .relaxed) == 0)
        await dashboard.stop()
        await conveyor.shutdown()
    }

    func waitForStreams(_ dashboard: Dashboard, atMost count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while dashboard.openStreams.load(ordering: .relaxed) > count {
            guard ContinuousClock.now < deadline else {
                Issue.record("\(dashboard.openStreams.load(ordering: .relaxed)) streams still open after their clients left")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("a client that never reads blocks neither the sampler nor the engine")
    func slowClient() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 1)])
        let dashboard = try Dashboard(conveyor: conveyor, configuration: .init(port: 0, interval: .milliseconds(100)))
        let address = try await dashboard.start()
        // A small receive window, and nothing read: the server's writes back up on this socket.
        let stalled = try HTTPProbe.connect(port: address.port, receiveBuffer: 1_024)
        defer { close(stalled) }
        try HTTPProbe.send(stalled, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try await Task.sleep(for: .seconds(2))   // about 20 events of a few KiB each, unread
        let sequence = dashboard.snapshot.sequence
        try await runTasks(conveyor, groups: ["cpu"], tasks: 500)
        try await Task.sleep(for: .milliseconds(500))
        #expect(dashboard.snapshot.sequence >= sequence + 3, "the sampler kept its timer")
        #expect(dashboard.snapshot.total.completed == 500)
        // Other clients are still served.
        #expect(try HTTPProbe.get(port: address.port, "/api/snapshot").status == 200)
        await dashboard.stop()
        await conveyor.shutdown()
    }
}
