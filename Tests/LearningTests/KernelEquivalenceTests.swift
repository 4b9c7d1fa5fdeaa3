import Testing
@testable import Learning

// MARK: - SIMD kernels against feature-by-feature loops

/// The FM and MF kernels (factor sums in 16-, 4- and 1-wide blocks, gradients fused into the optimizers' SIMD
/// loops) against a reference written as plain loops — feature by feature, factor by factor, every coordinate
/// through `apply` — in the same Float operations and orders: the margin, the forward pass's scratch vectors, the
/// table after one update and the skipped count must be equal to the bit, for factor counts around every block
/// boundary, with rows whose slots are all materialized or not, and with tables that send some coordinates down the
/// per-coordinate (non-finite) path.
@Suite("Kernel equivalence")
struct KernelEquivalenceTests {
    /// Six features; slot 17 twice (the second update sees the first's result); fields 0…3 (field 2 is in neither MF
    /// tower, field 3 in both).
    static let row = FeatureRow(
        indices: [3, 17, 42, 100, 201, 17], values: [1, 0.5, -1.5, 2, 0.75, -0.25], fields: [0, 1, 2, 1, 3, 0])

    static let factorCounts = [1, 2, 3, 4, 5, 7, 8, 12, 15, 16, 17, 19, 20, 31, 32, 33, 36, 47, 64]

    static func kinds(_ k: Int) -> [ModelKind] {
        [.factorizationMachine(factors: k), .matrixFactorization(factors: k, userFields: 1 << 0 | 1 << 3, itemFields: 1 << 1 | 1 << 3)]
    }

    /// Table, bitmap and context of a model whose parameters are random: all slots materialized but those of
    /// `fresh` (zeroed, as a table never written); with `hostile`, factor states of both signs (AdaGrad's sum of
    /// squares then goes negative, its step NaN) and one factor of slot 100 (x = 2) at 3e38 (its
    /// factor sum overflows).
    static func setup(
        _ kind: ModelKind, factorOptimizer: OptimizerKind, fresh: [UInt32], hostile: Bool
    ) -> (table: [Float], bits: [UInt64], context: Kernels.Context) {
        var model = Model(
            ModelConfiguration(
                kind: kind, optimizer: .sgd(learningRate: 0.2, decay: 0), factorOptimizer: factorOptimizer, bits: 8,
                seed: 5, initStd: 0.2))
        let layout = model.context.layout
        var rng = CoreTestRandom(seed: UInt64(layout.k) &* 31 &+ (hostile ? 7 : 0))
        var table = model.table
        for slot in 0...layout.slots {
            let base = slot * layout.stride
            for i in 0..<layout.stride {
                let u = Float(rng.uniform(-0.5, 0.5))
                table[base + i] = i >= layout.factorStateOffset && !hostile ? abs(u) : u
            }
        }
        if hostile { table[model.factorOffset(100, layout.k / 2)] = 3e38 }
        model.table = table
        var bits = [UInt64](repeating: ~0, count: (layout.slots + 63) / 64)
        for index in fresh {
            let slot = Int(index) & (layout.slots - 1)
            bits[slot >> 6] &= ~(1 << UInt64(slot & 63))
            for i in 0..<layout.stride { table[slot * layout.stride + i] = 0 }
        }
        return (table, bits, model.context)
    }

    /// Both bit patterns equal, or both NaN (non-finite sums may carry either NaN sign or payload).
    static func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    @Test(arguments: factorCounts, [false, true])
    func marginAndUpdateEqualTheFeatureByFeatureLoops(k: Int, adagrad: Bool) {
        let factorOptimizer: OptimizerKind = adagrad ? .adagrad(learningRate: 0.1, epsilon: 1e-6) : .sgd(learningRate: 0.3, decay: 0)
        for kind in Self.kinds(k) {
            for (fresh, hostile) in [([UInt32](), false), ([17, 201], false), ([42], false), ([], true), ([201], true)] {
                let (table, bits, context) = Self.setup(kind, factorOptimizer: factorOptimizer, fresh: fresh, hostile: hostile)
                let linear = SGDUpdater(rate: 0.2, l2: 0)
                let label = "\(kind) adagrad \(adagrad) fresh \(fresh) hostile \(hostile)"
                let kernel: (Double, [Float], [Float], [UInt64], Int)
                let reference: (Double, [Float], [Float], [UInt64], Int)
                if adagrad {
                    let factor = AdaGradUpdater(rate: 0.1, epsilon: 1e-6, l2: 0.01)
                    kernel = Self.runKernels(table, bits, context, linear, factor)
                    reference = Reference(c: context).run(table, bits, Self.row, linear, factor)
                } else {
                    let factor = SGDUpdater(rate: 0.3, l2: 0.01)
                    kernel = Self.runKernels(table, bits, context, linear, factor)
                    reference = Reference(c: context).run(table, bits, Self.row, linear, factor)
                }
                #expect(
                    kernel.0.bitPattern == reference.0.bitPattern || (kernel.0.isNaN && reference.0.isNaN),
                    "margin \(kernel.0) vs \(reference.0): \(label)")
                #expect(zip(kernel.1, reference.1).allSatisfy(Self.same), "forward scratch: \(label)")
                #expect(kernel.2.map(\.bitPattern) == reference.2.map(\.bitPattern), "table: \(label)")
                #expect(kernel.3 == reference.3, "materialized bits: \(label)")
                #expect(kernel.4 == reference.4, "skipped: \(label)")
                if hostile { #expect(kernel.4 > 0, "the hostile table should skip coordinates: \(label)") }
            }
        }
    }

