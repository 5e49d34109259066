import Codecs
import ModelIR

/// How a tensor chunk stores its elements (schemas/mpz.md, 7.2).
public enum MPZEncoding: UInt8, Sendable, CustomStringConvertible {
    case raw = 0
    case planes = 1
    case linear = 2
    case palette = 3
    case reduced = 4
    case context = 5

    public var description: String {
        switch self {
        case .context: "context"
        case .raw: "raw"
        case .planes: "planes"
        case .linear: "linear"
        case .palette: "palette"
        case .reduced: "reduced"
        }
    }
}

/// A chunk header: what `inspect` shows without decoding the data.
public struct MPZChunkInfo: Hashable, Sendable {
    public var encoding: MPZEncoding
    /// 0 none; 1 Huffman symbol block (linear, palette) or plane block (reduced).
    public var entropy: UInt8
    public var bits: Int
    public var dtype: DType
    public var dims: [Int64]
    public var dataSize: Int

    /// `linear 8-bit + huffman`, `planes`, `reduced float16`.
    public var text: String {
        switch encoding {
        case .raw, .planes, .context: encoding.description
        case .linear, .palette: "\(encoding) \(bits)-bit" + (entropy == 1 ? " + huffman" : "")
        case .reduced: "reduced" + (entropy == 1 ? " + planes" : "")
        }
    }
}

/// Encodes tensors into chunks and back.
enum ChunkCodec {
    // MARK: Encoding

    /// Dense tensors of at most this many bytes may be context-coded (slow, ~1 MB/s, but it finds the
    /// repeated values byte planes miss).
    static let contextMaxBytes = 1 << 20

    /// The chunk bytes for `t`. Dense tensors are plane-coded, or context-coded when `tryContext` and
    /// that is smaller still; raw when neither helps.
    static func encode(_ t: Tensor, file: String, label: String, tryContext: Bool = false) throws(MPZError) -> [UInt8] {
        guard let n = t.elementCount, t.dims.count <= MPZ.maxRank else {
            throw MPZError(.invalidInput, file: file, "has dims \(t.dims) that .mpz cannot hold", in: label)
        }
        var w = ByteWriter()
        func header(_ e: MPZEncoding, entropy: UInt8, bits: Int, signed: Bool) {
            w.u8(e.rawValue)
            w.u8(entropy)
            w.u8(UInt8(bits))
            w.u8(signed ? 1 : 0)
            w.i32(t.dtype.rawValue)
            w.u32(UInt32(t.dims.count))
            for d in t.dims { w.i64(d) }
        }
        func data(_ p: UnsafeRawBufferPointer) {
            w.u64(UInt64(p.count))
            w.bytes.append(contentsOf: p)
        }
        switch t.storage {
        case .dense(let buffer):
            guard let size = t.dtype.byteCount(elements: n), buffer.count == size else {
                throw MPZError(
                    .invalidInput, file: file, "holds \(buffer.count) bytes, not \(n) elements of \(t.dtype.name)",
                    in: label)
            }
            let width = planeWidth(t.dtype)
            let coded = width.map { w in buffer.withUnsafeBytes { PlaneCoder.encode($0, elementWidth: w) }.block }
            let context =
                tryContext && buffer.count <= contextMaxBytes
                ? buffer.withUnsafeBytes { ContextCoder.compress($0) } : nil
            if let context, context.count < min(coded?.count ?? Int.max, buffer.count) {
                header(.context, entropy: 0, bits: 0, signed: false)
                context.withUnsafeBytes { data($0) }
            } else if let coded, coded.count < buffer.count {
                header(.planes, entropy: 0, bits: 0, signed: false)
                coded.withUnsafeBytes { data($0) }
            } else {
                header(.raw, entropy: 0, bits: 0, signed: false)
                buffer.withUnsafeBytes { data($0) }
            }
        case .reducedPrecision(let r):
            let coded = r.data.withUnsafeBytes { PlaneCoder.encode($0, elementWidth: 2) }.block
            let useCoded = coded.count < r.data.count
            header(.reduced, entropy: useCoded ? 1 : 0, bits: 0, signed: false)
            w.u32(UInt32(bitPattern: r.storedType.rawValue))
            (useCoded ? coded : r.data).withUnsafeBytes { data($0) }
        case .linearQuantized(let q):
            header(.linear, entropy: 0, bits: q.bits, signed: q.signed)
            try linearParameters(q, into: &w, dims: t.dims, file: file, label: label)
            q.codes.withUnsafeBytes { data($0) }
        case .palettized(let p):
            header(.palette, entropy: 0, bits: p.bits, signed: false)
            try paletteParameters(p, into: &w, dims: t.dims, file: file, label: label)
            p.indices.withUnsafeBytes { data($0) }
        case .entropyCoded(let e):
            switch e.inner.value {
            case .linearQuantized(let q):
                header(.linear, entropy: 1, bits: q.bits, signed: q.signed)
                try linearParameters(q, into: &w, dims: t.dims, file: file, label: label)
            case .palettized(let p):
                header(.palette, entropy: 1, bits: p.bits, signed: false)
                try paletteParameters(p, into: &w, dims: t.dims, file: file, label: label)
            default:
                throw MPZError(
                    .invalidInput, file: file, "entropy-codes \(e.inner.value.kind) storage, which .mpz cannot hold",
                    in: label)
            }
            e.block.withUnsafeBytes { data($0) }
        case .strings, .sparse:
            throw MPZError(
                .invalidInput, file: file, "has \(t.storage.kind) storage, which .mpz 1.0 cannot hold", in: label)
        }
        return w.bytes
    }

