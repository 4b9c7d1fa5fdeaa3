import Events
import Foundation
import Learning
import Pipelines
import Testing
@testable import Replay

/// Replay on several threads, and each line decoded once for every pipeline: every pipeline sees the same events in
/// the same order as when it runs alone (``Pipeline/process(_:sink:)`` line by line, decoding each line itself), so
/// reports, models and dead letters are byte-identical to that, whatever the thread count.
@Suite struct ParallelReplayTests {
    typealias Fixture = LearnedNumbersRegressionTests

    /// A pipeline that extracts other context keys than the MovieLens ones (`zip3`, `gender`): it decodes the lines
    /// differently (a duplicate `zip3` is its rejection only, a duplicate `genres` the others' only).
    static func zipSpec() throws -> PipelineSpec {
        try PipelineSpec.parse(yaml: """
            version: 1
            name: zip
            features:
              bits: 18
              namespaces:
                - {name: u, field: user_id}
                - {name: i, field: item_id}
                - {name: z, field: context.zip3, side: user}
                - {name: g, field: context.gender, side: user}
            \(Fixture.label(window: "5s", lateness: "1s", capacity: 256))
            \(Fixture.ftrl)
            evaluation:
              window: 500
            """)
    }

    static func specs() throws -> [(spec: PipelineSpec, file: String)] {
        try [Fixture.movielensFTRL(), Fixture.movielensFM(), Fixture.movielensMF(), Fixture.windowedFTRL(), zipSpec()]
            .enumerated().map { (spec: $0.element, file: "p\($0.offset).yaml") }
    }

    /// The fixture's stream with lines each decoding group rejects and the other accepts, and a blank line.
    static let lines: [String] = {
        var lines = Fixture.lines
        let duplicateZip = #"{"event_id":"d-1","type":"click","user_id":"7","item_id":"9","ts":874724710000,"context":{"zip3":"488","zip3":"489","gender":"F"}}"#
        let duplicateGenres = #"{"event_id":"d-2","type":"click","user_id":"\u0037","item_id":"9","ts":874724710000,"context":{"genres":["War"],"genres":[],"zip3":"4\u00388"}}"#
        for at in stride(from: 100, to: lines.count, by: 997) { lines.insert(duplicateZip, at: at) }
        for at in stride(from: 150, to: lines.count, by: 1499) { lines.insert(duplicateGenres, at: at) }
        lines.insert("", at: 3000)
        return lines
    }()

    /// Each pipeline alone over the lines, decoding them itself; pipeline 0's rejections written to `deadLetters`.
    static func reference(_ specs: [(spec: PipelineSpec, file: String)], deadLetters: String) throws -> [Pipeline] {
        var letters = ReplaySink(deadLetters: try DeadLetterFile(path: deadLetters))
        return specs.enumerated().map { p, spec in
            var pipeline = Pipeline(spec: spec.spec)
            var nulls = NullSink()
            for line in lines {
                var bytes = Array(line.utf8)
                bytes.withUnsafeMutableBytes { raw in
                    if p == 0 {
                        pipeline.process(UnsafeRawBufferPointer(raw), sink: &letters)
                    } else {
                        pipeline.process(UnsafeRawBufferPointer(raw), sink: &nulls)
                    }
                }
            }
            pipeline.finish(sink: &nulls)
            return pipeline
        }
    }

