// MARK: - Kernels

/// The hot loops: a forward pass (margin, plus the factor sums the update needs) and an update pass, per model kind,
/// over raw pointers into the contiguous parameter table. Generic over the updaters so each optimizer combination is
/// specialised by the compiler; no allocation, no existentials, no closures per feature.
@usableFromInline
enum Kernels {
    /// The model's shape, as the kernels need it.
    @usableFromInline
    enum Shape: UInt8, Sendable {
        case logistic, factorizationMachine, matrixFactorization
    }

    /// Read-only view of a `FeatureRow`'s three parallel arrays.
    @usableFromInline
    struct RowView {
        let indices: UnsafeBufferPointer<UInt32>
        let values: UnsafeBufferPointer<Float>
        let fields: UnsafeBufferPointer<UInt8>
        var count: Int { indices.count }

        @usableFromInline
        init(indices: UnsafeBufferPointer<UInt32>, values: UnsafeBufferPointer<Float>, fields: UnsafeBufferPointer<UInt8>) {
            self.indices = indices
            self.values = values
            self.fields = fields
        }
    }

    /// Constants of one model.
    @usableFromInline
    struct Context: Sendable {
        @usableFromInline let shape: Shape
        @usableFromInline let layout: ParameterLayout
        @usableFromInline let mask: UInt32
        let userFields: UInt64
        let itemFields: UInt64
        /// Factor initialisation: seed and half-width (`√3·initStd`).
        let seed: UInt64
        let factorScale: Float
    }

    /// Floats of scratch space the kernels need: two k-vector sums from `forward`, one k-vector for the factor
    /// gradients of coordinates that take the per-coordinate path and one k-vector for the initial factors of a slot
    /// not yet materialized.
    static func scratchCount(_ layout: ParameterLayout) -> Int { max(4 &* layout.k, 1) }

    // MARK: Initial factors

    /// Writes the initial factors of `slot`: factor `f` is `factorScale · u` with `u` uniform on `[−1, 1)` from the
    /// `(slot·k + f + 1)`-th output of SplitMix64(seed) — exactly what drawing the whole table slot by slot, factor by
    /// factor, from one generator would give.
    @inline(__always)
    static func initialFactors(_ c: Context, slot: Int, into v: UnsafeMutablePointer<Float>) {
        let k = c.layout.k
        let first = UInt64(slot) &* UInt64(k)
        for f in 0..<k {
            v[f] = c.factorScale * SplitMix64.symmetricUnit(SplitMix64.output(seed: c.seed, index: first &+ UInt64(f) &+ 1))
        }
    }

    // MARK: Forward

    /// Computes the raw margin. For FM leaves `S_f = Σ v_jf x_j` in `scratch[0..<k]` and `Σ v_jf² x_j²` in
    /// `scratch[k..<2k]`; for MF leaves the user tower `U` in `scratch[0..<k]` and the item tower `I` in
    /// `scratch[k..<2k]`. Non-finite inputs propagate into a non-finite margin (NaN·0 and ∞·0 are NaN).
    /// Slots whose bit in `materialized` is clear read their initial factors (generated into `scratch[3k..<4k]`)
    /// instead of the table's zeros.
    @inline(__always)
    static func forward(
        _ t: UnsafePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        materialized: UnsafePointer<UInt64>
    ) -> Double {
        forward(t, row, c, scratch, materialized: materialized, start: Double(t[c.layout.biasBase]), sums: nil)
    }

