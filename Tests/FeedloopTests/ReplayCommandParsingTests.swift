import ArgumentParser
import Testing
@testable import feedloop
import Replay

/// `feedloop replay --decisions`: one pipeline, an event file, a known policy (model by default).
@Suite struct ReplayCommandParsingTests {
    @Test func decisionsTakeAPolicyThatDefaultsToTheModel() throws {
        let command = try ReplayCommand.parse(["--pipeline", "p.yaml", "--input", "e.jsonl", "--decisions", "d.jsonl"])
        #expect(command.decisions == "d.jsonl" && command.policy == .model)
        #expect(try ReplayCommand.parse(["--pipeline", "p.yaml", "--input", "e.jsonl", "--decisions", "d.jsonl", "--policy", "uniform"]).policy == .uniform)
    }

    @Test(arguments: [
        ["--pipeline", "p.yaml", "--input", "e.jsonl", "--decisions", "d.jsonl", "--policy", "greedy"],
        ["--pipeline", "p.yaml", "--topic", "events", "--decisions", "d.jsonl"],
        ["--compare", "a.yaml", "b.yaml", "--input", "e.jsonl", "--decisions", "d.jsonl"],
        ["--pipeline", "p.yaml", "--input", "e.jsonl", "--decisions", "d.jsonl", "--members", "2"],
        ["--pipeline", "p.yaml", "--input", "-", "--decisions", "-"],
        ["--pipeline", "p.yaml", "--input", "e.jsonl", "--decisions-dead-letters", "x.jsonl"],
    ])
    func offPolicyOptionsOutsideTheirUseAreRefused(arguments: [String]) {
        #expect(throws: (any Error).self) { try ReplayCommand.parse(arguments) }
    }
}
