import Compression
import Foundation
import TestSupport
import Testing

@Suite struct ErrorMetricsTests {
    @Test func handComputed() {
        // a = [3, 4], b = [3, 0]: noise 16, signal 25, a·b = 9, |b| = 3.
        let s = ErrorMetrics.compare(original: [3, 4], approximation: [3, 0])
        #expect(s.mse == 8)
        #expect(s.maxAbsError == 4)
        #expect(abs(s.relativeL2 - 0.8) < 1e-15)
        #expect(abs(s.sqnrDB - 10 * Foundation.log10(25.0 / 16.0)) < 1e-12)
        #expect(abs(s.cosine - 0.6) < 1e-15)
    }

    @Test func exactCopy() {
        let a = QuantTestData.gaussian(count: 100, seed: 1)
        let s = ErrorMetrics.compare(original: a, approximation: a)
        #expect(s == ErrorStats(mse: 0, maxAbsError: 0, relativeL2: 0, sqnrDB: .infinity, cosine: 1))
    }

    @Test func allZeroVectors() {
        let zeros = [Float](repeating: 0, count: 5)
        #expect(
            ErrorMetrics.compare(original: zeros, approximation: zeros)
                == ErrorStats(mse: 0, maxAbsError: 0, relativeL2: 0, sqnrDB: .infinity, cosine: 1))
        let s = ErrorMetrics.compare(original: zeros, approximation: [0, 0, 2, 0, 0])
        #expect(s.mse == 0.8)
        #expect(s.maxAbsError == 2)
        #expect(s.relativeL2 == .infinity)
        #expect(s.sqnrDB == -.infinity)
        #expect(s.cosine == 0)
        let t = ErrorMetrics.compare(original: [0, 0, 2, 0, 0], approximation: zeros)
        #expect(t.relativeL2 == 1)
        #expect(t.sqnrDB == 0)
        #expect(t.cosine == 0)
        #expect(
            ErrorMetrics.compare(original: [], approximation: [])
                == ErrorStats(mse: 0, maxAbsError: 0, relativeL2: 0, sqnrDB: .infinity, cosine: 1))
    }

    @Test func oppositeAndScaled() {
        let a: [Float] = [1, -2, 3]
        let opposite = ErrorMetrics.compare(original: a, approximation: a.map { -$0 })
        #expect(opposite.cosine == -1)
        #expect(opposite.relativeL2 == 2)
        #expect(abs(opposite.sqnrDB - 10 * Foundation.log10(0.25)) < 1e-12)
        let half = ErrorMetrics.compare(original: a, approximation: a.map { $0 / 2 })
        #expect(abs(half.cosine - 1) < 1e-15)
        #expect(half.relativeL2 == 0.5)
        #expect(abs(half.sqnrDB - 10 * Foundation.log10(4)) < 1e-12)
    }

    /// SQNR over a wide range of ratios agrees with Foundation's log10.
    @Test func sqnrMatchesFoundation() {
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<2000 {
            let x = Float.random(in: 1...10, using: &rng)
            let e = Float.random(in: -30...30, using: &rng)
            let noise = Float(pow(10.0, Double(e)))
            let s = ErrorMetrics.compare(original: [x], approximation: [x + noise])
            let signal = Double(x) * Double(x)
            let d = Double(x + noise) - Double(x)
            guard d != 0 else { continue }
            let expected = 10 * Foundation.log10(signal / (d * d))
            #expect(abs(s.sqnrDB - expected) <= 1e-12 * max(1, abs(expected)), "\(x) + \(noise)")
        }
    }

    @Test func accumulatesInDouble() {
        // 10M-ish of 1s with a tiny error each: Float accumulation would lose the noise entirely.
        let a = [Float](repeating: 1, count: 1 << 22)
        let b = [Float](repeating: 1 + 0x1p-23, count: 1 << 22)
        let s = ErrorMetrics.compare(original: a, approximation: b)
        #expect(s.mse == 0x1p-46)
        #expect(abs(s.sqnrDB - 10 * Foundation.log10(0x1p46)) < 1e-9)
    }

    @Test func lengthMismatchCountsMissingAsZero() {
        let s = ErrorMetrics.compare(original: [1, 2, 3], approximation: [1, 2])
        #expect(s.mse == 3)
        #expect(s.maxAbsError == 3)
    }

    @Test func nanPropagates() {
        let s = ErrorMetrics.compare(original: [1, .nan], approximation: [1, 2])
        #expect(s.mse.isNaN)
        #expect(s.maxAbsError.isNaN)
    }

    @Test func codableRoundTrip() throws {
        let stats = ErrorStats(mse: 0.5, maxAbsError: 1, relativeL2: 0.25, sqnrDB: 12.5, cosine: 0.99)
        let data = try JSONEncoder().encode(stats)
        #expect(try JSONDecoder().decode(ErrorStats.self, from: data) == stats)
    }
}
