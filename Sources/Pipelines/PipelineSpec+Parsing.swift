import Events
import Foundation
import Learning
import Yams

extension PipelineSpec {
    /// Reads and validates a pipeline file. Errors name the file, line, column and key.
    public static func load(path: String) throws(PipelineFileError) -> PipelineSpec {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PipelineFileError(file: path, line: 0, column: 0, key: "", message: "cannot read file: \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses and validates pipeline YAML text; `file` labels error messages.
    public static func parse(yaml text: String, file: String = "<pipeline>") throws(PipelineFileError) -> PipelineSpec {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw PipelineFileError(file: file, line: 0, column: 0, key: "", message: "empty pipeline file")
            }
            root = node
        } catch let error as PipelineFileError {
            throw error
        } catch let error as YamlError {
            throw yamlSyntaxError(error, yaml: text, file: file)
        } catch {
            throw PipelineFileError(file: file, line: 0, column: 0, key: "", message: "invalid YAML: \(error)")
        }
        let cursor = YAMLCursor(node: root, path: "", file: file, keyMark: root.mark)
        return try PipelineSpecParser(file: file).parse(cursor)
    }

    private static func yamlSyntaxError(_ error: YamlError, yaml: String, file: String) -> PipelineFileError {
        switch error {
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams reports the mapping; point at the second occurrence of the key after it.
            let key = duplicates.first ?? ""
            var seen = 0
            var line = context.mark.line
            for (number, text) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where number + 1 >= context.mark.line {
                let trimmed = text.drop { $0 == " " || $0 == "-" }
                if trimmed.hasPrefix(key + ":") {
                    seen += 1
                    if seen == 2 { line = number + 1; break }
                }
            }
            return PipelineFileError(file: file, line: line, column: 0, key: key, message: "duplicated key")
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return PipelineFileError(file: file, line: mark.line, column: mark.column, key: "", message: "invalid YAML: \(problem)")
        default:
            return PipelineFileError(file: file, line: 0, column: 0, key: "", message: "invalid YAML: \(error)")
        }
    }
}

/// Turns a YAML tree into a ``PipelineSpec``, section by section, strictly.
private struct PipelineSpecParser {
    let file: String

    func parse(_ root: YAMLCursor) throws(PipelineFileError) -> PipelineSpec {
        let top = try root.fields(["version", "name", "input", "features", "label", "model", "optimizer",
                                   "factor_optimizer", "outputs", "evaluation", "sync", "serving"])
        let version = try top.required("version").int(in: 1...1)
        let name = try top.required("name").string()
        let inputTopics = try top["input"].map { (c) throws(PipelineFileError) in try parseInput(c) } ?? ["events"]
        let features = try parseFeatures(top.required("features"))
        let label = try parseLabel(top.required("label"))
        let optimizer = try parseOptimizer(top.required("optimizer"))
        let factorOptimizer = try top["factor_optimizer"].map { (c) throws(PipelineFileError) in try parseOptimizer(c) }
        let model = try parseModel(top.required("model"), features: features, optimizer: optimizer, factorOptimizer: factorOptimizer)
        let outputs = try top["outputs"].map { (c) throws(PipelineFileError) in try parseOutputs(c, model: model) } ?? OutputSpec.defaults
        let evaluation = try top["evaluation"].map { (c) throws(PipelineFileError) in try parseEvaluation(c) } ?? EvaluationSpec.defaults
        let sync = try top["sync"].map { (c) throws(PipelineFileError) in try parseSync(c) } ?? .off
        let serving = try top["serving"].map { (c) throws(PipelineFileError) in try parseServing(c, outputs: outputs, inputTopics: inputTopics) }
            ?? ServingSpec.defaults(topK: outputs.topK)
        return PipelineSpec(
            version: version, name: name, inputTopics: inputTopics, features: features, label: label,
            model: model, outputs: outputs, evaluation: evaluation, sync: sync, serving: serving)
    }

    // MARK: Sections

    func parseInput(_ c: YAMLCursor) throws(PipelineFileError) -> [String] {
        let f = try c.fields(["topics"])
        let topics = try f.required("topics").items().map { (t) throws(PipelineFileError) in try t.string() }
        if topics.isEmpty { throw try f.required("topics").error("needs at least one topic") }
        return topics
    }

