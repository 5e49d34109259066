import ModelIR

/// Which of TensorProto's typed repeated fields holds elements of a given type, per the ONNX spec.
enum TypedField {
    case float  // float_data: float32, complex64 (two floats per element)
    case int32  // int32_data: int32 and every narrower type (16-bit types as their bit pattern,
    // 8-bit types one per value, sub-byte types one packed byte per value)
    case int64  // int64_data: int64
    case double  // double_data: float64, complex128
    case uint64  // uint64_data: uint32, uint64
    case string  // string_data

    static func of(_ dtype: DType) -> TypedField? {
        switch dtype {
        case .float32, .complex64: .float
        case .int64: .int64
        case .float64, .complex128: .double
        case .uint32, .uint64: .uint64
        case .string: .string
        case .undefined: nil
        default: dtype.bitWidth == nil ? nil : .int32
        }
    }
}

/// Conversions between TensorProto's typed fields and packed little-endian element bytes.
///
/// All O(n). Each returns nil when the typed values cannot be what the dtype declares; callers turn
/// that into an error naming the tensor.
enum TypedData {
    /// Packed bytes from `int32_data` for a type narrower than 32 bits, or int32 itself.
    static func bytes(fromInt32 values: UnsafeBufferPointer<Int32>, dtype: DType) -> [UInt8]? {
        guard let bits = dtype.bitWidth else { return nil }
        switch bits {
        case 32:
            return values.withMemoryRebound(to: UInt8.self) { Array($0) }  // little-endian host
        case 16:
            var out = [UInt8](repeating: 0, count: values.count * 2)
            for (i, v) in values.enumerated() {
                let u = UInt16(truncatingIfNeeded: v)
                out[2 * i] = UInt8(truncatingIfNeeded: u)
                out[2 * i + 1] = UInt8(truncatingIfNeeded: u >> 8)
            }
            return out
        default:  // 8-bit types one element per value; sub-byte types one packed byte per value
            return values.map { UInt8(truncatingIfNeeded: $0) }
        }
    }

    /// `int32_data` values for packed bytes: the inverse of `bytes(fromInt32:dtype:)`, sign-extending
    /// the signed types as ONNX writers do.
    static func int32Values(fromBytes b: UnsafeRawBufferPointer, dtype: DType) -> [Int32] {
        switch dtype.bitWidth {
        case 32:
            return (0..<(b.count / 4)).map { b.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self) }
        case 16:
            let signed = dtype == .int16
            return (0..<(b.count / 2)).map { i in
                let u = UInt16(b[2 * i]) | UInt16(b[2 * i + 1]) << 8
                return signed ? Int32(Int16(bitPattern: u)) : Int32(u)
            }
        default:
            if dtype == .int8 { return b.map { Int32(Int8(bitPattern: $0)) } }
            return b.map { Int32($0) }
        }
    }

    /// Packed bytes from `uint64_data` (uint32 or uint64).
    static func bytes(fromUInt64 values: UnsafeBufferPointer<UInt64>, dtype: DType) -> [UInt8] {
        if dtype == .uint32 {
            var out = [UInt8](repeating: 0, count: values.count * 4)
            for (i, v) in values.enumerated() {
                withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian) { p in
                    for k in 0..<4 { out[4 * i + k] = p[k] }
                }
            }
            return out
        }
        return values.withMemoryRebound(to: UInt8.self) { Array($0) }
    }

    /// `uint64_data` values for packed uint32 or uint64 bytes.
    static func uint64Values(fromBytes b: UnsafeRawBufferPointer, dtype: DType) -> [UInt64] {
        if dtype == .uint32 {
            return (0..<(b.count / 4)).map { UInt64(b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
        return (0..<(b.count / 8)).map { b.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self) }
    }

    /// Number of typed values a tensor of `count` elements needs in its typed field.
    static func typedCount(elements count: Int, dtype: DType) -> Int? {
        switch dtype {
        case .complex64, .complex128: return count.multipliedReportingOverflow(by: 2).overflow ? nil : count * 2
        default:
            guard let bits = dtype.bitWidth else { return count }
            return bits < 8 ? dtype.byteCount(elements: count) : count
        }
    }
}
