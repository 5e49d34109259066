import Codecs
import Compression
import Foundation
import ModelIR
import TestSupport
import Testing

/// Linear quantization of one group by the textbook definition, checked in exact arithmetic (independent of
/// `LinearQuantizer`).
///
/// Min/max quantization of values `x` to `bits`-bit codes: the range `[lo, hi]` is `[min(x), max(x)]`
/// widened to include 0. Symmetric: `scale = max(-lo, hi) / qmax` with `qmax = 2^(bits-1) - 1`, codes
/// `clamp(round(x / scale), -qmax, qmax)`, zero point 0. Asymmetric: `scale = (hi - lo) / (2^bits - 1)`,
/// `zeroPoint = round(-lo / scale)` and codes `clamp(round(x / scale) + zeroPoint, 0, 2^bits - 1)`. The scale is
/// the exact quotient rounded up to the next Float (so the range is covered); `round` is to nearest, ties to
/// even. Products `Float x integer` of at most 24 + 16 bits and the differences below are exact in Double.
enum NaiveLinear {
    /// The ways `scale`, `zeroPoint` (nil: symmetric) and `codes` break the definition for `x`; empty when
    /// they follow it. Only for groups that are not constant (constant groups follow their own rule).
    static func check(_ x: [Float], codes: [Int32], bits: Int, scale: Float, zeroPoint: Int32?) -> [String] {
        var failures: [String] = []
        var lo = 0.0
        var hi = 0.0
        for v in x {
            lo = min(lo, Double(v))
            hi = max(hi, Double(v))
        }
        precondition(lo < hi && x.count == codes.count)
        let symmetric = zeroPoint == nil
        let steps = symmetric ? Double((1 << (bits - 1)) - 1) : Double((1 << bits) - 1)
        let width = symmetric ? max(-lo, hi) : hi - lo
        // The least Float whose `steps` multiples cover the width.
        if !(Double(scale) * steps >= width && Double(scale.nextDown) * steps < width) {
            failures.append("scale \(scale) is not width \(width) / \(steps) rounded up to a Float")
        }
        let zp = zeroPoint ?? 0
        if let zeroPoint {
            let exact = -lo / Double(scale)
            if abs(Double(zeroPoint) - exact) > 0.5 + 1e-9 || !(0...Int32(steps)).contains(zeroPoint) {
                failures.append("zero point \(zeroPoint) is not round(\(exact))")
            }
        }
        let qmin = symmetric ? -Int32(steps) : 0
        let qmax = Int32(steps)
        for i in x.indices {
            let code = codes[i]
            guard (qmin...qmax).contains(code) else {
                failures.append("element \(i): code \(code) outside \(qmin)...\(qmax)")
                continue
            }
            // Nearest: |x - (code - zp) * scale| <= scale / 2, exactly; a tie goes to the even multiple
            // unless the even one is clamped away.
            let multiple = code - zp
            let twiceError = 2 * abs(Double(x[i]) - Double(multiple) * Double(scale))
            if twiceError > Double(scale) {
                failures.append("element \(i): \(x[i]) -> code \(code) is not the nearest")
            } else if twiceError == Double(scale), multiple % 2 != 0, code != qmin, code != qmax {
                failures.append("element \(i): \(x[i]) is a tie rounded to the odd multiple \(multiple)")
            }
        }
        return failures
    }
}

/// One quantizer configuration, named for test output.
struct LinearCase: CustomTestStringConvertible, Sendable {
    var symmetric: Bool
    var granularity: QuantizationGranularity
    var testDescription: String { "\(symmetric ? "sym" : "asym") \(granularity)" }
}

@Suite struct LinearQuantizerTests {
    static let dims = [6, 10, 7]
    static let granularities: [QuantizationGranularity] = [
        .perTensor, .perAxis(axis: 0), .perAxis(axis: 2), .perAxis(axis: -2), .perBlock(axis: 1, blockSize: 4),
        .perBlock(axis: 0, blockSize: 3), .perBlock(axis: 2, blockSize: 7), .perBlock(axis: 2, blockSize: 1),
    ]
    static let cases = [true, false].flatMap { s in granularities.map { LinearCase(symmetric: s, granularity: $0) } }

