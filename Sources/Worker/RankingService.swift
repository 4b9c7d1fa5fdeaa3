import Foundation
import Hummingbird
import Kafka
import Logging
import Metrics
import NIOCore
import Pipelines
import ServiceLifecycle
import Synchronization

/// The ranking API (docs/serving.md): `POST /v1/rank` and `GET /v1/users/{id}/recommendations` answered from the
/// worker's live model through its ``ServingView``, with the pipeline's exploration policy, every ranking logged
/// to the rankings topic.
///
/// Invariants: a request never touches the learning loop's state — it reads the latest published ``ModelView``
/// and scores with a ``Ranker`` of its own (a small pool, one per concurrent request); every answer is JSON — 200
/// with the ranking, 4xx with a reason for a request it refuses, 503 before the first view exists; the decision log
/// is published by a producer of its own, never blocking a request (an entry it cannot enqueue at once — full queue,
/// too large — is dropped and counted in `feedloop_rankings_unlogged_total`), and is no part of the worker's
/// exactly-once state.
///
/// A `Service`: `run()` serves the decision log producer's delivery reports until shutdown, then flushes it.
public final class RankingService: Service, Sendable {
    let spec: PipelineSpec
    let view: ServingView
    let producer: KafkaProducer?
    let logger: Logger
    private let rankers = Mutex<[Ranker]>([])
    /// Ranking ids: a random per-process prefix and a sequence.
    private let idPrefix: String
    private let sequence = Atomic<UInt64>(0)
    private let answered = Counter(label: "feedloop_rankings_total")
    private let refused = Counter(label: "feedloop_rank_refused_total")
    private let logged = Counter(label: "feedloop_rankings_logged_total")
    private let unlogged = Counter(label: "feedloop_rankings_unlogged_total")
    private let logFailures = Counter(label: "feedloop_rankings_log_failures_total")
    private let latency = Metrics.Timer(label: "feedloop_rank_seconds")

    /// - Parameters:
    ///   - producer: For the decision log (nil: rankings are not logged).
    public init(spec: PipelineSpec, view: ServingView, producer: KafkaProducer?, logger: Logger) {
        self.spec = spec
        self.view = view
        self.producer = producer
        self.logger = logger
        var rng = SystemRandomNumberGenerator()
        idPrefix = String(rng.next() as UInt64, radix: 16)
    }

    /// A producer for the decision log with the worker's client settings; with `createOutputTopics`, the rankings
    /// topic is created when missing: 1 partition like the other outputs, or as many as the event topic when the
    /// worker learns from rankings (``DecisionLogTopic``).
    public static func decisionLogProducer(options: WorkerOptions, logger: Logger) throws -> KafkaProducer {
        var config = KafkaConfiguration(brokers: options.brokers, clientID: "feedloop-rankings")
        config.properties = options.kafkaProperties
        config.enqueueTimeout = .zero  // a full queue must not hold a request: the entry is dropped and counted
        if options.createOutputTopics {
            let admin = try KafkaAdmin(configuration: config, logger: logger)
            let partitions = DecisionLogTopic.partitions(admin: admin, spec: options.spec, logger: logger)
            try admin.createTopics([KafkaNewTopic(name: options.spec.serving.rankingsTopic, partitions: partitions)], ignoreExisting: true)
        }
        return try KafkaProducer(configuration: config, logger: logger)
    }

    // MARK: Routes

    /// Registers the API's routes.
    public func register(on router: HTTPServer.Routes) {
        router.post("/v1/rank") { request, _ in
            let body = try await request.body.collect(upTo: .max)
            return self.answer { query throws(RankRequestError) in
                try RankRequestParser.parse(
                    Array(buffer: body), maxCandidates: self.spec.serving.maxCandidates, defaultK: self.spec.serving.defaultK,
                    into: &query)
            }
        }
        router.get("/v1/users/:id/recommendations") { request, context in
            let raw = context.parameters.get("id") ?? ""
            return self.answer { query throws(RankRequestError) in
                guard let id = raw.removingPercentEncoding, !id.isEmpty else {
                    throw RankRequestError("user id: not a valid percent-encoded path segment")
                }
                var k = self.spec.serving.defaultK
                for (name, value) in request.uri.queryParameters {
                    guard name == "k" else { throw RankRequestError("unknown query parameter '\(name)' (k)") }
                    guard let n = Int(value), (1...RankRequestParser.maxK).contains(n) else {
                        throw RankRequestError("k: expected an integer in 1...\(RankRequestParser.maxK), got '\(value)'")
                    }
                    k = n
                }
                var token = OutputEncoder()
                token.string(id)
                query.body = token.bytes
                query.user = 0..<token.bytes.count
                query.context.removeAll()
                query.candidates = nil
                query.k = k
            }
        }
    }

