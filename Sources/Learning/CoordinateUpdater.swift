// MARK: - CoordinateUpdater

/// One optimizer's per-coordinate step, specialised at compile time (generic, never an existential) so the learning
/// loops are tight. Each update commits only finite results: if the new weight or state would be non-finite the
/// coordinate is left untouched and `false` is returned (the caller counts it).
protocol CoordinateUpdater {
    /// Applies gradient `g` (of the loss w.r.t. the weight at `w`, before any L2 term) to the weight at `w`, whose
    /// state floats are `s[0], s[stateStride], …`.
    func apply(_ w: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ stateStride: Int, _ g: Float) -> Bool
    /// Applies the `k` gradients `gradients` gives to the contiguous factor block `v[0..<k]` whose state `r` is
    /// `s[r·k ..< (r+1)·k]`, four coordinates at a time with SIMD, each group's gradients computed in the loop from
    /// its values before the step. A group of four is committed only if all its new values are finite; otherwise its
    /// gradients are written to `g[f..<f+4]` and those four go through `apply` one by one (which skips the
    /// non-finite ones), as do the last `k mod 4` coordinates (gradients written to `g` first). The SIMD loops
    /// leave for an out-of-line copy of themselves (`applyBlockChecked`) at the first group with a non-finite value,
    /// so the hot loop holds no call and keeps its constants in registers.
    /// Returns the number of coordinates skipped as non-finite.
    func applyBlock<G: FactorGradients>(
        _ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ gradients: G,
        _ g: UnsafeMutablePointer<Float>
    ) -> Int
    /// The same optimizer without any regularisation (for the bias).
    func unregularized() -> Self
}

extension CoordinateUpdater {
    /// Per-coordinate path for the `count` coordinates from `f` (SIMD remainders and groups with a non-finite value).
    @inline(never)
    func applyEach(
        _ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ g: UnsafePointer<Float>,
        from f: Int, count: Int
    ) -> Int {
        var skipped = 0
        for i in f..<(f + count) where !apply(v + i, s + i, k, g[i]) { skipped += 1 }
        return skipped
    }

    /// `applyEach` over the coordinates `f..<k` (the SIMD remainder), their gradients first written to `g[f..<k]`.
    @inline(__always)
    func applyRest<G: FactorGradients>(
        _ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ gradients: G,
        _ g: UnsafeMutablePointer<Float>, from f: Int
    ) -> Int {
        var i = f
        while i < k {
            g[i] = gradients.scalar(i, v[i])
            i &+= 1
        }
        return applyEach(v, s, k, UnsafePointer(g), from: f, count: k &- f)
    }
}

// MARK: - FactorGradients

/// The gradients of one feature's factor block, as a model kind defines them; an optimizer's `applyBlock` computes
/// them inside its SIMD loop, four at a time from the factors' values before the step, so they reach the update in
/// registers instead of through a buffer. Both members must do the same arithmetic per coordinate.
protocol FactorGradients {
    /// The gradients of factors `f ..< f + 4`, whose values are `v`.
    func lanes(_ f: Int, _ v: Lanes) -> Lanes
    /// The gradient of factor `f`, whose value is `v`.
    func scalar(_ f: Int, _ v: Float) -> Float
}

// MARK: - SIMD helpers

typealias Lanes = SIMD4<Float>

extension UnsafeMutablePointer where Pointee == Float {
    /// Unaligned load of four floats at `self + i`.
    @inline(__always) func lanes(_ i: Int) -> Lanes {
        UnsafeRawPointer(self + i).loadUnaligned(as: Lanes.self)
    }

    /// Unaligned store of four floats at `self + i`.
    @inline(__always) func store(_ x: Lanes, _ i: Int) {
        UnsafeMutableRawPointer(self + i).storeBytes(of: x, as: Lanes.self)
    }
}

extension UnsafePointer where Pointee == Float {
    /// Unaligned load of four floats at `self + i`.
    @inline(__always) func lanes(_ i: Int) -> Lanes {
        UnsafeRawPointer(self + i).loadUnaligned(as: Lanes.self)
    }
}

/// True if every lane of every argument is finite (exponent bits not all ones).
@inline(__always)
func allFinite(_ a: Lanes, _ b: Lanes) -> Bool {
    let exponent = SIMD4<UInt32>(repeating: 0x7f80_0000)
    let bad = (unsafeBitCast(a, to: SIMD4<UInt32>.self) & exponent) .== exponent
        .| (unsafeBitCast(b, to: SIMD4<UInt32>.self) & exponent) .== exponent
    return !any(bad)
}

