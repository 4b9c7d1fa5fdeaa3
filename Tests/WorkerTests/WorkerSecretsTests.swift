import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension WorkerIntegrationTests {
    /// A password given by `--kafka-config` (mode 600) or by `FEEDLOOP_KAFKA_SASL_PASSWORD` reaches librdkafka but
    /// none of what others can read: the process's command line, its log (at debug level, with the configuration
    /// dump), its checkpoints, summary and snapshot, and the `/metrics` body.
    ///
    /// The broker listens in plaintext, where librdkafka ignores the SASL properties, so the worker runs normally.
    @Test func secretsFromTheConfigFileOrTheEnvironmentReachNoCommandLineLogCheckpointOrMetrics() async throws {
        let scenario = try WorkerScenario("secrets")
        let lines = try WorkerTestEnvironment.eventLines(2_000)
        try await scenario.createTopics(partitions: 1)
        _ = try scenario.produce(lines)

        let fileSecret = "pw-file-" + UUID().uuidString
        let configPath = scenario.path("client.properties")
        try """
            # Kafka client settings of the test worker
            sasl.username = feedloop-test-user
            sasl.password = \(fileSecret)
            """.write(toFile: configPath, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: configPath)
        let environmentSecret = "pw-env-" + UUID().uuidString

        let runs: [(run: String, secret: String, arguments: [String], environment: [String: String], source: String)] = [
            ("file", fileSecret, ["--kafka-config", configPath], [:], "file: sasl.password, sasl.username"),
            ("environment", environmentSecret, [], ["FEEDLOOP_KAFKA_SASL_PASSWORD": environmentSecret], "environment: sasl.password"),
        ]
        for (run, secret, arguments, environment, source) in runs {
            let worker = try scenario.startWorker(
                run: run, group: run, checkpoints: run + "-checkpoints", exitWhenIdle: nil,
                extraArguments: arguments + ["--log-level", "debug"], environment: environment)
            let port = try await worker.metricsPort()
            try await worker.waitForProgress(atLeast: lines.count, timeout: .seconds(120))
            let commandLine = try Self.procFile(pid: worker.pid, "cmdline")
            let metrics = try Self.httpGet(port: port, path: "/metrics")
            worker.send(SIGTERM)
            let termination = try await worker.waitForExit(timeout: .seconds(60))
            try #require(termination == .exited(0), "\(run): \(termination)\n\(worker.logTail())")

            // The secret was taken in (so its absence below means something), and the debug configuration dump ran.
            let log = worker.log()
            let reported = log.contains("librdkafka properties from \(source)")
            #expect(reported, "\(run): the worker did not report its property sources: \(worker.logPath)")
            let dumped = log.contains("sasl.password=<redacted>"), warned = log.contains("is accessible to group or others")
            #expect(dumped, "\(run): no configuration dump in the debug log")
            #expect(!warned, "\(run): a mode 600 file drew the permission warning")
            #expect(try scenario.summary(run).events == lines.count)

            // Plain Bool results: a failure message names the place, not kilobytes of bytes.
            func leaks(_ bytes: [UInt8]) -> Bool { bytes.contains(Array(secret.utf8)) }
            #expect(String(decoding: commandLine, as: UTF8.self).contains("worker\0--pipeline"), "\(run): /proc/PID/cmdline unread")
            let inCommandLine = leaks(commandLine), inLog = leaks(Array(log.utf8)), inMetrics = leaks(Array(metrics.utf8))
            #expect(!inCommandLine, "\(run): the secret is in /proc/PID/cmdline")
            #expect(!inLog, "\(run): the secret is in the worker's log \(worker.logPath)")
            #expect(!inMetrics, "\(run): the secret is in /metrics")
            let checkpoints = scenario.checkpointFiles(run + "-checkpoints")
            #expect(!checkpoints.isEmpty, "\(run): no checkpoint to look into")
            for path in checkpoints.map({ scenario.path(run + "-checkpoints/" + $0) }) + [scenario.summaryPath(run), scenario.snapshotPath(run)] {
                let inFile = leaks(try Array(Data(contentsOf: URL(fileURLWithPath: path))))
                #expect(!inFile, "\(run): the secret is in \(path)")
            }
        }
    }

    /// A broker that rejects the SASL handshake stops the worker at start-up, at once, with an error that says so and
    /// names the mechanism, instead of "Timed out waiting for controller" after the admin timeout (30 s).
    ///
    /// The test broker (Tansu) listens in plaintext; asked for SASL PLAIN it answers the SaslHandshake with
    /// UNSUPPORTED_SASL_MECHANISM, which librdkafka reports through the error callback as `_AUTHENTICATION`.
    /// The properties file is mode 644 here, so the permission warning is checked end to end too.
    @Test func aBrokerThatRejectsTheCredentialsStopsTheWorkerWithAnAuthenticationError() async throws {
        let scenario = try WorkerScenario("auth-failure")
        let configPath = scenario.path("client.properties")
        try """
            security.protocol=SASL_PLAINTEXT
            sasl.mechanism=PLAIN
            sasl.username=feedloop-test-user
            """.write(toFile: configPath, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: configPath)
        let password = "pw-auth-" + UUID().uuidString

        let started = ContinuousClock.now
        let worker = try scenario.startWorker(
            run: "worker", group: "g", checkpoints: "checkpoints", exitWhenIdle: nil,
            extraArguments: ["--kafka-config", configPath], environment: ["FEEDLOOP_KAFKA_SASL_PASSWORD": password])
        let termination = try await worker.waitForExit(timeout: .seconds(60))
        let elapsed = ContinuousClock.now - started
        let log = worker.log()
        #expect(termination == .exited(1), "\(termination)\n\(worker.logTail())")
        #expect(elapsed < .seconds(20), "took \(elapsed): waited for a timeout instead of stopping at the failure")
        let expected = "authentication failed (security.protocol=SASL_PLAINTEXT, sasl.mechanism=PLAIN)"
        let failure = try #require(log.split(separator: "\n").first { $0.contains("worker failed:") }, "no failure line:\n\(worker.logTail())")
        #expect(failure.contains(expected), "\(failure)")
        // Logged when it happened too: an error with the broker's address.
        #expect(log.split(separator: "\n").contains { $0.contains(" error ") && $0.contains(expected) && $0.contains("broker=sasl_plaintext://") },
                "\(worker.logTail())")
        let timedOut = log.contains("Timed out")
        #expect(!timedOut, "\(worker.logTail())")
        let leaked = log.contains(password)
        #expect(!leaked, "the password is in the log \(worker.logPath)")
        let warned = log.contains("\(configPath) is accessible to group or others (mode 0644)") && log.contains("chmod 600")
        #expect(warned, "\(worker.logTail())")
    }


    /// The bytes of `/proc/PID/<name>` (procfs files report size 0: read to the end).
    static func procFile(pid: Int32, _ name: String) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(pid)/\(name)"))
        defer { try? handle.close() }
        return Array(try handle.readToEnd() ?? Data())
    }
}
