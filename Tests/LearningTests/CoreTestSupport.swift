import Foundation
@testable import Learning

// MARK: - CoreTestRandom

/// A tiny deterministic generator for synthetic streams (64-bit LCG, high bits).
struct CoreTestRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9e37_79b9_7f4a_7c15 &+ 1 }

    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 16
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 5) / Double(UInt64(1) << 43) }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }

    /// Uniform integer in 0..<n.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

// MARK: - CoreTest helpers

enum CoreTest {
    /// Logloss of probability `p` for `label`, clamped away from 0 and 1.
    static func logloss(_ p: Double, _ label: Bool) -> Double {
        let q = min(max(p, 1e-15), 1 - 1e-15)
        return label ? -log(q) : -log(1 - q)
    }

    /// Logloss as a function of the margin, stable, in Double: log(1 + e^(−m)) for a positive label.
    static func marginLoss(_ m: Double, _ label: Bool) -> Double {
        let z = label ? -m : m
        return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))
    }

    /// σ(m) in Double.
    static func sigmoid(_ m: Double) -> Double { 1 / (1 + exp(-m)) }

    /// Bit patterns of a model's whole parameter table (exact comparison, NaN-safe).
    static func tableBits(_ model: Model) -> [UInt32] { model.table.map(\.bitPattern) }

    /// A fresh, empty temporary directory.
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("learningtests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
