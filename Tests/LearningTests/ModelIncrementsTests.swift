import Testing
@testable import Learning

/// Replicas of one model that learn on different examples and exchange their increments (the sum merge of
/// ``ModelIncrements``): against one model learning every example, and against each other.
@Suite struct ModelIncrementsTests {
    /// A random sparse example over a small table (so replicas share slots).
    static func example(_ rng: inout SplitMix64, fields: Int = 4) -> (row: FeatureRow, label: Bool) {
        var row = FeatureRow()
        for f in 0..<fields { row.append(index: UInt32(rng.next() % 64), value: 1, field: UInt8(f)) }
        return (row, rng.next() % 3 == 0)
    }

    static func table(_ m: Model) -> [Float] {
        Array(UnsafeBufferPointer(start: m.storage.floats, count: m.context.layout.floatCount))
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    static let configurations: [ModelConfiguration] = [
        ModelConfiguration(kind: .logistic, optimizer: .sgd(learningRate: 0.1, decay: 0), bits: 8),
        ModelConfiguration(kind: .logistic, optimizer: .adagrad(learningRate: 0.1, epsilon: 1e-6), bits: 8),
        ModelConfiguration(kind: .logistic, optimizer: .ftrl(alpha: 0.1, beta: 1, l1: 0.5, l2: 0.1), bits: 8),
        ModelConfiguration(kind: .factorizationMachine(factors: 4), optimizer: .ftrl(alpha: 0.1, beta: 1, l1: 0, l2: 0), bits: 8, initStd: 0.1),
    ]

    /// Exchanging after every example is the sequential model: each replica learns on a table that already holds
    /// every earlier example (up to float rounding of `x + (y − x)`).
    @Test(arguments: configurations.indices)
    func exchangingAfterEveryExampleIsTheSequentialModel(configuration: Int) {
        let c = Self.configurations[configuration]
        var single = Model(c)
        var replicas = [Model(c), Model(c)]
        for r in replicas.indices { replicas[r].trackIncrements() }
        var rng = SplitMix64(seed: 7)
        for i in 0..<2_000 {
            let e = Self.example(&rng)
            single.learn(e.row, label: e.label)
            let r = i % 2
            replicas[r].learn(e.row, label: e.label)
            replicas[1 - r].applyIncrements(replicas[r].takeIncrements())
        }
        let reference = Self.table(single)
        for replica in replicas {
            let d = Self.maxDifference(Self.table(replica), reference)
            #expect(d < 1e-4, "max difference \(d)")
        }
    }

    /// Replicas that learn different examples and exchange every 50 examples end, once the last increments are
    /// exchanged, with the same table (to float rounding: each added the same increments in another order), and
    /// their own next increments never hand on what they received.
    @Test(arguments: configurations.indices)
    func replicasAgreeAfterTheLastExchange(configuration: Int) {
        let c = Self.configurations[configuration]
        var replicas = [Model(c), Model(c), Model(c)]
        for r in replicas.indices { replicas[r].trackIncrements() }
        var rng = SplitMix64(seed: 11)
        func exchange(_ r: Int) {
            let increments = replicas[r].takeIncrements()
            for j in replicas.indices where j != r { replicas[j].applyIncrements(increments) }
        }
        for i in 0..<3_000 {
            let e = Self.example(&rng)
            let r = Int(rng.next() % 3)
            replicas[r].learn(e.row, label: e.label)
            if i % 50 == 49 { exchange(r) }
        }
        for r in replicas.indices { exchange(r) }
        let first = Self.table(replicas[0])
        for r in 1..<replicas.count {
            let d = Self.maxDifference(Self.table(replicas[r]), first)
            #expect(d < 1e-5, "replica \(r): max difference \(d)")
        }
        for r in replicas.indices { #expect(replicas[r].takeIncrements().slots.isEmpty, "received increments handed on") }
    }

    @Test func anUntrackedModelHasNoIncrementsAndApplyingThemMovesTheVersion() {
        let c = Self.configurations[2]
        var a = Model(c)
        var rng = SplitMix64(seed: 3)
        let e = Self.example(&rng)
        a.learn(e.row, label: e.label)
        #expect(a.takeIncrements().slots.isEmpty)
        var b = Model(c)
        b.trackIncrements()
        b.learn(e.row, label: e.label)
        let increments = b.takeIncrements()
        #expect(increments.slots.count == 5, "4 features and the bias")
        #expect(increments.updates == 1)
        let version = a.version
        a.applyIncrements(increments)
        #expect(a.version == version + 1)
    }
}
