import Events
import Foundation
import Learning
import Testing
@testable import Pipelines

/// The score refresh (`Pipeline.topItems`) and the ranking evaluation reuse the item-independent part of the margin
/// across candidates; their probabilities must equal, bit for bit, those of scoring each candidate's full row — for
/// logistic models (the featurizer's blocked loop) and factor models (`Model.margin(_:after:state:)`).
@Suite struct CandidateScoringTests {
    /// User-only, item-only and mixed crosses (user × item and item × user), multi-valued and numeric namespaces on
    /// both sides. `model` replaces the logistic model block.
    static func spec(model: String) -> String {
        model == "logistic" ? spec : spec.replacingOccurrences(of: "  type: logistic", with: model)
    }

    /// Factor sizes that take each block size of the factor kernels (16, 4 and 1 at a time).
    static let models = ["logistic", "  type: fm\n  factors: 22\n  seed: 3", "  type: mf\n  factors: 21\n  seed: 5"]

    /// A restored pipeline (its catalog read from a checkpoint, per-group counts recounted) ranks exactly as the
    /// one it was saved from.
    @Test(arguments: models)
    func restoredPipelineRanksBitIdentically(model: String) throws {
        let spec = try PipelineSpec.parse(yaml: Self.spec(model: model))
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        let lines = Self.stream(events: 1500, seed: 5)
        PipelineStepTests.feed(&p, Array(lines.dropLast(40)), &sink)
        var (restored, _) = try Pipeline.restore(spec: spec, from: p.checkpointBytes(positions: []))
        var restoredSink = PipelineStepTests.RecordingSink()
        var compared = 0
        for line in lines.suffix(40) {
            PipelineStepTests.feed(&p, [line], &sink)
            PipelineStepTests.feed(&restored, [line], &restoredSink)
            var a: [(item: Int, probability: Double)] = [], b: [(item: Int, probability: Double)] = []
            p.topItems(k: p.catalog.count, into: &a)
            restored.topItems(k: restored.catalog.count, into: &b)
            #expect(a.count == b.count && a.count > 10)
            for (x, y) in zip(a, b) {
                #expect(x.item == y.item && x.probability.bitPattern == y.probability.bitPattern)
            }
            compared += 1
        }
        #expect(compared == 40)
    }

    static let spec = """
        version: 1
        name: candidates
        features:
          bits: 18
          namespaces:
            - {name: u, field: user_id}
            - {name: i, field: item_id}
            - {name: a, field: context.age, transform: numeric, scale: 0.1, side: user}
            - {name: t, field: context.tags, side: user}
            - {name: G, field: context.genres, side: item}
            - {name: p, field: context.price, transform: numeric, scale: 0.37, side: item}
          crosses: [[u, G], [a, t], [i, G], [t, p], [t, a], [p, t], [G, a], [G, p]]
        label:
          examples: {click: 1.0}
          positives: [purchase]
          attribution_window: 2s
        model:
          type: logistic
        optimizer: {type: ftrl, alpha: 0.2, l1: 0.0}
        """

