import Codecs
import Foundation
import MPZFormat
import ModelIR
import ONNXFormat
import TestSupport
import Testing

/// A whole small `.mpz` file checked byte by byte against `schemas/mpz.md`: every header and index field,
/// alignment, zero padding and every byte of the tensor chunk, with checksums from a bitwise CRC32C
/// written here (not the writer's).
@Suite struct MPZGoldenFileTests {
    /// CRC-32C as section 1 defines it: reflected polynomial 0x82F63B78, initial value and final XOR
    /// 0xFFFFFFFF; one bit at a time.
    static func naiveCRC32C(_ bytes: some Collection<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }

    /// The bytes a context-coded stream (mpz-context.md) decodes to.
    static func contextDecoded(_ coded: [UInt8], count: Int) throws -> [UInt8] {
        try coded.withUnsafeBytes { raw in try ContextCoder.decompress(raw, count: count) }
    }

    /// A little-endian unsigned integer of `size` bytes at `offset`.
    static func le(_ bytes: [UInt8], _ offset: Int, _ size: Int) -> UInt64 {
        (0..<size).reduce(UInt64(0)) { v, k in v | UInt64(bytes[offset + k]) << UInt64(8 * k) }
    }

    /// Sixteen float32 weights with random bit patterns (finite): their bytes do not compress, so the writer
    /// stores them raw (neither byte planes nor context coding make them smaller).
    static let weights: [Float] = {
        var rng = SeededGenerator(seed: 2024)
        var out: [Float] = []
        while out.count < 16 {
            let f = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            if f.isFinite { out.append(f) }
        }
        return out
    }()
    static let info = Array(#"{"passes":"none","preset":"golden","producer":"modelpress test"}"#.utf8)

    /// The model: one initializer `w` of shape [4, 4] feeding an Identity.
    static func model() -> Model {
        var g = Graph(name: "g")
        let data = TensorBuffer(
            copying: weights.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
        g.initializers = [Tensor(name: "w", dtype: .float32, dims: [4, 4], storage: .dense(data))]
        g.nodes = [Node(name: "id", opType: "Identity", inputs: ["w"], outputs: ["y"])]
        g.outputs = [ValueInfo(name: "y", type: nil)]
        var m = Model(format: .onnx, graph: g)
        m.irVersion = 8
        m.opsetImports = [OpsetImport(domain: "", version: 17)]
        return m
    }

    @Test func smallFileMatchesTheSpecFieldByField() throws {
        let m = Self.model()
        let graph = try ONNXSkeleton.serialize(m, detached: [0])
        // Section 5: the detached tensor carries varint field 536870910 (key 0xFFFFFFF0 as a varint) with
        // value 1 (its data was in raw_data) and no data of its own.
        let marker: [UInt8] = [0xF0, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]
        #expect(graph.indices.contains { Array(graph[$0...].prefix(marker.count)) == marker })
        let weightBytes = Self.weights.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        #expect(!graph.indices.contains { Array(graph[$0...].prefix(weightBytes.count)) == weightBytes })

        let contents = MPZContents(
            sourceFormat: .onnx, graph: graph, container: nil, info: Self.info,
            tensors: [(ordinal: 0, name: "w", tensor: m.graph.initializers[0])])
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("golden.mpz").path
        try MPZWriter.write(try MPZWriter.image(contents, file: "golden.mpz"), to: path)
        let file = try Fixtures.read(path)
        func u8(_ o: Int) -> UInt64 { Self.le(file, o, 1) }
        func u16(_ o: Int) -> UInt64 { Self.le(file, o, 2) }
        func u32(_ o: Int) -> UInt64 { Self.le(file, o, 4) }
        func u64(_ o: Int) -> UInt64 { Self.le(file, o, 8) }

        // 3. Header.
        #expect(Array(file[0..<8]) == [0x89, 0x4D, 0x50, 0x5A, 0x0D, 0x0A, 0x1A, 0x0A], "magic")
        #expect(u16(8) == 1, "major")
        #expect(u16(10) == 0, "minor")
        #expect(u32(12) == 0, "flags")
        #expect(u64(16) == UInt64(file.count), "fileSize")
        #expect(u64(24) == 64, "indexOffset")
        let sectionCount = Int(u32(64))
        #expect(sectionCount == 3, "graph, info, one tensor chunk")
        let indexSize = 4 + 40 * sectionCount
        #expect(u64(32) == UInt64(indexSize), "indexSize")
        #expect(u32(40) == UInt64(Self.naiveCRC32C(file[64..<(64 + indexSize)])), "indexCRC")
        #expect(u8(44) == 1, "sourceFormat ONNX")
        #expect(file[45..<60].allSatisfy { $0 == 0 }, "reserved")
        #expect(u32(60) == UInt64(Self.naiveCRC32C(file[0..<60])), "headerCRC")

        // 4. Index: graph, info, then the chunk; each section 64-aligned after the previous one, checksummed.
        struct Entry {
            var kind, coding, reserved16, crc, offset, storedSize, rawSize, ordinal, reserved32: UInt64
        }
        let entries = (0..<sectionCount).map { i -> Entry in
            let e = 68 + 40 * i
            return Entry(
                kind: u8(e), coding: u8(e + 1), reserved16: u16(e + 2), crc: u32(e + 4), offset: u64(e + 8),
                storedSize: u64(e + 16), rawSize: u64(e + 24), ordinal: u32(e + 32), reserved32: u32(e + 36))
        }
        #expect(entries.map(\.kind) == [1, 3, 4])
        #expect(entries.allSatisfy { $0.reserved16 == 0 && $0.reserved32 == 0 })
        var end = 64 + indexSize
        var padding: [Int] = []  // offsets of padding bytes
        for (i, e) in entries.enumerated() {
            let offset = Int(e.offset)
            #expect(offset % 64 == 0 && offset >= end && offset - end < 64, "section \(i) at \(offset) after \(end)")
            padding += Array(end..<offset)
            end = offset + Int(e.storedSize)
            #expect(end <= file.count)
            #expect(e.crc == UInt64(Self.naiveCRC32C(file[offset..<end])), "section \(i) crc")
        }
        #expect(end == file.count, "the file ends with the last section")
        #expect(!padding.isEmpty && padding.allSatisfy { file[$0] == 0 }, "padding is zero")
        #expect(entries[0].offset == 192, "the first section starts at 64 + 124 rounded up to 64")

        // 5. Graph section: u64 graphSize, then the graph. Both it and the info section (6) are context-coded
        // (coding 1) when that is smaller, as it is here; the coded stream (mpz-context.md) is checked by the
        // context coder's own tests, so here it only has to decode to the section's bytes.
        let g = entries[0]
        let graphSection = withUnsafeBytes(of: UInt64(graph.count).littleEndian, Array.init) + graph
        #expect(g.coding == 1 && g.rawSize == UInt64(graphSection.count) && g.ordinal == 0)
        let storedGraph = Array(file[Int(g.offset)..<Int(g.offset + g.storedSize)])
        #expect(storedGraph.count < graphSection.count)
        #expect(try Self.contextDecoded(storedGraph, count: graphSection.count) == graphSection)

        // 6. Info section: the JSON object.
        let i = entries[1]
        #expect(i.coding == 1 && i.rawSize == UInt64(Self.info.count) && i.ordinal == 0)
        let storedInfo = Array(file[Int(i.offset)..<Int(i.offset + i.storedSize)])
        #expect(storedInfo.count < Self.info.count)
        #expect(try Self.contextDecoded(storedInfo, count: Self.info.count) == Self.info)

        // 7. The chunk, every byte: raw encoding of 4x4 float32.
        let c = entries[2]
        #expect(c.coding == 0 && c.ordinal == 0 && c.rawSize == 64)
        var chunk: [UInt8] = [0, 0, 0, 0]  // encoding raw, entropy none, bits 0, flags 0
        chunk += [1, 0, 0, 0]  // i32 dtype: ONNX FLOAT = 1
        chunk += [2, 0, 0, 0]  // u32 rank
        chunk += [4, 0, 0, 0, 0, 0, 0, 0] + [4, 0, 0, 0, 0, 0, 0, 0]  // i64 dims
        chunk += [64, 0, 0, 0, 0, 0, 0, 0]  // u64 dataSize
        chunk += weightBytes
        #expect(c.storedSize == UInt64(chunk.count))
        #expect(Array(file[Int(c.offset)..<Int(c.offset + c.storedSize)]) == chunk)

        // And the reader agrees.
        let archive = try MPZArchive(path: path)
        #expect(try archive.graph() == graph && archive.info() == Self.info)
        let (chunkInfo, storage) = try archive.tensor(archive.chunks[0])
        #expect(chunkInfo.dims == [4, 4] && storage == m.graph.initializers[0].storage)
    }
}