    /// `forward` of a row's continuation: the sums start from `start` (the linear terms of the row's first part, bias
    /// included) and, for factor models, from `sums` (the first part's two k-vectors, as `forward` of that part left
    /// them in its scratch) instead of the bias and zeros. Every sum adds the same terms in the same order as over
    /// the whole row, so the margin is the whole row's to the bit.
    @inline(__always)
    static func forward(
        _ t: UnsafePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        materialized: UnsafePointer<UInt64>, start: Double, sums: UnsafePointer<Float>?
    ) -> Double {
        // One function per shape: each loop gets its own register allocation (a shared one spilled the accumulator).
        switch c.shape {
        case .logistic: return forwardLogistic(t, row, c, materialized, start: start)
        case .factorizationMachine: return forwardFM(t, row, c, scratch, materialized, start: start, sums)
        case .matrixFactorization: return forwardMF(t, row, c, scratch, materialized, start: start, sums)
        }
    }

    @usableFromInline @inline(never)
    static func forwardLogistic(
        _ t: UnsafePointer<Float>, _ row: RowView, _ c: Context, _ materialized: UnsafePointer<UInt64>, start: Double
    ) -> Double {
        let stride = c.layout.stride
        let mask = c.mask
        let n = row.count
        var linear = start
        var j = 0
        while j < n {
            let slot = Int(row.indices[j] & mask)
            linear += Double(weight(t, slot, slot &* stride, materialized)) * Double(row.values[j])
            j &+= 1
        }
        return linear
    }

    /// The linear weight of `slot`, without touching the table's memory while the slot is not materialized (its
    /// weight is then 0): the first access to a fresh page is then the update's write, one page fault instead of a
    /// zero-page read fault followed by a copy-on-write fault.
    @inline(__always)
    static func weight(_ t: UnsafePointer<Float>, _ slot: Int, _ base: Int, _ materialized: UnsafePointer<UInt64>) -> Float {
        materialized[slot &>> 6] & (1 &<< UInt64(slot & 63)) != 0 ? t[base] : 0
    }

    /// The linear terms `b + Σ w_j x_j` of an FM or MF row, in row order, and whether the slot of a feature whose
    /// field is in `factorFields` is not yet materialized (its factors are then not in the table).
    @inline(__always)
    static func linearTerms(
        _ t: UnsafePointer<Float>, _ row: RowView, _ c: Context, _ materialized: UnsafePointer<UInt64>,
        factorFields: UInt64, start: Double
    ) -> (linear: Double, fresh: Bool) {
        let stride = c.layout.stride
        let mask = c.mask
        let n = row.count
        var linear = start
        var fresh = false
        var j = 0
        while j < n {
            let slot = Int(row.indices[j] & mask)
            let present = materialized[slot &>> 6] & (1 &<< UInt64(slot & 63)) != 0
            // As `weight`: no read of the table for a slot not materialized.
            linear += Double(present ? t[slot &* stride] : 0) * Double(row.values[j])
            if !present && factorFields & (1 &<< UInt64(row.fields[j] & 63)) != 0 { fresh = true }
            j &+= 1
        }
        return (linear, fresh)
    }

