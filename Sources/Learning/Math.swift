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
/// Its state after `i` steps is `seed + i·γ`, so the `i`-th output can be computed directly (`output(seed:index:)`),
/// which lets factors be materialized lazily, slot by slot, yet identically to a sequential draw.
/// Also a sequential generator (``next()``) for seeded sampling elsewhere (e.g. ranking negatives).
public struct SplitMix64: Sendable, RandomNumberGenerator {
    static let gamma: UInt64 = 0x9e37_79b9_7f4a_7c15

    /// The generator's state (checkpointed by pipelines so sampling continues identically).
    public var state: UInt64

    /// A generator seeded with `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= Self.gamma
        return Self.mix(state)
    }

    /// The finalizer that turns a state into an output.
    @inline(__always)
    static func mix(_ state: UInt64) -> UInt64 {
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The `index`-th output (1-based) of the generator seeded with `seed`.
    @inline(__always)
    static func output(seed: UInt64, index: UInt64) -> UInt64 {
        mix(seed &+ index &* gamma)
    }

    /// Maps 64 random bits to a Float uniform on `[−1, 1)` with 24 bits of resolution (exactly representable).
    @inline(__always)
    static func symmetricUnit(_ bits: UInt64) -> Float {
        2 * (Float(bits >> 40) * 0x1p-24) - 1
    }
}
