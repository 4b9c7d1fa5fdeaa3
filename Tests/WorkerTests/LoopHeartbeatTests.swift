import Foundation
import Prometheus
import Testing
@testable import Worker

/// `GET /healthz` follows the worker loop's heartbeat: 200 while it turns, 503 with the reason once it has not
/// turned for the stall limit; `/metrics` answers throughout. No broker needed. The HTTP checks only wait in the
/// direction that load cannot break (a sleep lasts at least its time); the arithmetic is checked at given times.
@Suite struct LoopHeartbeatTests {
    @Test func healthzAnswersOKWhileTheLoopTurnsAnd503WithTheReasonOnceItStalls() async throws {
        let turning = LoopHeartbeat(stallSeconds: 3_600)
        turning.beat()
        let healthy = MetricsServer(registry: PrometheusCollectorRegistry(), heartbeat: turning)
        try healthy.start(host: "127.0.0.1", port: 0)
        defer { healthy.stop() }
        let ok = try WorkerIntegrationTests.httpGetAnyStatus(port: healthy.port, path: "/healthz")
        #expect(ok.hasPrefix("HTTP/1.1 200 ") && ok.hasSuffix("\r\n\r\nok\n"), "\(ok)")

        let stalled = LoopHeartbeat(stallSeconds: 1)  // never beats
        let server = MetricsServer(registry: PrometheusCollectorRegistry(), heartbeat: stalled)
        try server.start(host: "127.0.0.1", port: 0)
        defer { server.stop() }
        try await Task.sleep(for: .milliseconds(1_200))
        let unavailable = try WorkerIntegrationTests.httpGetAnyStatus(port: server.port, path: "/healthz")
        #expect(unavailable.hasPrefix("HTTP/1.1 503 "), "\(unavailable)")
        #expect(unavailable.contains("worker loop stalled: no turn for ") && unavailable.contains(" s (limit 1 s)"), "\(unavailable)")
        #expect(try WorkerIntegrationTests.httpGetAnyStatus(port: server.port, path: "/metrics").hasPrefix("HTTP/1.1 200 "))
    }

    @Test func aStallIsTheTimeSinceTheLastBeatOrSinceStartUpBeforeTheFirst() {
        let heartbeat = LoopHeartbeat(stallSeconds: 2)
        let t0 = DispatchTime.now().uptimeNanoseconds
        // Before the first beat, start-up (restore, group join) counts from the heartbeat's creation.
        #expect(heartbeat.stall(now: t0) == nil)
        #expect(heartbeat.stall(now: t0 &+ 10_000_000_000)?.hasPrefix("worker loop stalled: no turn for 10 s") == true)
        heartbeat.beat(at: t0 &+ 20_000_000_000)
        #expect(heartbeat.stall(now: t0 &+ 21_500_000_000) == nil)
        #expect(heartbeat.stall(now: t0 &+ 22_000_000_000) == nil, "exactly the limit is not a stall")
        #expect(heartbeat.stall(now: t0 &+ 22_500_000_000) == "worker loop stalled: no turn for 2 s (limit 2 s)")
        #expect(heartbeat.secondsSinceBeat(now: t0 &+ 23_000_000_000) == 3)
        // A beat resets it.
        heartbeat.beat(at: t0 &+ 30_000_000_000)
        #expect(heartbeat.stall(now: t0 &+ 31_000_000_000) == nil)
    }

    @Test func withoutAHeartbeatHealthzStaysOK() throws {
        let server = MetricsServer(registry: PrometheusCollectorRegistry())
        try server.start(host: "127.0.0.1", port: 0)
        defer { server.stop() }
        #expect(try WorkerIntegrationTests.httpGetAnyStatus(port: server.port, path: "/healthz").hasSuffix("ok\n"))
    }
}
