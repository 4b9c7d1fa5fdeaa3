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

    /// A copy (``ParameterStorage/copy()``) moves only the materialized slots and the bias slot into a zeroed table:
    /// it must hold the source's table bit for bit — small tables (fewer slots than a bitmap word), sparse ones, one
    /// with every slot materialized (whole bitmap words) — and writes to it must leave the source as it was.
    @Test(arguments: [
        (ModelKind.logistic, 4), (.logistic, 12), (.factorizationMachine(factors: 4), 5),
        (.matrixFactorization(factors: 8, userFields: 1, itemFields: 2), 10),
    ])
    func aCopyHoldsItsSourcesTableBitForBit(kind: ModelKind, bits: Int) {
        var model = Model(ModelConfiguration(kind: kind, bits: bits, seed: 9, initStd: 0.1))
        var rng = CoreTestRandom(seed: 5)
        for n in 0..<300 {
            let indices = (0..<3).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
            model.learn(FeatureRow(indices: indices, values: [1, 0.5, 2], fields: [0, 1, 2]), label: n % 3 == 0)
        }
        var dense = model
        dense.table = model.table.map { $0 + 0.25 }  // every slot materialized
        for source in [model, dense] {
            var copy = source
            copy.makeUnique()
            #expect(copy.storage !== source.storage)
            #expect(Self.bits(copy) == Self.bits(source))
            #expect(copy.materializedSlots == source.materializedSlots)
            let before = Self.bits(source)
            copy.learn(Self.row, label: true)
            #expect(Self.bits(source) == before)
        }
    }

    static func bits(_ m: Model) -> [UInt32] { m.table.map(\.bitPattern) }

    /// ``Model/detachedCopy(reusing:)`` writes into the spare's table only when nothing else holds it, and the copy
    /// then equals its source bit for bit even where the spare had slots the source never materialized (zeroed).
    @Test func aCopyIntoASpareTableEqualsItsSourceAndTakesOnlyAnUnsharedOne() {
        let configuration = ModelConfiguration(
            kind: .matrixFactorization(factors: 4, userFields: 1, itemFields: 2), bits: 10, seed: 3, initStd: 0.1)
        func learned(_ seed: UInt64) -> Model {
            var model = Model(configuration)
            var rng = CoreTestRandom(seed: seed)
            for n in 0..<200 {
                let indices = (0..<3).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
                model.learn(FeatureRow(indices: indices, values: [1, 1, 1], fields: [0, 1, 2]), label: n % 2 == 0)
            }
            return model
        }
        let a = learned(1), b = learned(2)  // different slots materialized
        var spare: Model? = a.detachedCopy()
        weak var spareStorage = spare!.storage  // (a strong reference would hold the table itself)
        let copy = b.detachedCopy(reusing: &spare)
        #expect(spare == nil)
        #expect(spareStorage != nil && copy.storage === spareStorage)  // reused: nothing else held it
        #expect(Self.bits(copy) == Self.bits(b) && copy.materializedSlots == b.materializedSlots)
        #expect(copy.storage !== b.storage)

        var held: Model? = copy
        let reader = copy  // a reader still holds that table
        let again = a.detachedCopy(reusing: &held)
        #expect(again.storage !== reader.storage && again.storage !== a.storage)
        #expect(Self.bits(again) == Self.bits(a) && Self.bits(reader) == Self.bits(b))
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