    func parseFeatures(_ c: YAMLCursor) throws(PipelineFileError) -> FeatureSpec {
        let f = try c.fields(["bits", "namespaces", "crosses", "max_values_per_field"])
        let bits = try f.required("bits").int(in: 1...30)
        let maxValues = try f["max_values_per_field"]?.int(in: 1...1024) ?? 32
        var namespaces: [NamespaceSpec] = []
        for item in try f.required("namespaces").items() {
            let ns = try parseNamespace(item)
            if namespaces.contains(where: { $0.name == ns.name }) {
                throw item.error("namespace '\(ns.name)' is declared twice")
            }
            namespaces.append(ns)
        }
        if namespaces.isEmpty { throw try f.required("namespaces").error("needs at least one namespace") }
        var crosses: [CrossSpec] = []
        for item in try f["crosses"]?.items() ?? [] {
            let names = try item.items().map { (n) throws(PipelineFileError) in try n.string() }
            guard names.count == 2 else { throw item.error("a cross names exactly two namespaces, got \(names.count)") }
            var indices: [Int] = []
            for name in names {
                guard let index = namespaces.firstIndex(where: { $0.name == name }) else {
                    throw item.error("unknown namespace '\(name)' (declared: \(namespaces.map(\.name).joined(separator: ", ")))")
                }
                indices.append(index)
            }
            crosses.append(CrossSpec(first: indices[0], second: indices[1]))
        }
        if namespaces.count + crosses.count > 64 {
            throw c.error("at most 64 namespaces and crosses together, got \(namespaces.count + crosses.count)")
        }
        return FeatureSpec(bits: bits, namespaces: namespaces, crosses: crosses, maxValuesPerField: maxValues)
    }

    func parseNamespace(_ c: YAMLCursor) throws(PipelineFileError) -> NamespaceSpec {
        let f = try c.fields(["name", "field", "transform", "width", "scale", "side"])
        let name = try f.required("name").string()
        let fieldCursor = try f.required("field")
        let field = try fieldCursor.string()
        let source: FeatureSource
        switch field {
        case "user_id": source = .userID
        case "item_id": source = .itemID
        case "type": source = .eventType
        case "hour_of_day": source = .hourOfDay
        case "day_of_week": source = .dayOfWeek
        default:
            guard field.hasPrefix("context."), field.count > "context.".count else {
                throw fieldCursor.error("unknown field '\(field)' (user_id, item_id, type, hour_of_day, day_of_week, context.KEY)")
            }
            source = .context(String(field.dropFirst("context.".count)))
        }
        let transformName = try f["transform"]?.string() ?? "categorical"
        let transform: FeatureTransform
        switch transformName {
        case "categorical":
            transform = .categorical
        case "bucket":
            transform = .bucket(width: try f.required("width").double(in: 1e-9...1e18))
        case "numeric":
            transform = .numeric(scale: try f["scale"]?.double(in: -1e9...1e9) ?? 1)
        default:
            throw try f.required("transform").error("unknown transform '\(transformName)' (categorical, bucket, numeric)")
        }
        if transformName != "bucket", let width = f["width"] { throw width.error("'width' applies to transform: bucket only") }
        if transformName != "numeric", let scale = f["scale"] { throw scale.error("'scale' applies to transform: numeric only") }
        let defaultSide: FeatureSide = source == .userID ? .user : source == .itemID ? .item : .context
        let side: FeatureSide
        if let s = f["side"] {
            guard let parsed = FeatureSide(rawValue: try s.string()) else { throw s.error("expected user, item or context") }
            side = parsed
        } else {
            side = defaultSide
        }
        return NamespaceSpec(name: name, source: source, transform: transform, side: side)
    }