    /// `Kernels.forward` then `Kernels.update` (gradient 0.37) on copies: margin, the forward pass's two k-vectors,
    /// table, bits, skipped.
    static func runKernels<L: CoordinateUpdater, F: CoordinateUpdater>(
        _ table: [Float], _ bits: [UInt64], _ c: Kernels.Context, _ linear: L, _ factor: F
    ) -> (Double, [Float], [Float], [UInt64], Int) {
        var table = table
        var bits = bits
        let k = c.layout.k
        var scratch = [Float](repeating: .nan, count: Kernels.scratchCount(c.layout))
        var margin = 0.0
        var skipped = 0
        row.withView { view in
            table.withUnsafeMutableBufferPointer { t in
                bits.withUnsafeMutableBufferPointer { b in
                    scratch.withUnsafeMutableBufferPointer { s in
                        margin = Kernels.forward(
                            UnsafePointer(t.baseAddress!), view, c, s.baseAddress!, materialized: UnsafePointer(b.baseAddress!))
                        skipped = Kernels.update(
                            t.baseAddress!, view, c, s.baseAddress!, materialized: b.baseAddress!, gradient: 0.37,
                            linear: linear, factor: factor)
                    }
                }
            }
        }
        return (margin, Array(scratch[0..<2 * k]), table, bits, skipped)
    }

    /// The kernels as plain loops.
    struct Reference {
        let c: Kernels.Context

        var k: Int { c.layout.k }

        func isMaterialized(_ bits: [UInt64], _ slot: Int) -> Bool { bits[slot >> 6] & (1 << UInt64(slot & 63)) != 0 }

        func slot(_ index: UInt32) -> Int { Int(index & c.mask) }

        func inTowers(_ field: UInt8) -> (user: Bool, item: Bool) {
            let bit: UInt64 = 1 << UInt64(field & 63)
            return (c.userFields & bit != 0, c.itemFields & bit != 0)
        }

        /// The factors of `slot`: the table's once materialized, else the initial ones.
        func factors(_ table: [Float], _ bits: [UInt64], _ slot: Int) -> [Float] {
            if isMaterialized(bits, slot) {
                let start = slot * c.layout.stride + c.layout.factorOffset
                return Array(table[start..<start + k])
            }
            var v = [Float](repeating: 0, count: k)
            v.withUnsafeMutableBufferPointer { Kernels.initialFactors(c, slot: slot, into: $0.baseAddress!) }
            return v
        }

        /// Margin and the two k-vectors (FM: S and Σ v²x²; MF: U and I).
        func forward(_ table: [Float], _ bits: [UInt64], _ row: FeatureRow) -> (Double, [Float], [Float]) {
            var linear = Double(table[c.layout.biasBase])
            var a = [Float](repeating: 0, count: k)
            var b = [Float](repeating: 0, count: k)
            for j in 0..<row.indices.count {
                let slot = slot(row.indices[j])
                let x = row.values[j]
                linear += Double(isMaterialized(bits, slot) ? table[slot * c.layout.stride] : 0) * Double(x)
                if c.shape == .factorizationMachine {
                    let v = factors(table, bits, slot)
                    for f in 0..<k {
                        let vx = v[f] * x
                        a[f] += vx
                        b[f] += vx * vx
                    }
                } else {
                    let (user, item) = inTowers(row.fields[j])
                    guard user || item else { continue }
                    let v = factors(table, bits, slot)
                    for f in 0..<k {
                        if user { a[f] += v[f] * x }
                        if item { b[f] += v[f] * x }
                    }
                }
            }
            var sum: Float = 0
            for f in 0..<k {
                if c.shape == .factorizationMachine { sum += a[f] * a[f] - b[f] } else { sum += a[f] * b[f] }
            }
            return (c.shape == .factorizationMachine ? linear + 0.5 * Double(sum) : linear + Double(sum), a, b)
        }

        func run<L: CoordinateUpdater, F: CoordinateUpdater>(
            _ table: [Float], _ bits: [UInt64], _ row: FeatureRow, _ linear: L, _ factor: F
        ) -> (Double, [Float], [Float], [UInt64], Int) {
            let (margin, a, b) = forward(table, bits, row)
            var table = table
            var bits = bits
            let g: Float = 0.37
            let layout = c.layout
            var skipped = 0
            table.withUnsafeMutableBufferPointer { tp in
                let t = tp.baseAddress!
                if !linear.unregularized().apply(t + layout.biasBase, t + layout.biasBase + 1, 1, g) { skipped += 1 }
                for j in 0..<row.indices.count {
                    let x = row.values[j]
                    let gx = g * x
                    let slot = slot(row.indices[j])
                    let base = slot * layout.stride
                    if !isMaterialized(bits, slot) {
                        bits[slot >> 6] |= 1 << UInt64(slot & 63)
                        Kernels.initialFactors(c, slot: slot, into: t + base + layout.factorOffset)
                    }
                    if !linear.apply(t + base, t + base + 1, 1, gx) { skipped += 1 }
                    let v = t + base + layout.factorOffset
                    var grads = [Float](repeating: 0, count: k)
                    if c.shape == .factorizationMachine {
                        for f in 0..<k { grads[f] = gx * (a[f] - v[f] * x) }
                    } else {
                        let (user, item) = inTowers(row.fields[j])
                        guard user || item else { continue }
                        for f in 0..<k { grads[f] = user && item ? gx * (b[f] + a[f]) : gx * (user ? b[f] : a[f]) }
                    }
                    for f in 0..<k where !factor.apply(v + f, t + base + layout.factorStateOffset + f, k, grads[f]) {
                        skipped += 1
                    }
                }
            }
            return (margin, a + b, table, bits, skipped)
        }
    }
}
