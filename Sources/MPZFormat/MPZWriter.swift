import Codecs
import Dispatch
import FileSystem
import ModelIR

/// Everything a `.mpz` file holds, before encoding.
public struct MPZContents: Sendable {
    public var sourceFormat: ModelFormat
    /// The graph section's bytes: the model's `ONNXSkeleton`.
    public var graph: [UInt8]
    /// Keras: the HDF5 / zip structure record (`Model.sourceContainer`).
    public var container: OpaqueMessage?
    /// A UTF-8 JSON object (producer, preset, passes).
    public var info: [UInt8]?
    /// The tensors that get chunks, by ordinal, in increasing ordinal order.
    public var tensors: [(ordinal: Int, name: String, tensor: Tensor)]

    public init(
        sourceFormat: ModelFormat, graph: [UInt8], container: OpaqueMessage?, info: [UInt8]?,
        tensors: [(ordinal: Int, name: String, tensor: Tensor)]
    ) {
        self.sourceFormat = sourceFormat
        self.graph = graph
        self.container = container
        self.info = info
        self.tensors = tensors
    }
}

/// A fully encoded `.mpz` file: its sections, ready to be written in one pass.
public struct MPZImage: Sendable {
    public var header: [UInt8]
    public var index: [UInt8]
    public var sections: [MPZSection]
    /// Each section's stored bytes, in index order.
    public var payloads: [[UInt8]]
    public var fileSize: Int

    /// Hands the file's bytes to `emit` in order: header, index, sections, zero padding between them.
    func write(_ emit: (UnsafeRawBufferPointer) throws(MPZError) -> Void) throws(MPZError) {
        var position = 0
        func put(_ bytes: [UInt8]) throws(MPZError) {
            var failure: MPZError?
            bytes.withUnsafeBytes { p in
                do throws(MPZError) { try emit(p) } catch { failure = error }
            }
            if let failure { throw failure }
            position += bytes.count
        }
        try put(header)
        try put(index)
        for (s, payload) in zip(sections, payloads) {
            try put([UInt8](repeating: 0, count: s.offset - position))
            try put(payload)
        }
    }

    /// The whole file in memory (for standard output and tests).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(fileSize)
        try? write { p throws(MPZError) in out.append(contentsOf: p) }
        return out
    }
}

/// Writes `.mpz` files (schemas/mpz.md): every section is encoded first, so all sizes are known, then
/// the file is written in one pass to a temporary file and renamed into place.
public enum MPZWriter {
    /// Dense bytes per file that may be context-coded (small tensors first, in ordinal order).
    public static let contextBudgetBytes = 4 << 20

