import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Testing
@testable import Worker

/// The worker's HTTP server against hostile and unusual clients, in-process on a free port (no broker): idle
/// connections do not hold up other clients, requests are parsed from the byte stream (split across packets or
/// pipelined), paths match exactly, bodies and headers are bounded, silent connections are closed, and the server
/// stops when its service group shuts down. The client side is plain sockets, so the bytes and their split into
/// writes are exactly what each test says.
@Suite struct HTTPServerTests {
    private static let healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

    @Test func healthzAnswersQuicklyWhileFiftyIdleConnectionsAreOpen() async throws {
        try await InProcessHTTPServer.with { port in
            let idle = try await offThePool { try (0..<50).map { _ in try RawHTTPConnection(port: port) } }
            let timings = try await offThePool {
                try (0..<7).map { _ in
                    let clock = ContinuousClock()
                    let start = clock.now
                    let connection = try RawHTTPConnection(port: port)
                    try connection.send(Self.healthz)
                    let response = try connection.response()
                    let elapsed = clock.now - start
                    return (response.status, response.body, elapsed)
                }
            }
            for (status, body, _) in timings {
                #expect(status == 200 && body == "ok\n", "\(status) \(body)")
            }
            let milliseconds = timings.map { Double($0.2.components.attoseconds) / 1e15 + Double($0.2.components.seconds) * 1e3 }
            let median = milliseconds.sorted()[milliseconds.count / 2]
            print("GET /healthz with \(idle.count) idle connections open: " +
                  milliseconds.map { String(format: "%.1f", $0) }.joined(separator: ", ") + " ms (median \(String(format: "%.1f", median)) ms)")
            #expect(median < 100, "median \(median) ms")
        }
    }

    @Test func healthzAnswersWhileEveryThreadOfTheCooperativePoolIsBlocked() async throws {
        try await InProcessHTTPServer.with { port in
            let clock = ContinuousClock()
            let start = clock.now
            // Blocking tasks take the cooperative pool's threads (one per core) for 2 s; meanwhile, from 0.3 s on,
            // requests on new connections. A server that needed the pool would answer only after 2 s.
            let blockers = (0..<ProcessInfo.processInfo.activeProcessorCount).map { _ in
                Task.detached { _ = usleep(2_000_000) }  // blocks the thread, as CPU-bound work would
            }
            let timings = try await offThePool {
                Thread.sleep(until: Date(timeIntervalSinceNow: 0.3))
                return try (0..<3).map { _ in
                    let sent = clock.now
                    let connection = try RawHTTPConnection(port: port)
                    try connection.send(Self.healthz)
                    let response = try connection.response()
                    return (response.status, clock.now - sent, sent - start)
                }
            }
            for blocker in blockers { await blocker.value }
            print("GET /healthz with the cooperative pool blocked: " +
                  timings.map { "\($0.1) (sent at \($0.2))" }.joined(separator: ", "))
            for (status, elapsed, _) in timings {
                #expect(status == 200)
                #expect(elapsed < .milliseconds(500), "\(elapsed)")
            }
        }
    }

    @Test func aRequestSplitAcrossWritesWithPausesIsAnswered() async throws {
        try await InProcessHTTPServer.with { port in
            let response = try await offThePool {
                let connection = try RawHTTPConnection(port: port)
                try connection.send("GET /hea")
                Thread.sleep(forTimeInterval: 0.2)
                try connection.send("lthz HTTP/1.1\r\nHo")
                Thread.sleep(forTimeInterval: 0.2)
                try connection.send("st: x\r\n\r\n")
                return try connection.response()
            }
            #expect(response.status == 200 && response.body == "ok\n", "\(response)")
        }
    }