// MARK: - SGD

/// `w ← w − η_t·(g + l2·w)`; `η_t` is computed by the caller from the decay schedule.
struct SGDUpdater: CoordinateUpdater {
    let rate: Float
    let l2: Float

    init(rate: Float, l2: Float) {
        self.rate = rate
        self.l2 = l2
    }

    @inline(__always)
    func apply(_ w: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ stateStride: Int, _ g: Float) -> Bool {
        let old = w.pointee
        let new = old - rate * (g + l2 * old)
        guard new.isFinite else { return false }
        w.pointee = new
        return true
    }

    @inline(__always)
    func applyBlock<G: FactorGradients>(
        _ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ gradients: G,
        _ g: UnsafeMutablePointer<Float>
    ) -> Int {
        var f = 0
        while f < k &- 3 {
            let old = v.lanes(f)
            let new = step(old, gradients.lanes(f, old))
            guard allFinite(new, new) else { return applyBlockChecked(v, s, k, gradients, g, from: f) }
            v.store(new, f)
            f &+= 4
        }
        return f < k ? applyRest(v, s, k, gradients, g, from: f) : 0
    }

    /// `applyBlock` from coordinate `f` on, each group of four checked: the path after a group with a non-finite
    /// new value.
    @inline(never)
    func applyBlockChecked<G: FactorGradients>(
        _ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ gradients: G,
        _ g: UnsafeMutablePointer<Float>, from start: Int
    ) -> Int {
        var skipped = 0
        var f = start
        while f < k &- 3 {
            let old = v.lanes(f)
            let gradient = gradients.lanes(f, old)
            let new = step(old, gradient)
            if allFinite(new, new) {
                v.store(new, f)
            } else {
                g.store(gradient, f)
                skipped &+= applyEach(v, s, k, UnsafePointer(g), from: f, count: 4)
            }
            f &+= 4
        }
        if f < k { skipped &+= applyRest(v, s, k, gradients, g, from: f) }
        return skipped
    }

    /// `apply`'s arithmetic on four coordinates.
    @inline(__always)
    func step(_ old: Lanes, _ gradient: Lanes) -> Lanes {
        old - Lanes(repeating: rate) * (gradient + Lanes(repeating: l2) * old)
    }

    func unregularized() -> Self { .init(rate: rate, l2: 0) }
}

// MARK: - AdaGrad

/// AdaGrad (Duchi, Hazan & Singer, JMLR 2011), diagonal: `g' = g + l2·w`, `G ← G + g'²`, `w ← w − η·g'/(√G + ε)`.
///
/// Also FTRL-Proximal's per-coordinate schedule on factor coordinates, with `η = α` and `ε = β`: without L1 and
/// without proximal re-centring that is `v ← v − α·g'/(β + √n)`. McMahan et al. (2013, §3.1) note that without
/// regularisation FTRL-Proximal and online gradient descent with the same per-coordinate rates give the same
/// iterates (β only smooths the rate); written as OGD it starts from the random initial factors, which FTRL's
/// closed form (centred at 0, and with L1 snapping small values to 0) would not. State: `G` (or `n`) at `s[0]`.
struct AdaGradUpdater: CoordinateUpdater {
    let rate: Float
    let epsilon: Float
    let l2: Float

    init(rate: Float, epsilon: Float, l2: Float) {
        self.rate = rate
        self.epsilon = epsilon
        self.l2 = l2
    }

    @inline(__always)
    func apply(_ w: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ stateStride: Int, _ g: Float) -> Bool {
        let old = w.pointee
        let grad = g + l2 * old
        let sum = s.pointee + grad * grad
        let new = old - rate * grad / (sum.squareRoot() + epsilon)
        guard new.isFinite, sum.isFinite else { return false }
        w.pointee = new
        s.pointee = sum
        return true
    }

    @inline(__always)
    func applyBlock<G: FactorGradients>(
        _ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ gradients: G,
        _ g: UnsafeMutablePointer<Float>
    ) -> Int {
        var f = 0
        while f < k &- 3 {
            let old = v.lanes(f)
            let (new, sum) = step(old, s.lanes(f), gradients.lanes(f, old))
            guard allFinite(new, sum) else { return applyBlockChecked(v, s, k, gradients, g, from: f) }
            v.store(new, f)
            s.store(sum, f)
            f &+= 4
        }
        return f < k ? applyRest(v, s, k, gradients, g, from: f) : 0
    }

