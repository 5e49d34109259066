import Compression
import TestSupport
import Testing

@Suite struct FloatCastTests {
    static let allPatterns = (0...0xFFFF).map { UInt16($0) }

    /// Every fp16 bit pattern decodes exactly (checked against the standard library's Float16) and
    /// converts back to the same bits, NaN payloads included.
    @Test func everyHalfPatternRoundTrips() {
        let floats = Self.allPatterns.map { FloatCast.float(fromHalf: $0) }
        #if !(os(macOS) && arch(x86_64))
            var mismatches = 0
            for (h, f) in zip(Self.allPatterns, floats) {
                let reference = Float(Float16(bitPattern: h))
                if reference.isNaN ? !f.isNaN : reference.bitPattern != f.bitPattern { mismatches += 1 }
            }
            #expect(mismatches == 0)
        #endif
        let (bits, back, overflowed) = FloatCast.convert(floats, to: .float16, clamp: false)
        #expect(overflowed == 0)
        #expect(bits == Self.allPatterns)
        #expect(zip(back, floats).allSatisfy { $0.bitPattern == $1.bitPattern })
        #expect(FloatCast.overflowCount(floats, to: .float16) == 0)
    }

    @Test func everyBFloat16PatternRoundTrips() {
        let floats = Self.allPatterns.map { FloatCast.float(fromBFloat16: $0) }
        #expect(zip(floats, Self.allPatterns).allSatisfy { $0.bitPattern == UInt32($1) << 16 })
        let (bits, _, overflowed) = FloatCast.convert(floats, to: .bfloat16, clamp: false)
        #expect(overflowed == 0)
        #expect(bits == Self.allPatterns)
    }

