import ModelIR

/// Summary statistics of a tensor's values, for `inspect --tensors`.
enum TensorStatistics {
    /// Min, max, mean, std and zero fraction over the finite elements of a dense numeric tensor;
    /// nil for strings, sub-byte and 8-bit float types, and non-dense storage. O(n), one pass
    /// (Welford's update, so the variance does not cancel catastrophically).
    static func compute(_ t: Tensor) -> InspectReport.TensorStats? {
        guard case .dense(let buffer) = t.storage, let n = t.elementCount, n > 0 else { return nil }
        let read: ((UnsafeRawBufferPointer, Int) -> Double)?
        switch t.dtype {
        case .float32: read = { Double($0.loadUnaligned(fromByteOffset: 4 * $1, as: Float.self)) }
        case .float64: read = { $0.loadUnaligned(fromByteOffset: 8 * $1, as: Double.self) }
        case .float16: read = { Double(halfToFloat($0.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self))) }
        case .bfloat16:
            read = {
                Double(Float(bitPattern: UInt32($0.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self)) << 16))
            }
        case .int8: read = { Double(Int8(bitPattern: $0[$1])) }
        case .uint8, .bool: read = { Double($0[$1]) }
        case .int16: read = { Double($0.loadUnaligned(fromByteOffset: 2 * $1, as: Int16.self)) }
        case .uint16: read = { Double($0.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self)) }
        case .int32: read = { Double($0.loadUnaligned(fromByteOffset: 4 * $1, as: Int32.self)) }
        case .uint32: read = { Double($0.loadUnaligned(fromByteOffset: 4 * $1, as: UInt32.self)) }
        case .int64: read = { Double($0.loadUnaligned(fromByteOffset: 8 * $1, as: Int64.self)) }
        case .uint64: read = { Double($0.loadUnaligned(fromByteOffset: 8 * $1, as: UInt64.self)) }
        default: read = nil
        }
        guard let read, buffer.count >= t.dtype.byteCount(elements: n) ?? Int.max else { return nil }
        return buffer.withUnsafeBytes { p in
            var count = 0
            var zeros = 0
            var nonFinite = 0
            var mean = 0.0
            var m2 = 0.0
            var lo = Double.infinity
            var hi = -Double.infinity
            for i in 0..<n {
                let x = read(p, i)
                guard x.isFinite else {
                    nonFinite += 1
                    continue
                }
                if x == 0 { zeros += 1 }
                count += 1
                let d = x - mean
                mean += d / Double(count)
                m2 += d * (x - mean)
                lo = Swift.min(lo, x)
                hi = Swift.max(hi, x)
            }
            guard count > 0 else {
                return InspectReport.TensorStats(
                    min: nil, max: nil, mean: nil, std: nil, zeroFraction: Double(zeros) / Double(n),
                    nonFinite: nonFinite)
            }
            return InspectReport.TensorStats(
                min: lo, max: hi, mean: mean, std: (m2 / Double(count)).squareRoot(),
                zeroFraction: Double(zeros) / Double(n), nonFinite: nonFinite)
        }
    }

    /// IEEE half to single precision, exact for every input (subnormals, infinities, NaN).
    static func halfToFloat(_ h: UInt16) -> Float {
        let signBit = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1f)
        let frac = UInt32(h & 0x3ff)
        if exp == 0x1f { return Float(bitPattern: signBit | 0x7f80_0000 | (frac << 13)) }
        if exp == 0 {
            let magnitude = Float(frac) / 16_777_216  // frac * 2^-24, exact
            return signBit == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: signBit | (UInt32(exp + 112) << 23) | (frac << 13))
    }
}
