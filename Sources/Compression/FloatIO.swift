import ModelIR

/// Converts dense float tensors to `[Float]` for the passes, and back.
public enum FloatIO {
    public static func isFloat(_ d: DType) -> Bool { d == .float32 || d == .float16 || d == .bfloat16 || d == .float64 }

    /// The elements of a dense float tensor as Float. O(n).
    public static func values(of t: Tensor) throws(CompressionError) -> [Float] {
        guard case .dense(let buffer) = t.storage, let n = t.elementCount else {
            throw CompressionError(
                .unsupported, "is stored \(t.storage.kind); passes need plain (dense) weights",
                at: "tensor '\(t.name ?? "?")'"
            )
        }
        guard let bytes = t.dtype.byteCount(elements: n), bytes == buffer.count else {
            throw CompressionError(
                .invalidTensor, "declares \(t.dimsText) \(t.dtype.name) but holds \(buffer.count) bytes",
                at: "tensor '\(t.name ?? "?")'")
        }
        return buffer.withUnsafeBytes { raw -> [Float] in
            switch t.dtype {
            case .float32:
                return [Float](unsafeUninitializedCapacity: n) { out, done in
                    for i in 0..<n {
                        out[i] = Float(
                            bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian)
                    }
                    done = n
                }
            case .float64:
                return [Float](unsafeUninitializedCapacity: n) { out, done in
                    for i in 0..<n {
                        out[i] = Float(
                            Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian))
                    }
                    done = n
                }
            case .float16:
                return [Float](unsafeUninitializedCapacity: n) { out, done in
                    for i in 0..<n {
                        out[i] = FloatCast.float(
                            fromHalf: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian)
                    }
                    done = n
                }
            default:
                return [Float](unsafeUninitializedCapacity: n) { out, done in
                    for i in 0..<n {
                        out[i] = FloatCast.float(
                            fromBFloat16: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian)
                    }
                    done = n
                }
            }
        }
    }

    /// `values` packed as dense elements of `dtype` (rounding to nearest even for narrower types). O(n).
    public static func buffer(_ values: [Float], as dtype: DType) -> TensorBuffer {
        let n = values.count
        switch dtype {
        case .float64:
            return TensorBuffer(count: n * 8) { out in
                for i in 0..<n {
                    out.storeBytes(of: Double(values[i]).bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
                }
            }
        case .float16, .bfloat16:
            let bits = FloatCast.convert(values, to: dtype == .float16 ? .float16 : .bfloat16, clamp: false).bits
            return TensorBuffer(count: n * 2) { out in
                for i in 0..<n { out.storeBytes(of: bits[i].littleEndian, toByteOffset: i * 2, as: UInt16.self) }
            }
        default:
            return TensorBuffer(count: n * 4) { out in
                for i in 0..<n {
                    out.storeBytes(of: values[i].bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
                }
            }
        }
    }
}
