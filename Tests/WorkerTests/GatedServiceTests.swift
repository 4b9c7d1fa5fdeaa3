import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import Worker

/// A gated service runs once its gate opens, and not at all when its group shuts down (or the gate ends) first:
/// how the worker waits for its HTTP server to listen.
@Suite struct GatedServiceTests {
    /// Counts its runs; returns at once.
    private final class Counted: Service {
        let runs = Atomic<Int>(0)
        func run() async throws { runs.add(1, ordering: .relaxed) }
    }

    private static let logger: Logger = {
        var logger = Logger(label: "test.gated")
        logger.logLevel = .warning
        return logger
    }()

    @Test func runsTheServiceOnceTheGateOpens() async throws {
        let service = Counted()
        let (gate, open) = AsyncStream<Void>.makeStream()
        let running = Task { try await GatedService(service, after: gate).run() }
        try await Task.sleep(for: .milliseconds(50))
        #expect(service.runs.load(ordering: .relaxed) == 0, "ran before the gate opened")
        open.yield()
        try await running.value
        #expect(service.runs.load(ordering: .relaxed) == 1)
    }

    @Test func aGroupShuttingDownBeforeTheGateOpensEndsItWithoutRunningTheService() async throws {
        let service = Counted()
        let (gate, _) = AsyncStream<Void>.makeStream()  // never opens
        let group = ServiceGroup(configuration: .init(services: [GatedService(service, after: gate)], logger: Self.logger))
        let running = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(50))
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(service.runs.load(ordering: .relaxed) == 0)
    }

    @Test func aGateThatEndsWithoutOpeningEndsItWithoutRunningTheService() async throws {
        let service = Counted()
        let (gate, open) = AsyncStream<Void>.makeStream()
        open.finish()
        try await GatedService(service, after: gate).run()
        #expect(service.runs.load(ordering: .relaxed) == 0)
    }
}
