import Compression
import Foundation
import TestSupport
import Testing

/// The bit patterns, so comparisons see -0.0 and +0.0 apart.
private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

/// `n` roughly normal weights (sum of three uniforms), seeded.
private func randomWeights(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<n).map { _ in
        let u =
            Float.random(in: -1...1, using: &rng) + Float.random(in: -1...1, using: &rng)
            + Float.random(in: -1...1, using: &rng)
        return u * scale
    }
}

private func expectCode(
    _ code: CompressionError.Code, containing text: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws(CompressionError) -> Void
) {
    do {
        try body()
        Issue.record("expected a .\(code) error", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
    }
}

@Suite("Clipping")
struct ClippingTests {
    @Test("absolute: |w| > T becomes ±T, |w| == T and -0.0 stay")
    func absolute() throws {
        var values: [Float] = [-3, -1, 0, 2, 5, -0.0, -2, 1e-30]
        let result = try Clipper.clip(&values, threshold: .absolute(2))
        #expect(bits(values) == bits([-2, -1, 0, 2, 2, -0.0, -2, 1e-30]))
        #expect(result == ClipResult(threshold: 2, clippedCount: 2))
    }

    @Test("absolute edge cases: +Inf clips nothing, 0 leaves signed zeros, empty is fine")
    func absoluteEdges() throws {
        var values: [Float] = [-.greatestFiniteMagnitude, 1]
        #expect(try Clipper.clip(&values, threshold: .absolute(.infinity)).clippedCount == 0)
        #expect(bits(values) == bits([-.greatestFiniteMagnitude, 1]))
        var zeroed: [Float] = [-3, 0, 4, -0.0]
        #expect(try Clipper.clip(&zeroed, threshold: .absolute(0)).clippedCount == 2)
        #expect(bits(zeroed) == bits([-0.0, 0, 0, -0.0]), "the sign is kept")
        var empty: [Float] = []
        #expect(try Clipper.clip(&empty, threshold: .absolute(1)) == ClipResult(threshold: 1, clippedCount: 0))
        #expect(try Clipper.clip(&empty, threshold: .percentile(50)) == ClipResult(threshold: 0, clippedCount: 0))
    }

    @Test("percentile by hand: nearest rank of |w|")
    func percentileByHand() throws {
        var values: [Float] = (1...10).map { Float($0) * ($0 % 2 == 0 ? -1 : 1) }
        let result = try Clipper.clip(&values, threshold: .percentile(50))
        #expect(result == ClipResult(threshold: 5, clippedCount: 5))
        #expect(bits(values) == bits([1, -2, 3, -4, 5, -5, 5, -5, 5, -5]))

        var thousand: [Float] = (1...1000).map { Float($0) / 1000 }
        let r = try Clipper.clip(&thousand, threshold: .percentile(99.9))
        #expect(r == ClipResult(threshold: 0.999, clippedCount: 1), "99.9% of 1000 is rank 999, not 1000")

        var tiny: [Float] = [4, -8, 2]
        #expect(try Clipper.clip(&tiny, threshold: .percentile(1e-9)) == ClipResult(threshold: 2, clippedCount: 2))
    }

    @Test("percentile 100 clips nothing")
    func percentile100() throws {
        let original = randomWeights(1001, seed: 3)
        var values = original
        let result = try Clipper.clip(&values, threshold: .percentile(100))
        #expect(result.clippedCount == 0)
        #expect(result.threshold == original.map(\.magnitude).max())
        #expect(bits(values) == bits(original))
    }

    @Test("percentile against a sorted reference", arguments: [0.5, 10, 50, 90, 99, 99.9, 99.99], [1, 2, 999, 10_007])
    func percentileReference(percentile: Double, n: Int) throws {
        let original = randomWeights(n, seed: UInt64(n) &* 31, scale: 3)
        let sorted = original.map(\.magnitude).sorted()
        let rank = min(n, max(1, Int((percentile * Double(n) / 100 - 1e-7).rounded(.up))))
        var values = original
        let result = try Clipper.clip(&values, threshold: .percentile(percentile))
        #expect(result.threshold == sorted[rank - 1])
        var clipped = 0
        for (before, after) in zip(original, values) {
            if before.magnitude > result.threshold {
                clipped += 1
                #expect(after.magnitude == result.threshold)
                #expect(after.sign == before.sign)
            } else {
                #expect(after.bitPattern == before.bitPattern)
            }
        }
        #expect(result.clippedCount == clipped)
        #expect(clipped == sorted.filter { $0 > result.threshold }.count)
    }

    @Test("bad clip parameters throw .usage")
    func badParameters() {
        var v: [Float] = [1, -2]
        for t in [Float(-1), .nan, -.infinity] {
            expectCode(.usage, containing: "clip threshold") { () throws(CompressionError) in
                _ = try Clipper.clip(&v, threshold: .absolute(t))
            }
        }
        for p in [0, -1, 100.0001, .nan, .infinity] {
            expectCode(.usage, containing: "(0, 100]") { () throws(CompressionError) in
                _ = try Clipper.clip(&v, threshold: .percentile(p))
            }
        }
        #expect(bits(v) == bits([1, -2]))
    }

    @Test(
        "timing: percentile clip on 25M elements (set MODELPRESS_TIMING=1, use -c release)",
        .enabled(if: ProcessInfo.processInfo.environment["MODELPRESS_TIMING"] != nil))
    func timing() throws {
        var big = randomWeights(25_000_000, seed: 94, scale: 0.05)
        let elapsed = try ContinuousClock().measure { _ = try Clipper.clip(&big, threshold: .percentile(99.9)) }
        print("Clipper.clip 25M at the 99.9th percentile: \(elapsed)")
    }
}
