import Foundation
import Prometheus
import Testing
@testable import Worker

/// `GET /healthz` follows the worker loop's heartbeat: 200 while it turns, 503 with the reason once it has not
/// turned for the stall limit, 200 again after the next turn; `/metrics` answers throughout. No broker needed.
@Suite struct LoopHeartbeatTests {
    @Test func healthzTurnsUnavailableWhenTheLoopStallsAndRecoversOnTheNextTurn() async throws {
        let heartbeat = LoopHeartbeat(stallSeconds: 1)
        let server = MetricsServer(registry: PrometheusCollectorRegistry(), heartbeat: heartbeat)
        try server.start(host: "127.0.0.1", port: 0)
        defer { server.stop() }
        // Start-up counts from the heartbeat's creation: healthy before the first turn, within the limit.
        #expect(try WorkerIntegrationTests.httpGetAnyStatus(port: server.port, path: "/healthz").contains(" 200 "))
        heartbeat.beat()
        #expect(try WorkerIntegrationTests.httpGetAnyStatus(port: server.port, path: "/healthz").hasSuffix("ok\n"))
        try await Task.sleep(for: .milliseconds(1_500))
        let stalled = try WorkerIntegrationTests.httpGetAnyStatus(port: server.port, path: "/healthz")
        #expect(stalled.hasPrefix("HTTP/1.1 503 "), "\(stalled)")
        #expect(stalled.contains("worker loop stalled: no turn for 1 s (limit 1 s)"), "\(stalled)")
        #expect(try WorkerIntegrationTests.httpGetAnyStatus(port: server.port, path: "/metrics").contains(" 200 "))
        heartbeat.beat()
        #expect(try WorkerIntegrationTests.httpGetAnyStatus(port: server.port, path: "/healthz").contains(" 200 "))
        // The arithmetic without the clock: a beat 2.5 s before `now` is 2.5 s old.
        let now = DispatchTime.now().uptimeNanoseconds
        #expect(heartbeat.stall(now: now &+ 500_000_000) == nil)
        #expect(heartbeat.stall(now: now &+ 2_500_000_000)?.contains("no turn for 2 s") == true)
    }

    @Test func withoutAHeartbeatHealthzStaysOK() throws {
        let server = MetricsServer(registry: PrometheusCollectorRegistry())
        try server.start(host: "127.0.0.1", port: 0)
        defer { server.stop() }
        #expect(try WorkerIntegrationTests.httpGetAnyStatus(port: server.port, path: "/healthz").hasSuffix("ok\n"))
    }
}