    /// `applyBlock` from coordinate `f` on, each group of four checked: the path after a group with a non-finite
    /// new value or state.
    @inline(never)
    func applyBlockChecked<G: FactorGradients>(
        _ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ gradients: G,
        _ g: UnsafeMutablePointer<Float>, from start: Int
    ) -> Int {
        var skipped = 0
        var f = start
        while f < k &- 3 {
            let old = v.lanes(f)
            let gradient = gradients.lanes(f, old)
            let (new, sum) = step(old, s.lanes(f), gradient)
            if allFinite(new, sum) {
                v.store(new, f)
                s.store(sum, f)
            } else {
                g.store(gradient, f)
                skipped &+= applyEach(v, s, k, UnsafePointer(g), from: f, count: 4)
            }
            f &+= 4
        }
        if f < k { skipped &+= applyRest(v, s, k, gradients, g, from: f) }
        return skipped
    }

    /// `apply`'s arithmetic on four coordinates: the new values and the new sums of squared gradients.
    @inline(__always)
    func step(_ old: Lanes, _ state: Lanes, _ gradient: Lanes) -> (new: Lanes, sum: Lanes) {
        let grad = gradient + Lanes(repeating: l2) * old
        let sum = state + grad * grad
        return (old - Lanes(repeating: rate) * grad / (sum.squareRoot() + Lanes(repeating: epsilon)), sum)
    }

    func unregularized() -> Self { .init(rate: rate, epsilon: epsilon, l2: 0) }
}

// MARK: - FTRL-Proximal

/// FTRL-Proximal, per coordinate, exactly as Algorithm 1 of McMahan et al., "Ad Click Prediction: a View from the
/// Trenches", KDD 2013:
/// ```
/// σ = (√(n + g²) − √n) / α
/// z ← z + g − σ·w
/// n ← n + g²
/// w = 0                                              if |z| ≤ λ1
///     −(z − sgn(z)·λ1) / ((β + √n)/α + λ2)           otherwise
/// ```
/// State: `z` at `s[0]`, `n` at `s[stateStride]`; `w` is stored too (it always equals the closed form above), so
/// prediction reads one float per feature.
struct FTRLUpdater: CoordinateUpdater {
    let inverseAlpha: Float
    let beta: Float
    let l1: Float
    let l2: Float

    init(alpha: Float, beta: Float, l1: Float, l2: Float) {
        self.inverseAlpha = 1 / alpha
        self.beta = beta
        self.l1 = l1
        self.l2 = l2
    }

    init(inverseAlpha: Float, beta: Float, l1: Float, l2: Float) {
        self.inverseAlpha = inverseAlpha
        self.beta = beta
        self.l1 = l1
        self.l2 = l2
    }

    @inline(__always)
    func apply(_ w: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ stateStride: Int, _ g: Float) -> Bool {
        let z = s[0]
        let n = s[stateStride]
        let newN = n + g * g
        let rootN = newN.squareRoot()
        let sigma = (rootN - n.squareRoot()) * inverseAlpha
        let newZ = z + g - sigma * w.pointee
        let magnitude = abs(newZ)
        let new: Float
        if magnitude <= l1 {
            new = 0
        } else {
            // newZ − sign(newZ)·l1: the same bits as `newZ > 0 ? newZ − l1 : newZ + l1`, without the branch.
            let shrunk = newZ - Float(signOf: newZ, magnitudeOf: l1)
            new = -shrunk / ((beta + rootN) * inverseAlpha + l2)
        }
        // No separate check of newN: with g finite (clipped), newN overflowing to +∞ makes sigma +∞ and newZ ±∞ or
        // NaN (∞·0), which the newZ check rejects.
        guard new.isFinite, newZ.isFinite else { return false }
        w.pointee = new
        s[0] = newZ
        s[stateStride] = newN
        return true
    }

    /// Linear-only in this model family (factors use `AdaGradUpdater` with FTRL's α and β); provided for completeness.
    func applyBlock<G: FactorGradients>(
        _ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ gradients: G,
        _ g: UnsafeMutablePointer<Float>
    ) -> Int {
        applyRest(v, s, k, gradients, g, from: 0)
    }

    func unregularized() -> Self { .init(inverseAlpha: inverseAlpha, beta: beta, l1: 0, l2: 0) }
}
