import Foundation
import Testing
@testable import Learning

// MARK: - FeatureHasher

@Suite("FeatureHasher")
struct FeatureHasherTests {
    let hasher = FeatureHasher(bits: 20)

    private func hash(_ s: String, seed: UInt32) -> UInt32 {
        Array(s.utf8).withUnsafeBytes { hasher.hash(bytes: $0, seed: seed) }
    }

    /// Expected number of keys that land in an already occupied bucket when `n` distinct keys are thrown uniformly
    /// into `m` buckets: n − m·(1 − (1 − 1/m)^n) (birthday bound).
    private func expectedCollisions(keys n: Int, buckets m: Int) -> Double {
        Double(n) - Double(m) * (1 - pow(1 - 1 / Double(m), Double(n)))
    }

    private func collisions(_ hashes: [UInt32], bits: Int) -> Int {
        let h = FeatureHasher(bits: bits)
        var seen = [Bool](repeating: false, count: 1 << bits)
        var collided = 0
        for x in hashes {
            let i = Int(h.index(x))
            if seen[i] { collided += 1 } else { seen[i] = true }
        }
        return collided
    }

    @Test func murmurHash3MatchesReferenceVectors() {
        // Reference values from the C++ MurmurHash3_x86_32 (as exposed by Python's mmh3.hash(…, signed=False)).
        #expect(hash("", seed: 0) == 0)
        #expect(hash("", seed: 1) == 0x514e_28b7)
        #expect(hash("", seed: 0xffff_ffff) == 0x81f1_6f39)
        #expect(hash("test", seed: 0) == 0xba6b_d213)
        #expect(hash("abc", seed: 0) == 0xb3dd_93fa)
        #expect(hash("abcd", seed: 0x9747_b28c) == 0xf047_8627)
        #expect(hash("Hello, world!", seed: 1234) == 0xfaf6_cdb3)
        #expect(hash("The quick brown fox jumps over the lazy dog", seed: 0) == 0x2e4f_f723)
        #expect(hasher.hash(integer: 0x0123_4567_89ab_cdef, seed: 42) == 0x272b_ce7d)
        #expect(hasher.hash(string: "Hello, world!", seed: 1234) == 0xfaf6_cdb3)
    }

    @Test func integerHashEqualsHashOfItsLittleEndianBytes() {
        var rng = CoreTestRandom(seed: 7)
        for _ in 0..<1000 {
            let value = rng.next() ^ (rng.next() << 32)
            let seed = UInt32(truncatingIfNeeded: rng.next())
            let viaBytes = withUnsafeBytes(of: value.littleEndian) { hasher.hash(bytes: $0, seed: seed) }
            #expect(hasher.hash(integer: value, seed: seed) == viaBytes)
        }
    }

    @Test func namespaceSeedsAreStableAndSeparateNamespaces() {
        let user = FeatureHasher.seed(forNamespace: "user")
        let item = FeatureHasher.seed(forNamespace: "item")
        #expect(user == FeatureHasher.seed(forNamespace: "user"))
        #expect(user == hash("user", seed: 0))
        #expect(user != item)
        var same = 0
        for v: UInt64 in 0..<10_000 where hasher.hash(integer: v, seed: user) == hasher.hash(integer: v, seed: item) {
            same += 1
        }
        #expect(same == 0)
    }

    @Test(arguments: ["integers", "strings", "crosses"])
    func collisionRateOf100kKeysIn2To20BucketsMatchesBirthdayBound(keys: String) {
        let n = 100_000
        let seed = FeatureHasher.seed(forNamespace: "k")
        let other = FeatureHasher.seed(forNamespace: "other")
        var hashes = [UInt32]()
        hashes.reserveCapacity(n)
        for i in 0..<n {
            switch keys {
            case "integers": hashes.append(hasher.hash(integer: UInt64(i), seed: seed))
            case "strings": hashes.append(hash("user-\(i)", seed: seed))
            default:
                hashes.append(hasher.cross(
                    hasher.hash(integer: UInt64(i % 1000), seed: seed), hasher.hash(integer: UInt64(i / 1000), seed: other)))
            }
        }
        let expected = expectedCollisions(keys: n, buckets: 1 << 20)  // ≈ 4,757
        let observed = Double(collisions(hashes, bits: 20))
        // Collisions are close to Poisson(expected): allow 5 standard deviations (≈ ±7 %).
        #expect(abs(observed - expected) <= 5 * expected.squareRoot(), "observed \(observed), expected \(expected)")
    }

