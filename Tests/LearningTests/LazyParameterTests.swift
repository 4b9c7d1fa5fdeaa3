import Testing
@testable import Learning

// MARK: - Lazy, copy-on-write parameter storage

@Suite("Lazy parameters")
struct LazyParameterTests {
    static let row = FeatureRow(indices: [5, 900, 4000], values: [1, 0.5, 2], fields: [0, 1, 2])

    @Test func lazyFactorsEqualASequentialDrawOfTheSeed() {
        let k = 6
        let initStd = 0.05
        let model = Model(ModelConfiguration(kind: .factorizationMachine(factors: k), bits: 8, seed: 31, initStd: initStd))
        // The reference: one SplitMix64 generator drawn slot by slot, factor by factor.
        var state: UInt64 = 31
        var sequential = [[Float]]()
        for _ in 0..<256 {
            var v = [Float]()
            for _ in 0..<k {
                state &+= 0x9e37_79b9_7f4a_7c15
                var z = state
                z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
                z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
                z ^= z >> 31
                let u = Float(z >> 40) * 0x1p-24
                v.append(Float(initStd * 3.0.squareRoot()) * (2 * u - 1))
            }
            sequential.append(v)
        }
        for slot in [0, 1, 77, 255] {
            #expect(model.factors(at: UInt32(slot)) == sequential[slot])
        }
    }

    @Test(arguments: [
        ModelKind.factorizationMachine(factors: 8), .matrixFactorization(factors: 8, userFields: 1, itemFields: 2),
    ])
    func scoringReadsInitialFactorsAndOnlyAnAppliedUpdateMaterializes(kind: ModelKind) {
        var model = Model(ModelConfiguration(kind: kind, bits: 12, seed: 4, initStd: 0.3))
        #expect(model.materializedSlots == 0)
        // The margin of a fresh model from the initial factors, in Double.
        let v = Self.row.indices.map { model.factors(at: $0).map(Double.init) }
        let x = Self.row.values.map(Double.init)
        var expected = 0.0
        if case .factorizationMachine = kind {
            for a in 0..<3 {
                for b in (a + 1)..<3 { expected += zip(v[a], v[b]).map(*).reduce(0, +) * x[a] * x[b] }
            }
        } else {
            expected = zip(v[0], v[1]).map(*).reduce(0, +) * x[0] * x[1]  // user field 0 · item field 1
        }
        let lazy = model.margin(Self.row)
        #expect(abs(lazy - expected) < 1e-5)

        // Materializing writes exactly the values scoring used.
        var materialized = model
        materialized.makeUnique()
        Self.row.withView { materialized.materialize($0) }
        #expect(materialized.materializedSlots == 3)
        #expect(materialized.margin(Self.row).bitPattern == lazy.bitPattern)
        for index in Self.row.indices { #expect(materialized.factors(at: index) == model.factors(at: index)) }
        #expect(model.materializedSlots == 0)  // copy-on-write: the original is untouched

        // A rejected update materializes nothing; an applied one materializes the row's slots.
        let rejected = model.learn(FeatureRow(indices: [5, 900], values: [.nan, 1], fields: [0, 1]), label: true)
        #expect(!rejected.applied)  // NaN on a fresh slot still poisons the margin (0·NaN = NaN)
        #expect(model.rejectedNonFinite == 1)
        #expect(model.materializedSlots == 0)
        model.learn(Self.row, label: true)
        #expect(model.materializedSlots == 3)
    }

    @Test func copiesAreIndependentValues() throws {
        var a = Model(ModelConfiguration(kind: .factorizationMachine(factors: 4), bits: 8))
        a.learn(Self.row, label: true)
        let b = a
        let before = b.snapshotBytes()
        a.learn(Self.row, label: false)
        #expect(b.snapshotBytes() == before)
        #expect(a.snapshotBytes() != before)
        var c = b
        c.learn(Self.row, label: false)
        #expect(c.snapshotBytes() == a.snapshotBytes())
    }

    @Test func reservedMemoryIsFixedWhileSnapshotsFollowTheSlotsUsed() throws {
        let configuration = ModelConfiguration(
            kind: .factorizationMachine(factors: 16), optimizer: .ftrl(alpha: 0.1, beta: 1, l1: 0, l2: 0),
            factorOptimizer: .adagrad(learningRate: 0.1, epsilon: 1e-6), bits: 20)
        var model = Model(configuration)
        // 2^20 slots × (3 + 16 + 16) floats ≈ 147 MB reserved, none of it touched yet.
        #expect(model.parameterBytes == configuration.parameterBytes)
        #expect(model.parameterBytes > 140_000_000)
        var rng = CoreTestRandom(seed: 3)
        var row = FeatureRow()
        for _ in 0..<200 {
            row.removeAll()
            row.append(index: UInt32(rng.below(20)), value: 1, field: 0)
            row.append(index: UInt32(1000 + rng.below(20)), value: 1, field: 1)
            model.learn(row, label: rng.unit() < 0.5)
        }
        #expect(model.materializedSlots <= 40)
        let bytes = model.snapshotBytes()
        // Bitmap (128 KiB) + ≤ 40 slots × 35 floats + header: far below the reserved size.
        #expect(bytes.count < (1 << 17) + 40 * 35 * 4 + 1024)
        let restored = try Model(snapshotBytes: bytes)
        #expect(restored.materializedSlots == model.materializedSlots)
        #expect(restored.snapshotBytes() == bytes)
        #expect(restored.margin(row) == model.margin(row))
    }
}