    func parseLabel(_ c: YAMLCursor) throws(PipelineFileError) -> LabelSpec {
        let f = try c.fields(["examples", "positives", "attribution_window", "allowed_lateness", "buffer_capacity"])
        var weights: [EventType: Double] = [:]
        let examples = try f.required("examples")
        for (name, value) in try examples.fields(EventType.allCases.map(\.name)).values {
            weights[EventType.allCases.first { $0.name == name }!] = try value.double(in: 0...1e6)
        }
        if weights.isEmpty { throw examples.error("needs at least one event type, e.g. {click: 1.0}") }
        var positives: Set<EventType> = []
        let positivesCursor = try f.required("positives")
        for item in try positivesCursor.items() {
            let name = try item.string()
            guard let type = EventType.allCases.first(where: { $0.name == name }) else {
                throw item.error("unknown event type '\(name)' (\(EventType.allCases.map(\.name).joined(separator: ", ")))")
            }
            positives.insert(type)
        }
        if positives.isEmpty { throw positivesCursor.error("needs at least one event type") }
        if let overlap = positives.first(where: { weights[$0] != nil }) {
            throw positivesCursor.error("'\(overlap.name)' cannot be both an example and a positive")
        }
        return LabelSpec(
            exampleWeights: weights, positiveTypes: positives,
            attributionWindowMs: try f.required("attribution_window").durationMs(),
            allowedLatenessMs: try f["allowed_lateness"]?.durationMs() ?? 0,
            bufferCapacity: try f["buffer_capacity"]?.int(in: 1...50_000_000) ?? 65_536)
    }

    func parseOptimizer(_ c: YAMLCursor) throws(PipelineFileError) -> OptimizerKind {
        let typeCursor = try c.fields(["type", "alpha", "beta", "l1", "l2", "learning_rate", "decay", "epsilon"]).required("type")
        switch try typeCursor.string() {
        case "ftrl":
            let f = try c.fields(["type", "alpha", "beta", "l1", "l2"])
            return .ftrl(
                alpha: try f.required("alpha").double(in: 1e-12...1e6),
                beta: try f["beta"]?.double(in: 0...1e6) ?? 1,
                l1: try f["l1"]?.double(in: 0...1e6) ?? 0,
                l2: try f["l2"]?.double(in: 0...1e6) ?? 0)
        case "adagrad":
            let f = try c.fields(["type", "learning_rate", "epsilon"])
            return .adagrad(
                learningRate: try f.required("learning_rate").double(in: 1e-12...1e6),
                epsilon: try f["epsilon"]?.double(in: 1e-12...1e3) ?? 1e-8)
        case "sgd":
            let f = try c.fields(["type", "learning_rate", "decay"])
            return .sgd(
                learningRate: try f.required("learning_rate").double(in: 1e-12...1e6),
                decay: try f["decay"]?.double(in: 0...1e6) ?? 0)
        case let other:
            throw typeCursor.error("unknown optimizer '\(other)' (ftrl, adagrad, sgd)")
        }
    }

    func parseModel(
        _ c: YAMLCursor, features: FeatureSpec, optimizer: OptimizerKind, factorOptimizer: OptimizerKind?
    ) throws(PipelineFileError) -> ModelConfiguration {
        let f = try c.fields(["type", "factors", "init_std", "seed", "factor_l2", "gradient_clip"])
        let typeCursor = try f.required("type")
        let type = try typeCursor.string()
        let kind: ModelKind
        switch type {
        case "logistic":
            for key in ["factors", "init_std", "factor_l2"] where f[key] != nil {
                throw f[key]!.error("'\(key)' applies to fm and mf models only")
            }
            kind = .logistic
        case "fm":
            kind = .factorizationMachine(factors: try f.required("factors").int(in: 1...256))
        case "mf":
            var userMask: UInt64 = 0
            var itemMask: UInt64 = 0
            for (index, ns) in features.namespaces.enumerated() {
                if ns.side == .user { userMask |= 1 << UInt64(index) }
                if ns.side == .item { itemMask |= 1 << UInt64(index) }
            }
            if userMask == 0 || itemMask == 0 {
                throw typeCursor.error("mf needs at least one namespace with side: user and one with side: item")
            }
            kind = .matrixFactorization(factors: try f.required("factors").int(in: 1...256), userFields: userMask, itemFields: itemMask)
        default:
            throw typeCursor.error("unknown model '\(type)' (logistic, fm, mf)")
        }
        var config = ModelConfiguration(kind: kind, optimizer: optimizer, bits: features.bits)
        config.factorOptimizer = factorOptimizer
        if let v = f["init_std"] { config.initStd = try v.double(in: 0...10) }
        if let v = f["seed"] { config.seed = UInt64(try v.int(in: 0...Int.max)) }
        if let v = f["factor_l2"] { config.factorL2 = try v.double(in: 0...1e6) }
        if let v = f["gradient_clip"] { config.gradientClip = try v.double(in: 0...1e9) }
        return config
    }

