#if canImport(ConveyorDashboard)
import ArgumentParser
import Testing

@testable import ConveyorCLI

@Suite("conveyor demo options")
struct DemoCommandTests {
    @Test("--dashboard HOST:PORT is parsed; a bad one names the expected form")
    func addresses() throws {
        #expect(try DemoCommand.address("127.0.0.1:9464") == ("127.0.0.1", 9464))
        #expect(try DemoCommand.address("::1:0") == ("::1", 0))
        for bad in ["9464", "127.0.0.1:", ":80", "host:70000", "host:port"] {
            #expect(throws: ValidationError.self) { try DemoCommand.address(bad) }
        }
    }

    @Test("the built-in day shape is a day of positive half-hours with a peak and a trough")
    func builtInDay() {
        let day = DemoCommand.builtInDay
        #expect(day.count == 48)
        #expect(day.allSatisfy { $0 > 0 })
        #expect(day.max()! / day.min()! > 2)
    }

    @Test("options parse, with the defaults of the docs")
    func parsing() throws {
        let command = try DemoCommand.parse(["--duration", "30s", "--trace", "t.csv"])
        #expect(command.duration == "30s")
        #expect(command.dashboard == "127.0.0.1:9464")
        #expect(command.trace == "t.csv")
        #expect(!command.allowRemote)
        #expect(try DemoCommand.parse(["--allow-remote", "--dashboard", "0.0.0.0:9464"]).allowRemote)
    }
}
#endif