    /// Every element within half a step of its value, zeros exactly zero, codes in range, and the scales
    /// matching each brute-force group's range.
    @Test(arguments: 2...8, cases)
    func errorWithinHalfStep(bits: Int, config: LinearCase) throws {
        let dims = Self.dims
        var values = QuantTestData.pruned(count: dims.reduce(1, *), seed: UInt64(bits))
        values[3] = 4.5  // an outlier
        let options = LinearQuantizer.Options(bits: bits, symmetric: config.symmetric, granularity: config.granularity)
        let q = try LinearQuantizer.quantize(values, dims: dims, options: options)
        let back = try LinearQuantizer.dequantize(q, dims: dims)
        let (groupOf, groupCount) = QuantTestData.groups(dims: dims, granularity: config.granularity, linear: true)
        #expect(q.scales.count == groupCount)
        #expect(q.zeroPoints.count == (config.symmetric ? 0 : groupCount))
        #expect(q.signed == config.symmetric)
        #expect(q.bits == bits)

        var lows = [Float](repeating: .infinity, count: groupCount)
        var highs = [Float](repeating: -.infinity, count: groupCount)
        for i in values.indices {
            lows[groupOf[i]] = min(lows[groupOf[i]], values[i])
            highs[groupOf[i]] = max(highs[groupOf[i]], values[i])
        }
        let qmax = config.symmetric ? Double((1 << (bits - 1)) - 1) : Double((1 << bits) - 1)
        for g in 0..<groupCount {
            let scale = Double(q.scales[g])
            #expect(scale > 0)
            // The range always includes zero.
            let lo = Double(min(lows[g], 0))
            let hi = Double(max(highs[g], 0))
            let width = config.symmetric ? max(-lo, hi) : hi - lo
            if lows[g] != highs[g] {
                #expect(scale * qmax >= width, "group \(g) does not cover its range")
                #expect(scale * qmax <= width * (1 + 1e-6), "group \(g) scale too large: \(scale) for \(width)")
            }
            if !config.symmetric {
                #expect((0...Int32(qmax)).contains(q.zeroPoints[g]))
            }
        }

        var failures: [String] = []
        for i in values.indices {
            let scale = q.scales[groupOf[i]]
            let allowed = scale / 2 * (1 + 1e-6) + values[i].magnitude.ulp
            if abs(back[i] - values[i]) > allowed {
                failures.append("element \(i): \(values[i]) -> \(back[i]), scale \(scale)")
            }
            if values[i] == 0 && back[i] != 0 { failures.append("zero element \(i) -> \(back[i])") }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")

        let codes = try BitPacking.unpack(q.codes, bits: bits, count: values.count)
        let top = Int32(qmax)
        for c in codes {
            var code = Int32(c)
            if config.symmetric { code = (code << (32 - bits)) >> (32 - bits) }
            #expect(config.symmetric ? (-top...top).contains(code) : (0...top).contains(code))
        }
    }

    @Test(arguments: [8, 16])
    func wideCodesStillWithinHalfStep(bits: Int) throws {
        let values = QuantTestData.gaussian(count: 999, seed: 77).map { $0 * 1e-3 }
        for symmetric in [true, false] {
            let q = try LinearQuantizer.quantize(
                values, dims: [999], options: .init(bits: bits, symmetric: symmetric))
            let back = try LinearQuantizer.dequantize(q, dims: [999])
            for i in values.indices {
                #expect(abs(back[i] - values[i]) <= q.scales[0] / 2 * (1 + 1e-6) + values[i].magnitude.ulp)
            }
        }
    }

    @Test func signedCodesAreTwosComplementLowBits() throws {
        let q = try LinearQuantizer.quantize([-1, 0, 1], dims: [3], options: .init(bits: 4))
        // scale 1/7: codes -7, 0, 7 -> 0b1001, 0b0000, 0b0111.
        #expect(q.codes.bytes == [0x09, 0x07])
        let step = q.scales[0]
        #expect(try LinearQuantizer.dequantize(q, dims: [3]) == [-7 * step, 0, 7 * step])
    }

    @Test func onnxBlockedLayout() throws {
        // dims [2, 5], blocks of 2 along axis 1: scale shape [2, 3]; element (r, c) is in group r * 3 + c / 2.
        let values: [Float] = (0..<10).map { (i: Int) -> Float in
            let group: Int = (i / 5) * 3 + (i % 5) / 2
            return Float(group + 1)
        }
        let q = try LinearQuantizer.quantize(
            values, dims: [2, 5], options: .init(bits: 8, granularity: .perBlock(axis: 1, blockSize: 2)))
        #expect(q.scales == [1, 2, 3, 4, 5, 6])  // constant groups: scale = |value|
        #expect(try LinearQuantizer.dequantize(q, dims: [2, 5]) == values)

        // dims [3, 2], blocks of 2 along axis 0: scale shape [2, 2]; element (r, c) is in group (r / 2) * 2 + c.
        let v2: [Float] = [1, 2, 1, 2, 3, 4]
        let q2 = try LinearQuantizer.quantize(
            v2, dims: [3, 2], options: .init(bits: 8, granularity: .perBlock(axis: 0, blockSize: 2)))
        #expect(q2.scales == [1, 2, 3, 4])
    }

    @Test(arguments: [true, false])
    func constantGroupsAreExact(symmetric: Bool) throws {
        let dims = [4, 5]
        let constants: [Float] = [0.3, -2.7, 0, 1e-30]
        let values = (0..<20).map { constants[$0 / 5] }
        for granularity in [QuantizationGranularity.perAxis(axis: 0), .perBlock(axis: 1, blockSize: 5)] {
            let options = LinearQuantizer.Options(bits: 4, symmetric: symmetric, granularity: granularity)
            let q = try LinearQuantizer.quantize(values, dims: dims, options: options)
            #expect(try LinearQuantizer.dequantize(q, dims: dims) == values)
            #expect(q.scales.allSatisfy { $0 > 0 })
        }
        let zeros = try LinearQuantizer.quantize(
            [Float](repeating: 0, count: 6), dims: [6], options: .init(bits: 8, symmetric: symmetric))
        #expect(zeros.scales == [1])
        #expect(try LinearQuantizer.dequantize(zeros, dims: [6]) == [Float](repeating: 0, count: 6))
    }

    @Test(arguments: [0, 1])
    func perAxisBeatsPerTensorOnSpreadChannels(axis: Int) throws {
        let dims = axis == 0 ? [5, 200] : [200, 5]
        let values = QuantTestData.spreadChannels(dims: dims, axis: axis, seed: 3)
        let perTensor = try LinearQuantizer.quantize(values, dims: dims, options: .init(bits: 8))
        let perAxis = try LinearQuantizer.quantize(
            values, dims: dims, options: .init(bits: 8, granularity: .perAxis(axis: axis)))
        let a = try LinearQuantizer.dequantize(perTensor, dims: dims)
        let b = try LinearQuantizer.dequantize(perAxis, dims: dims)
        let groupOf = QuantTestData.groups(dims: dims, granularity: .perAxis(axis: axis), linear: true).of
        // On the smallest channel, per-tensor rounds almost everything to zero; per-axis keeps it.
        let tensorError = QuantTestData.groupError(values, a, groups: groupOf, group: 0)
        let axisError = QuantTestData.groupError(values, b, groups: groupOf, group: 0)
        #expect(axisError * 1e4 < tensorError)
        #expect(QuantTestData.mse(values, b) < QuantTestData.mse(values, a))
        // Independent reference: every channel's scale, zero point and codes from the textbook definition.
        let axisCodes = QuantTestData.unpackCodes(perAxis.codes.bytes, bits: 8, count: values.count, signed: true)
        let tensorCodes = QuantTestData.unpackCodes(perTensor.codes.bytes, bits: 8, count: values.count, signed: true)
        #expect(
            NaiveLinear.check(values, codes: tensorCodes, bits: 8, scale: perTensor.scales[0], zeroPoint: nil) == [])
        let asymmetric = try LinearQuantizer.quantize(
            values, dims: dims, options: .init(bits: 8, symmetric: false, granularity: .perAxis(axis: axis)))
        let asymmetricCodes = QuantTestData.unpackCodes(
            asymmetric.codes.bytes, bits: 8, count: values.count, signed: false)
        #expect(perAxis.scales.count == 5 && asymmetric.scales.count == 5 && asymmetric.zeroPoints.count == 5)
        for c in 0..<5 {
            let members = values.indices.filter { groupOf[$0] == c }
            let channel = members.map { values[$0] }
            #expect(channel.count == 200)
            let symmetricFailures = NaiveLinear.check(
                channel, codes: members.map { axisCodes[$0] }, bits: 8, scale: perAxis.scales[c], zeroPoint: nil)
            #expect(symmetricFailures == [], "channel \(c) symmetric")
            let asymmetricFailures = NaiveLinear.check(
                channel, codes: members.map { asymmetricCodes[$0] }, bits: 8, scale: asymmetric.scales[c],
                zeroPoint: asymmetric.zeroPoints[c])
            #expect(asymmetricFailures == [], "channel \(c) asymmetric")
        }
    }