    func parseOutputs(_ c: YAMLCursor, model: ModelConfiguration) throws(PipelineFileError) -> OutputSpec {
        let f = try c.fields(["top_k", "scores_topic", "adjustments_topic", "dlq_topic", "catalog_capacity", "candidates",
                              "min_bias_shift", "popularity_half_life", "vectors"])
        var o = OutputSpec.defaults
        if let v = f["top_k"] { o.topK = try v.int(in: 1...1000) }
        if let v = f["scores_topic"] { o.scoresTopic = try v.string() }
        if let v = f["adjustments_topic"] { o.adjustmentsTopic = try v.string() }
        if let v = f["dlq_topic"] { o.deadLetterTopic = try v.string() }
        if let v = f["catalog_capacity"] { o.catalogCapacity = try v.int(in: 1...10_000_000) }
        if let v = f["candidates"] {
            if v.isWord("all") { o.candidates = 0 } else { o.candidates = try v.int(in: 1...10_000_000) }
        }
        if let v = f["min_bias_shift"] { o.minBiasShift = try v.double(in: 0...1_000) }
        if let v = f["popularity_half_life"] {
            if v.isWord("off") {
                o.popularityHalfLifeMs = 0
            } else {
                let ms = try v.durationMs()
                guard ms >= 1000 else { throw v.error("must be at least 1s (or off), got \(ms) ms") }
                o.popularityHalfLifeMs = ms
            }
        }
        if let v = f["vectors"] {
            switch try v.string() {
            case "on", "true": o.vectors = true
            case "off", "false": o.vectors = false
            case let other: throw v.error("expected on or off, got '\(other)'")
            }
            if o.vectors {
                guard case .matrixFactorization = model.kind else {
                    throw v.error("only for model type mf (two towers: a user vector and an item vector)")
                }
            }
        }
        if let v = f["candidates"] {
            guard o.candidates == 0 || o.candidates >= o.topK else {
                throw v.error("must be at least top_k (\(o.topK)), got \(o.candidates)")
            }
        } else {
            o.candidates = max(o.candidates, o.topK)
        }
        return o
    }

    /// `sync: on | off | {every: 1000, interval: 1s, max_staleness: 30s, ramp: 0.02}` (a mapping turns it on).
    func parseSync(_ c: YAMLCursor) throws(PipelineFileError) -> SyncSpec {
        if c.isWord("on") || c.isWord("true") { return .on }
        if c.isWord("off") || c.isWord("false") { return .off }
        let f = try c.fields(["every", "interval", "max_staleness", "ramp"])
        var s = SyncSpec.on
        if let v = f["every"] { s.every = try v.int(in: 0...10_000_000) }
        if let v = f["ramp"] { s.ramp = try v.double(in: 0...1) }
        if let v = f["interval"] { s.intervalMs = try v.durationMs() }
        if let v = f["max_staleness"] {
            if v.isWord("off") { s.maxStalenessMs = 0 } else { s.maxStalenessMs = try v.durationMs() }
        }
        if s.every == 0 && s.intervalMs == 0 {
            throw c.error("needs every > 0 or an interval > 0s (or sync: off)")
        }
        if s.maxStalenessMs > 0, s.intervalMs > 0, s.maxStalenessMs <= s.intervalMs {
            throw (f["max_staleness"] ?? c).error("must be longer than the interval (\(s.intervalMs) ms), got \(s.maxStalenessMs) ms")
        }
        return s
    }

