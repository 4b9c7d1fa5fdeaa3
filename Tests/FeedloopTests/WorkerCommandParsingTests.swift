import ArgumentParser
import Testing
@testable import feedloop

/// `feedloop worker` option parsing: `--metrics-port -1` (off) is a value, not a flag, in either spelling, and a
/// port out of range is refused before anything starts.
@Suite struct WorkerCommandParsingTests {
    @Test(arguments: [["--metrics-port", "-1"], ["--metrics-port=-1"]])
    func metricsPortMinusOneTurnsTheEndpointOff(spelling: [String]) throws {
        let command = try WorkerCommand.parse(["--pipeline", "p.yaml"] + spelling)
        #expect(command.metricsPort == -1)
    }

    @Test func metricsPortAndHostDefaultToLoopbackOn9464() throws {
        let command = try WorkerCommand.parse(["--pipeline", "p.yaml"])
        #expect(command.metricsPort == 9464 && command.metricsHost == "127.0.0.1")
        #expect(try WorkerCommand.parse(["--pipeline", "p.yaml", "--metrics-port", "0"]).metricsPort == 0)
    }

    @Test(arguments: ["-2", "65536"])
    func aMetricsPortOutOfRangeIsRefused(port: String) {
        #expect(throws: (any Error).self) { try WorkerCommand.parse(["--pipeline", "p.yaml", "--metrics-port", port]) }
    }

    @Test func theOptionsAfterMetricsPortStillParse() throws {
        let command = try WorkerCommand.parse(["--metrics-port", "-1", "--pipeline", "p.yaml", "--metrics-host", "0.0.0.0"])
        #expect(command.metricsPort == -1 && command.pipeline == "p.yaml" && command.metricsHost == "0.0.0.0")
    }

    @Test func theRankingAPIIsOffByDefaultAndLoopbackWhenOn() throws {
        let command = try WorkerCommand.parse(["--pipeline", "p.yaml"])
        #expect(command.servePort == -1 && command.serveHost == "127.0.0.1" && command.serveMaxBody == 256 * 1024)
        #expect(command.serveThreads == 1)
        #expect(try WorkerCommand.parse(["--pipeline", "p.yaml", "--serve-port", "0"]).servePort == 0)
        #expect(try WorkerCommand.parse(["--serve-port", "-1", "--pipeline", "p.yaml"]).servePort == -1)
    }

    @Test(arguments: [["--serve-port", "-2"], ["--serve-port", "65536"], ["--serve-max-body", "100"], ["--serve-threads", "-1"]])
    func aServePortOrBodyLimitOutOfRangeIsRefused(arguments: [String]) {
        #expect(throws: (any Error).self) { try WorkerCommand.parse(["--pipeline", "p.yaml"] + arguments) }
    }
}