    /// FM. The linear terms first; then, if every slot of the row is materialized (the usual case), the factor sums
    /// block by block of the factors — 16 at a time in registers (four `Lanes` of `S_f` and four of `Σ v² x²`),
    /// then 4 at a time, then one at a time — each block over the whole row in row order, so every `S_f` and
    /// `Σ v_jf² x_j²` adds the same terms in the same order as a feature-by-feature loop and the result is the same
    /// to the bit. A row with a slot not yet materialized goes feature by feature instead (`forwardFMFresh`: its
    /// initial factors are generated into the one scratch vector, one feature at a time). The pairwise term
    /// `½ Σ_f (S_f² − Σ v² x²)` then sums over `f` in order.
    @inline(never)
    static func forwardFM(
        _ t: UnsafePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        _ materialized: UnsafePointer<UInt64>, start: Double, _ prefix: UnsafePointer<Float>?
    ) -> Double {
        let (linear, fresh) = linearTerms(t, row, c, materialized, factorFields: ~0, start: start)
        let k = c.layout.k
        let sums = scratch
        let squares = scratch + k
        if fresh {
            forwardFMFresh(t, row, c, scratch, materialized, prefix)
        } else {
            let stride = c.layout.stride
            let mask = c.mask
            let n = row.count
            let factors = t + c.layout.factorOffset
            var f = 0
            while f &+ 16 <= k {
                var s0 = Lanes(), s1 = Lanes(), s2 = Lanes(), s3 = Lanes()
                var q0 = Lanes(), q1 = Lanes(), q2 = Lanes(), q3 = Lanes()
                if let p = prefix {
                    s0 = p.lanes(f); s1 = p.lanes(f &+ 4); s2 = p.lanes(f &+ 8); s3 = p.lanes(f &+ 12)
                    q0 = p.lanes(k &+ f); q1 = p.lanes(k &+ f &+ 4); q2 = p.lanes(k &+ f &+ 8); q3 = p.lanes(k &+ f &+ 12)
                }
                var j = 0
                while j < n {
                    let x = Lanes(repeating: row.values[j])
                    let v = factors + (Int(row.indices[j] & mask) &* stride &+ f)
                    let a0 = v.lanes(0) * x, a1 = v.lanes(4) * x, a2 = v.lanes(8) * x, a3 = v.lanes(12) * x
                    s0 += a0
                    s1 += a1
                    s2 += a2
                    s3 += a3
                    q0 += a0 * a0
                    q1 += a1 * a1
                    q2 += a2 * a2
                    q3 += a3 * a3
                    j &+= 1
                }
                sums.store(s0, f)
                sums.store(s1, f &+ 4)
                sums.store(s2, f &+ 8)
                sums.store(s3, f &+ 12)
                squares.store(q0, f)
                squares.store(q1, f &+ 4)
                squares.store(q2, f &+ 8)
                squares.store(q3, f &+ 12)
                f &+= 16
            }
            while f &+ 4 <= k {
                var s = Lanes(), q = Lanes()
                if let p = prefix { s = p.lanes(f); q = p.lanes(k &+ f) }
                var j = 0
                while j < n {
                    let a = factors.lanes(Int(row.indices[j] & mask) &* stride &+ f) * Lanes(repeating: row.values[j])
                    s += a
                    q += a * a
                    j &+= 1
                }
                sums.store(s, f)
                squares.store(q, f)
                f &+= 4
            }
            while f < k {
                var s: Float = prefix?[f] ?? 0
                var q: Float = prefix?[k &+ f] ?? 0
                var j = 0
                while j < n {
                    let a = factors[Int(row.indices[j] & mask) &* stride &+ f] * row.values[j]
                    s += a
                    q += a * a
                    j &+= 1
                }
                sums[f] = s
                squares[f] = q
                f &+= 1
            }
        }
        var pair: Float = 0
        var f = 0
        while f &+ 4 <= k {
            let s = sums.lanes(f)
            let d = s * s - squares.lanes(f)
            pair += d[0]
            pair += d[1]
            pair += d[2]
            pair += d[3]
            f &+= 4
        }
        while f < k {
            pair += sums[f] * sums[f] - squares[f]
            f &+= 1
        }
        return linear + 0.5 * Double(pair)
    }

    /// FM factor sums feature by feature, for a row with a slot not yet materialized (see `forwardFM`).
    @inline(never)
    static func forwardFMFresh(
        _ t: UnsafePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        _ materialized: UnsafePointer<UInt64>, _ prefix: UnsafePointer<Float>?
    ) {
        let stride = c.layout.stride
        let mask = c.mask
        let n = row.count
        let k = c.layout.k
        let sums = scratch
        let squares = scratch + k
        let initial = scratch + 3 &* k
        if let prefix {
            sums.update(from: prefix, count: 2 &* k)
        } else {
            sums.initialize(repeating: 0, count: k)
            squares.initialize(repeating: 0, count: k)
        }
        var j = 0
        while j < n {
            let x = row.values[j]
            let slot = Int(row.indices[j] & mask)
            let v = factorPointer(t, slot, slot &* stride, c, materialized, initial)
            var f = 0
            while f < k {
                let vx = v[f] * x
                sums[f] += vx
                squares[f] += vx * vx
                f &+= 1
            }
            j &+= 1
        }
    }

