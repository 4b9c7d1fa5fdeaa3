import ArgumentParser
import Foundation
import Logging
import Pipelines
import Replay

enum FileHandleWriter {
    static func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

extension TargetPolicy: ExpressibleByArgument {}

/// `feedloop replay`: offline progressive validation of pipelines over an event log.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run an event log through pipelines (predict, then learn) and report progressive-validation metrics.",
        discussion: """
            The same pipeline step as the worker runs over the log in order; examples are scored when they \
            arrive and learned when their label is known. Prints a summary table; --report-json and \
            --report-html write the full report (metrics per window, calibration).
            """)

    @Option(name: .long, help: "Pipeline YAML file.")
    var pipeline: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Evaluate several pipelines on one pass of the log, side by side.")
    var compare: [String] = []

    @Option(name: .long, help: "JSONL event log ('-' for standard input); gzip (.gz) and zstd (.zst) files are decompressed as they are read.")
    var input: String?

    @Option(name: .long, help: "Replay a Kafka topic range instead of a file: bootstrap brokers (or $FEEDLOOP_BROKERS with --topic).")
    var brokers: String?

    @Option(name: .long, help: "Topic to replay (with --brokers).")
    var topic: String?

    @Option(name: .long, help: "Range start: beginning, an offset, ts:MILLISECONDS or an ISO-8601 time.")
    var from = "beginning"

    @Option(name: .long, help: "Range end (exclusive): end, an offset, ts:MILLISECONDS or an ISO-8601 time.")
    var to = "end"

    @OptionGroup(title: "Kafka client (with --topic)")
    var kafka: KafkaClientOptions

    @Option(name: .customLong("report-json"), help: "Write the JSON report here.")
    var reportJSON: String?

    @Option(name: .customLong("report-html"), help: "Write the HTML report (SVG curves, calibration plot) here.")
    var reportHTML: String?

    @Option(name: .customLong("dead-letters"), help: "Write rejected events as JSONL here: reason, field, detail, input_base64 (the exact bytes) and input (as text, when valid UTF-8).")
    var deadLetters: String?

    @Flag(name: .customLong("no-ranking"), help: "Skip the ranking evaluation (hit@10/NDCG@10) of the pipelines, e.g. for throughput runs.")
    var noRanking = false

    @Option(name: .long, help: "Threads the pipelines learn on, each pipeline on one at a time; above 1, a file is also read and decoded (and, for one pipeline, featurized) on a thread of its own, ahead of the learning (default: the CPUs this process may use: its affinity mask and CPU quota; results are the same for any count).")
    var threads: Int?

    @Option(name: .long, help: "Simulate N workers of one consumer group (events sharded by user; each a replica of the model exchanging its increments): prints 1 member, N without exchange, N with exchange.")
    var members: Int?

    @Option(name: .customLong("sync-every"), help: "With --members: a member exchanges its increments after this many examples (0: off) …")
    var syncEvery = 1000

    @Option(name: .customLong("sync-interval"), help: "… or this much event time since its last exchange (e.g. 1s; 0s: off), whichever comes first.")
    var syncInterval = "1s"

    @Option(name: .customLong("sync-ramp"), help: "With --members: while the model is young, a member exchanges after this fraction of the examples its replica has learned instead, when that is fewer than --sync-every (at least 10; 0: off) — the pipeline key sync.ramp.")
    var syncRamp = SyncSpec.on.ramp

    @Option(name: .customLong("sync-delay"), help: "With --members: events of the log between an exchange and its arrival at the other members (the transport: at R events/s of input, D ms of delay is R·D/1000 events; default 0, at once).")
    var syncDelay = 0

    @Option(name: .long, help: "Off-policy evaluation: a decision log (JSONL, the worker's rankings) to estimate --policy's value from, with the rewards in --input.")
    var decisions: String?

    @Option(name: .long, help: "With --decisions: the policy to evaluate: model (the pipeline's greedy choice, learning as it replays), served (the pipeline's serving.exploration over that model, as the ranking API serves it), uniform, or logged (the logging policy itself).")
    var policy: TargetPolicy = .model

    @Option(name: .customLong("decisions-dead-letters"), help: "With --decisions: write rejected decision lines here, as --dead-letters does events (detail starts with the line number).")
    var decisionsDeadLetters: String?

    @Option(name: .long, help: ArgumentHelp("With --decisions (not --policy logged): write each decision's ranking_id and what the policy puts first (JSONL): item_id for a deterministic choice, else first: each candidate's probability; to check estimates against a known world (bench/ope).", visibility: .hidden))
    var choices: String?

    @Flag(name: .customLong("no-progress"), help: "No progress line on stderr.")
    var noProgress = false

    func validate() throws {
        if pipeline == nil && compare.isEmpty { throw ValidationError("give --pipeline FILE or --compare A.yaml B.yaml …") }
        if (input == nil) == (topic == nil) { throw ValidationError("give either --input FILE.jsonl or --topic TOPIC (with --brokers)") }
        if let threads, threads < 1 { throw ValidationError("--threads: at least 1, got \(threads)") }
        if decisions != nil {
            guard pipeline != nil, compare.isEmpty, members == nil, input != nil, input != "-" || decisions != "-" else {
                throw ValidationError("--decisions evaluates one --pipeline against an --input event file")
            }
            if choices != nil && policy == .logged { throw ValidationError("--choices: not with --policy logged (its choice over the other candidates is not in the log)") }
        } else if decisionsDeadLetters != nil || choices != nil {
            throw ValidationError("--decisions-dead-letters and --choices go with --decisions")
        }
        if let members {
            guard members >= 1 else { throw ValidationError("--members: at least 1, got \(members)") }
            guard input != nil, pipeline != nil, compare.isEmpty else {
                throw ValidationError("--members replays one --pipeline from an --input file")
            }
            guard syncEvery >= 0 else { throw ValidationError("--sync-every: 0 or more examples, got \(syncEvery)") }
            guard (0...1).contains(syncRamp) else { throw ValidationError("--sync-ramp: a fraction from 0 to 1, got \(syncRamp)") }
            guard syncDelay >= 0 else { throw ValidationError("--sync-delay: 0 or more events, got \(syncDelay)") }
            guard PipelineSpec.durationMilliseconds(syncInterval) != nil else {
                throw ValidationError("--sync-interval: expected a duration like 1s, 500ms, 0s, got '\(syncInterval)'")
            }
        }
    }

    func run() throws {
        let files = (pipeline.map { [$0] } ?? []) + compare
        var specs: [(spec: PipelineSpec, file: String)] = []
        for file in files {
            do {
                var spec = try PipelineSpec.load(path: file)
                if noRanking { spec.evaluation.ranking = nil }
                specs.append((spec, file))
            } catch {
                printError(error.description)
                throw ExitCode(2)
            }
        }
        if let members, let input, let spec = specs.first {
            try runMembers(spec: spec.spec, input: input, members: members)
            return
        }
        if let decisions, let input, let spec = specs.first {
            try runOffPolicy(spec: spec, decisions: decisions, input: input)
            return
        }
        var replay = Replay(pipelines: specs)
        replay.threads = threads ?? Replay.availableCores
        var dlq: DeadLetterFile? = nil
        do {
            if let deadLetters { dlq = try DeadLetterFile(path: deadLetters) }
            if let input {
                try replay.run(path: input, progress: noProgress ? nil : Progress(), deadLetters: &dlq)
            } else if let topic {
                guard let brokers = brokers ?? ProcessInfo.processInfo.environment["FEEDLOOP_BROKERS"] else {
                    throw ValidationError("give --brokers HOST:PORT or set FEEDLOOP_BROKERS")
                }
                var logger = Logger(label: "feedloop.replay")
                logger.logLevel = .warning
                let range = KafkaRange(topic: topic, from: try .init(parsing: from), to: try .init(parsing: to))
                let properties = try kafka.resolve(warn: { logger.warning("\($0)") })
                try replay.run(
                    brokers: brokers, range: range, properties: properties, progress: noProgress ? nil : Progress(),
                    deadLetters: &dlq, logger: logger)
            }
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let reports = replay.reports(input: input ?? "kafka:\(topic ?? "")[\(from), \(to))")
        print(ReportRendering.table(reports), terminator: "")
        if let reportJSON {
            try ReportRendering.json(reports).write(to: URL(fileURLWithPath: reportJSON))
        }
        if let reportHTML {
            try ReportRendering.html(reports).write(toFile: reportHTML, atomically: true, encoding: .utf8)
        }
    }

    /// `--decisions D`: the pipeline replays the events, and the value of `--policy` is estimated from the log.
    func runOffPolicy(spec: (spec: PipelineSpec, file: String), decisions: String, input: String) throws {
        var replay = OffPolicyReplay(spec: spec.spec, policy: policy)
        if choices != nil { replay.choices = [] }
        var dlq: DeadLetterFile? = nil
        var decisionDLQ: DeadLetterFile? = nil
        let start = monotonicSeconds()
        do {
            if let deadLetters { dlq = try DeadLetterFile(path: deadLetters) }
            if let decisionsDeadLetters { decisionDLQ = try DeadLetterFile(path: decisionsDeadLetters) }
            try replay.run(
                decisions: decisions, events: input, progress: noProgress ? nil : Progress(), deadLetters: &dlq,
                decisionDeadLetters: &decisionDLQ)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        var report = ReplayReport(
            pipeline: replay.pipeline, file: spec.file, input: input, seconds: monotonicSeconds() - start, peakRSSBytes: peakRSSBytes())
        report.ope = OffPolicyReport(replay, decisionsFile: decisions)
        print(ReportRendering.table([report]), terminator: "")
        if let reportJSON { try ReportRendering.json([report]).write(to: URL(fileURLWithPath: reportJSON)) }
        if let reportHTML { try ReportRendering.html([report]).write(toFile: reportHTML, atomically: true, encoding: .utf8) }
        if let choices, let made = replay.choices {
            // A deterministic choice as its item; a drawn one as each candidate's probability of being put first.
            let lines = try made.map { choice in
                var object: [String: Any] = ["ranking_id": choice.rankingID]
                if choice.first.count == 1, choice.first[0].probability == 1 {
                    object["item_id"] = choice.first[0].itemID
                } else {
                    object["first"] = Dictionary(uniqueKeysWithValues: choice.first.map { ($0.itemID, $0.probability) })
                }
                return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: choices, atomically: true, encoding: .utf8)
        }
    }

    /// `--members N`: one member, N members with separate models, N members exchanging increments — one pass.
    func runMembers(spec: PipelineSpec, input: String, members n: Int) throws {
        let intervalMs = PipelineSpec.durationMilliseconds(syncInterval) ?? 0
        let none = SyncSpec(enabled: false, every: 0, intervalMs: 0, maxStalenessMs: 0)
        let sync = SyncSpec(enabled: true, every: syncEvery, intervalMs: intervalMs, maxStalenessMs: 0, ramp: syncRamp)
        var runs = [
            MemberSimulation(spec: spec, members: 1, sync: none),
            MemberSimulation(spec: spec, members: n, sync: none),
            MemberSimulation(spec: spec, members: n, sync: sync, syncDelayEvents: UInt64(syncDelay)),
        ]
        do {
            var reader = try LineFileReader(path: input)
            while try reader.nextBatch({ lines, bytes in
                for r in runs.indices { runs[r].feed(lines, bytes: bytes) }
            }) {}
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        for r in runs.indices { runs[r].finish() }
        print("pipeline \(spec.name), \(input): \(runs[0].events) events; members shard the events by user")
        print("| members | exchange | examples per member | logloss | AUC | exchanges | slots per exchange | bytes per event | exchange time / step time |")
        print("|---|---|---|---|---|---|---|---|---|")
        let exchange = [
            "-", "none (separate models)",
            "every \(syncEvery == 0 ? "-" : String(syncEvery)) examples or \(intervalMs == 0 ? "-" : syncInterval) of event time"
                + (syncEvery > 0 && syncRamp > 0 ? ", ramp \(syncRamp)" : "")
                + (syncDelay > 0 ? ", arriving \(syncDelay) events later" : ""),
        ]
        for (r, run) in runs.enumerated() {
            let slots = run.exchanges > 0 ? String(run.slotsExchanged / run.exchanges) : "-"
            let bytes = run.exchanges > 0 ? String(format: "%.1f", Double(run.bytesExchanged) / Double(run.events)) : "-"
            let perMember = run.examplesPerMember.map(String.init).joined(separator: " / ")
            print("| \(run.members.count) | \(exchange[r]) | \(perMember) | \(String(format: "%.4f", run.metrics.logloss)) | "
                + "\(String(format: "%.4f", run.metrics.auc)) | \(run.exchanges) | \(slots) | \(bytes) | "
                + "\(run.exchanges > 0 ? String(format: "%.3f", run.exchangeSeconds / run.stepSeconds) : "-") |")
        }
    }
}
