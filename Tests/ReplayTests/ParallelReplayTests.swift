import Learning
import Pipelines
import Testing
@testable import Replay

/// `replay --compare` on several threads: every pipeline sees the same batches in the same order, so reports and
/// models are bit-identical to one thread, whatever the thread count.
@Suite struct ParallelReplayTests {
    @Test(arguments: [2, 3, 8])
    func compareOnSeveralThreadsIsBitIdenticalToOneThread(threads: Int) throws {
        let specs = try [
            LearnedNumbersRegressionTests.movielensFTRL(), LearnedNumbersRegressionTests.movielensFM(),
            LearnedNumbersRegressionTests.movielensMF(), LearnedNumbersRegressionTests.windowedFTRL(),
        ].enumerated().map { (spec: $0.element, file: "p\($0.offset).yaml") }
        let (bytes, ranges) = LearnedNumbersRegressionTests.batch(LearnedNumbersRegressionTests.lines)
        func run(_ threads: Int) -> Replay {
            var replay = Replay(pipelines: specs)
            replay.threads = threads
            var deadLetters: DeadLetterFile? = nil
            bytes.withUnsafeBytes { raw in
                ranges.withUnsafeBufferPointer { all in
                    // Several batches, so state carries across `feed` calls.
                    for start in stride(from: 0, to: all.count, by: 1_000) {
                        replay.feed(UnsafeBufferPointer(rebasing: all[start..<min(start + 1_000, all.count)]), bytes: raw, deadLetters: &deadLetters)
                    }
                }
            }
            return replay
        }
        let one = run(1), many = run(threads)
        for p in specs.indices {
            #expect(many.pipelines[p].model.snapshotBytes() == one.pipelines[p].model.snapshotBytes(), "pipeline \(p)")
            #expect(many.pipelines[p].metrics.logloss == one.pipelines[p].metrics.logloss)
            #expect(many.pipelines[p].counters.labelled == one.pipelines[p].counters.labelled)
        }
        #expect(many.events == one.events)
    }
}