    /// MF. As `forwardFM`: the linear terms, then, if every slot of a tower feature is materialized, the towers
    /// `U` and `I` block by block of the factors (16 at a time in registers, then 4, then 1), each over the whole
    /// row in row order (the same sums to the bit as feature by feature); else feature by feature
    /// (`forwardMFFresh`). The dot product `U·I` then sums over `f` in order.
    @inline(never)
    static func forwardMF(
        _ t: UnsafePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        _ materialized: UnsafePointer<UInt64>, start: Double, _ prefix: UnsafePointer<Float>?
    ) -> Double {
        let (linear, fresh) = linearTerms(t, row, c, materialized, factorFields: c.userFields | c.itemFields, start: start)
        let k = c.layout.k
        let user = scratch
        let item = scratch + k
        if fresh {
            forwardMFFresh(t, row, c, scratch, materialized, prefix)
        } else {
            let stride = c.layout.stride
            let mask = c.mask
            let n = row.count
            let factors = t + c.layout.factorOffset
            let userFields = c.userFields
            let itemFields = c.itemFields
            var f = 0
            while f &+ 16 <= k {
                var u0 = Lanes(), u1 = Lanes(), u2 = Lanes(), u3 = Lanes()
                var i0 = Lanes(), i1 = Lanes(), i2 = Lanes(), i3 = Lanes()
                if let p = prefix {
                    u0 = p.lanes(f); u1 = p.lanes(f &+ 4); u2 = p.lanes(f &+ 8); u3 = p.lanes(f &+ 12)
                    i0 = p.lanes(k &+ f); i1 = p.lanes(k &+ f &+ 4); i2 = p.lanes(k &+ f &+ 8); i3 = p.lanes(k &+ f &+ 12)
                }
                var j = 0
                while j < n {
                    let bit: UInt64 = 1 &<< UInt64(row.fields[j] & 63)
                    let inUser = userFields & bit != 0
                    let inItem = itemFields & bit != 0
                    if inUser || inItem {
                        let x = Lanes(repeating: row.values[j])
                        let v = factors + (Int(row.indices[j] & mask) &* stride &+ f)
                        let a0 = v.lanes(0) * x, a1 = v.lanes(4) * x, a2 = v.lanes(8) * x, a3 = v.lanes(12) * x
                        if inUser {
                            u0 += a0
                            u1 += a1
                            u2 += a2
                            u3 += a3
                        }
                        if inItem {
                            i0 += a0
                            i1 += a1
                            i2 += a2
                            i3 += a3
                        }
                    }
                    j &+= 1
                }
                user.store(u0, f)
                user.store(u1, f &+ 4)
                user.store(u2, f &+ 8)
                user.store(u3, f &+ 12)
                item.store(i0, f)
                item.store(i1, f &+ 4)
                item.store(i2, f &+ 8)
                item.store(i3, f &+ 12)
                f &+= 16
            }
            while f &+ 4 <= k {
                var u = Lanes(), i = Lanes()
                if let p = prefix { u = p.lanes(f); i = p.lanes(k &+ f) }
                var j = 0
                while j < n {
                    let bit: UInt64 = 1 &<< UInt64(row.fields[j] & 63)
                    let inUser = userFields & bit != 0
                    let inItem = itemFields & bit != 0
                    if inUser || inItem {
                        let a = factors.lanes(Int(row.indices[j] & mask) &* stride &+ f) * Lanes(repeating: row.values[j])
                        if inUser { u += a }
                        if inItem { i += a }
                    }
                    j &+= 1
                }
                user.store(u, f)
                item.store(i, f)
                f &+= 4
            }
            while f < k {
                var u: Float = prefix?[f] ?? 0
                var i: Float = prefix?[k &+ f] ?? 0
                var j = 0
                while j < n {
                    let bit: UInt64 = 1 &<< UInt64(row.fields[j] & 63)
                    let inUser = userFields & bit != 0
                    let inItem = itemFields & bit != 0
                    if inUser || inItem {
                        let a = factors[Int(row.indices[j] & mask) &* stride &+ f] * row.values[j]
                        if inUser { u += a }
                        if inItem { i += a }
                    }
                    j &+= 1
                }
                user[f] = u
                item[f] = i
                f &+= 1
            }
        }
        var dot: Float = 0
        var f = 0
        while f &+ 4 <= k {
            let d = user.lanes(f) * item.lanes(f)
            dot += d[0]
            dot += d[1]
            dot += d[2]
            dot += d[3]
            f &+= 4
        }
        while f < k {
            dot += user[f] * item[f]
            f &+= 1
        }
        return linear + Double(dot)
    }