    /// Answers one request: `read` fills the query from the request (or refuses it), then the ranking, its JSON
    /// and its decision log entry.
    func answer(_ read: (inout RankQuery) throws(RankRequestError) -> Void) -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        guard let view = view.view else {
            return JSONErrorMiddleware<BasicRequestContext>.json(.serviceUnavailable, "the model is not loaded yet")
        }
        var query = RankQuery()
        do {
            try read(&query)
        } catch {
            refused.increment()
            return JSONErrorMiddleware<BasicRequestContext>.json(.badRequest, error.reason)
        }
        query.timestampMs = RealtimeClock.milliseconds()
        var ranker = rankers.withLock { $0.popLast() } ?? Ranker(spec: spec)
        defer { rankers.withLock { $0.append(ranker) } }
        var positions: [RankedPosition] = []
        var pool: [Int32] = []
        do {
            try ranker.rank(query, view: view, policy: spec.serving.exploration, into: &positions, pool: &pool)
        } catch {
            refused.increment()
            return JSONErrorMiddleware<BasicRequestContext>.json(.badRequest, error.reason)
        }
        let id = "\(idPrefix)-\(sequence.add(1, ordering: .relaxed).newValue)"
        let response = encodeResponse(id: id, query: query, positions: positions, view: view)
        if let producer {
            let entry = encodeDecision(id: id, query: query, positions: positions, pool: pool, view: view)
            let key = Array(query.body[query.user].dropFirst().dropLast())  // the user id token without quotes
            do {
                try producer.send(topic: spec.serving.rankingsTopic, key: unescapedKey(key), value: entry)
                logged.increment()
            } catch {
                unlogged.increment()
            }
        }
        answered.increment()
        latency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds &- start))
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: response)))
    }

    /// The key of a user id token's contents: as sent unless it holds escapes, then unescaped.
    func unescapedKey(_ contents: [UInt8]) -> [UInt8] {
        guard contents.contains(UInt8(ascii: "\\")) else { return contents }
        var parser = RankRequestParser([UInt8(ascii: "\"")] + contents + [UInt8(ascii: "\"")])
        var out: [UInt8] = []
        _ = try? parser.string(unescapedInto: &out)
        return out
    }

    // MARK: JSON

    /// `{"ranking_id", "items": [{"item_id", "score", "propensity"[, "unknown": true]}…], "model_version", "policy",
    /// "pipeline"}`.
    func encodeResponse(id: String, query: RankQuery, positions: [RankedPosition], view: ModelView) -> [UInt8] {
        var e = OutputEncoder()
        e.raw("{\"ranking_id\":")
        e.string(id)
        e.raw(",\"items\":[")
        items(&e, query: query, positions: positions, view: view, flagUnknown: true)
        e.raw("],\"model_version\":")
        e.int(Int64(view.model.version))
        e.raw(",\"policy\":")
        e.string(spec.serving.exploration.name)
        e.raw(",\"pipeline\":")
        e.string(spec.name)
        e.raw("}\n")
        return e.bytes
    }

    /// The decision log entry (docs/serving.md; schema 1): `{"schema": 1, "ranking_id", "ts", "user_id", "context",
    /// "candidates": […], "items": [{"item_id", "score", "propensity"}…], "policy", "pipeline", "model_version"}`.
    func encodeDecision(id: String, query: RankQuery, positions: [RankedPosition], pool: [Int32], view: ModelView) -> [UInt8] {
        var e = OutputEncoder()
        e.raw("{\"schema\":1,\"ranking_id\":")
        e.string(id)
        e.raw(",\"ts\":")
        e.int(query.timestampMs)
        e.raw(",\"user_id\":")
        e.json(query.body[query.user])
        e.raw(",\"context\":{")
        for (n, member) in query.context.enumerated() {
            if n > 0 { e.raw(",") }
            e.json(query.body[member.member])
        }
        e.raw("},\"candidates\":[")
        if let given = query.candidates {
            for (n, token) in given.enumerated() {
                if n > 0 { e.raw(",") }
                e.json(query.body[token])
            }
        } else {
            for (n, item) in pool.enumerated() {
                if n > 0 { e.raw(",") }
                view.catalog.withID(of: Int(item)) { e.string($0) }
            }
        }
        e.raw("],\"items\":[")
        items(&e, query: query, positions: positions, view: view, flagUnknown: false)
        e.raw("],\"policy\":")
        e.string(spec.serving.exploration.name)
        e.raw(",\"pipeline\":")
        e.string(spec.name)
        e.raw(",\"model_version\":")
        e.int(Int64(view.model.version))
        e.raw("}")
        return e.bytes
    }

    func items(_ e: inout OutputEncoder, query: RankQuery, positions: [RankedPosition], view: ModelView, flagUnknown: Bool) {
        for (n, p) in positions.enumerated() {
            if n > 0 { e.raw(",") }
            e.raw("{\"item_id\":")
            if p.candidate >= 0, let given = query.candidates {
                e.json(query.body[given[p.candidate]])
            } else {
                view.catalog.withID(of: p.item) { e.string($0) }
            }
            e.raw(",\"score\":")
            e.number(p.score)
            e.raw(",\"propensity\":")
            e.number(p.propensity)
            if flagUnknown, p.item < 0 { e.raw(",\"unknown\":true") }
            e.raw("}")
        }
    }

    // MARK: Service

    /// Serves the decision log's delivery reports (failures are counted and logged) until graceful shutdown, then
    /// flushes what is queued (up to 5 s).
    public func run() async throws {
        guard let producer else {
            await gracefulShutdownSignal()
            return
        }
        var lastWarning: UInt64 = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var failed = 0
            var first: KafkaDeliveryReport?
            producer.poll(timeout: .zero) { report in
                if !report.isDelivered {
                    failed += 1
                    first = first ?? report
                }
            }
            if failed > 0 {
                logFailures.increment(by: Int64(failed))
                let now = DispatchTime.now().uptimeNanoseconds
                if now &- lastWarning > 10_000_000_000 {
                    lastWarning = now
                    logger.warning("decision log: \(failed) rankings not delivered to \(spec.serving.rankingsTopic): \(first?.error.map { "\($0)" } ?? "?")")
                }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        do {
            try producer.flush(timeout: .seconds(5))
        } catch {
            logger.warning("decision log: rankings still queued at shutdown were not delivered: \(error)")
        }
        _ = producer.poll(timeout: .zero)
    }

    /// Suspends until the service group shuts down gracefully (or the task is cancelled).
    private func gracefulShutdownSignal() async {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        await withGracefulShutdownHandler {
            for await _ in stream {}
        } onGracefulShutdown: {
            continuation.finish()
        }
    }
}
