// MARK: - CoordinateUpdater

/// One optimizer's per-coordinate step, specialised at compile time (generic, never an existential) so the learning
/// loops are tight. Each update commits only finite results: if the new weight or state would be non-finite the
/// coordinate is left untouched and `false` is returned (the caller counts it).
protocol CoordinateUpdater {
    /// Applies gradient `g` (of the loss w.r.t. the weight at `w`, before any L2 term) to the weight at `w`, whose
    /// state floats are `s[0], s[stateStride], …`.
    func apply(_ w: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ stateStride: Int, _ g: Float) -> Bool
    /// Applies `k` gradients `g[0..<k]` to the contiguous factor block `v[0..<k]` whose state `r` is
    /// `s[r·k ..< (r+1)·k]`, four coordinates at a time with SIMD. A group of four is committed only if all its new
    /// values are finite; otherwise those four go through `apply` one by one (which skips the non-finite ones).
    /// Returns the number of coordinates skipped as non-finite.
    func applyBlock(_ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ g: UnsafePointer<Float>) -> Int
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
    func applyBlock(_ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ g: UnsafePointer<Float>) -> Int {
        let rate = Lanes(repeating: self.rate)
        let l2 = Lanes(repeating: self.l2)
        var skipped = 0
        var f = 0
        while f &+ 4 <= k {
            let old = v.lanes(f)
            let new = old - rate * (g.lanes(f) + l2 * old)
            if allFinite(new, new) { v.store(new, f) } else { skipped &+= applyEach(v, s, k, g, from: f, count: 4) }
            f &+= 4
        }
        if f < k { skipped &+= applyEach(v, s, k, g, from: f, count: k &- f) }
        return skipped
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
    func applyBlock(_ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ g: UnsafePointer<Float>) -> Int {
        let rate = Lanes(repeating: self.rate)
        let epsilon = Lanes(repeating: self.epsilon)
        let l2 = Lanes(repeating: self.l2)
        var skipped = 0
        var f = 0
        while f &+ 4 <= k {
            let old = v.lanes(f)
            let grad = g.lanes(f) + l2 * old
            let sum = s.lanes(f) + grad * grad
            let new = old - rate * grad / (sum.squareRoot() + epsilon)
            if allFinite(new, sum) {
                v.store(new, f)
                s.store(sum, f)
            } else {
                skipped &+= applyEach(v, s, k, g, from: f, count: 4)
            }
            f &+= 4
        }
        if f < k { skipped &+= applyEach(v, s, k, g, from: f, count: k &- f) }
        return skipped
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
            let shrunk = newZ > 0 ? newZ - l1 : newZ + l1
            new = -shrunk / ((beta + rootN) * inverseAlpha + l2)
        }
        guard new.isFinite, newZ.isFinite, newN.isFinite else { return false }
        w.pointee = new
        s[0] = newZ
        s[stateStride] = newN
        return true
    }

    /// Linear-only in this model family (factors use `AdaGradUpdater` with FTRL's α and β); provided for completeness.
    func applyBlock(_ v: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>, _ k: Int, _ g: UnsafePointer<Float>) -> Int {
        applyEach(v, s, k, g, from: 0, count: k)
    }

    func unregularized() -> Self { .init(inverseAlpha: inverseAlpha, beta: beta, l1: 0, l2: 0) }
}