    /// MF towers feature by feature, for a row with a tower feature's slot not yet materialized (see `forwardMF`).
    @inline(never)
    static func forwardMFFresh(
        _ t: UnsafePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        _ materialized: UnsafePointer<UInt64>, _ prefix: UnsafePointer<Float>?
    ) {
        let stride = c.layout.stride
        let mask = c.mask
        let n = row.count
        let k = c.layout.k
        let user = scratch
        let item = scratch + k
        let initial = scratch + 3 &* k
        if let prefix { user.update(from: prefix, count: 2 &* k) } else { user.initialize(repeating: 0, count: 2 &* k) }
        var j = 0
        while j < n {
            let x = row.values[j]
            let slot = Int(row.indices[j] & mask)
            let bit: UInt64 = 1 &<< UInt64(row.fields[j] & 63)
            let inUser = c.userFields & bit != 0
            let inItem = c.itemFields & bit != 0
            if inUser || inItem {
                let v = factorPointer(t, slot, slot &* stride, c, materialized, initial)
                if inUser { accumulate(user, v, x, k) }
                if inItem { accumulate(item, v, x, k) }
            }
            j &+= 1
        }
    }

    /// Out-of-line `initialFactors`, for the cold paths inside the hot loops.
    @inline(never)
    static func generateInitialFactors(_ c: Context, slot: Int, into v: UnsafeMutablePointer<Float>) {
        initialFactors(c, slot: slot, into: v)
    }

    /// The factors of `slot`: in the table once materialized, else generated into `initial`.
    @inline(__always)
    static func factorPointer(
        _ t: UnsafePointer<Float>, _ slot: Int, _ base: Int, _ c: Context, _ materialized: UnsafePointer<UInt64>,
        _ initial: UnsafeMutablePointer<Float>
    ) -> UnsafePointer<Float> {
        if materialized[slot &>> 6] & (1 &<< UInt64(slot & 63)) != 0 { return t + base + c.layout.factorOffset }
        generateInitialFactors(c, slot: slot, into: initial)
        return UnsafePointer(initial)
    }

    @inline(__always)
    static func accumulate(_ into: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, _ x: Float, _ k: Int) {
        var f = 0
        while f < k {
            into[f] += v[f] * x
            f &+= 1
        }
    }

    // MARK: Update

    /// Marks `slot` materialized; the first time, writes its initial factors (the values `forward` generated).
    @inline(__always)
    static func materialize(
        _ t: UnsafeMutablePointer<Float>, _ slot: Int, _ base: Int, _ c: Context, _ bits: UnsafeMutablePointer<UInt64>
    ) {
        let word = bits[slot &>> 6]
        let bit: UInt64 = 1 &<< UInt64(slot & 63)
        if word & bit == 0 {
            bits[slot &>> 6] = word | bit
            generateInitialFactors(c, slot: slot, into: t + base + c.layout.factorOffset)
        }
    }

