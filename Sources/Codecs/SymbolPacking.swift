/// Pointer-level packing of codes, `BitPacking`'s layout (low bits first, little-endian), for the symbol coder.
enum SymbolPacking {
    /// Unpacks `count` codes of `bits` bits (1...16) from `src`, which holds at least `ceil(count × bits / 8)`
    /// bytes. O(n).
    static func unpack(_ src: UnsafeRawBufferPointer, bits: Int, count: Int) -> [UInt16] {
        guard count > 0, let base = src.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return [] }
        return [UInt16](unsafeUninitializedCapacity: count) { out, initialized in
            if bits == 8 {
                for i in 0..<count { out[i] = UInt16(base[i]) }
            } else {
                let mask = UInt64((1 << bits) - 1)
                var acc: UInt64 = 0
                var avail = 0
                var byte = 0
                for i in 0..<count {
                    while avail < bits {
                        acc |= UInt64(base[byte]) &<< UInt64(avail)
                        byte &+= 1
                        avail &+= 8
                    }
                    out[i] = UInt16(truncatingIfNeeded: acc & mask)
                    acc &>>= UInt64(bits)
                    avail &-= bits
                }
            }
            initialized = count
        }
    }

    /// Packs `count` codes of `bits` bits (1...16) from `src` into `dst`, writing at most `byteLimit` bytes
    /// (bits beyond are dropped; callers check they are zero). Codes must fit in `bits` bits. O(n).
    static func pack<S: FixedWidthInteger & UnsignedInteger>(
        _ src: UnsafePointer<S>, count: Int, bits: Int, into dst: UnsafeMutablePointer<UInt8>, byteLimit: Int
    ) {
        var acc: UInt64 = 0
        var fill: UInt64 = 0
        var o = 0
        let width = UInt64(bits)
        for i in 0..<count {
            acc |= UInt64(truncatingIfNeeded: src[i]) &<< fill
            fill &+= width
            if fill >= 32 {
                if o &+ 4 <= byteLimit {
                    UnsafeMutableRawPointer(dst + o).storeBytes(
                        of: UInt32(truncatingIfNeeded: acc).littleEndian, as: UInt32.self)
                } else {
                    for j in 0..<4 where o &+ j < byteLimit {
                        dst[o &+ j] = UInt8(truncatingIfNeeded: acc &>> UInt64(8 * j))
                    }
                }
                o &+= 4
                acc &>>= 32
                fill &-= 32
            }
        }
        while fill > 0 {
            if o < byteLimit { dst[o] = UInt8(truncatingIfNeeded: acc) }
            o &+= 1
            acc &>>= 8
            fill = fill >= 8 ? fill &- 8 : 0
        }
    }
}
