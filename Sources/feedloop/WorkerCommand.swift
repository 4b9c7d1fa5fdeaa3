import ArgumentParser
import Events
import Foundation
import Kafka
import Logging
import Metrics
import Pipelines
import Prometheus
import ServiceLifecycle
import Worker

/// `feedloop worker`: the long-running service.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Consume events from Kafka, learn online, publish refreshed scores, adjustments and dead letters.",
        discussion: """
            Restores the newest valid checkpoint in --checkpoint-dir and continues exactly where it left off. \
            SIGTERM/SIGINT drain: stop fetching, finish the batch, checkpoint, flush, commit, leave the group.

            Kafka client settings (SASL, TLS…) come from --kafka-config FILE, then FEEDLOOP_KAFKA_<KEY> environment \
            variables (FEEDLOOP_KAFKA_SASL_PASSWORD sets sasl.password), then --kafka-property KEY=VALUE, later ones \
            winning. Pass passwords by file or environment: arguments are visible to every local user. A broker that \
            rejects the credentials stops the start-up with "authentication failed (…)". See docs/operations.md.
            """)

    @Option(name: .long, help: "Pipeline YAML file.") var pipeline: String
    @Option(name: .long, help: "Bootstrap brokers host:port[,host:port…] (default: $FEEDLOOP_BROKERS).") var brokers: String?
    @Option(name: .long, help: "Consumer group id.") var group = "feedloop"
    @Option(name: .customLong("member-id"), help: "This worker's id in the group's model exchange (pipelines with sync:); default: one kept in the checkpoint directory.") var memberID: String?
    @Option(name: .customLong("session-timeout"), help: "Group session timeout in seconds (librdkafka default 45).") var sessionTimeout: Double?
    @Option(name: .customLong("checkpoint-dir"), help: "Checkpoint directory (one per worker).") var checkpointDir = ".checkpoints"
    @Option(name: .customLong("checkpoint-events"), help: "Checkpoint after this many events.") var checkpointEvents = 100_000
    @Option(name: .customLong("checkpoint-seconds"), help: "…or after this many seconds.") var checkpointSeconds = 10.0
    @Option(name: .customLong("metrics-host"), help: "Prometheus endpoint address.") var metricsHost = "127.0.0.1"
    // .unconditional: "-1" is a value here, not a flag.
    @Option(name: .customLong("metrics-port"), parsing: .unconditional, help: "Prometheus endpoint port (0: any free port, -1: off).") var metricsPort = 9464
    @Option(name: .customLong("serve-host"), help: "Ranking API address (loopback by default).") var serveHost = "127.0.0.1"
    @Option(name: .customLong("serve-port"), parsing: .unconditional, help: "Ranking API port: POST /v1/rank, GET /v1/users/{id}/recommendations (0: any free port, -1: off).") var servePort = -1
    @Option(name: .customLong("serve-max-body"), help: "Largest ranking request body in bytes (413 beyond).") var serveMaxBody = 256 * 1024
    @Option(name: .customLong("serve-threads"), help: "Event-loop threads of the ranking API (0: one per core, NIO's shared group).") var serveThreads = 1
    @Option(name: .customLong("refresh-interval"), help: "At most one score refresh per user per this much event time (e.g. 0s, 1m).") var refreshInterval = "0s"
    @Option(name: .customLong("exit-when-idle"), help: "Stop gracefully after this many seconds without input (demos, tests).") var exitWhenIdle: Double?
    @Option(name: .customLong("final-snapshot"), help: "Write the model snapshot here on graceful exit.") var finalSnapshot: String?
    @Option(name: .customLong("summary-json"), help: "Write a JSON summary (events, positions, outputs) on graceful exit.") var summaryJSON: String?
    @Option(name: .customLong("progress-seconds"), help: "Progress log period in seconds (0: off).") var progressSeconds = 5.0
    @OptionGroup var kafka: KafkaClientOptions
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(name: .customLong("health-stall"), help: "GET /healthz answers 503 when the worker loop has not turned for this long (e.g. 2m).") var healthStall = "2m"
    @Option(name: .customLong("stall-after"), help: "GET /healthz answers 503 when input waits (lag > 0) and no event was handled for this long.") var stallAfter = "60s"
    @Option(name: .customLong("shutdown-timeout"), help: "SIGTERM/SIGINT end the worker within this long; outputs not delivered by then: no final checkpoint, exit 1.") var shutdownTimeout = "30s"

    func validate() throws {
        guard (-1...65_535).contains(metricsPort) else {
            throw ValidationError("--metrics-port: a port 0...65535 (0: any free port), or -1 for off; got \(metricsPort)")
        }
        guard (-1...65_535).contains(servePort) else {
            throw ValidationError("--serve-port: a port 0...65535 (0: any free port), or -1 for off; got \(servePort)")
        }
        guard (0...256).contains(serveThreads) else {
            throw ValidationError("--serve-threads: 0...256 (0: one per core), got \(serveThreads)")
        }
        guard (1024...(64 << 20)).contains(serveMaxBody) else {
            throw ValidationError("--serve-max-body: 1024...67108864 bytes, got \(serveMaxBody)")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "feedloop.worker")
        let spec = try PipelinesLoader.load(pipeline)
        guard let brokers = brokers ?? ProcessInfo.processInfo.environment["FEEDLOOP_BROKERS"] else {
            throw ValidationError("give --brokers HOST:PORT or set FEEDLOOP_BROKERS")
        }
        var options = WorkerOptions(spec: spec, brokers: brokers)
        options.groupID = group
        options.memberID = memberID
        options.checkpointDirectory = checkpointDir
        options.sessionTimeoutSeconds = sessionTimeout
        options.checkpointEveryEvents = checkpointEvents
        options.checkpointEverySeconds = checkpointSeconds
        options.exitWhenIdleSeconds = exitWhenIdle
        options.finalSnapshotPath = finalSnapshot
        options.summaryPath = summaryJSON
        options.progressEverySeconds = progressSeconds
        options.refreshIntervalMs = try parseDuration(refreshInterval, option: "--refresh-interval")
        options.kafkaProperties = try kafka.resolve(warn: { logger.warning("\($0)") }, inform: { logger.info("\($0)") })
        let stallMs = try parseDuration(healthStall, option: "--health-stall")
        guard stallMs >= 1000 else { throw ValidationError("--health-stall: at least 1s, got '\(healthStall)'") }
        let stallAfterMs = try parseDuration(stallAfter, option: "--stall-after")
        guard stallAfterMs >= 1000 else { throw ValidationError("--stall-after: at least 1s, got '\(stallAfter)'") }
        options.stallAfterSeconds = Double(stallAfterMs) / 1000
        let shutdownMs = try parseDuration(shutdownTimeout, option: "--shutdown-timeout")
        guard shutdownMs >= 1000 else { throw ValidationError("--shutdown-timeout: at least 1s, got '\(shutdownTimeout)'") }
        options.shutdownTimeoutSeconds = Double(shutdownMs) / 1000
        let heartbeat = LoopHeartbeat(stallSeconds: Double(stallMs) / 1000)
        options.heartbeat = heartbeat
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        // The HTTP server first: a group shuts its services down in reverse order, so /metrics and /healthz
        // answer while the worker drains. The worker starts once the server listens: a port in use ends the
        // process before any work. Whichever ends, the other is shut down and the process exits.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if servePort >= 0 {
            // The ranking API: its own server (JSON errors, its own port), reading the views the loop publishes.
            let view = ServingView(intervalMs: spec.serving.snapshotIntervalMs)
            options.servingView = view
            let producer = try RankingService.decisionLogProducer(options: options, logger: logger)
            let ranking = RankingService(spec: spec, view: view, producer: producer, logger: logger)
            var configuration = HTTPServer.Configuration(host: serveHost, port: servePort)
            configuration.maxBodyBytes = serveMaxBody
            configuration.threads = serveThreads > 0 ? serveThreads : nil
            let api = HTTPServer(
                configuration: configuration, registry: nil, heartbeat: heartbeat, logger: logger,
                announce: { "ranking API on http://\($0):\($1)/v1/rank" }, jsonErrors: true, routes: ranking.register(on:))
            // Shut down in reverse: the API stops answering before the decision log's producer flushes.
            services.append(.init(service: ranking, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
            services.append(.init(service: api, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        let worker = Worker(options: options, logger: logger)
        if metricsPort >= 0 {
            let (listening, listened) = AsyncStream<Void>.makeStream()
            let server = HTTPServer(
                configuration: .init(host: metricsHost, port: metricsPort), registry: registry, heartbeat: heartbeat, logger: logger,
                onListening: { _ in
                    listened.yield()
                    listened.finish()
                })
            services.append(.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
            services.append(.init(service: GatedService(worker, after: listening), successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        } else {
            services.append(.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.error("worker failed: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Parses a CLI duration (same spelling as pipeline files: `0s`, `1500ms`, `30m`) into milliseconds.
func parseDuration(_ text: String, option: String) throws -> Int64 {
    guard let ms = PipelineSpec.durationMilliseconds(text) else {
        throw ValidationError("\(option): expected a duration like 0s, 1500ms, 30m, got '\(text)'")
    }
    return ms
}