    /// Applies one example's update. `g` is the clipped, weighted loss gradient w.r.t. the margin; every gradient
    /// uses parameter values from before this update (the factor sums in `scratch` come from `forward`). Slots the
    /// row touches for the first time are materialized on the way.
    /// Returns the number of coordinates skipped because their new value would have been non-finite.
    @inline(__always)
    static func update<L: CoordinateUpdater, F: CoordinateUpdater>(
        _ t: UnsafeMutablePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        materialized bits: UnsafeMutablePointer<UInt64>, gradient g: Float, linear: L, factor: F
    ) -> Int {
        update(t, row, c, scratch, materialized: bits, gradient: g, linear: linear, factor: factor, recorder: NoTouches())
    }

    /// `update`, showing `recorder` every slot (the bias first, then each feature's in row order) once it is
    /// materialized and before its values change — for a replica that exchanges increments (``TouchLog``).
    @inline(__always)
    static func update<L: CoordinateUpdater, F: CoordinateUpdater, R: TouchRecorder>(
        _ t: UnsafeMutablePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        materialized bits: UnsafeMutablePointer<UInt64>, gradient g: Float, linear: L, factor: F, recorder: R
    ) -> Int {
        // Bias: same optimizer, never regularised; always live (never in the bitmap).
        let biasBase = c.layout.biasBase
        recorder.touch(c.layout.slots, t + biasBase)
        var skipped = linear.unregularized().apply(t + biasBase, t + biasBase + 1, 1, g) ? 0 : 1
        switch c.shape {
        case .logistic: skipped &+= updateLogistic(t, row, c, bits, g, linear, recorder)
        case .factorizationMachine: skipped &+= updateFM(t, row, c, scratch, bits, g, linear, factor, recorder)
        case .matrixFactorization: skipped &+= updateMF(t, row, c, scratch, bits, g, linear, factor, recorder)
        }
        return skipped
    }

    @inline(never)
    static func updateLogistic<L: CoordinateUpdater, R: TouchRecorder>(
        _ t: UnsafeMutablePointer<Float>, _ row: RowView, _ c: Context, _ bits: UnsafeMutablePointer<UInt64>,
        _ g: Float, _ linear: L, _ recorder: R
    ) -> Int {
        let stride = c.layout.stride
        let mask = c.mask
        let n = row.count
        var skipped = 0
        var j = 0
        while j < n {
            let slot = Int(row.indices[j] & mask)
            let base = slot &* stride
            let word = bits[slot &>> 6]
            let bit: UInt64 = 1 &<< UInt64(slot & 63)
            if word & bit == 0 {  // no factors to draw: materializing is marking (and writing first, see `weight`)
                bits[slot &>> 6] = word | bit
                t[base] = 0
            }
            recorder.touch(slot, t + base)
            if !linear.apply(t + base, t + base + 1, 1, g * row.values[j]) { skipped &+= 1 }
            j &+= 1
        }
        return skipped
    }

    /// FM: ∂margin/∂v_jf = x_j (S_f − v_jf x_j) (`FMGradients`, computed inside the factor optimizer's SIMD loop;
    /// `scratch[2k..<3k]` takes the gradients of coordinates that go one by one).
    @inline(never)
    static func updateFM<L: CoordinateUpdater, F: CoordinateUpdater, R: TouchRecorder>(
        _ t: UnsafeMutablePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        _ bits: UnsafeMutablePointer<UInt64>, _ g: Float, _ linear: L, _ factor: F, _ recorder: R
    ) -> Int {
        let layout = c.layout
        let stride = layout.stride
        let mask = c.mask
        let n = row.count
        let k = layout.k
        let sums = UnsafePointer(scratch)
        let grads = scratch + 2 &* k
        var skipped = 0
        var j = 0
        while j < n {
            let x = row.values[j]
            let gx = g * x
            let slot = Int(row.indices[j] & mask)
            let base = slot &* stride
            materialize(t, slot, base, c, bits)
            recorder.touch(slot, t + base)
            if !linear.apply(t + base, t + base + 1, 1, gx) { skipped &+= 1 }
            skipped &+= factor.applyBlock(
                t + base + layout.factorOffset, t + base + layout.factorStateOffset, k,
                FMGradients(sums: sums, x: x, gx: gx), grads)
            j &+= 1
        }
        return skipped
    }