    #if !(os(macOS) && arch(x86_64))
        /// Random float32 bit patterns (all exponents) convert exactly as the standard library's Float16 does.
        @Test func halfConversionMatchesStandardLibrary() {
            var rng = SeededGenerator(seed: 42)
            var values = (0..<300_000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
            // Concentrate on the interesting range: around fp16's normal, subnormal and overflow edges.
            values += (0..<300_000).map { _ in
                Float(bitPattern: UInt32.random(in: 0x3200_0000...0x4780_0000, using: &rng))
                    * (Bool.random(using: &rng) ? 1 : -1)
            }
            let (bits, _, _) = FloatCast.convert(values, to: .float16, clamp: false)
            var mismatches: [String] = []
            for (v, b) in zip(values, bits) where !v.isNaN && Float16(v).bitPattern != b {
                mismatches.append("\(v) (0x\(String(v.bitPattern, radix: 16))): \(b) vs \(Float16(v).bitPattern)")
            }
            #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
            for (v, b) in zip(values, bits) where v.isNaN { #expect(b & 0x7C00 == 0x7C00 && b & 0x3FF != 0) }
        }
    #endif

    /// bfloat16 conversion against a reference that picks the nearer neighbour in Double (ties to even).
    @Test func bfloat16ConversionRoundsToNearestEven() {
        var rng = SeededGenerator(seed: 7)
        let values = (0..<200_000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
            .filter { $0.isFinite }
        let (bits, back, _) = FloatCast.convert(values, to: .bfloat16, clamp: false)
        var mismatches = 0
        for (i, v) in values.enumerated() {
            let down = v.bitPattern >> 16
            let lower = Double(Float(bitPattern: down << 16))
            let upper = Double(Float(bitPattern: (down + 1) << 16))
            let x = Double(v)
            let expected: UInt32
            if upper.isInfinite || upper.isNaN {
                // Beyond the largest finite bfloat16 (0x1.FEp127): halfway up and more rounds to infinity.
                expected = abs(x) >= 0x1.FFp127 ? down + 1 : down
            } else {
                let dl = abs(x - lower)
                let du = abs(upper - x)
                expected = dl < du || (dl == du && down & 1 == 0) ? down : down + 1
            }
            if UInt32(bits[i]) != expected { mismatches += 1 }
            if back[i].bitPattern != UInt32(bits[i]) << 16 { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test func overflowCountAndClamp() {
        let values: [Float] = [65504, 65519.996, 65520, -70000, .infinity, -.infinity, 1e38, 1, -0.0]
        #expect(FloatCast.overflowCount(values, to: .float16) == 3)
        let plain = FloatCast.convert(values, to: .float16, clamp: false)
        #expect(plain.overflowed == 3)
        #expect(plain.bits == [0x7BFF, 0x7BFF, 0x7C00, 0xFC00, 0x7C00, 0xFC00, 0x7C00, 0x3C00, 0x8000])
        let clamped = FloatCast.convert(values, to: .float16, clamp: true)
        #expect(clamped.overflowed == 3)
        #expect(clamped.bits == [0x7BFF, 0x7BFF, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7BFF, 0x3C00, 0x8000])
        #expect(clamped.roundTripped[3] == -65504)
        #expect(clamped.roundTripped[4] == .infinity)

        let big: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0x1.FEp127, 3e38]
        #expect(FloatCast.overflowCount(big, to: .bfloat16) == 2)
        let b = FloatCast.convert(big, to: .bfloat16, clamp: true)
        #expect(b.bits == [0x7F7F, 0xFF7F, 0x7F7F, 0x7F62])
        #expect(FloatCast.convert(big, to: .bfloat16, clamp: false).bits[0] == 0x7F80)
    }

    /// Special values as swift-numerics tests them: signed zeros, subnormal edges, ties, infinities, NaN.
    @Test func specialValues() {
        let cases: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000),
            (0x1p-24, 0x0001), (-0x1p-24, 0x8001),  // smallest subnormal
            (0x1p-25, 0x0000), (-0x1p-25, 0x8000),  // halfway to the smallest subnormal: ties to even (zero)
            (Float(0x1p-25).nextUp, 0x0001),
            (0x1.8p-24, 0x0002),  // 1.5 subnormal units: tie to even (2)
            (0x1.4p-23, 0x0002),  // 2.5 units: tie to even (2)
            (0x1.FF8p-15, 0x03FF), (0x1p-14, 0x0400),  // largest subnormal, smallest normal
            (0x1.FFCp-15, 0x0400),  // rounds up into the normals
            (1, 0x3C00), (1 + 0x1p-11, 0x3C00), (1 + 0x1.8p-10, 0x3C02),  // ties to even
            (65504, 0x7BFF), (.infinity, 0x7C00), (-.infinity, 0xFC00),
            (Float.leastNonzeroMagnitude, 0x0000), (-Float.leastNormalMagnitude, 0x8000),  // float subnormals
        ]
        let (bits, back, _) = FloatCast.convert(cases.map(\.0), to: .float16, clamp: false)
        for (i, c) in cases.enumerated() {
            #expect(bits[i] == c.1, "\(c.0): got 0x\(String(bits[i], radix: 16))")
            #expect(back[i] == FloatCast.float(fromHalf: c.1))
        }
        #expect(FloatCast.float(fromHalf: 0x8000).sign == .minus)
        #expect(FloatCast.float(fromHalf: 0x0001) == 0x1p-24)
        #expect(FloatCast.float(fromHalf: 0x7E00).isNaN)
        #expect(FloatCast.float(fromHalf: 0x7D00).isSignalingNaN)

        let nan = FloatCast.convert(
            [.nan, -.nan, .signalingNaN, Float(bitPattern: 0x7F80_0001)], to: .float16, clamp: true)
        #expect(nan.bits.allSatisfy { $0 & 0x7C00 == 0x7C00 && $0 & 0x3FF != 0 })
        #expect(nan.roundTripped.allSatisfy { $0.isNaN })
        #expect(nan.overflowed == 0)
        let bnan = FloatCast.convert([.nan, Float(bitPattern: 0x7F80_0001)], to: .bfloat16, clamp: true)
        #expect(bnan.roundTripped.allSatisfy { $0.isNaN })
        #expect(FloatCast.convert([-0.0, 0x1p-133], to: .bfloat16, clamp: false).bits == [0x8000, 0x0001])
    }

    /// Conversion is odd-symmetric: negating the input only flips the sign bit.
    @Test func signSymmetry() {
        var rng = SeededGenerator(seed: 3)
        let values = (0..<50_000).map { _ in Float(bitPattern: UInt32.random(in: 0...0x7F7F_FFFF, using: &rng)) }
        for target in [FloatCast.Target.float16, .bfloat16] {
            let p = FloatCast.convert(values, to: target, clamp: false).bits
            let n = FloatCast.convert(values.map { -$0 }, to: target, clamp: false).bits
            #expect(zip(p, n).allSatisfy { $0 ^ 0x8000 == $1 })
        }
    }
}