    /// The JSON report of a finished pipeline, timing and memory left out (the rest must match byte for byte).
    static func report(_ pipeline: Pipeline) throws -> Data {
        try ReportRendering.json([ReplayReport(pipeline: pipeline, file: "f", input: "i", seconds: 1, peakRSSBytes: 0)])
    }

    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("feedloop-parallel-\(UUID().uuidString)-\(name)").path
    }

    /// Expects every pipeline's report, model snapshot and the dead letters to be byte-identical to the reference's.
    static func expectIdentical(
        _ replay: Replay, deadLetters: String, to expected: [Pipeline], expectedDeadLetters: String, _ what: String
    ) throws {
        #expect(replay.pipelines.count == expected.count)
        for (p, pipeline) in replay.pipelines.enumerated() {
            #expect(try report(pipeline) == report(expected[p]), "\(what): report of pipeline \(p)")
            #expect(pipeline.model.snapshotBytes() == expected[p].model.snapshotBytes(), "\(what): model of pipeline \(p)")
        }
        #expect(FileManager.default.contents(atPath: deadLetters) == FileManager.default.contents(atPath: expectedDeadLetters),
                "\(what): dead letters")
    }

    @Test func theFixtureNeedsTwoDecodings() throws {
        let specs = try Self.specs()
        let replay = Replay(pipelines: specs)
        #expect(replay.decodingCount == 2)
        let letters = Self.temporaryPath("ref.jsonl")
        defer { try? FileManager.default.removeItem(atPath: letters) }
        let expected = try Self.reference(specs, deadLetters: letters)
        // The groups reject different lines: decoding once for all pipelines alike would change the numbers.
        #expect(expected[0].counters.rejected != expected[4].counters.rejected)
        #expect(expected[0].counters.rejectedByReason["duplicate_field"] != nil)
        #expect(expected[4].counters.rejectedByReason["duplicate_field"] != nil)
    }

    /// `feed` (the lines handed in by the caller), in batches, on 1 to 8 threads.
    @Test(arguments: [1, 2, 3, 8])
    func feedIsByteIdenticalToEachPipelineAlone(threads: Int) throws {
        let specs = try Self.specs()
        let referenceLetters = Self.temporaryPath("ref.jsonl"), letters = Self.temporaryPath("feed.jsonl")
        defer { for path in [referenceLetters, letters] { try? FileManager.default.removeItem(atPath: path) } }
        let expected = try Self.reference(specs, deadLetters: referenceLetters)
        let (bytes, ranges) = Fixture.batch(Self.lines)
        var replay = Replay(pipelines: specs)
        replay.threads = threads
        var deadLetters: DeadLetterFile? = try DeadLetterFile(path: letters)
        bytes.withUnsafeBytes { raw in
            ranges.withUnsafeBufferPointer { all in
                // Several batches, so state carries across `feed` calls.
                for start in stride(from: 0, to: all.count, by: 1_000) {
                    replay.feed(UnsafeBufferPointer(rebasing: all[start..<min(start + 1_000, all.count)]), bytes: raw, deadLetters: &deadLetters)
                }
            }
        }
        replay.finishAll()
        #expect(replay.events == UInt64(Self.lines.count))
        try Self.expectIdentical(replay, deadLetters: letters, to: expected, expectedDeadLetters: referenceLetters, "feed, \(threads) threads")
    }

    /// A file replay: read and decoded on a thread of its own when `threads` > 1, in batches of `batchBytes` (small
    /// ones go round the queue of batches many times).
    @Test(arguments: [(1, 1 << 20), (2, 1 << 20), (2, 4096), (3, 16384), (8, 4096)])
    func fileReplayIsByteIdenticalToEachPipelineAlone(threads: Int, batchBytes: Int) throws {
        try Self.expectFileReplayIdentical(
            try Self.specs(), threads: threads, batchBytes: batchBytes, "file, \(threads) threads, batches of \(batchBytes) bytes")
    }

    /// MovieLens FM with at most 2 values per field: the genres of some items are cut (``Featurizer/truncatedValues``,
    /// which the report counts).
    static func truncatingSpec() throws -> PipelineSpec {
        let model = """
            model: {type: fm, factors: 4, init_std: 0.02, seed: 42}
            optimizer: {type: ftrl, alpha: 0.3, beta: 1.0, l1: 0.0, l2: 0.0}
            """
        return try PipelineSpec.parse(yaml: [
            "version: 1", "name: truncating", Fixture.features, "  max_values_per_field: 2", "  crosses: [[u, G]]",
            Fixture.label(), model, Fixture.evaluation,
        ].joined(separator: "\n") + "\n")
    }

    /// One pipeline: reading, decoding and featurizing overlap its learning (a thread each; the features are
    /// loaded by the step, ``FeaturesAhead``), with the same results — for each fixture pipeline (their ranking
    /// evaluation scores candidates from the loaded scratch), and one that drops values.
    @Test(arguments: [0, 1, 2, 3, 4, 5], [1 << 20, 4096])
    func onePipelineOverlappingDecodingAndFeaturizingIsByteIdentical(pipeline: Int, batchBytes: Int) throws {
        let all = try Self.specs() + [(spec: Self.truncatingSpec(), file: "truncating.yaml")]
        if pipeline == 5 {
            let alone = try Self.reference([all[5]], deadLetters: Self.temporaryPath("t.jsonl"))
            #expect(alone[0].truncatedValues > 0, "the fixture's genres are cut")
        }
        try Self.expectFileReplayIdentical(
            [all[pipeline]], threads: 2, batchBytes: batchBytes, "pipeline \(pipeline) alone, batches of \(batchBytes)")
    }

    /// Replays the lines from a file with `specs` on `threads` threads in batches of `batchBytes`, and expects every
    /// event read and the reports, snapshots and dead letters of each pipeline replayed alone.
    static func expectFileReplayIdentical(_ specs: [(spec: PipelineSpec, file: String)], threads: Int, batchBytes: Int, _ label: String) throws {
        let input = temporaryPath("events.jsonl")
        let referenceLetters = temporaryPath("ref.jsonl"), letters = temporaryPath("run.jsonl")
        defer { for path in [input, referenceLetters, letters] { try? FileManager.default.removeItem(atPath: path) } }
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: false, encoding: .utf8)
        let expected = try reference(specs, deadLetters: referenceLetters)
        var replay = Replay(pipelines: specs)
        replay.threads = threads
        replay.batchBytes = batchBytes
        var deadLetters: DeadLetterFile? = try DeadLetterFile(path: letters)
        try replay.run(path: input, deadLetters: &deadLetters)
        #expect(replay.events == UInt64(lines.count), "\(label)")
        try expectIdentical(replay, deadLetters: letters, to: expected, expectedDeadLetters: referenceLetters, label)
    }

    /// A stream fed message by message (a Kafka topic range): each message decoded once per decoding group too.
    @Test func aStreamFedMessageByMessageIsByteIdentical() throws {
        let specs = try Self.specs()
        let referenceLetters = Self.temporaryPath("ref.jsonl"), letters = Self.temporaryPath("stream.jsonl")
        defer { for path in [referenceLetters, letters] { try? FileManager.default.removeItem(atPath: path) } }
        let expected = try Self.reference(specs, deadLetters: referenceLetters)
        var replay = Replay(pipelines: specs)
        var sink = ReplaySink(deadLetters: try DeadLetterFile(path: letters))
        for line in Self.lines {
            let bytes = Array(line.utf8)
            bytes.withUnsafeBytes { replay.feed(message: $0, topic: "events", partition: 0, sink: &sink) }
        }
        replay.finishStream(seconds: 1)
        try Self.expectIdentical(replay, deadLetters: letters, to: expected, expectedDeadLetters: referenceLetters, "stream")
    }

    /// A stream of messages of several partitions read on a reading thread (a Kafka topic range with `--threads`
    /// above 1): the same reports, models and dead letters as the same messages fed one by one on the calling
    /// thread, each partition's windows closing by its own event time in both. With one pipeline the reading thread
    /// also featurizes (``FeaturesAhead``).
    @Test(arguments: [(1, 1 << 20, 5), (2, 1 << 20, 5), (2, 4096, 5), (3, 16384, 5), (2, 4096, 1), (2, 1 << 20, 1)])
    func aStreamReadOnAThreadOfItsOwnIsByteIdenticalToFeedingItMessageByMessage(threads: Int, batchBytes: Int, pipelines: Int) throws {
        let specs = Array(try Self.specs().prefix(pipelines))
        let referenceLetters = Self.temporaryPath("ref.jsonl"), letters = Self.temporaryPath("stream.jsonl")
        defer { for path in [referenceLetters, letters] { try? FileManager.default.removeItem(atPath: path) } }
        let messages = Self.lines.enumerated().map { (bytes: Array($0.element.utf8), partition: Int32($0.offset % 3)) }
        var reference = Replay(pipelines: specs)
        var sink = ReplaySink(deadLetters: try DeadLetterFile(path: referenceLetters))
        for m in messages { m.bytes.withUnsafeBytes { reference.feed(message: $0, topic: "events", partition: m.partition, sink: &sink) } }
        reference.finishStream(seconds: 1)
        _ = sink

        var replay = Replay(pipelines: specs)
        replay.threads = threads
        replay.batchBytes = batchBytes
        var deadLetters: DeadLetterFile? = try DeadLetterFile(path: letters)
        let source = MessageList(messages)
        try replay.runStream(topic: "events", deadLetters: &deadLetters) { chunk in source.next(into: &chunk) }
        replay.finishStream(seconds: 1)
        #expect(replay.events == UInt64(messages.count))
        #expect(reference.pipelines[0].counters.examples > 1_000 && reference.pipelines[0].partitionKeys.filter { $0.topic == "events" }.count == 3)
        try Self.expectIdentical(
            replay, deadLetters: letters, to: reference.pipelines, expectedDeadLetters: referenceLetters,
            "stream on \(threads) threads, chunks of \(batchBytes) bytes")
    }

    /// What the stream's reading function throws ends the replay and comes back to the caller.
    @Test func anErrorOfTheStreamsReadingFunctionIsRethrown() throws {
        struct Broken: Error {}
        var replay = Replay(pipelines: try Self.specs())
        replay.threads = 2
        var deadLetters: DeadLetterFile? = nil
        let source = MessageList(Self.lines.prefix(300).map { (bytes: Array($0.utf8), partition: Int32(0)) })
        #expect(throws: Broken.self) {
            try replay.runStream(topic: "events", deadLetters: &deadLetters) { chunk in
                if !source.next(into: &chunk) { throw Broken() }
                return true
            }
        }
        #expect(replay.events == 300)
    }

    /// A read error on the reading thread stops the replay with that error, after the batches before it.
    @Test func aLineTooLongOnTheReadingThreadIsAnError() throws {
        let input = Self.temporaryPath("long.jsonl")
        defer { try? FileManager.default.removeItem(atPath: input) }
        let long = String(repeating: "x", count: LineFileReader.defaultMaxLineBytes + 10)
        try (Self.lines.prefix(500).joined(separator: "\n") + "\n" + long + "\n").write(toFile: input, atomically: false, encoding: .utf8)
        var replay = Replay(pipelines: try Self.specs())
        replay.threads = 2
        var deadLetters: DeadLetterFile? = nil
        #expect(throws: ReplayError.self) { try replay.run(path: input, deadLetters: &deadLetters) }
    }
}