    private static func granularity(
        _ g: QuantizationGranularity, into w: inout ByteWriter, rank: Int, file: String, label: String
    ) throws(MPZError) {
        switch g {
        case .perTensor:
            w.u8(0)
            w.zeros(3)
            w.u32(0)
            w.u64(0)
        case .perAxis(let axis):
            guard axis >= 0, axis < rank else {
                throw MPZError(.invalidInput, file: file, "quantization axis \(axis) is out of range", in: label)
            }
            w.u8(1)
            w.zeros(3)
            w.u32(UInt32(axis))
            w.u64(0)
        case .perBlock(let axis, let blockSize):
            guard axis >= 0, axis < rank, blockSize >= 1 else {
                throw MPZError(
                    .invalidInput, file: file, "quantization block \(axis)/\(blockSize) is invalid", in: label)
            }
            w.u8(2)
            w.zeros(3)
            w.u32(UInt32(axis))
            w.u64(UInt64(blockSize))
        }
    }

    private static func linearParameters(
        _ q: LinearQuantized, into w: inout ByteWriter, dims: [Int64], file: String, label: String
    ) throws(MPZError) {
        try granularity(q.granularity, into: &w, rank: dims.count, file: file, label: label)
        w.u64(UInt64(q.scales.count))
        for s in q.scales { w.f32(s) }
        w.u64(UInt64(q.zeroPoints.count))
        for z in q.zeroPoints { w.i32(z) }
    }

    private static func paletteParameters(
        _ p: Palettized, into w: inout ByteWriter, dims: [Int64], file: String, label: String
    ) throws(MPZError) {
        try granularity(p.granularity, into: &w, rank: dims.count, file: file, label: label)
        w.u64(UInt64(p.codebook.count))
        for c in p.codebook { w.f32(c) }
    }

    // MARK: Decoding

    /// Parses a chunk's header; `r` is left at the start of the data.
    static func info(_ r: inout ByteReader) throws(MPZError) -> (MPZChunkInfo, signed: Bool) {
        let code = try r.u8("encoding")
        guard let encoding = MPZEncoding(rawValue: code) else {
            throw MPZError(
                .unsupported, file: r.file, "uses encoding \(code), unknown to this version; upgrade modelpress",
                in: r.section)
        }
        let entropy = try r.u8("entropy")
        let bits = Int(try r.u8("bits"))
        let flags = try r.u8("flags")
        let dtype = DType(rawValue: try r.i32("dtype"))
        let rank = Int(try r.u32("rank"))
        guard rank <= MPZ.maxRank else { throw r.error("declares rank \(rank); at most \(MPZ.maxRank) is allowed") }
        var dims: [Int64] = []
        for _ in 0..<rank { dims.append(try r.i64("dims")) }
        guard elementCount(of: dims) != nil else { throw r.error("has dims \(dims) whose product is invalid") }
        guard flags & ~1 == 0, encoding == .linear || flags == 0 else { throw r.error("has unknown flags \(flags)") }
        switch encoding {
        case .raw, .planes, .context:
            guard entropy == 0, bits == 0 else {
                throw r.error("\(encoding) chunk with entropy \(entropy), bits \(bits)")
            }
        case .linear, .palette:
            guard entropy <= 1 else { throw r.error("unknown entropy coding \(entropy)") }
            guard (1...16).contains(bits) else { throw r.error("\(encoding) chunk with \(bits) bits; 1...16 allowed") }
        case .reduced:
            guard entropy <= 1, bits == 0 else { throw r.error("reduced chunk with entropy \(entropy), bits \(bits)") }
        }
        let info = MPZChunkInfo(encoding: encoding, entropy: entropy, bits: bits, dtype: dtype, dims: dims, dataSize: 0)
        return (info, flags & 1 != 0)
    }