    /// `serving: {exploration: {type: none | epsilon_greedy | softmax, epsilon: 0.05, temperature: 1},
    /// rankings_topic: rankings, snapshot_interval: 1s, max_candidates: 1000, k: 10, learn_from_rankings: false}`.
    func parseServing(_ c: YAMLCursor, outputs: OutputSpec, inputTopics: [String]) throws(PipelineFileError) -> ServingSpec {
        let f = try c.fields(["exploration", "rankings_topic", "snapshot_interval", "max_candidates", "k", "learn_from_rankings"])
        var s = ServingSpec.defaults(topK: outputs.topK)
        if let e = f["exploration"] {
            let typeCursor = try e.fields(["type", "epsilon", "temperature"]).required("type")
            switch try typeCursor.string() {
            case "none":
                _ = try e.fields(["type"])
                s.exploration = .none
            case "epsilon_greedy":
                let ef = try e.fields(["type", "epsilon"])
                let epsilon = try ef.required("epsilon").double(in: 0...1)
                guard epsilon > 0 else { throw try ef.required("epsilon").error("must be above 0 (or type: none), got 0") }
                s.exploration = .epsilonGreedy(epsilon: epsilon)
            case "softmax":
                let ef = try e.fields(["type", "temperature"])
                s.exploration = .softmax(temperature: try ef["temperature"]?.double(in: 1e-3...1e3) ?? 1)
            case let other:
                throw typeCursor.error("unknown exploration '\(other)' (none, epsilon_greedy, softmax)")
            }
        }
        if let v = f["rankings_topic"] {
            s.rankingsTopic = try v.string()
            if s.rankingsTopic.isEmpty { throw v.error("must not be empty") }
        }
        if let v = f["snapshot_interval"] {
            let ms = try v.durationMs()
            guard ms >= 10 else { throw v.error("must be at least 10ms, got \(ms) ms") }
            s.snapshotIntervalMs = ms
        }
        if let v = f["max_candidates"] { s.maxCandidates = try v.int(in: 1...100_000) }
        if let v = f["k"] { s.defaultK = try v.int(in: 1...1000) }
        if let v = f["learn_from_rankings"] {
            s.learnFromRankings = try v.bool()
            // The decision log is an input then: it must not be one of the event topics too.
            if s.learnFromRankings, inputTopics.contains(s.rankingsTopic) {
                throw (f["rankings_topic"] ?? v).error("the rankings topic '\(s.rankingsTopic)' is also an input topic")
            }
        }
        if s.defaultK > s.maxCandidates, let v = f["k"] ?? f["max_candidates"] {
            throw v.error("k (\(s.defaultK)) must not exceed max_candidates (\(s.maxCandidates))")
        }
        return s
    }

    func parseEvaluation(_ c: YAMLCursor) throws(PipelineFileError) -> EvaluationSpec {
        let f = try c.fields(["window", "calibration_bins", "auc_bins", "ranking"])
        var e = EvaluationSpec.defaults
        if let v = f["window"] { e.window = try v.int(in: 1...100_000_000) }
        if let v = f["calibration_bins"] { e.calibrationBins = try v.int(in: 2...1000) }
        if let v = f["auc_bins"] {
            let bins = try v.int(in: 16...(1 << 24))
            guard bins & (bins - 1) == 0 else { throw v.error("must be a power of two, got \(bins)") }
            e.aucBins = bins
        }
        if let r = f["ranking"] {
            if r.isWord("off") {
                e.ranking = nil
            } else {
                let rf = try r.fields(["k", "negatives", "seed"])
                var spec = RankingSpec(k: 10, negatives: 100, seed: 7)
                if let v = rf["k"] { spec.k = try v.int(in: 1...1000) }
                if let v = rf["negatives"] {
                    if v.isWord("all") { spec.negatives = nil } else { spec.negatives = try v.int(in: 1...1_000_000) }
                }
                if let v = rf["seed"] { spec.seed = UInt64(try v.int(in: 0...Int.max)) }
                e.ranking = spec
            }
        }
        return e
    }
}

extension OutputSpec {
    /// Defaults used when `outputs:` is absent: top 10 of the 500 items with the most positive feedback, topics
    /// `scores`, `adjustments`, `events.dlq`, every item-bias change published.
    public static let defaults = OutputSpec(
        topK: 10, scoresTopic: "scores", adjustmentsTopic: "adjustments", deadLetterTopic: "events.dlq", catalogCapacity: 100_000,
        candidates: 500, minBiasShift: 0)
}

extension EvaluationSpec {
    /// Defaults used when `evaluation:` is absent: 10,000-example windows, deciles, ranking@10 against 100 sampled negatives.
    public static let defaults = EvaluationSpec(window: 10_000, calibrationBins: 10, aucBins: 1 << 16, ranking: RankingSpec(k: 10, negatives: 100, seed: 7))
}