    @Test(arguments: [true, false], [QuantizationGranularity.perTensor, .perAxis(axis: 1)])
    func mseRangeSearchNeverWorse(symmetric: Bool, granularity: QuantizationGranularity) throws {
        let dims = [8, 64]
        var values = QuantTestData.gaussian(count: 512, seed: 11)
        values[5] = 9
        values[300] = -7
        let minMax = LinearQuantizer.Options(bits: 4, symmetric: symmetric, granularity: granularity)
        var mse = minMax
        mse.range = .mse
        let a = try LinearQuantizer.quantize(values, dims: dims, options: minMax)
        let b = try LinearQuantizer.quantize(values, dims: dims, options: mse)
        let ea = QuantTestData.mse(values, try LinearQuantizer.dequantize(a, dims: dims))
        let eb = QuantTestData.mse(values, try LinearQuantizer.dequantize(b, dims: dims))
        #expect(eb <= ea * (1 + 1e-9))
        for g in b.scales.indices { #expect(b.scales[g] <= a.scales[g]) }
        if granularity == .perTensor {
            #expect(eb < ea * 0.9, "outliers should make clipping pay off: \(eb) vs \(ea)")
        }
        // Zero stays exact under clipping too.
        var clipped = mse
        clipped.granularity = .perTensor
        let small = try LinearQuantizer.quantize([0, 1, -3, 0.5], dims: [4], options: clipped)
        #expect(try LinearQuantizer.dequantize(small, dims: [4])[0] == 0)
    }

    @Test func deterministic() throws {
        let values = QuantTestData.gaussian(count: 4000, seed: 5)
        for range in [LinearQuantizer.RangeMethod.minMax, .mse] {
            let options = LinearQuantizer.Options(
                bits: 5, symmetric: false, granularity: .perBlock(axis: 0, blockSize: 32), range: range)
            let a = try LinearQuantizer.quantize(values, dims: [100, 40], options: options)
            let b = try LinearQuantizer.quantize(values, dims: [100, 40], options: options)
            #expect(a == b)
            #expect(a.codes.bytes == b.codes.bytes)
        }
    }

    @Test func emptyTensor() throws {
        let q = try LinearQuantizer.quantize([], dims: [0, 3], options: .init(bits: 8, granularity: .perAxis(axis: 1)))
        #expect(q.scales == [1, 1, 1])
        #expect(q.codes.count == 0)
        #expect(try LinearQuantizer.dequantize(q, dims: [0, 3]) == [])
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteIsInvalidTensor(bad: Float) {
        var values = [Float](repeating: 1, count: 200)
        values[123] = bad
        do {
            _ = try LinearQuantizer.quantize(values, dims: [200], options: .init(bits: 8))
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidTensor)
            #expect(error.message.contains("at element 123"))
            #expect(error.message.contains(bad.isNaN ? "NaN" : "infinity"))
        }
    }

    @Test func usageErrors() {
        let values = [Float](repeating: 1, count: 6)
        let bad: [(dims: [Int], options: LinearQuantizer.Options)] = [
            ([6], .init(bits: 1)),
            ([6], .init(bits: 17)),
            ([2, 2], .init(bits: 8)),
            ([2, -3], .init(bits: 8)),
            ([2, 3], .init(bits: 8, granularity: .perAxis(axis: 2))),
            ([2, 3], .init(bits: 8, granularity: .perAxis(axis: -3))),
            ([2, 3], .init(bits: 8, granularity: .perBlock(axis: 1, blockSize: 0))),
            ([6], .init(bits: 8, granularity: .perBlock(axis: 1, blockSize: 2))),
        ]
        for (dims, options) in bad {
            do {
                _ = try LinearQuantizer.quantize(values, dims: dims, options: options)
                Issue.record("expected an error for \(dims) \(options)")
            } catch {
                #expect(error.code == .usage, "\(dims) \(options): \(error)")
            }
        }
    }

    @Test func dequantizeChecksParameters() throws {
        var q = try LinearQuantizer.quantize([1, 2, 3, 4], dims: [2, 2], options: .init(bits: 8, symmetric: false))
        q.scales.append(1)
        do {
            _ = try LinearQuantizer.dequantize(q, dims: [2, 2])
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidTensor)
        }
        let ok = try LinearQuantizer.quantize([1, 2, 3, 4], dims: [4], options: .init(bits: 8))
        do {
            _ = try LinearQuantizer.dequantize(ok, dims: [5])
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidTensor)
        }
    }
}
