import Codecs
import Compression
import ModelIR
import TestSupport
import Testing

@Suite struct SignQuantizerTests {
    static let granularities: [QuantizationGranularity] = [
        .perTensor, .perAxis(axis: 0), .perAxis(axis: 1), .perAxis(axis: -1), .perBlock(axis: 1, blockSize: 2),
    ]

    @Test func ternaryHandComputed() throws {
        let values: [Float] = [0.1, -0.9, 1.1, 0.05, -0.2, 0.6]
        // mean|w| = 2.95 / 6; Δ = 0.7 × that = 0.3442; above Δ: 0.9, 1.1, 0.6 -> a = 2.6 / 3.
        let p = try SignQuantizer.ternary(values, dims: [6], granularity: .perTensor)
        let a = Float((Double(Float(0.9)) + Double(Float(1.1)) + Double(Float(0.6))) / 3)
        #expect(p.bits == 2)
        #expect(p.codebook == [-a, 0, a, a])
        #expect(try KMeansQuantizer.dequantize(p, dims: [6]) == [0, -a, a, 0, 0, a])
        #expect(try BitPacking.unpack(p.indices, bits: 2, count: 6) == [1, 0, 2, 1, 1, 2])
    }

    @Test func binaryHandComputed() throws {
        let values: [Float] = [0.5, -1.5, 0, 2]
        let p = try SignQuantizer.binary(values, dims: [2, 2], granularity: .perAxis(axis: 0))
        // Row 0: mean|w| = 1; row 1: mean|w| = 1; zero counts as positive.
        #expect(p.bits == 1)
        #expect(p.codebook == [-1, 1, -1, 1])
        #expect(try KMeansQuantizer.dequantize(p, dims: [2, 2]) == [1, -1, 1, 1])
    }

    /// Dequantized values against a brute-force computation of the documented formulas, per group.
    @Test(arguments: granularities)
    func matchesBruteForce(granularity: QuantizationGranularity) throws {
        let dims = [6, 9]
        let values = QuantTestData.spreadChannels(dims: dims, axis: 1, seed: 31)
        let (groupOf, groupCount) = QuantTestData.groups(dims: dims, granularity: granularity, linear: false)
        var meanAbs = [Double](repeating: 0, count: groupCount)
        var counts = [Double](repeating: 0, count: groupCount)
        for i in values.indices {
            meanAbs[groupOf[i]] += Double(abs(values[i]))
            counts[groupOf[i]] += 1
        }
        for g in 0..<groupCount { meanAbs[g] /= counts[g] }

        let binary = try KMeansQuantizer.dequantize(
            try SignQuantizer.binary(values, dims: dims, granularity: granularity), dims: dims)
        func close(_ x: Float, _ y: Float) -> Bool { abs(x - y) <= 1e-6 * abs(y) }
        for i in values.indices {
            let a = Float(meanAbs[groupOf[i]])
            #expect(close(binary[i], values[i] < 0 ? -a : a))
        }

        let ternaryP = try SignQuantizer.ternary(values, dims: dims, granularity: granularity, thresholdFactor: 0.5)
        #expect(ternaryP.codebook.count == 4 * groupCount)
        let ternary = try KMeansQuantizer.dequantize(ternaryP, dims: dims)
        var above = [Double](repeating: 0, count: groupCount)
        var aboveCount = [Double](repeating: 0, count: groupCount)
        for i in values.indices where Double(abs(values[i])) > 0.5 * meanAbs[groupOf[i]] {
            above[groupOf[i]] += Double(abs(values[i]))
            aboveCount[groupOf[i]] += 1
        }
        for i in values.indices {
            let g = groupOf[i]
            let delta = 0.5 * meanAbs[g]
            let a = Float(above[g] / aboveCount[g])
            let expected: Float = Double(values[i]) > delta ? a : (Double(values[i]) < -delta ? -a : 0)
            #expect(close(ternary[i], expected), "element \(i)")
        }
        for g in 0..<groupCount {
            let book = Array(ternaryP.codebook[(4 * g)..<(4 * g + 4)])
            #expect(book[1] == 0 && book[0] == -book[2] && book[3] == book[2])
        }
    }

    @Test func zeroGroupsStayZero() throws {
        let values: [Float] = [0, 0, 0, 1, -2, 0]
        let t = try SignQuantizer.ternary(values, dims: [2, 3], granularity: .perAxis(axis: 0))
        #expect(Array(t.codebook[0..<4]) == [0, 0, 0, 0])
        let back = try KMeansQuantizer.dequantize(t, dims: [2, 3])
        #expect(back[0] == 0 && back[5] == 0)
        let b = try SignQuantizer.binary(values, dims: [2, 3], granularity: .perAxis(axis: 0))
        #expect(Array(b.codebook[0..<2]) == [0, 0])
    }

    @Test func deterministic() throws {
        let values = QuantTestData.gaussian(count: 999, seed: 4)
        let a = try SignQuantizer.ternary(values, dims: [999], granularity: .perTensor)
        let b = try SignQuantizer.ternary(values, dims: [999], granularity: .perTensor)
        #expect(a == b && a.indices.bytes == b.indices.bytes)
    }

    @Test func errors() {
        var values = [Float](repeating: 1, count: 8)
        values[6] = .nan
        for op in [0, 1] {
            do {
                _ =
                    op == 0
                    ? try SignQuantizer.binary(values, dims: [8], granularity: .perTensor)
                    : try SignQuantizer.ternary(values, dims: [8], granularity: .perTensor)
                Issue.record("expected an error")
            } catch {
                #expect(error.code == .invalidTensor)
                #expect(error.message.contains("NaN at element 6"))
            }
        }
        let finite = [Float](repeating: 1, count: 8)
        for badCase in 0..<4 {
            do {
                switch badCase {
                case 0: _ = try SignQuantizer.ternary(finite, dims: [8], granularity: .perTensor, thresholdFactor: -1)
                case 1: _ = try SignQuantizer.ternary(finite, dims: [8], granularity: .perTensor, thresholdFactor: .nan)
                case 2: _ = try SignQuantizer.binary(finite, dims: [9], granularity: .perTensor)
                default: _ = try SignQuantizer.binary(finite, dims: [2, 4], granularity: .perAxis(axis: 5))
                }
                Issue.record("expected an error for case \(badCase)")
            } catch {
                #expect(error.code == .usage, "case \(badCase)")
            }
        }
    }
}
