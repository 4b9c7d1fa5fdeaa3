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
        let ok = try await InProcessHTTPServer.with(heartbeat: turning) { port in
            try await offThePool { try Self.get(port: port, path: "/healthz") }
        }
        #expect(ok.status == 200 && ok.body == "ok\n", "\(ok)")

        let stalled = LoopHeartbeat(stallSeconds: 1)  // never beats
        try await InProcessHTTPServer.with(heartbeat: stalled) { port in
            try await Task.sleep(for: .milliseconds(1_200))
            let (unavailable, metrics) = try await offThePool {
                (try Self.get(port: port, path: "/healthz"), try Self.get(port: port, path: "/metrics"))
            }
            #expect(unavailable.status == 503, "\(unavailable)")
            #expect(unavailable.body.hasPrefix("worker loop stalled: no turn for ") && unavailable.body.hasSuffix(" s (limit 1 s)\n"),
                    "\(unavailable)")
            #expect(metrics.status == 200, "\(metrics)")
        }
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

    @Test func withoutAHeartbeatHealthzStaysOK() async throws {
        let response = try await InProcessHTTPServer.with(heartbeat: nil) { port in
            try await offThePool { try Self.get(port: port, path: "/healthz") }
        }
        #expect(response.status == 200 && response.body == "ok\n", "\(response)")
    }

    /// One GET on a connection of its own (blocking).
    private static func get(port: Int, path: String) throws -> RawHTTPResponse {
        let connection = try RawHTTPConnection(port: port)
        try connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        return try connection.response()
    }
}
