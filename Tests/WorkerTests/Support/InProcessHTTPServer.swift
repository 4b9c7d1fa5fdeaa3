import Logging
import Prometheus
import ServiceLifecycle
import Worker

/// The worker's ``HTTPServer`` run in this process on 127.0.0.1 and a free port, in a service group of its own, for
/// tests that need no broker.
enum InProcessHTTPServer {
    /// Starts a server, runs `body` with its port, then shuts the server down gracefully and waits for it to stop
    /// (also when `body` throws). Throws when the server cannot start.
    static func with<T>(
        heartbeat: LoopHeartbeat? = nil,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        configure: (inout HTTPServer.Configuration) -> Void = { _ in },
        jsonErrors: Bool = false,
        routes: (HTTPServer.Routes) -> Void = { _ in },
        _ body: (_ port: Int) async throws -> T
    ) async throws -> T {
        var configuration = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        var logger = Logger(label: "test.http")
        logger.logLevel = .warning
        let (ports, listening) = AsyncStream<Int>.makeStream()
        let server = HTTPServer(
            configuration: configuration, registry: registry, heartbeat: heartbeat, logger: logger,
            onListening: { port in
                listening.yield(port)
                listening.finish()
            }, jsonErrors: jsonErrors, routes: routes)
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let running = Task {
            defer { listening.finish() }
            try await group.run()
        }
        var next = ports.makeAsyncIterator()
        guard let port = await next.next() else {
            try await running.value
            throw RawHTTPError.io("the server stopped before it listened")
        }
        do {
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            try await running.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
    }
}