/// Messages handed to a stream replay's reading function a few at a time (as a consumer's polls would).
final class MessageList: @unchecked Sendable {
    let messages: [(bytes: [UInt8], partition: Int32)]
    var at = 0
    init(_ messages: [(bytes: [UInt8], partition: Int32)]) { self.messages = messages }

    /// Appends up to 37 messages, or until the chunk is full; false once every message was handed over.
    func next(into chunk: inout MessageChunk) -> Bool {
        var n = 0
        while at < messages.count, n < 37, !chunk.isFull {
            messages[at].bytes.withUnsafeBytes { chunk.append($0, partition: messages[at].partition) }
            at += 1
            n += 1
        }
        return at < messages.count
    }
}

/// The default of `--threads`: the CPUs the process may run on, read from its affinity mask.
@Suite struct AvailableCoresTests {
    @Test(arguments: [
        ("Name:\tfeedloop\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n", 2),
        ("Cpus_allowed:\t2\n", 1),
        ("Cpus_allowed:\tff,ffffffff\n", 40),
        ("Cpus_allowed:\t00000000,00000001\n", 1),
    ])
    func theMaskIsCounted(status: String, cpus: Int) {
        #expect(Replay.allowedCPUs(status: status) == cpus)
    }

    @Test(arguments: ["Name:\tfeedloop\n", "Cpus_allowed:\t0\n", "Cpus_allowed:\tzz\n", "Cpus_allowed:\n"])
    func noUsableMaskIsNil(status: String) {
        #expect(Replay.allowedCPUs(status: status) == nil)
    }