    /// Decodes a whole chunk to the storage the writer was given (entropy-coded symbols decoded back to
    /// packed codes). `backing` keeps zero-copy slices alive.
    static func decode(
        _ chunk: UnsafeRawBufferPointer, backing: TensorBuffer?, file: String, label: String, threads: Int
    )
        throws(MPZError) -> (MPZChunkInfo, TensorStorage)
    {
        var r = ByteReader(chunk, file: file, section: label)
        var (info, signed) = try Self.info(&r)
        let n = elementCount(of: info.dims)!
        let dims = info.dims
        // Sizes are checked before anything is allocated: the dense size must be computable and no larger
        // than this machine's memory (a tiny coded block can declare an enormous constant tensor).
        guard let denseSize = info.dtype.byteCount(elements: n), n <= Int.max / 16 else {
            throw r.error("declares \(n) elements of \(info.dtype.name), whose size cannot be computed")
        }
        guard denseSize <= MPZFileIO.physicalMemory else {
            throw MPZError(
                .invalidInput, file: file,
                "declares a tensor of \(denseSize) bytes, more than this machine's memory", in: label)
        }
        var storage: TensorStorage
        func payload() throws(MPZError) -> UnsafeRawBufferPointer {
            let size = try r.count("data size", itemBytes: 1)
            info.dataSize = size
            let p = try r.region(size, "data")
            guard r.remaining == 0 else { throw r.error("has \(r.remaining) bytes after its data") }
            return p
        }
        func buffer(_ p: UnsafeRawBufferPointer) -> TensorBuffer {
            if let backing, let base = backing.baseAddress, let start = p.baseAddress {
                return TensorBuffer(slice: (start - base)..<(start - base + p.count), of: backing)
            }
            return TensorBuffer(copying: p)
        }
        func corrupt(_ e: CodecError) -> MPZError { MPZError(.corrupt, file: file, e.description, in: label) }
        func symbols(_ p: UnsafeRawBufferPointer, bits: Int, entropy: UInt8) throws(MPZError) -> TensorBuffer {
            let packed = (n * bits + 7) / 8
            if entropy == 0 {
                guard p.count == packed else {
                    throw r.error("holds \(p.count) bytes of \(bits)-bit codes; \(n) elements need \(packed)")
                }
                return buffer(p)
            }
            do {
                let out = try SymbolCoder.decode(p, bits: bits, count: n, threads: threads)
                guard out.count == packed else {
                    throw r.error("Huffman block decoded to \(out.count) bytes, not \(packed)")
                }
                return out
            } catch let e as MPZError {
                throw e
            } catch let e as CodecError {
                throw corrupt(e)
            } catch {
                throw r.error("\(error)")
            }
        }

        switch info.encoding {
        case .raw, .planes, .context:
            guard let size = info.dtype.byteCount(elements: n) else {
                throw r.error("dense chunk of element type \(info.dtype.name), which has no fixed width")
            }
            let p = try payload()
            if info.encoding == .context {
                guard size <= contextMaxBytes else { throw r.error("context chunk of \(size) bytes; at most 1 MiB") }
                do {
                    storage = .dense(TensorBuffer(copying: try ContextCoder.decompress(p, count: size)))
                } catch {
                    throw corrupt(error)
                }
            } else if info.encoding == .raw {
                guard p.count == size else { throw r.error("holds \(p.count) bytes; \(size) expected") }
                storage = .dense(buffer(p))
            } else {
                guard let width = planeWidth(info.dtype) else {
                    throw r.error("planes chunk of element type \(info.dtype.name), which has no byte planes")
                }
                do {
                    storage = .dense(try PlaneCoder.decode(p, elementWidth: width, byteCount: size, threads: threads))
                } catch {
                    throw corrupt(error)
                }
            }
        case .reduced:
            let stored = DType(rawValue: Int32(bitPattern: try r.u32("stored type")))
            guard stored == .float16 || stored == .bfloat16 else {
                throw r.error("reduced chunk stored as \(stored.name); float16 or bfloat16 expected")
            }
            let (size, overflow) = n.multipliedReportingOverflow(by: 2)
            guard !overflow else { throw r.error("element count overflows") }
            let p = try payload()
            let data: TensorBuffer
            if info.entropy == 0 {
                guard p.count == size else { throw r.error("holds \(p.count) bytes; \(n) x 2 expected") }
                data = buffer(p)
            } else {
                do {
                    data = try PlaneCoder.decode(p, elementWidth: 2, byteCount: size, threads: threads)
                } catch {
                    throw corrupt(error)
                }
            }
            storage = .reducedPrecision(ReducedPrecision(storedType: stored, data: data))
        case .linear:
            let g = try granularity(&r, dims: dims)
            let groups = try r.count("scale count", itemBytes: 4)
            guard groups == groupCount(g, dims: dims) else {
                throw r.error("has \(groups) scales; its granularity needs \(groupCount(g, dims: dims))")
            }
            let scales = try r.floats(groups, "scales")
            guard scales.allSatisfy(\.isFinite) else { throw r.error("has a NaN or infinite scale") }
            let zpCount = try r.count("zero-point count", itemBytes: 4)
            guard zpCount == 0 || zpCount == groups else {
                throw r.error("has \(zpCount) zero points for \(groups) groups")
            }
            var zps: [Int32] = []
            zps.reserveCapacity(zpCount)
            for _ in 0..<zpCount { zps.append(try r.i32("zero points")) }
            let codes = try symbols(try payload(), bits: info.bits, entropy: info.entropy)
            storage = .linearQuantized(
                LinearQuantized(
                    bits: info.bits, signed: signed, granularity: g, scales: scales, zeroPoints: zps, codes: codes))
        case .palette:
            let g = try granularity(&r, dims: dims)
            let entries = try r.count("codebook size", itemBytes: 4)
            let groups = groupCount(g, dims: dims, palette: true)
            let (expected, overflow) = groups.multipliedReportingOverflow(by: 1 << info.bits)
            guard !overflow, entries == expected else {
                throw r.error("has \(entries) codebook entries; \(groups) groups of \(1 << info.bits) expected")
            }
            let codebook = try r.floats(entries, "codebook")
            let indices = try symbols(try payload(), bits: info.bits, entropy: info.entropy)
            storage = .palettized(Palettized(bits: info.bits, granularity: g, codebook: codebook, indices: indices))
        }
        return (info, storage)
    }

