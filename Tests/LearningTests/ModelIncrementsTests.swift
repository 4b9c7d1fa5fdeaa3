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

    /// Under FTRL the weight is not exchanged (the merge recomputes it from `z` and `n`): increments carry a slot's
    /// floats after it. The other optimizers' weights are their state and go with it.
    @Test(arguments: configurations.indices)
    func ftrlIncrementsLeaveTheWeightOut(configuration: Int) {
        let c = Self.configurations[configuration]
        var m = Model(c)
        m.trackIncrements()
        var rng = SplitMix64(seed: 3)
        for _ in 0..<20 { let e = Self.example(&rng); m.learn(e.row, label: e.label) }
        let increments = m.takeIncrements()
        let skipped = if case .ftrl = c.optimizer { 1 } else { 0 }
        #expect(m.incrementSkippedFloats == skipped)
        #expect(increments.stride == m.context.layout.stride - skipped && m.incrementLayout.stride == increments.stride)
        #expect(increments.deltas.count == increments.slots.count * increments.stride && !increments.slots.isEmpty)
    }

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

    /// Tracking is recorded by the update itself: a tracked model learns bit for bit what an untracked one learns,
    /// and each interval's increments are, bit for bit, every changed slot's values minus those the interval began
    /// with (a slot not yet materialized begins with zeros and its initial factors), slots ascending.
    @Test(arguments: configurations.indices.map { $0 } + [-1, -2])
    func trackingChangesNothingLearnedAndTheIncrementsAreTheDifferences(configuration: Int) {
        let c = configuration == -1
            ? ModelConfiguration(
                kind: .matrixFactorization(factors: 6, userFields: 1 << 0 | 1 << 3, itemFields: 1 << 1 | 1 << 3),
                optimizer: .ftrl(alpha: 0.1, beta: 1, l1: 0, l2: 0), bits: 8, initStd: 0.1)
            : configuration == -2
            ? ModelConfiguration(kind: .factorizationMachine(factors: 16), optimizer: .adagrad(learningRate: 0.1, epsilon: 1e-6), bits: 10, initStd: 0.1)
            : Self.configurations[configuration]
        var plain = Model(c), tracked = Model(c)
        tracked.trackIncrements()
        let layout = tracked.context.layout
        var rng = SplitMix64(seed: 5)
        for interval in 0..<4 {
            var start = Self.table(tracked)
            if layout.k > 0 {
                start.withUnsafeMutableBufferPointer { t in
                    for slot in 0..<layout.slots where !tracked.storage.isMaterialized(slot) {
                        Kernels.initialFactors(tracked.context, slot: slot, into: t.baseAddress! + slot * layout.stride + layout.factorOffset)
                    }
                }
            }
            for _ in 0..<(interval == 3 ? 1 : 150) {
                let e = Self.example(&rng, fields: 4)
                plain.learn(e.row, label: e.label)
                tracked.learn(e.row, label: e.label)
            }
            let end = Self.table(tracked)
            #expect(end.map(\.bitPattern) == Self.table(plain).map(\.bitPattern), "interval \(interval): tracking changed what was learned")
            let increments = tracked.takeIncrements()
            #expect(zip(increments.slots, increments.slots.dropFirst()).allSatisfy { $0 < $1 }, "slots ascending")
            var expected: [UInt32] = []
            for slot in 0...layout.slots where slot == layout.slots || tracked.storage.isMaterialized(slot) {
                let range = (slot * layout.stride)..<((slot + 1) * layout.stride)
                if end[range].map(\.bitPattern) != start[range].map(\.bitPattern) { expected.append(UInt32(slot)) }
            }
            // A touched slot whose update changed nothing (a zero step) may travel too; every changed one must.
            #expect(Set(expected).isSubset(of: Set(increments.slots)), "interval \(interval): a changed slot is missing")
            // Each slot's floats after the skipped ones (FTRL's weight).
            let skip = tracked.incrementSkippedFloats, width = layout.stride - skip
            #expect(increments.stride == width)
            for (i, slot) in increments.slots.enumerated() {
                for f in 0..<width {
                    let o = Int(slot) * layout.stride + skip + f
                    #expect(increments.deltas[i * width + f].bitPattern == (end[o] - start[o]).bitPattern)
                }
            }
        }
    }

    /// A copy of a tracked model shares its table and its touch bookkeeping until one of them learns; from then on
    /// each hands over its own increments, whichever learns first.
    @Test(arguments: [true, false])
    func aCopyOfATrackedModelTracksItsOwnIncrements(copyLearnsFirst: Bool) {
        let c = Self.configurations[3]
        var rng = SplitMix64(seed: 9)
        let first = (0..<40).map { _ in Self.example(&rng) }
        let forA = (0..<40).map { _ in Self.example(&rng) }, forB = (0..<40).map { _ in Self.example(&rng) }
        func twin(_ examples: [(row: FeatureRow, label: Bool)]...) -> ModelIncrements {
            var m = Model(c)
            m.trackIncrements()
            for e in examples.joined() { m.learn(e.row, label: e.label) }
            return m.takeIncrements()
        }
        var a = Model(c)
        a.trackIncrements()
        for e in first { a.learn(e.row, label: e.label) }
        var b = a
        if copyLearnsFirst {
            for e in forB { b.learn(e.row, label: e.label) }
            for e in forA { a.learn(e.row, label: e.label) }
        } else {
            for e in forA { a.learn(e.row, label: e.label) }
            for e in forB { b.learn(e.row, label: e.label) }
        }
        #expect(a.takeIncrements() == twin(first, forA))
        #expect(b.takeIncrements() == twin(first, forB))
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
