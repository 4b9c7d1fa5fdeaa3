// MARK: - Kernels

/// The hot loops: a forward pass (margin, plus the factor sums the update needs) and an update pass, per model kind,
/// over raw pointers into the contiguous parameter table. Generic over the updaters so each optimizer combination is
/// specialised by the compiler; no allocation, no existentials, no closures per feature.
enum Kernels {
    /// The model's shape, as the kernels need it.
    enum Shape: UInt8, Sendable {
        case logistic, factorizationMachine, matrixFactorization
    }

    /// Read-only view of a `FeatureRow`'s three parallel arrays.
    struct RowView {
        let indices: UnsafeBufferPointer<UInt32>
        let values: UnsafeBufferPointer<Float>
        let fields: UnsafeBufferPointer<UInt8>
        var count: Int { indices.count }
    }

    /// Constants of one model.
    struct Context: Sendable {
        let shape: Shape
        let layout: ParameterLayout
        let mask: UInt32
        let userFields: UInt64
        let itemFields: UInt64
    }

    /// Floats of scratch space the kernels need: two k-vector sums from `forward` and one k-vector of factor
    /// gradients.
    static func scratchCount(_ layout: ParameterLayout) -> Int { max(3 &* layout.k, 1) }

    // MARK: Forward

    /// Computes the raw margin. For FM leaves `S_f = Σ v_jf x_j` in `scratch[0..<k]` and `Σ v_jf² x_j²` in
    /// `scratch[k..<2k]`; for MF leaves the user tower `U` in `scratch[0..<k]` and the item tower `I` in
    /// `scratch[k..<2k]`. Non-finite inputs propagate into a non-finite margin (NaN·0 and ∞·0 are NaN).
    @inline(__always)
    static func forward(_ t: UnsafePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>) -> Double {
        let layout = c.layout
        let stride = layout.stride
        let mask = c.mask
        let n = row.count
        var linear = Double(t[layout.biasBase])
        switch c.shape {
        case .logistic:
            var j = 0
            while j < n {
                let base = Int(row.indices[j] & mask) &* stride
                linear += Double(t[base]) * Double(row.values[j])
                j &+= 1
            }
            return linear

        case .factorizationMachine:
            let k = layout.k
            let sums = scratch
            let squares = scratch + k
            sums.initialize(repeating: 0, count: k)
            squares.initialize(repeating: 0, count: k)
            var j = 0
            while j < n {
                let x = row.values[j]
                let base = Int(row.indices[j] & mask) &* stride
                linear += Double(t[base]) * Double(x)
                let v = t + base + layout.factorOffset
                var f = 0
                while f < k {
                    let vx = v[f] * x
                    sums[f] += vx
                    squares[f] += vx * vx
                    f &+= 1
                }
                j &+= 1
            }
            var pair: Float = 0
            var f = 0
            while f < k {
                pair += sums[f] * sums[f] - squares[f]
                f &+= 1
            }
            return linear + 0.5 * Double(pair)

        case .matrixFactorization:
            let k = layout.k
            let user = scratch
            let item = scratch + k
            user.initialize(repeating: 0, count: 2 &* k)
            var j = 0
            while j < n {
                let x = row.values[j]
                let base = Int(row.indices[j] & mask) &* stride
                linear += Double(t[base]) * Double(x)
                let bit: UInt64 = 1 &<< UInt64(row.fields[j] & 63)
                let v = t + base + layout.factorOffset
                if c.userFields & bit != 0 { accumulate(user, v, x, k) }
                if c.itemFields & bit != 0 { accumulate(item, v, x, k) }
                j &+= 1
            }
            var dot: Float = 0
            var f = 0
            while f < k {
                dot += user[f] * item[f]
                f &+= 1
            }
            return linear + Double(dot)
        }
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

    /// Applies one example's update. `g` is the clipped, weighted loss gradient w.r.t. the margin; every gradient
    /// uses parameter values from before this update (the factor sums in `scratch` come from `forward`).
    /// Returns the number of coordinates skipped because their new value would have been non-finite.
    @inline(__always)
    static func update<L: CoordinateUpdater, F: CoordinateUpdater>(
        _ t: UnsafeMutablePointer<Float>, _ row: RowView, _ c: Context, _ scratch: UnsafeMutablePointer<Float>,
        gradient g: Float, linear: L, factor: F
    ) -> Int {
        let layout = c.layout
        let stride = layout.stride
        let mask = c.mask
        let n = row.count
        let k = layout.k
        var skipped = 0

        // Bias: same optimizer, never regularised.
        let biasBase = layout.biasBase
        if !linear.unregularized().apply(t + biasBase, t + biasBase + 1, 1, g) { skipped &+= 1 }

        switch c.shape {
        case .logistic:
            var j = 0
            while j < n {
                let base = Int(row.indices[j] & mask) &* stride
                if !linear.apply(t + base, t + base + 1, 1, g * row.values[j]) { skipped &+= 1 }
                j &+= 1
            }

        case .factorizationMachine:
            // ∂margin/∂v_jf = x_j (S_f − v_jf x_j)
            let sums = scratch
            let grads = scratch + 2 &* k
            var j = 0
            while j < n {
                let x = row.values[j]
                let gx = g * x
                let base = Int(row.indices[j] & mask) &* stride
                if !linear.apply(t + base, t + base + 1, 1, gx) { skipped &+= 1 }
                let v = t + base + layout.factorOffset
                var f = 0
                while f < k {
                    grads[f] = gx * (sums[f] - v[f] * x)
                    f &+= 1
                }
                skipped &+= factor.applyBlock(v, t + base + layout.factorStateOffset, k, grads)
                j &+= 1
            }

        case .matrixFactorization:
            // ∂margin/∂v_jf = x_j I_f for a user-tower feature, x_j U_f for an item-tower feature (both if in both).
            let user = scratch
            let item = scratch + k
            let grads = scratch + 2 &* k
            var j = 0
            while j < n {
                let x = row.values[j]
                let gx = g * x
                let base = Int(row.indices[j] & mask) &* stride
                if !linear.apply(t + base, t + base + 1, 1, gx) { skipped &+= 1 }
                let bit: UInt64 = 1 &<< UInt64(row.fields[j] & 63)
                let inUser = c.userFields & bit != 0
                let inItem = c.itemFields & bit != 0
                if inUser || inItem {
                    var f = 0
                    if inUser && inItem {
                        while f < k {
                            grads[f] = gx * (item[f] + user[f])
                            f &+= 1
                        }
                    } else {
                        let partner = inUser ? item : user
                        while f < k {
                            grads[f] = gx * partner[f]
                            f &+= 1
                        }
                    }
                    skipped &+= factor.applyBlock(
                        t + base + layout.factorOffset, t + base + layout.factorStateOffset, k, grads)
                }
                j &+= 1
            }
        }
        return skipped
    }
}
