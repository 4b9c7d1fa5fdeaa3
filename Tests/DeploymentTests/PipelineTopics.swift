import Yams

/// The Kafka topics a pipeline file reads and writes, read directly from its YAML
/// (`input.topics`, `outputs.scores_topic` / `adjustments_topic` / `dlq_topic`, with the documented defaults).
struct PipelineTopics {
    // MARK: Properties

    /// `input.topics` (default `[events]`).
    let inputs: [String]
    /// `outputs.scores_topic` (default `scores`).
    let scores: String
    /// `outputs.adjustments_topic` (default `adjustments`).
    let adjustments: String
    /// `outputs.dlq_topic` (default `events.dlq`).
    let deadLetters: String

    /// Every topic the pipeline touches.
    var all: Set<String> { Set(inputs + [scores, adjustments, deadLetters]) }

    // MARK: Loading

    /// Reads a repository-relative pipeline file.
    static func load(_ relativePath: String) throws -> PipelineTopics {
        let root = try Yams.compose(yaml: try Repository.text(relativePath))
        let inputs = root?["input"]?["topics"]?.sequence?.compactMap { $0.string }
        let outputs = root?["outputs"]
        return PipelineTopics(
            inputs: inputs ?? ["events"],
            scores: outputs?["scores_topic"]?.string ?? "scores",
            adjustments: outputs?["adjustments_topic"]?.string ?? "adjustments",
            deadLetters: outputs?["dlq_topic"]?.string ?? "events.dlq")
    }
}
