import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The worker's HTTP server (Hummingbird, HTTP/1.1 and 1.0): `GET /metrics` answers the Prometheus text exposition
/// of the registry, `GET /healthz` answers `ok`, or 503 with the reason while the worker loop's heartbeat says it
/// stalled; any other path or method answers 404. More routes (an API) are added through `routes` at construction.
///
/// Invariant: no client can keep another from being answered or make the server hold unbounded memory. Connections
/// are served concurrently and requests are parsed from the byte stream (a request split across packets, or
/// several pipelined in one, is answered like any other); paths match exactly as written (no prefix, no ignored
/// `/`); headers are bounded by the HTTP parser (80 KiB), a request body by `maxBodyBytes` (413 beyond it, before
/// any handler runs); a connection that sends nothing for `idleTimeout` — between requests or in the middle of
/// one — is closed, and one whose request does not ask to be kept alive is closed after its response.
///
/// A `Service`: `run()` binds, reports the bound port (`onListening`, and the log line
/// `metrics on http://HOST:PORT/metrics`), serves until the service group shuts down gracefully (it then stops
/// accepting, finishes the requests in progress and closes idle connections), and throws when it cannot bind.
public struct HTTPServer: Service {
    /// Where to listen and the per-connection bounds.
    public struct Configuration: Sendable {
        /// Listening address (127.0.0.1: loopback only).
        public var host: String
        /// Listening port; 0 picks a free one (reported by `onListening`).
        public var port: Int
        /// A connection with no request data for this long is closed.
        public var idleTimeout: Duration = .seconds(30)
        /// Largest request body accepted; larger ones are answered 413 before any handler runs.
        public var maxBodyBytes: Int = 64 * 1024
        /// Event-loop threads of a group of the server's own (nil: NIO's shared group, one thread per core). A
        /// group of its own bounds the cores the server can take from the rest of the process (the learner).
        public var threads: Int? = nil

        public init(host: String = "127.0.0.1", port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// The router the server's routes are registered on.
    public typealias Routes = Router<BasicRequestContext>

    private let application: Application<RouterResponder<BasicRequestContext>>

    /// - Parameters:
    ///   - registry: Rendered by `GET /metrics` (nil: no `/metrics` route).
    ///   - heartbeat: Read by `GET /healthz` (nil: always `ok`).
    ///   - logger: For the listening line; the server's own messages below notice are left out.
    ///   - onListening: Called with the bound port once the server accepts connections.
    ///   - announce: The log line once it listens, from host and port (default: `metrics on http://HOST:PORT/metrics`).
    ///   - jsonErrors: Every error is answered as JSON (``JSONErrorMiddleware``): for an API's server.
    ///   - routes: Adds further routes (`/metrics` and `/healthz` are taken).
    public init(
        configuration: Configuration,
        registry: PrometheusCollectorRegistry?,
        heartbeat: LoopHeartbeat?,
        logger: Logger,
        onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in },
        announce: @escaping @Sendable (_ host: String, _ port: Int) -> String = { "metrics on http://\($0):\($1)/metrics" },
        jsonErrors: Bool = false,
        routes: (Routes) -> Void = { _ in }
    ) {
        let router = Routes()
        // Before any route: these apply to every request, matched or not.
        if jsonErrors { router.add(middleware: JSONErrorMiddleware()) }
        router.add(middleware: BodyLimitMiddleware(maxBytes: configuration.maxBodyBytes))
        router.add(middleware: ExactPathMiddleware())
        if let registry {
            router.get("/metrics") { _, _ in
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
            }
        }
        router.get("/healthz") { _, _ in
            if let reason = heartbeat?.stall() {
                return Self.text(.serviceUnavailable, reason + "\n")
            }
            return Self.text(.ok, "ok\n")
        }
        routes(router)

        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)
        let host = configuration.host
        application = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                HTTP1ServerChannel(responder: responder, configuration: .init(idleTimeout: TimeAmount(configuration.idleTimeout)))
            },
            configuration: .init(address: .hostname(host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("\(announce(host, port))")
                await onListening(port)
            },
            // A group of its own lives as long as the process (it is never shut down: the server is a process-long
            // service).
            eventLoopGroupProvider: configuration.threads.map { .shared(MultiThreadedEventLoopGroup(numberOfThreads: $0)) } ?? .singleton,
            logger: serverLogger
        )
    }

    /// Serves until graceful shutdown (or cancellation); throws when the address cannot be bound. The server's own
    /// tasks (accepting, each connection) run on NIO's event loops, not on the cooperative pool.
    public func run() async throws {
        let application = self.application
        do {
            try await withTaskExecutorPreference(EventLoopTaskExecutor(application.eventLoopGroup.next())) {
                try await application.run()
            }
        } catch {
            throw WorkerError.metrics("cannot serve: \(error)")
        }
    }

    private static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
