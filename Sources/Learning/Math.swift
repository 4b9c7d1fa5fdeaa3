#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Link function

/// Margin clamp used by every probability: σ(±35) is within 7e-16 of 0/1, and the clamp keeps `exp` finite.
let marginClamp: Double = 35

/// The logistic link σ(m) = 1 / (1 + e^(−m)) of the margin clamped to `[−35, 35]`; NaN stays NaN.
@inline(__always)
func clampedSigmoid(_ margin: Double) -> Double {
    if margin.isNaN { return .nan }
    let m = margin < -marginClamp ? -marginClamp : (margin > marginClamp ? marginClamp : margin)
    return 1 / (1 + exp(-m))
}

// MARK: - SplitMix64

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fully specified PRNG, so a seed gives the same factors everywhere.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Uniform on `[−1, 1)` with 24 bits of resolution (exactly representable as Float).
    mutating func nextSymmetricUnit() -> Float {
        let u = Float(next() >> 40) * 0x1p-24  // [0, 1)
        return 2 * u - 1
    }
}
