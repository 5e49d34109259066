/// Conversion of float32 values to IEEE half precision (fp16) and bfloat16, bit-exact and portable.
///
/// Rounding is to nearest, ties to even, as hardware conversions do. NaNs stay NaN, keeping as much
/// of the payload as fits (a payload that would vanish becomes the quiet NaN); infinities stay infinite.
public enum FloatCast {
    /// The target format.
    public enum Target: String, Sendable {
        case float16 = "fp16"
        case bfloat16 = "bf16"

        /// The bit pattern of the largest finite magnitude.
        var maxFiniteBits: UInt16 { self == .float16 ? 0x7BFF : 0x7F7F }

        /// The smallest float32 magnitude bit pattern that rounds to infinity: 65520 for fp16, and
        /// halfway between the largest finite bfloat16 and 2^128 for bf16 (ties go to the even infinity).
        var overflowThreshold: UInt32 { self == .float16 ? 0x477F_F000 : 0x7F7F_8000 }
    }

    /// The number of elements whose magnitude is finite in Float but rounds to ±infinity in the target
    /// (fp16: |x| ≥ 65520). O(n).
    public static func overflowCount(_ values: [Float], to target: Target) -> Int {
        let threshold = target.overflowThreshold
        return values.withUnsafeBufferPointer { x in
            var n = 0
            for v in x {
                let a = v.bitPattern & 0x7FFF_FFFF
                n += (a >= threshold && a < 0x7F80_0000) ? 1 : 0
            }
            return n
        }
    }

    /// Converts `values` with round-to-nearest-even.
    ///
    /// `clamp` maps overflowing values (finite, but rounding to ±infinity) to ±the largest finite value of
    /// the target instead; infinite inputs stay infinite either way. Returns the target's bit patterns,
    /// those values converted back to Float (exactly), and the number of overflowing elements. O(n).
    public static func convert(
        _ values: [Float], to target: Target, clamp: Bool
    ) -> (bits: [UInt16], roundTripped: [Float], overflowed: Int) {
        let n = values.count
        var overflowed = 0
        let threshold = target.overflowThreshold
        let maxBits = target.maxFiniteBits
        let bits = [UInt16](unsafeUninitializedCapacity: n) { out, initialized in
            values.withUnsafeBufferPointer { x in
                for i in 0..<n {
                    let f = x[i].bitPattern
                    let a = f & 0x7FFF_FFFF
                    if a >= threshold && a < 0x7F80_0000 {
                        overflowed += 1
                        let sign = UInt16(truncatingIfNeeded: f >> 16) & 0x8000
                        out[i] = sign | (clamp ? maxBits : (target == .float16 ? 0x7C00 : 0x7F80))
                    } else {
                        out[i] = target == .float16 ? halfBits(f) : bfloat16Bits(f)
                    }
                }
            }
            initialized = n
        }
        let back = [Float](unsafeUninitializedCapacity: n) { out, initialized in
            bits.withUnsafeBufferPointer { b in
                if target == .float16 {
                    for i in 0..<n { out[i] = float(fromHalf: b[i]) }
                } else {
                    for i in 0..<n { out[i] = float(fromBFloat16: b[i]) }
                }
            }
            initialized = n
        }
        return (bits, back, overflowed)
    }

    /// The Float value of fp16 bits: exact, including subnormals, ±0, ±infinity and NaN payloads.
    @inline(__always)
    public static func float(fromHalf bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa × 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: magnitude.bitPattern | sign)
        }
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        }
        return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
    }

    /// The Float value of bfloat16 bits (the high half of a float32): exact.
    @inline(__always)
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// fp16 bits of the float32 bits `f`, rounding to nearest even; overflow gives ±infinity.
    @inline(__always)
    static func halfBits(_ f: UInt32) -> UInt16 {
        let sign = UInt16(truncatingIfNeeded: f >> 16) & 0x8000
        let a = f & 0x7FFF_FFFF
        if a > 0x7F80_0000 {
            // NaN: keep the top payload bits; if they are all zero, use the quiet bit.
            let payload = UInt16(truncatingIfNeeded: (a >> 13) & 0x3FF)
            return sign | 0x7C00 | (payload == 0 ? 0x200 : payload)
        }
        if a >= 0x477F_F000 { return sign | 0x7C00 }  // ≥ 65520 (or infinity) rounds to infinity.
        if a < 0x3880_0000 {
            // Below 2^-14: a subnormal half (or zero). Ties at 2^-25 go to even, i.e. zero.
            if a <= 0x3300_0000 { return sign }
            let m = (a & 0x7F_FFFF) | 0x80_0000
            let shift = 126 - (a >> 23)  // 14...24
            var q = m >> shift
            let remainder = m & ((1 << shift) - 1)
            let half = UInt32(1) << (shift - 1)
            if remainder > half || (remainder == half && q & 1 == 1) { q += 1 }
            return sign | UInt16(truncatingIfNeeded: q)
        }
        // Normal: rebias the exponent and round the 13 dropped mantissa bits; a carry moves into the exponent.
        var h = ((a >> 23) - 112) << 10 | (a >> 13) & 0x3FF
        let remainder = a & 0x1FFF
        if remainder > 0x1000 || (remainder == 0x1000 && h & 1 == 1) { h += 1 }
        return sign | UInt16(truncatingIfNeeded: h)
    }

    /// bfloat16 bits of the float32 bits `f`, rounding to nearest even; overflow gives ±infinity.
    @inline(__always)
    static func bfloat16Bits(_ f: UInt32) -> UInt16 {
        if f & 0x7FFF_FFFF > 0x7F80_0000 {
            let high = UInt16(truncatingIfNeeded: f >> 16)
            return high & 0x7F == 0 ? high | 0x40 : high
        }
        let rounded = f &+ 0x7FFF &+ ((f >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}