    private static func granularity(_ r: inout ByteReader, dims: [Int64]) throws(MPZError) -> QuantizationGranularity {
        let kind = try r.u8("granularity")
        _ = try r.region(3, "granularity")
        let axis = Int(try r.u32("axis"))
        let block = try r.u64("block size")
        switch kind {
        case 0: return .perTensor
        case 1, 2:
            guard axis < dims.count else {
                throw r.error("quantization axis \(axis) is out of range for rank \(dims.count)")
            }
            if kind == 1 { return .perAxis(axis: axis) }
            guard block >= 1, block <= UInt64(Int32.max) else {
                throw r.error("quantization block size \(block) is invalid")
            }
            return .perBlock(axis: axis, blockSize: Int(block))
        default:
            throw r.error("unknown granularity \(kind)")
        }
    }

    /// Byte-plane width of a dense element type: 1, 2, 4 or 8; nil for others (sub-byte, 128-bit).
    static func planeWidth(_ dtype: DType) -> Int? {
        guard let bits = dtype.bitWidth, [8, 16, 32, 64].contains(bits) else { return nil }
        return bits / 8
    }

    /// Number of parameter groups `g` defines over `dims`. Linear blocks are ONNX blocks along the axis
    /// (one group per block and position of the other axes); palette blocks are groups of consecutive
    /// channels (one codebook per group).
    static func groupCount(_ g: QuantizationGranularity, dims: [Int64], palette: Bool = false) -> Int {
        switch g {
        case .perTensor: return 1
        case .perAxis(let axis): return Int(dims[axis])
        case .perBlock(let axis, let size):
            let d = Int(dims[axis])
            if palette { return (d + size - 1) / size }
            let others = elementCount(of: dims.enumerated().filter { $0.offset != axis }.map(\.element)) ?? 0
            return others * ((d + size - 1) / size)
        }
    }
}