    @Test func pipelinedRequestsOnOneKeepAliveConnectionAreAllAnswered() async throws {
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(descriptor: .init(namespace: "feedloop", metricName: "test_events", unitName: "total", helpText: "Test counter."))
            .increment(by: Int64(3))
        try await InProcessHTTPServer.with(registry: registry) { port in
            let (first, second, third) = try await offThePool {
                let connection = try RawHTTPConnection(port: port)
                try connection.send(Self.healthz + "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                let first = try connection.response(), second = try connection.response()
                // The connection stays open for more.
                try connection.send(Self.healthz)
                return (first, second, try connection.response())
            }
            #expect(first.status == 200 && first.body == "ok\n", "\(first)")
            #expect(second.status == 200, "\(second)")
            #expect(second.headers["content-type"] == "text/plain; version=0.0.4", "\(second.headers)")
            #expect(second.body.contains("feedloop_test_events_total 3"), "\(second.body)")
            #expect(third.status == 200 && third.body == "ok\n", "\(third)")
        }
    }

    @Test(arguments: ["/metrics/../..", "/healthzX", "/metricsfoo", "/healthz/x", "/metrics/", "//metrics", "/", "/favicon.ico"])
    func pathsOtherThanTheEndpointsAre404(path: String) async throws {
        try await InProcessHTTPServer.with { port in
            let response = try await offThePool {
                let connection = try RawHTTPConnection(port: port)
                try connection.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                return try connection.response()
            }
            #expect(response.status == 404, "GET \(path): \(response)")
        }
    }

    @Test func aRequestThatDoesNotKeepTheConnectionAliveHasItClosedAfterTheResponse() async throws {
        // Idle timeout 30 s: a close within the read timeout (10 s) is the server's answer to the request.
        try await InProcessHTTPServer.with { port in
            for request in ["GET /healthz HTTP/1.0\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n"] {
                let (response, end) = try await offThePool {
                    let connection = try RawHTTPConnection(port: port)
                    try connection.send(request)
                    return (try connection.response(), connection.readUntilClosed())
                }
                #expect(response.status == 200 && response.body == "ok\n", "\(request): \(response)")
                #expect(end.closed && end.received.isEmpty, "\(request): not closed after the response")
            }
            // HTTP/1.0 asking for keep-alive keeps it.
            let second = try await offThePool {
                let connection = try RawHTTPConnection(port: port)
                try connection.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                _ = try connection.response()
                try connection.send("GET /healthz HTTP/1.0\r\n\r\n")
                return try connection.response()
            }
            #expect(second.status == 200, "\(second)")
        }
    }

    @Test func aBodyOverTheBoundIsRefusedWith413() async throws {
        try await InProcessHTTPServer.with { port in
            // Declared: refused on the headers, before the body is sent.
            let declared = try await offThePool {
                let connection = try RawHTTPConnection(port: port)
                try connection.send("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
                return try connection.response()
            }
            #expect(declared.status == 413, "\(declared)")
            #expect(declared.headers["connection"] == "close", "\(declared.headers)")
            // Chunked, no length given: refused once the bound is passed.
            let chunked = try await offThePool {
                let connection = try RawHTTPConnection(port: port)
                try connection.send("POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                let chunk = "8000\r\n" + String(repeating: "a", count: 0x8000) + "\r\n"
                for _ in 0..<3 { try connection.send(chunk) }
                return try connection.response()
            }
            #expect(chunked.status == 413, "\(chunked)")
            // A small body is read, and the method/path decides: no POST route here.
            let small = try await offThePool {
                let connection = try RawHTTPConnection(port: port)
                try connection.send("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
                return try connection.response()
            }
            #expect(small.status == 404, "\(small)")
        }
    }

    @Test func headersOverTheParserBoundAreRefused() async throws {
        try await InProcessHTTPServer.with { port in
            let (closed, received) = try await offThePool {
                let connection = try RawHTTPConnection(port: port)
                // 100 KiB of headers, over the parser's 80 KiB; the server may stop reading before all is sent.
                try? connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + String(repeating: "p", count: 100 * 1024) + "\r\n\r\n")
                return connection.readUntilClosed()
            }
            let text = String(decoding: received, as: UTF8.self)
            #expect(closed, "the connection stayed open: \(text.prefix(200))")
            #expect(text.isEmpty || text.hasPrefix("HTTP/1.1 4"), "\(text.prefix(200))")
            #expect(!text.contains("ok\n"), "\(text.prefix(200))")
        }
    }

    @Test func healthzIs503WithTheReasonWhileTheHeartbeatSaysStalled() async throws {
        let heartbeat = LoopHeartbeat(stallSeconds: 1)
        // A beat at uptime 1 ns: the loop has not turned since the machine started, far over the limit.
        heartbeat.beat(at: 1)
        let reason = try #require(heartbeat.stall())
        try await InProcessHTTPServer.with(heartbeat: heartbeat) { port in
            let (stalled, metrics, recovered) = try await offThePool {
                let connection = try RawHTTPConnection(port: port)
                try connection.send(Self.healthz + "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                let stalled = try connection.response(), metrics = try connection.response()
                heartbeat.beat()
                try connection.send(Self.healthz)
                return (stalled, metrics, try connection.response())
            }
            #expect(stalled.status == 503, "\(stalled)")
            #expect(stalled.body.hasPrefix("worker loop stalled: no turn for ") && stalled.body.hasSuffix(" s (limit 1 s)\n"), "\(stalled.body)")
            #expect(reason.hasPrefix("worker loop stalled: no turn for "))
            #expect(metrics.status == 200, "/metrics answers while the loop is stalled")
            #expect(recovered.status == 200 && recovered.body == "ok\n", "\(recovered)")
        }
    }

    @Test func aConnectionSilentForTheIdleTimeoutIsClosed() async throws {
        try await InProcessHTTPServer.with(configure: { $0.idleTimeout = .milliseconds(300) }) { port in
            let (silent, partial, afterResponse) = try await offThePool {
                // Nothing sent; half a request line; a complete exchange, then silence.
                let silent = try RawHTTPConnection(port: port)
                let partial = try RawHTTPConnection(port: port)
                try partial.send("GET /healthz HTTP/1.1\r\n")
                let kept = try RawHTTPConnection(port: port)
                try kept.send(Self.healthz)
                let answered = try kept.response()
                return (silent.readUntilClosed(), partial.readUntilClosed(), (answered, kept.readUntilClosed()))
            }
            #expect(silent.closed && silent.received.isEmpty, "\(silent)")
            #expect(partial.closed && partial.received.isEmpty, "\(partial)")
            #expect(afterResponse.0.status == 200)
            #expect(afterResponse.1.closed && afterResponse.1.received.isEmpty, "\(afterResponse.1)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theServerStopsWhenItsGroupShutsDownWithConnectionsOpen() async throws {
        var logger = Logger(label: "test.http")
        logger.logLevel = .warning
        let (ports, listening) = AsyncStream<Int>.makeStream()
        // An idle timeout far beyond the test: only the shutdown can close the connections.
        var configuration = HTTPServer.Configuration(port: 0)
        configuration.idleTimeout = .seconds(600)
        let server = HTTPServer(
            configuration: configuration, registry: PrometheusCollectorRegistry(), heartbeat: nil, logger: logger,
            onListening: { listening.yield($0) })
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let running = Task { try await group.run() }
        var next = ports.makeAsyncIterator()
        let port = try #require(await next.next())
        // One idle connection and one that has been answered and kept alive.
        let open = try await offThePool {
            let kept = try RawHTTPConnection(port: port)
            try kept.send(Self.healthz)
            _ = try kept.response()
            return [try RawHTTPConnection(port: port), kept]
        }
        let clock = ContinuousClock()
        let start = clock.now
        await group.triggerGracefulShutdown()
        // Each read gives up after 10 s: closed before that is the shutdown's doing.
        let closed = try await offThePool { open.map { $0.readUntilClosed().closed } }
        #expect(closed == [true, true])
        try await running.value
        print("HTTP server stopped \(clock.now - start) after the shutdown with 2 connections open")
        // Nothing listens any more.
        #expect(throws: RawHTTPError.self) { try RawHTTPConnection(port: port) }
    }

    @Test func aPortInUseFailsTheService() async throws {
        try await InProcessHTTPServer.with { port in
            var logger = Logger(label: "test.http")
            logger.logLevel = .critical
            let second = HTTPServer(
                configuration: .init(port: port), registry: PrometheusCollectorRegistry(), heartbeat: nil, logger: logger)
            await #expect(throws: WorkerError.self) { try await second.run() }
        }
    }
}