    /// Encodes `contents`. Tensor chunks are encoded on up to `threads` threads; the bytes do not
    /// depend on it.
    public static func image(_ contents: MPZContents, file: String, threads: Int = 1) throws(MPZError) -> MPZImage {
        var kinds: [(MPZSectionKind, UInt8, [UInt8], Int, Int)] = []  // kind, coding, payload, raw, ordinal
        func coded(_ raw: [UInt8]) -> (UInt8, [UInt8]) {
            let c = raw.withUnsafeBytes { ContextCoder.compress($0) }
            return c.count < raw.count ? (1, c) : (0, raw)
        }
        // The graph section: the graph, then (Keras) the container record, in one coded stream, since the
        // container repeats much of what the graph says (layer names, configs).
        var g = ByteWriter()
        g.u64(UInt64(contents.graph.count))
        g.raw(contents.graph)
        if let c = contents.container {
            let name = Array(c.typeName.utf8)
            g.u16(UInt16(name.count))
            g.raw(name)
            g.raw(c.bytes)
        } else if contents.sourceFormat == .keras {
            throw MPZError(.invalidInput, file: file, "a Keras model needs its container record")
        }
        guard g.bytes.count <= MPZ.maxCodedSectionBytes else {
            throw MPZError(.invalidInput, file: file, "the graph needs \(g.bytes.count) bytes; at most 1 GiB fits")
        }
        let (coding, payload) = coded(g.bytes)
        kinds.append((.graph, coding, payload, g.bytes.count, 0))
        if let info = contents.info {
            let (coding, payload) = coded(info)
            kinds.append((.info, coding, payload, info.count, 0))
        }

        // Tensor chunks, in parallel; each slot is written by one thread only.
        let tensors = contents.tensors
        for (a, b) in zip(tensors, tensors.dropFirst()) where a.ordinal >= b.ordinal {
            throw MPZError(.invalidInput, file: file, "tensor ordinals must increase (\(a.ordinal), \(b.ordinal))")
        }
        // Context coding is tried on small dense tensors, in ordinal order, up to a budget per file
        // (it runs at about 1 MB/s).
        var contextBudget = MPZWriter.contextBudgetBytes
        var tryContext = [Bool](repeating: false, count: tensors.count)
        for (i, t) in tensors.enumerated() {
            guard case .dense(let b) = t.tensor.storage, b.count <= ChunkCodec.contextMaxBytes,
                b.count <= contextBudget,
                let width = ChunkCodec.planeWidth(t.tensor.dtype), Self.repeatsValues(b, width: width)
            else { continue }
            tryContext[i] = true
            contextBudget -= b.count
        }
        let contextFlags = tryContext
        var chunks = [Result<[UInt8], MPZError>](repeating: .success([]), count: tensors.count)
        chunks.withUnsafeMutableBufferPointer { out in
            let slots = UnsafeSendable(out)
            let work: @Sendable (Int) -> Void = { i in
                let t = tensors[i]
                slots.value[i] = Result { () throws(MPZError) in
                    try ChunkCodec.encode(
                        t.tensor, file: file, label: "chunk \(t.ordinal) (tensor '\(t.name)')",
                        tryContext: contextFlags[i])
                }
            }
            if threads > 1, tensors.count > 1 {
                DispatchQueue.concurrentPerform(iterations: tensors.count, execute: work)
            } else {
                for i in tensors.indices { work(i) }
            }
        }
        for (t, chunk) in zip(tensors, chunks) {
            let bytes = try chunk.get()
            kinds.append((.tensor, 0, bytes, t.tensor.denseByteCount ?? 0, t.ordinal))
        }

        // Layout: header, index, then each section at the next multiple of 64.
        let indexSize = 4 + MPZ.indexEntrySize * kinds.count
        var offset = MPZ.aligned(MPZ.headerSize + indexSize)
        var sections: [MPZSection] = []
        for (kind, coding, payload, raw, ordinal) in kinds {
            guard ordinal <= Int(UInt32.max) else {
                throw MPZError(.invalidInput, file: file, "tensor ordinal \(ordinal) does not fit the index")
            }
            sections.append(
                MPZSection(
                    kind: kind, coding: coding, crc: CRC32C.checksum(payload), offset: offset,
                    storedSize: payload.count, rawSize: raw, ordinal: ordinal))
            offset = MPZ.aligned(offset + payload.count)
        }
        let fileSize = sections.last.map { $0.offset + $0.storedSize } ?? MPZ.headerSize + indexSize
        var index = ByteWriter()
        index.u32(UInt32(sections.count))
        for s in sections { s.encode(into: &index) }
        var h = ByteWriter()
        h.raw(MPZ.magic)
        h.u16(MPZ.majorVersion)
        h.u16(MPZ.minorVersion)
        h.u32(0)
        h.u64(UInt64(fileSize))
        h.u64(UInt64(MPZ.headerSize))
        h.u64(UInt64(index.bytes.count))
        h.u32(CRC32C.checksum(index.bytes))
        h.u8(contents.sourceFormat.mpzCode)
        h.zeros(15)
        h.u32(CRC32C.checksum(h.bytes))
        return MPZImage(
            header: h.bytes, index: index.bytes, sections: sections, payloads: kinds.map(\.2), fileSize: fileSize)
    }

    /// True when at most a quarter of the elements are distinct values, or at least a tenth are zero: the
    /// context coder then finds what byte planes cannot (trained float weights are nearly all distinct,
    /// and byte planes suit them; constructed kernels and quantized tables repeat).
    static func repeatsValues(_ b: TensorBuffer, width: Int) -> Bool {
        let n = b.count / width
        guard n > 0 else { return false }
        return b.withUnsafeBytes { p in
            var seen = Set<UInt64>()
            var zeros = 0
            for i in 0..<n {
                var v: UInt64 = 0
                for k in 0..<width { v |= UInt64(p[i * width + k]) << UInt64(8 * k) }
                if v == 0 { zeros += 1 }
                if seen.count <= n / 4 { seen.insert(v) }
            }
            return seen.count <= n / 4 || zeros >= n / 10
        }
    }

    /// Writes `image` to `path` through a temporary file in the same folder, renamed into place when
    /// complete; `path` may not be one of `protectedPaths` (the inputs). `-` writes standard output.
    public static func write(_ image: MPZImage, to path: String, protectedPaths: [String] = []) throws(MPZError) {
        if path == "-" {
            try image.write { p throws(MPZError) in
                do throws(FileSystemError) { try Files.writeStandardOutput(p) } catch { throw MPZError(error) }
            }
            return
        }
        try MPZFileIO.checkNotInput(path, protectedPaths: protectedPaths)
        try Files.writeAtomically(to: path, mapError: MPZError.init) { (out) throws(MPZError) in
            try image.write { p throws(MPZError) in
                do throws(FileSystemError) { try out.write(p) } catch { throw MPZError(error) }
            }
        }
    }
}

/// Hands a buffer to `concurrentPerform` workers that each write their own slots.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