    static func stream(events: Int, seed: UInt64) -> [String] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        let genres = ["Drama", "Comedy", "Action", "Horror", "Romance"]
        let tags = ["x", "y", "z", "w"]
        var lines: [String] = []
        for t in 0..<events {
            let user = "u\(next() % 40)", itemNumber = next() % 60, item = "m\(itemNumber)"
            let g = (0..<Int(1 + itemNumber % 3)).map { #""\#(genres[(Int(itemNumber) + $0) % genres.count])""# }
            let tg = (0..<Int(next() % 4)).map { #""\#(tags[(t + $0) % tags.count])""# }
            let context = #""age":\#(18 + next() % 50),"tags":[\#(tg.joined(separator: ","))],"genres":[\#(g.joined(separator: ","))],"price":\#(Double(itemNumber) * 0.75 + 1)"#
            let ts = Int64(t) * 500
            lines.append(#"{"event_id":"e\#(t)","type":"click","user_id":"\#(user)","item_id":"\#(item)","ts":\#(ts),"context":{\#(context)}}"#)
            if (itemNumber + UInt64(user.utf8.count)) % 4 == 0 || next() % 5 == 0 {
                lines.append(#"{"event_id":"p\#(t)","type":"purchase","user_id":"\#(user)","item_id":"\#(item)","ts":\#(ts + 100),"context":{\#(context)}}"#)
            }
        }
        return lines
    }

    @Test(arguments: models)
    func topItemsProbabilitiesAreBitIdenticalToScoringEachFullRow(model: String) throws {
        var p = Pipeline(spec: try PipelineSpec.parse(yaml: Self.spec(model: model)))
        var sink = PipelineStepTests.RecordingSink()
        var checked = 0
        for (n, line) in Self.stream(events: 3000, seed: 11).enumerated() {
            PipelineStepTests.feed(&p, [line], &sink)
            guard n % 97 == 0, p.catalog.count > 1 else { continue }
            // Reference: each candidate's full row through the model kernel.
            var reference: [Double] = []
            for j in 0..<p.catalog.count { reference.append(sigmoid(p.score(candidate: j))) }
            var top: [(item: Int, probability: Double)] = []
            p.topItems(k: p.catalog.count, into: &top)
            #expect(top.count == p.catalog.count)
            for entry in top {
                #expect(entry.probability.bitPattern == reference[entry.item].bitPattern)
            }
            // Best first, ties by item index. The ranking is by margin: distinct margins can round to one
            // probability (the FM here saturates some at 1), so equal probabilities need not be in item order
            // unless their margins are equal too.
            for i in 1..<top.count {
                #expect(top[i - 1].probability >= top[i].probability)
                let m0 = p.score(candidate: top[i - 1].item), m1 = p.score(candidate: top[i].item)
                #expect(m0 > m1 || (m0 == m1 && top[i - 1].item < top[i].item))
            }
            checked += 1
        }
        #expect(checked > 20)
        #expect(p.counters.positives > 100)
        // The model learned: the refresh must not be trivially scoring zero weights.
        var top: [(item: Int, probability: Double)] = []
        p.topItems(k: 5, into: &top)
        #expect(top[0].probability != top[4].probability)
    }
}

/// Two-tower MF: the user and item towers the worker publishes (`outputs.vectors`) give back the model's margin.
@Suite struct TowerTests {
    static let yaml = """
        version: 1
        name: towers
        features:
          bits: 16
          namespaces:
            - {name: u, field: user_id}
            - {name: i, field: item_id}
            - {name: a, field: context.age, transform: bucket, width: 10, side: user}
            - {name: G, field: context.genres, side: item}
        label: {examples: {click: 1.0}, positives: [purchase], attribution_window: 0s}
        model: {type: mf, factors: 6, init_std: 0.1, seed: 3}
        optimizer: {type: adagrad, learning_rate: 0.1}
        outputs: {top_k: 5, vectors: on}
        """

    @Test func userTowerDotItemTowerPlusLinearTermsIsTheMargin() throws {
        var p = Pipeline(spec: try PipelineSpec.parse(yaml: Self.yaml))
        var sink = PipelineStepTests.RecordingSink()
        var user: [Float] = [], item: [Float] = []
        var checked = 0
        for (n, line) in CandidateScoringTests.stream(events: 1500, seed: 13).enumerated() {
            PipelineStepTests.feed(&p, [line], &sink)
            guard n % 50 == 0, p.catalog.count > 3 else { continue }
            let userTower = p.userTower(into: &user)
            let userLinear = try #require(userTower)
            #expect(user.count == 6)
            for j in [0, p.catalog.count / 2, p.catalog.count - 1] {
                let itemTower = p.itemTower(j, into: &item)
                let itemLinear = try #require(itemTower)
                let dot = zip(user, item).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let margin = p.score(candidate: j)  // the full row of this user with item j, as the refresh scores it
                #expect(abs(margin - (userLinear + itemLinear + dot)) <= 1e-5 * max(1, abs(margin)), "item \(j)")
                checked += 1
            }
        }
        #expect(checked > 50)
        #expect(user.contains { $0 != 0 } && item.contains { $0 != 0 })
        // Other models have no towers.
        var logistic = Pipeline(spec: try PipelineSpec.parse(yaml: CandidateScoringTests.spec))
        let none = (logistic.userTower(into: &user), logistic.itemTower(0, into: &item))
        #expect(none.0 == nil && none.1 == nil)
    }

    @Test func vectorsAreForTwoTowerModelsOnly() throws {
        #expect(try PipelineSpec.parse(yaml: Self.yaml).outputs.vectors)
        for (bad, message) in [
            (Self.yaml.replacingOccurrences(of: "type: mf, factors: 6, init_std: 0.1, seed: 3", with: "type: logistic"), "only for model type mf"),
            (Self.yaml.replacingOccurrences(of: "vectors: on", with: "vectors: maybe"), "expected on or off"),
        ] {
            do {
                _ = try PipelineSpec.parse(yaml: bad, file: "t.yaml")
                Issue.record("accepted: \(bad)")
            } catch {
                #expect(error.key == "outputs.vectors" && error.message.contains(message), "\(error)")
            }
        }
    }
}