    @Test func lowBitsAreUniformByChiSquare() {
        let seed = FeatureHasher.seed(forNamespace: "chi")
        let small = FeatureHasher(bits: 10)
        var counts = [Int](repeating: 0, count: 1024)
        let n = 100_000
        for i in 0..<n { counts[Int(small.index(small.hash(integer: UInt64(i), seed: seed)))] += 1 }
        let e = Double(n) / 1024
        let chi2 = counts.reduce(0.0) { $0 + (Double($1) - e) * (Double($1) - e) / e }
        // 1023 degrees of freedom: mean 1023, sd √2046 ≈ 45; reject beyond +5 sd.
        #expect(chi2 < 1023 + 5 * 2046.0.squareRoot(), "chi² = \(chi2)")
        #expect(chi2 > 1023 - 5 * 2046.0.squareRoot(), "chi² = \(chi2) is suspiciously uniform")
    }

    @Test func flippingOneInputBitFlipsAboutHalfTheOutputBits() {
        var rng = CoreTestRandom(seed: 11)
        var flipped = 0
        var total = 0
        for _ in 0..<500 {
            let x = rng.next() ^ (rng.next() << 32)
            let h = hasher.hash(integer: x, seed: 3)
            for bit in 0..<64 {
                flipped += (h ^ hasher.hash(integer: x ^ (1 << UInt64(bit)), seed: 3)).nonzeroBitCount
                total += 32
            }
        }
        let fraction = Double(flipped) / Double(total)
        #expect(abs(fraction - 0.5) < 0.01, "avalanche fraction \(fraction)")
    }

    @Test func crossIsOrderSensitiveAndNeverTheIdentity() {
        var rng = CoreTestRandom(seed: 5)
        var symmetric = 0
        var passthrough = 0
        for _ in 0..<10_000 {
            let a = UInt32(truncatingIfNeeded: rng.next())
            let b = UInt32(truncatingIfNeeded: rng.next())
            guard a != b else { continue }
            if hasher.cross(a, b) == hasher.cross(b, a) { symmetric += 1 }
            if hasher.cross(a, b) == a || hasher.cross(a, b) == b { passthrough += 1 }
        }
        #expect(symmetric <= 2)  // a 32-bit coincidence is possible, but not more than a couple in 10k
        #expect(passthrough <= 2)
        #expect(hasher.cross(1, 2) != hasher.cross(2, 1))
    }

    @Test func indexMasksToTheTableSize() {
        let h = FeatureHasher(bits: 12)
        #expect(h.mask == 0xfff)
        #expect(h.index(0xdead_beef) == 0xeef)
        #expect(FeatureHasher(bits: 30).mask == (1 << 30) - 1)
    }
}

// MARK: - FeatureRow

@Suite("FeatureRow")
struct FeatureRowTests {
    @Test func appendAndRemoveAllKeepCapacityAndParallelArrays() {
        var row = FeatureRow(capacity: 8)
        row.append(index: 3, value: 1, field: 0)
        row.append(index: 9, value: 0.5, field: 70)  // fields are taken modulo 64
        #expect(row.count == 2)
        #expect(row.indices == [3, 9])
        #expect(row.values == [1, 0.5])
        #expect(row.fields == [0, 6])
        let capacity = row.indices.capacity
        row.removeAll()
        #expect(row.count == 0)
        #expect(row.indices.capacity == capacity)
        for i in 0..<8 { row.append(index: UInt32(i), value: 1, field: 1) }
        #expect(row.indices.capacity == capacity)
    }
}
