/// The element type of a tensor, numbered as ONNX numbers its `TensorProto.DataType`.
///
/// A struct over the raw code rather than an enum, so that a code this version does not know
/// survives a read and a write unchanged. Keras dtypes map onto the same codes.
public struct DType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let undefined = DType(rawValue: 0)
    public static let float32 = DType(rawValue: 1)
    public static let uint8 = DType(rawValue: 2)
    public static let int8 = DType(rawValue: 3)
    public static let uint16 = DType(rawValue: 4)
    public static let int16 = DType(rawValue: 5)
    public static let int32 = DType(rawValue: 6)
    public static let int64 = DType(rawValue: 7)
    public static let string = DType(rawValue: 8)
    public static let bool = DType(rawValue: 9)
    public static let float16 = DType(rawValue: 10)
    public static let float64 = DType(rawValue: 11)
    public static let uint32 = DType(rawValue: 12)
    public static let uint64 = DType(rawValue: 13)
    public static let complex64 = DType(rawValue: 14)
    public static let complex128 = DType(rawValue: 15)
    public static let bfloat16 = DType(rawValue: 16)
    public static let float8e4m3fn = DType(rawValue: 17)
    public static let float8e4m3fnuz = DType(rawValue: 18)
    public static let float8e5m2 = DType(rawValue: 19)
    public static let float8e5m2fnuz = DType(rawValue: 20)
    public static let uint4 = DType(rawValue: 21)
    public static let int4 = DType(rawValue: 22)
    public static let float4e2m1 = DType(rawValue: 23)
    public static let float8e8m0 = DType(rawValue: 24)
    public static let uint2 = DType(rawValue: 25)
    public static let int2 = DType(rawValue: 26)
    public static let float6e2m3 = DType(rawValue: 27)
    public static let float6e3m2 = DType(rawValue: 28)

    /// Every type this version knows, in code order.
    public static let known: [DType] = (0...28).map { DType(rawValue: $0) }

    /// Short lower-case name as printed by `inspect` (`float32`, `int8`, ...); `dtype(N)` for unknown codes.
    public var name: String {
        switch rawValue {
        case 0: "undefined"
        case 1: "float32"
        case 2: "uint8"
        case 3: "int8"
        case 4: "uint16"
        case 5: "int16"
        case 6: "int32"
        case 7: "int64"
        case 8: "string"
        case 9: "bool"
        case 10: "float16"
        case 11: "float64"
        case 12: "uint32"
        case 13: "uint64"
        case 14: "complex64"
        case 15: "complex128"
        case 16: "bfloat16"
        case 17: "float8e4m3fn"
        case 18: "float8e4m3fnuz"
        case 19: "float8e5m2"
        case 20: "float8e5m2fnuz"
        case 21: "uint4"
        case 22: "int4"
        case 23: "float4e2m1"
        case 24: "float8e8m0"
        case 25: "uint2"
        case 26: "int2"
        case 27: "float6e2m3"
        case 28: "float6e3m2"
        default: "dtype(\(rawValue))"
        }
    }

    public var description: String { name }

    /// Bits one element occupies in packed little-endian storage; nil for strings and unknown codes.
    ///
    /// Sub-byte types (int4, uint4, float4e2m1, int2, uint2, float6*) pack several elements per byte,
    /// low bits first, as ONNX's `raw_data` does.
    public var bitWidth: Int? {
        switch rawValue {
        case 1, 6, 12: 32
        case 2, 3, 9, 17, 18, 19, 20, 24: 8
        case 4, 5, 10, 16: 16
        case 7, 11, 13, 14: 64
        case 15: 128
        case 21, 22, 23: 4
        case 25, 26: 2
        case 27, 28: 6
        default: nil
        }
    }

    /// True for the floating-point types (including the 8-, 6- and 4-bit float formats).
    public var isFloatingPoint: Bool {
        [1, 10, 11, 16, 17, 18, 19, 20, 23, 24, 27, 28].contains(rawValue)
    }

    /// True for the integer types, signed or not (bool excluded).
    public var isInteger: Bool {
        [2, 3, 4, 5, 6, 7, 12, 13, 21, 22, 25, 26].contains(rawValue)
    }

    /// Bytes needed to store `count` elements packed, or nil for strings, unknown codes and overflow.
    public func byteCount(elements count: Int) -> Int? {
        guard let bits = bitWidth, count >= 0 else { return nil }
        let (total, overflow) = count.multipliedReportingOverflow(by: bits)
        guard !overflow else { return nil }
        return (total + 7) / 8
    }
}