    /// FM factor gradients of one feature: `g·x_j·(S_f − v_jf x_j)`, as `gx · (S_f − v_jf · x_j)`.
    struct FMGradients: FactorGradients {
        let sums: UnsafePointer<Float>
        let x: Float
        let gx: Float

        @inline(__always)
        func lanes(_ f: Int, _ v: Lanes) -> Lanes {
            Lanes(repeating: gx) * (sums.lanes(f) - v * Lanes(repeating: x))
        }

        @inline(__always)
        func scalar(_ f: Int, _ v: Float) -> Float { gx * (sums[f] - v * x) }
    }

    /// MF: ∂margin/∂v_jf = x_j I_f for a user-tower feature, x_j U_f for an item-tower feature (both if in both)
    /// (`TowerGradients`, `BothTowersGradients`, computed inside the factor optimizer's SIMD loop; `scratch[2k..<3k]`
    /// takes the gradients of coordinates that go one by one).
    @inline(never)
    static func updateMF<L: CoordinateUpdater, F: CoordinateUpdater, R: TouchRecorder>(
        _ t: UnsafeMutablePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        _ bits: UnsafeMutablePointer<UInt64>, _ g: Float, _ linear: L, _ factor: F, _ recorder: R
    ) -> Int {
        let layout = c.layout
        let stride = layout.stride
        let mask = c.mask
        let n = row.count
        let k = layout.k
        let user = UnsafePointer(scratch)
        let item = UnsafePointer(scratch + k)
        let grads = scratch + 2 &* k
        var skipped = 0
        var j = 0
        while j < n {
            let x = row.values[j]
            let gx = g * x
            let slot = Int(row.indices[j] & mask)
            let base = slot &* stride
            materialize(t, slot, base, c, bits)
            recorder.touch(slot, t + base)
            if !linear.apply(t + base, t + base + 1, 1, gx) { skipped &+= 1 }
            let bit: UInt64 = 1 &<< UInt64(row.fields[j] & 63)
            let inUser = c.userFields & bit != 0
            let inItem = c.itemFields & bit != 0
            if inUser && inItem {
                skipped &+= factor.applyBlock(
                    t + base + layout.factorOffset, t + base + layout.factorStateOffset, k,
                    BothTowersGradients(user: user, item: item, gx: gx), grads)
            } else if inUser || inItem {
                skipped &+= factor.applyBlock(
                    t + base + layout.factorOffset, t + base + layout.factorStateOffset, k,
                    TowerGradients(partner: inUser ? item : user, gx: gx), grads)
            }
            j &+= 1
        }
        return skipped
    }

    /// MF factor gradients of a feature in one tower: `g·x_j` times the other tower.
    struct TowerGradients: FactorGradients {
        let partner: UnsafePointer<Float>
        let gx: Float

        @inline(__always)
        func lanes(_ f: Int, _ v: Lanes) -> Lanes { Lanes(repeating: gx) * partner.lanes(f) }

        @inline(__always)
        func scalar(_ f: Int, _ v: Float) -> Float { gx * partner[f] }
    }

    /// MF factor gradients of a feature in both towers: `g·x_j·(I_f + U_f)`.
    struct BothTowersGradients: FactorGradients {
        let user: UnsafePointer<Float>
        let item: UnsafePointer<Float>
        let gx: Float

        @inline(__always)
        func lanes(_ f: Int, _ v: Lanes) -> Lanes { Lanes(repeating: gx) * (item.lanes(f) + user.lanes(f)) }

        @inline(__always)
        func scalar(_ f: Int, _ v: Float) -> Float { gx * (item[f] + user[f]) }
    }
}