    @Test func thisProcessMayRunOnAtLeastOneAndAtMostTheActiveProcessors() {
        #expect((1...ProcessInfo.processInfo.activeProcessorCount).contains(Replay.availableCores))
    }
}

/// A container's CPU limit bounds `--threads`' default too.
@Suite struct CPUQuotaTests {
    @Test func aQuotaIsRoundedUpToWholeCPUs() {
        #expect(Replay.cpuQuota(cgroup2: "100000 100000\n", cgroup1Quota: nil, cgroup1Period: nil) == 1)
        #expect(Replay.cpuQuota(cgroup2: "150000 100000\n", cgroup1Quota: nil, cgroup1Period: nil) == 2)
        #expect(Replay.cpuQuota(cgroup2: nil, cgroup1Quota: "50000\n", cgroup1Period: "100000\n") == 1)
        #expect(Replay.cpuQuota(cgroup2: nil, cgroup1Quota: "400000\n", cgroup1Period: "100000\n") == 4)
    }

    @Test func noQuotaIsNil() {
        #expect(Replay.cpuQuota(cgroup2: "max 100000\n", cgroup1Quota: nil, cgroup1Period: nil) == nil)
        #expect(Replay.cpuQuota(cgroup2: nil, cgroup1Quota: "-1\n", cgroup1Period: "100000\n") == nil)
        #expect(Replay.cpuQuota(cgroup2: nil, cgroup1Quota: nil, cgroup1Period: nil) == nil)
        #expect(Replay.cpuQuota(cgroup2: "garbage", cgroup1Quota: nil, cgroup1Period: nil) == nil)
    }
}
