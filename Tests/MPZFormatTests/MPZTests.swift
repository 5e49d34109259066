import Codecs
import Compression
import MPZFormat
import ModelIR
import ONNXFormat
import TestSupport
import Testing

@Suite struct MPZTests {
    @Test func crc32cKnownValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        // The sliced path and the bytewise tail agree at every length.
        var rng = SeededGenerator(seed: 7)
        let bytes = (0..<100).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for n in 0...bytes.count {
            var crc: UInt32 = 0xFFFF_FFFF
            for b in bytes.prefix(n) {
                crc ^= UInt32(b)
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            #expect(CRC32C.checksum(Array(bytes.prefix(n))) == crc ^ 0xFFFF_FFFF)
        }
    }

    /// Gaussian-ish floats.
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<n).map { _ in
            (Float.random(in: -1...1, using: &rng) + Float.random(in: -1...1, using: &rng)
                + Float.random(in: -1...1, using: &rng)) * 0.05
        }
    }

    static func floatBuffer(_ v: [Float]) -> TensorBuffer {
        TensorBuffer(copying: v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }

    /// One tensor of every storage a chunk can hold.
    static func sampleTensors() throws -> [(ordinal: Int, name: String, tensor: Tensor)] {
        let w = values(64 * 48, seed: 1)
        let dims: [Int64] = [64, 48]
        var out: [(Int, String, Tensor)] = []
        out.append((0, "dense", Tensor(name: "dense", dtype: .float32, dims: dims, storage: .dense(floatBuffer(w)))))
        let ints = (0..<3000).flatMap { withUnsafeBytes(of: Int64($0 % 7).littleEndian, Array.init) }
        out.append(
            (
                2, "int64",
                Tensor(name: "int64", dtype: .int64, dims: [3000], storage: .dense(TensorBuffer(copying: ints)))
            ))
        let q8 = try LinearQuantizer.quantize(
            w, dims: [64, 48], options: .init(bits: 8, symmetric: true, granularity: .perAxis(axis: 0)))
        out.append((3, "linear8", Tensor(name: "linear8", dtype: .float32, dims: dims, storage: .linearQuantized(q8))))
        let q4 = try LinearQuantizer.quantize(
            w, dims: [64, 48], options: .init(bits: 4, symmetric: false, granularity: .perBlock(axis: 1, blockSize: 16))
        )
        out.append((4, "linear4", Tensor(name: "linear4", dtype: .float32, dims: dims, storage: .linearQuantized(q4))))
        let p4 = try KMeansQuantizer.quantize(w, dims: [64, 48], options: .init(bits: 4))
        let (block, stats) = try SymbolCoder.encode(packed: p4.indices, bits: 4, count: w.count)
        let coded = EntropyCoded(
            coder: .huffman, block: block, inner: .palettized(p4), entropyBits: stats.entropyBits, mode: stats.mode)
        out.append((7, "kmeans4", Tensor(name: "kmeans4", dtype: .float32, dims: dims, storage: .entropyCoded(coded))))
        let halfBits = FloatCast.convert(w, to: .float16, clamp: false).bits
        let half = TensorBuffer(copying: halfBits.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        out.append(
            (
                9, "fp16",
                Tensor(
                    name: "fp16", dtype: .float32, dims: dims,
                    storage: .reducedPrecision(ReducedPrecision(storedType: .float16, data: half)))
            ))
        return out
    }

    static func contents(_ tensors: [(ordinal: Int, name: String, tensor: Tensor)]) -> MPZContents {
        MPZContents(
            sourceFormat: .onnx, graph: Array("a graph of some kind ".utf8) + [UInt8](repeating: 7, count: 300),
            container: nil, info: Array(#"{"preset":"test"}"#.utf8), tensors: tensors)
    }

    /// The storage a reader gives back for what the writer was given.
    static func expected(_ s: TensorStorage) -> TensorStorage {
        if case .entropyCoded(let e) = s { return e.inner.value }
        return s
    }

    @Test func everyEncodingDecodesToWhatWasWritten() throws {
        let tensors = try Self.sampleTensors()
        let image = try MPZWriter.image(Self.contents(tensors), file: "t.mpz", threads: 2)
        let archive = try MPZArchive(bytes: TensorBuffer(copying: image.bytes), name: "t.mpz")
        #expect(archive.sourceFormat == .onnx)
        #expect(try archive.graph() == Self.contents(tensors).graph)
        #expect(try archive.info() == Array(#"{"preset":"test"}"#.utf8))
        #expect(try archive.container() == nil)
        #expect(archive.chunks.map(\.ordinal) == tensors.map(\.ordinal))
        for (chunk, t) in zip(archive.chunks, tensors) {
            let (info, storage) = try archive.tensor(chunk, threads: 2)
            #expect(info.dtype == t.tensor.dtype)
            #expect(info.dims == t.tensor.dims)
            #expect(storage == Self.expected(t.tensor.storage), "\(t.name)")
            #expect(chunk.rawSize == t.tensor.denseByteCount)
        }
        // The dense float tensor is plane-coded and smaller than raw; the Huffman chunk is smaller than packed.
        let infos = try archive.chunks.map { try archive.chunkInfo($0) }
        #expect(infos[0].encoding == .planes)
        #expect(infos[4].encoding == .palette && infos[4].entropy == 1)
        #expect(archive.chunks[4].storedSize < 64 * 48 / 2 + 200)
    }

    @Test func sameInputSameBytes() throws {
        let tensors = try Self.sampleTensors()
        let a = try MPZWriter.image(Self.contents(tensors), file: "t.mpz", threads: 1).bytes
        let b = try MPZWriter.image(Self.contents(tensors), file: "t.mpz", threads: 4).bytes
        #expect(a == b)
        // A whole file: the magic of schemas/mpz.md and, at offset 16, its own size.
        #expect(Array(a.prefix(8)) == [0x89, 0x4D, 0x50, 0x5A, 0x0D, 0x0A, 0x1A, 0x0A])
        let fileSize = (0..<8).reduce(UInt64(0)) { v, k in v | UInt64(a[16 + k]) << UInt64(8 * k) }
        #expect(a.count > 64 && fileSize == UInt64(a.count))
    }

    /// Opens `bytes` and decodes every section; returns the error, if any.
    static func readAll(_ bytes: [UInt8]) -> MPZError? {
        do throws(MPZError) {
            let a = try MPZArchive(bytes: TensorBuffer(copying: bytes), name: "x.mpz")
            _ = try a.graph()
            _ = try a.info()
            _ = try a.container()
            for c in a.chunks { _ = try a.tensor(c) }
            return nil
        } catch {
            return error
        }
    }

    @Test func everyTruncationIsRejected() throws {
        let bytes = try MPZWriter.image(Self.contents(try Self.sampleTensors()), file: "t.mpz").bytes
        for n in 0..<bytes.count {
            let e = Self.readAll(Array(bytes.prefix(n)))
            #expect(e != nil, "prefix \(n) accepted")
            if let e, n >= 64 { #expect(e.description.contains("truncated"), "\(e)") }
        }
    }

    @Test func everyByteFlipIsRejectedNamingTheSection() throws {
        let bytes = try MPZWriter.image(Self.contents(try Self.sampleTensors()), file: "t.mpz").bytes
        var rng = SeededGenerator(seed: 99)
        var sections: Set<String> = []
        // Every byte of the header and index, then every 5th byte (each flip decodes the whole file).
        for i in 0..<bytes.count where i < 400 || i % 5 == 0 {
            var b = bytes
            b[i] ^= UInt8.random(in: 1...255, using: &rng)
            let e = Self.readAll(b)
            #expect(e != nil, "flip at \(i) accepted")
            if let s = e?.section { sections.insert(s.split(separator: " ").first.map(String.init) ?? s) }
        }
        #expect(sections.isSuperset(of: ["header", "index", "graph", "info", "chunk"]))
    }

    @Test func notMPZAndNewerVersions() throws {
        #expect(
            Self.readAll(Array("hello world, this is not a model file at all........................".utf8))?.code
                == .notMPZ)
        var bytes = try MPZWriter.image(Self.contents([]), file: "t.mpz").bytes
        bytes[8] = 2  // major version 2, header CRC fixed up
        let crc = CRC32C.checksum(Array(bytes[0..<60]))
        withUnsafeBytes(of: crc.littleEndian) { for k in 0..<4 { bytes[60 + k] = $0[k] } }
        let e = Self.readAll(bytes)
        #expect(e?.code == .unsupported)
        #expect(e?.description.contains("upgrade") == true)
    }

    @Test func refusesWhatItCannotHold() throws {
        let t = Tensor(name: "s", dtype: .string, dims: [1], storage: .strings([[1]]))
        #expect(throws: MPZError.self) { try MPZWriter.image(Self.contents([(0, "s", t)]), file: "t.mpz") }
        let keras = MPZContents(sourceFormat: .keras, graph: [1], container: nil, info: nil, tensors: [])
        #expect(throws: MPZError.self) { try MPZWriter.image(keras, file: "t.mpz") }
    }
}

/// What the passes produce on real models comes back bit-exactly from a `.mpz` image.
@Suite struct MPZRealModelTests {
    static let pipelines = [
        "linear(bits=8),huffman", "prune(sparsity=0.5),kmeans(bits=4),huffman",
        "linear(bits=4,granularity=block,block=32)",
        "kmeans(bits=3,granularity=channel),huffman", "fp16", "prune(sparsity=0.9),linear(bits=6),huffman",
    ]

    @Test(arguments: ["magika_standard_v3_3.onnx", "silero_vad.onnx"], pipelines)
    func everyEncodingDecodesToWhatThePassesProduced(model: String, pipeline: String) throws {
        let m = try ONNXReader.read(path: Fixtures.onnxModel(model)).model
        let result = try PassManager(recipe: Recipe(passes: try Pipeline.parse(pipeline))).run(m)
        var tensors: [(ordinal: Int, name: String, tensor: Tensor)] = []
        var ordinal = 0
        result.model.visitTensors { _, t in
            if case .dense = t.storage {
            } else if case .strings = t.storage {
            } else {
                tensors.append((ordinal, t.name ?? "", t))
            }
            ordinal += 1
        }
        #expect(!tensors.isEmpty)
        let image = try MPZWriter.image(
            MPZContents(sourceFormat: .onnx, graph: [1, 2, 3], container: nil, info: nil, tensors: tensors),
            file: "m.mpz", threads: 2)
        let archive = try MPZArchive(bytes: TensorBuffer(copying: image.bytes), name: "m.mpz")
        for (chunk, t) in zip(archive.chunks, tensors) {
            let (_, storage) = try archive.tensor(chunk, threads: 2)
            #expect(storage == MPZTests.expected(t.tensor.storage), "\(model) \(pipeline) \(t.name)")
        }
    }
}

extension MPZTests {
    @Test func anEnormousDeclaredTensorIsRefusedBeforeAllocating() throws {
        // A constant 2^40-element tensor codes to a few bytes of Huffman block; the reader must refuse it.
        let n = 1 << 40
        let dims: [Int64] = [Int64(n)]
        var w = [UInt8]()
        w += [2, 0, 8, 1]  // linear, packed, 8 bits, signed
        w += withUnsafeBytes(of: Int32(1).littleEndian, Array.init)
        w += withUnsafeBytes(of: UInt32(1).littleEndian, Array.init)
        w += withUnsafeBytes(of: dims[0].littleEndian, Array.init)
        w += [0, 0, 0, 0] + [UInt8](repeating: 0, count: 12)  // per tensor
        w +=
            withUnsafeBytes(of: UInt64(1).littleEndian, Array.init)
            + withUnsafeBytes(of: Float(1).bitPattern, Array.init)
        w += withUnsafeBytes(of: UInt64(0).littleEndian, Array.init)
        w += withUnsafeBytes(of: UInt64(0).littleEndian, Array.init)
        let t = Tensor(name: "w", dtype: .float32, dims: [4], storage: .dense(Self.floatBuffer([1, 2, 3, 4])))
        var bytes = try MPZWriter.image(Self.contents([(0, "w", t)]), file: "t.mpz").bytes
        let archive = try MPZArchive(bytes: TensorBuffer(copying: bytes), name: "t.mpz")
        // Replace the chunk with the hostile one, fixing up its size and CRC in the index.
        let chunk = archive.chunks[0]
        bytes.replaceSubrange(chunk.offset..<chunk.offset + chunk.storedSize, with: w)
        let entry = 64 + 4 + 40 * (archive.sections.count - 1)
        withUnsafeBytes(of: CRC32C.checksum(w).littleEndian) { for k in 0..<4 { bytes[entry + 4 + k] = $0[k] } }
        withUnsafeBytes(of: UInt64(w.count).littleEndian) { for k in 0..<8 { bytes[entry + 16 + k] = $0[k] } }
        let index = Array(bytes[64..<(64 + 4 + 40 * archive.sections.count)])
        withUnsafeBytes(of: CRC32C.checksum(index).littleEndian) { for k in 0..<4 { bytes[40 + k] = $0[k] } }
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { for k in 0..<8 { bytes[16 + k] = $0[k] } }
        withUnsafeBytes(of: CRC32C.checksum(Array(bytes[0..<60])).littleEndian) {
            for k in 0..<4 { bytes[60 + k] = $0[k] }
        }
        let hostile = try MPZArchive(bytes: TensorBuffer(copying: bytes), name: "t.mpz")
        #expect(throws: MPZError.self) { _ = try hostile.tensor(hostile.chunks[0]) }
        do {
            _ = try hostile.tensor(hostile.chunks[0])
        } catch {
            #expect(
                error.description.contains("memory") || error.description.contains("cannot be computed"), "\(error)")
        }
    }
}
