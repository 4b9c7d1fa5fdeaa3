import Foundation
import Learning
import Testing
@testable import Pipelines

/// The shipped pipelines and the strict parser: a bad file fails naming file, line and key.
@Suite struct PipelineSpecParsingTests {
    static let minimal = """
        version: 1
        name: t
        features:
          bits: 18
          namespaces:
            - {name: u, field: user_id}
            - {name: i, field: item_id}
            - {name: G, field: context.genres, side: item}
          crosses:
            - [u, G]
        label:
          examples: {click: 1.0}
          positives: [purchase]
          attribution_window: 30m
        model:
          type: logistic
        optimizer:
          type: ftrl
          alpha: 0.1
        """

    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    @Test func shippedPipelinesAreValid() throws {
        let dir = Self.repoRoot.appendingPathComponent("pipelines")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.contains("movielens-ftrl.yaml"))
        #expect(files.contains("movielens-fm.yaml"))
        for file in files {
            let spec = try PipelineSpec.load(path: dir.appendingPathComponent(file).path)
            #expect(!spec.name.isEmpty)
        }
    }

    @Test func minimalFileParsesWithDefaults() throws {
        let spec = try PipelineSpec.parse(yaml: Self.minimal, file: "t.yaml")
        #expect(spec.features.bits == 18)
        #expect(spec.features.namespaces.map(\.name) == ["u", "i", "G"])
        #expect(spec.features.namespaces[0].side == .user)
        #expect(spec.features.namespaces[2].source == .context("genres"))
        #expect(spec.features.crosses == [CrossSpec(first: 0, second: 2)])
        #expect(spec.label.attributionWindowMs == 30 * 60_000)
        #expect(spec.label.exampleWeights == [.click: 1.0])
        #expect(spec.label.positiveTypes == [.purchase])
        #expect(spec.model.kind == .logistic)
        #expect(spec.model.optimizer == .ftrl(alpha: 0.1, beta: 1, l1: 0, l2: 0))
        #expect(spec.outputs == .defaults)
        #expect(spec.inputTopics == ["events"])
    }

    func failure(_ yaml: String) -> PipelineFileError? {
        do {
            _ = try PipelineSpec.parse(yaml: yaml, file: "bad.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func unknownKeyIsNamedWithItsLine() throws {
        let yaml = Self.minimal.replacingOccurrences(of: "  bits: 18", with: "  bits: 18\n  bitz: 3")
        let error = try #require(failure(yaml))
        #expect(error.key == "features.bitz")
        #expect(error.line == 5)
        #expect(error.message.contains("unknown key"))
        #expect(error.description.hasPrefix("bad.yaml:5:"))
    }

    @Test func outOfRangeValueIsNamedWithItsLine() throws {
        let error = try #require(failure(Self.minimal.replacingOccurrences(of: "bits: 18", with: "bits: 40")))
        #expect(error.key == "features.bits")
        #expect(error.line == 4)
        #expect(error.message.contains("between 1 and 30"))
    }

    @Test func wrongTypeIsRejected() throws {
        let error = try #require(failure(Self.minimal.replacingOccurrences(of: "alpha: 0.1", with: "alpha: fast")))
        #expect(error.key == "optimizer.alpha")
        #expect(error.line == 19)
    }

    @Test func missingRequiredKeyIsNamed() throws {
        let error = try #require(failure(Self.minimal.replacingOccurrences(of: "  attribution_window: 30m\n", with: "")))
        #expect(error.key == "label.attribution_window")
        #expect(error.message.contains("missing"))
    }

    @Test func crossOfUnknownNamespaceIsRejected() throws {
        let error = try #require(failure(Self.minimal.replacingOccurrences(of: "[u, G]", with: "[u, X]")))
        #expect(error.key == "features.crosses[0]")
        #expect(error.message.contains("unknown namespace 'X'"))
        #expect(error.line == 10)
    }

    @Test func duplicateKeyIsRejected() throws {
        let error = try #require(failure(Self.minimal.replacingOccurrences(of: "name: t\n", with: "name: t\nname: u\n")))
        #expect(error.key == "name")
        #expect(error.line == 3)
    }

    @Test func badDurationUnknownModelAndEventTypeAreRejected() throws {
        #expect(failure(Self.minimal.replacingOccurrences(of: "30m", with: "30 minutes"))?.key == "label.attribution_window")
        #expect(failure(Self.minimal.replacingOccurrences(of: "type: logistic", with: "type: tree"))?.key == "model.type")
        #expect(failure(Self.minimal.replacingOccurrences(of: "[purchase]", with: "[buy]"))?.key == "label.positives[0]")
        #expect(failure(Self.minimal.replacingOccurrences(of: "type: logistic", with: "type: logistic\n  factors: 4"))?.key == "model.factors")
    }

    @Test func yamlSyntaxErrorHasALine() throws {
        let error = try #require(failure("version: 1\nname: [unclosed\n"))
        #expect(error.line > 0)
        #expect(error.message.contains("invalid YAML"))
    }

    @Test func durationsParse() throws {
        for (text, ms) in [("0s", Int64(0)), ("1500ms", 1500), ("2h", 7_200_000), ("7d", 604_800_000), ("45m", 2_700_000)] {
            let spec = try PipelineSpec.parse(yaml: Self.minimal.replacingOccurrences(of: "30m", with: text))
            #expect(spec.label.attributionWindowMs == ms, "\(text)")
        }
    }

    @Test func matrixFactorizationSidesComeFromNamespaces() throws {
        let yaml = Self.minimal.replacingOccurrences(of: "type: logistic", with: "type: mf\n  factors: 4")
        let spec = try PipelineSpec.parse(yaml: yaml)
        #expect(spec.model.kind == .matrixFactorization(factors: 4, userFields: 0b001, itemFields: 0b110))
    }
}
