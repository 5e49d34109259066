/// How a tensor's elements are stored.
///
/// Every encoding the compression pipeline produces has a case here, so passes and writers agree on
/// one vocabulary. Readers produce `.dense` and `.strings`; the other cases are produced by passes.
public enum TensorStorage: Hashable, Sendable {
    /// Packed little-endian elements of the tensor's dtype (sub-byte types low bits first).
    case dense(TensorBuffer)
    /// One byte string per element, for `string` tensors.
    case strings([[UInt8]])
    /// Integer codes with scale and zero point: `value = (code - zeroPoint) * scale`.
    case linearQuantized(LinearQuantized)
    /// Indices into a small codebook of values (k-means weight sharing).
    case palettized(Palettized)
    /// Only nonzero elements, with their positions.
    case sparse(SparseStorage)
    /// An entropy-coded stream of another storage's symbols.
    case entropyCoded(EntropyCoded)
    /// Elements rounded to a narrower floating-point type (fp16, bf16) than the tensor's dtype, which
    /// stays the logical type: `value = dtype(stored)`.
    case reducedPrecision(ReducedPrecision)

    /// The case name, for reports: `dense`, `strings`, `linear`, `palettized`, `sparse`, `entropy`, `reduced`.
    public var kind: String {
        switch self {
        case .dense: "dense"
        case .strings: "strings"
        case .linearQuantized: "linear"
        case .palettized: "palettized"
        case .sparse: "sparse"
        case .entropyCoded: "entropy"
        case .reducedPrecision: "reduced"
        }
    }
}

/// Elements stored in a narrower float type than the tensor's own.
public struct ReducedPrecision: Hashable, Sendable {
    /// `float16` or `bfloat16`.
    public var storedType: DType
    /// Packed little-endian elements of `storedType`.
    public var data: TensorBuffer
    public init(storedType: DType, data: TensorBuffer) {
        self.storedType = storedType
        self.data = data
    }
}

/// What a group of quantization parameters covers.
public enum QuantizationGranularity: Hashable, Sendable {
    /// One scale (and zero point) for the whole tensor.
    case perTensor
    /// One per index along `axis` (per output channel).
    case perAxis(axis: Int)
    /// One per block of `blockSize` consecutive elements along `axis`.
    case perBlock(axis: Int, blockSize: Int)
}

/// Linear (affine) quantization: integer codes of `bits` bits plus scales and zero points.
public struct LinearQuantized: Hashable, Sendable {
    /// Bits per code, 1...16.
    public var bits: Int
    public var signed: Bool
    public var granularity: QuantizationGranularity
    /// One scale per group, in group order.
    public var scales: [Float]
    /// One zero point per group (empty for symmetric quantization, meaning all zero).
    public var zeroPoints: [Int32]
    /// Codes packed `bits` bits each, little-endian, low bits first.
    public var codes: TensorBuffer

    public init(
        bits: Int, signed: Bool, granularity: QuantizationGranularity, scales: [Float], zeroPoints: [Int32],
        codes: TensorBuffer
    ) {
        self.bits = bits
        self.signed = signed
        self.granularity = granularity
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.codes = codes
    }
}

/// Palettized (weight-shared) storage: each element is an index into a codebook.
public struct Palettized: Hashable, Sendable {
    /// Bits per index; the codebook holds at most `1 << bits` entries per group.
    public var bits: Int
    /// Codebook groups: `.perTensor` for one codebook, `.perAxis` for one per channel group.
    public var granularity: QuantizationGranularity
    /// Codebook values, group after group, each group `1 << bits` entries (sorted ascending).
    public var codebook: [Float]
    /// Indices packed `bits` bits each, low bits first.
    public var indices: TensorBuffer

    public init(bits: Int, granularity: QuantizationGranularity, codebook: [Float], indices: TensorBuffer) {
        self.bits = bits
        self.granularity = granularity
        self.codebook = codebook
        self.indices = indices
    }
}

/// Sparse storage: the nonzero elements and where they are; everything else is zero.
public struct SparseStorage: Hashable, Sendable {
    /// How positions are written.
    public enum Positions: Hashable, Sendable {
        /// Flat element indices, ascending.
        case flatIndices([Int64])
        /// Gaps between consecutive nonzeros (Deep Compression's relative index), with `bits` per gap
        /// and an escape (a zero-valued filler element) when a gap does not fit.
        case gaps(bits: Int, gaps: [UInt32])
    }
    public var positions: Positions
    /// The nonzero values, themselves stored in any non-sparse storage.
    public var values: Box<TensorStorage>

    public init(positions: Positions, values: TensorStorage) {
        self.positions = positions
        self.values = Box(values)
    }
}

/// Entropy-coded symbols of a quantized storage (`inner`: linear or palettized).
///
/// `inner` keeps its packed codes too, so the tensor can be used without decoding; `block` is what a
/// `.mpz` file stores, and decodes to exactly `inner`'s codes or indices.
public struct EntropyCoded: Hashable, Sendable {
    public enum Coder: String, Hashable, Sendable {
        case huffman
    }
    public var coder: Coder
    /// The coded symbols, in the coder's self-describing block format (schemas/mpz-huffman.md).
    public var block: TensorBuffer
    /// The storage whose codes or indices the block holds.
    public var inner: Box<TensorStorage>
    /// Order-0 entropy of the symbol sequence, in bits: what an ideal order-0 coder would need.
    public var entropyBits: Double
    /// How the coder arranged the symbols (`plain`, `pairs`, `runs`, ...), for reports.
    public var mode: String

    public init(coder: Coder, block: TensorBuffer, inner: TensorStorage, entropyBits: Double, mode: String) {
        self.coder = coder
        self.block = block
        self.inner = Box(inner)
        self.entropyBits = entropyBits
        self.mode = mode
    }
}

/// A heap box giving recursive value types a fixed size.
public final class Box<Value: Hashable & Sendable>: Hashable, @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
    public static func == (a: Box, b: Box) -> Bool { a.value == b.value }
    public func hash(into hasher: inout Hasher) { hasher.combine(value) }
}
