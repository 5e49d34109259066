import ModelIR

/// Packing of small integer codes into a dense little-endian bit stream.
///
/// Code `i` occupies bits `i * bits ..< (i + 1) * bits` of the stream, where bit `j` of the stream is
/// bit `j % 8` of byte `j / 8`: codes are written low bits first, and a code may straddle bytes. The last
/// byte is padded with zero bits. This is the layout of `LinearQuantized.codes` and `Palettized.indices`.
public enum BitPacking {
    /// The number of bytes `count` codes of `bits` bits occupy, `ceil(count * bits / 8)`; nil on overflow.
    public static func byteCount(count: Int, bits: Int) -> Int? {
        guard count >= 0, bits >= 0 else { return nil }
        let (total, overflow) = count.multipliedReportingOverflow(by: bits)
        guard !overflow, total <= Int.max - 7 else { return nil }
        return (total + 7) / 8
    }

    /// Packs codes of `bits` bits each (1...16), low bits first, little-endian, into a TensorBuffer of
    /// `ceil(codes.count * bits / 8)` bytes.
    ///
    /// Only the low `bits` bits of each code are stored; higher bits are ignored. `bits` outside 1...16 is
    /// a programming error (callers validate user options first) and traps. O(n).
    public static func pack(_ codes: [UInt16], bits: Int) -> TensorBuffer {
        precondition((1...16).contains(bits), "BitPacking.pack: bits \(bits) is outside 1...16")
        let n = codes.count
        // n * bits cannot overflow: n is an array count and bits <= 16.
        let byteCount = (n * bits + 7) / 8
        return TensorBuffer(count: byteCount) { out in
            guard let dst = out.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            codes.withUnsafeBufferPointer { src in
                switch bits {
                case 8:
                    for i in 0..<n { dst[i] = UInt8(truncatingIfNeeded: src[i]) }
                case 16:
                    for i in 0..<n {
                        dst[2 * i] = UInt8(truncatingIfNeeded: src[i])
                        dst[2 * i + 1] = UInt8(truncatingIfNeeded: src[i] >> 8)
                    }
                default:
                    packGeneral(src, bits: bits, into: dst, byteCount: byteCount)
                }
            }
        }
    }

    /// The general case: a 64-bit accumulator flushed a byte at a time. O(n).
    private static func packGeneral(
        _ src: UnsafeBufferPointer<UInt16>, bits: Int, into dst: UnsafeMutablePointer<UInt8>, byteCount: Int
    ) {
        let mask = UInt64((1 << bits) - 1)
        var accumulator: UInt64 = 0
        var filled = 0
        var o = 0
        for code in src {
            accumulator |= (UInt64(code) & mask) << UInt64(filled)
            filled += bits
            while filled >= 8 {
                dst[o] = UInt8(truncatingIfNeeded: accumulator)
                o += 1
                accumulator >>= 8
                filled -= 8
            }
        }
        if filled > 0, o < byteCount {
            dst[o] = UInt8(truncatingIfNeeded: accumulator)
        }
    }

    /// Unpacks `count` codes of `bits` bits each from `buffer`, the inverse of `pack`.
    ///
    /// Bytes after the first `ceil(count * bits / 8)` are ignored. Throws `.usage` when `bits` is outside
    /// 1...16 or `count` is negative, and `.invalidInput` when the buffer is too short. O(n).
    public static func unpack(_ buffer: TensorBuffer, bits: Int, count: Int) throws(CodecError) -> [UInt16] {
        guard (1...16).contains(bits) else {
            throw CodecError(.usage, "code width \(bits) bits is outside 1...16")
        }
        guard count >= 0, let needed = byteCount(count: count, bits: bits) else {
            throw CodecError(.usage, "code count \(count) is negative or too large")
        }
        guard buffer.count >= needed else {
            throw CodecError(
                .invalidInput,
                "packed codes hold \(buffer.count) bytes but \(count) codes of \(bits) bits need \(needed); "
                    + "the file is truncated or the element count is wrong")
        }
        guard count > 0 else { return [] }
        return [UInt16](unsafeUninitializedCapacity: count) { out, initialized in
            buffer.withUnsafeBytes { raw in
                let src = raw.bindMemory(to: UInt8.self)
                switch bits {
                case 8:
                    for i in 0..<count { out[i] = UInt16(src[i]) }
                case 16:
                    for i in 0..<count { out[i] = UInt16(src[2 * i]) | UInt16(src[2 * i + 1]) << 8 }
                default:
                    let mask = UInt64((1 << bits) - 1)
                    var accumulator: UInt64 = 0
                    var available = 0
                    var byte = 0
                    for i in 0..<count {
                        while available < bits {
                            accumulator |= UInt64(src[byte]) << UInt64(available)
                            byte += 1
                            available += 8
                        }
                        out[i] = UInt16(truncatingIfNeeded: accumulator & mask)
                        accumulator >>= UInt64(bits)
                        available -= bits
                    }
                }
            }
            initialized = count
        }
    }
}
