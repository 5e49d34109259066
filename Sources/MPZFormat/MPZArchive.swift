import Codecs
import ModelIR

/// A `.mpz` file opened for reading: header and index checked, sections decoded on demand.
///
/// The file is memory-mapped; a tensor chunk is read (and its CRC checked) only when asked for, so one
/// tensor can be decoded without touching the others. Every error names the file and the section.
public final class MPZArchive: @unchecked Sendable {
    public let name: String
    public let sourceFormat: ModelFormat
    public let minorVersion: UInt16
    public let fileSize: Int
    public let sections: [MPZSection]
    private let data: TensorBuffer

    /// Opens the file at `path` (memory-mapped).
    public convenience init(path: String) throws(MPZError) {
        try self.init(bytes: try MPZFileIO.map(path), name: path)
    }

    /// Opens a file already in memory (e.g. read from standard input); `name` labels errors.
    public init(bytes: TensorBuffer, name: String) throws(MPZError) {
        self.name = name
        data = bytes
        let parsed = try Self.parse(UnsafeRawBufferPointer(start: bytes.baseAddress, count: bytes.count), name: name)
        (sourceFormat, minorVersion, sections) = parsed
        fileSize = bytes.count
    }

    private static func parse(_ p: UnsafeRawBufferPointer, name: String) throws(MPZError) -> (
        ModelFormat, UInt16, [MPZSection]
    ) {
        let start = Array(p.prefix(8))
        if start == Array(MPZ.magic.prefix(start.count)), p.count < MPZ.headerSize {
            throw MPZError(
                .corrupt, file: name, "the file is truncated: \(p.count) bytes, shorter than the 64-byte header",
                in: "header")
        }
        guard start == MPZ.magic else {
            if start.count == 8, Array(start.prefix(4)) == Array(MPZ.magic.prefix(4)) {
                throw MPZError(
                    .corrupt, file: name, "the magic number is damaged (line endings converted?)", in: "header")
            }
            throw MPZError(.notMPZ, file: name, "is not a .mpz file (no MPZ magic number)")
        }
        var h = ByteReader(UnsafeRawBufferPointer(rebasing: p[0..<MPZ.headerSize]), file: name, section: "header")
        _ = try h.region(8, "magic")
        let major = try h.u16("version")
        let minor = try h.u16("version")
        let headerCRC = p.loadUnaligned(fromByteOffset: 60, as: UInt32.self).littleEndian
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<60])) == headerCRC else {
            throw h.error("checksum mismatch: the header is damaged")
        }
        guard major == MPZ.majorVersion else {
            throw MPZError(
                .unsupported, file: name,
                "is format version \(major).\(minor); this modelpress reads version \(MPZ.majorVersion).x; upgrade it",
                in: "header")
        }
        guard try h.u32("flags") == 0 else { throw h.error("has unknown flags set") }
        let fileSize = try h.u64("file size")
        guard fileSize == UInt64(p.count) else {
            throw h.error(
                fileSize > UInt64(p.count)
                    ? "the file is truncated: \(p.count) bytes of \(fileSize)"
                    : "the file has \(UInt64(p.count) - fileSize) bytes after its end (\(fileSize) bytes)")
        }
        guard try h.u64("index offset") == UInt64(MPZ.headerSize) else { throw h.error("index offset is not 64") }
        let indexSize = try h.u64("index size")
        let indexCRC = try h.u32("index checksum")
        let formatCode = try h.u8("source format")
        guard let format = ModelFormat(mpzCode: formatCode) else {
            throw h.error("unknown source format \(formatCode)")
        }
        guard indexSize >= 4, indexSize <= UInt64(p.count - MPZ.headerSize) else {
            throw MPZError(.corrupt, file: name, "index size \(indexSize) does not fit the file", in: "index")
        }
        let index = UnsafeRawBufferPointer(rebasing: p[MPZ.headerSize..<MPZ.headerSize + Int(indexSize)])
        guard CRC32C.checksum(index) == indexCRC else {
            throw MPZError(.corrupt, file: name, "checksum mismatch: the index is damaged", in: "index")
        }
        var r = ByteReader(index, file: name, section: "index")
        let count = Int(try r.u32("section count"))
        guard Int(indexSize) == 4 + count * MPZ.indexEntrySize else {
            throw r.error("holds \(indexSize) bytes, not 4 + 40 x \(count) sections")
        }
        var sections: [MPZSection] = []
        var end = MPZ.headerSize + Int(indexSize)
        var seen = Set<UInt8>()
        var lastOrdinal = -1
        for i in 0..<count {
            let kindCode = try r.u8("kind")
            let coding = try r.u8("coding")
            _ = try r.u16("reserved")
            let crc = try r.u32("crc")
            let offset = try r.u64("offset")
            let stored = try r.u64("stored size")
            let raw = try r.u64("raw size")
            let ordinal = Int(try r.u32("ordinal"))
            _ = try r.u32("reserved")
            let what = "section \(i)"
            guard let kind = MPZSectionKind(rawValue: kindCode) else {
                throw MPZError(
                    .unsupported, file: name, "\(what) is of kind \(kindCode), unknown to this version", in: "index")
            }
            guard offset % UInt64(MPZ.alignment) == 0, offset >= UInt64(end), offset <= UInt64(p.count),
                stored <= UInt64(p.count) - offset
            else {
                throw r.error("\(what) (\(kind)) at \(offset), \(stored) bytes, is misplaced or runs past the end")
            }
            guard raw <= UInt64(Int.max) else { throw r.error("\(what) has an impossible size") }
            // Padding before the section must be zero: every byte of the file is then checked.
            if p[end..<Int(offset)].contains(where: { $0 != 0 }) {
                throw MPZError(
                    .corrupt, file: name, "padding before \(what) is not zero: the file is damaged", in: "index")
            }
            switch kind {
            case .graph, .container, .info:
                guard coding <= 1 else {
                    throw MPZError(.unsupported, file: name, "\(what) uses coding \(coding), unknown", in: "index")
                }
                guard !seen.contains(kindCode) else { throw r.error("holds a second \(kind) section") }
                guard raw <= UInt64(MPZ.maxCodedSectionBytes), coding == 1 || raw == stored else {
                    throw r.error("\(what) (\(kind)) declares \(raw) decoded bytes for \(stored) stored")
                }
                guard ordinal == 0 else { throw r.error("\(what) (\(kind)) has an ordinal") }
            case .tensor:
                guard coding == 0 else { throw r.error("chunk \(ordinal) has coding \(coding)") }
                guard ordinal > lastOrdinal else { throw r.error("chunk ordinals do not increase at \(what)") }
                lastOrdinal = ordinal
            }
            seen.insert(kindCode)
            sections.append(
                MPZSection(
                    kind: kind, coding: coding, crc: crc, offset: Int(offset), storedSize: Int(stored),
                    rawSize: Int(raw), ordinal: ordinal))
            end = Int(offset + stored)
        }
        guard seen.contains(MPZSectionKind.graph.rawValue) else { throw r.error("has no graph section") }
        guard !seen.contains(MPZSectionKind.container.rawValue) else {
            throw r.error("holds a separate container section, which version 1.0 does not use")
        }
        return (format, minor, sections)
    }

    /// The stored bytes of `s`, CRC-checked.
    private func stored(_ s: MPZSection) throws(MPZError) -> UnsafeRawBufferPointer {
        let p = data.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[s.offset..<s.offset + s.storedSize]) }
        guard CRC32C.checksum(p) == s.crc else {
            throw MPZError(.corrupt, file: name, "checksum mismatch: the data is damaged", in: s.label)
        }
        return p
    }

    private func decoded(_ s: MPZSection) throws(MPZError) -> [UInt8] {
        let p = try stored(s)
        guard s.coding == 1 else { return Array(p) }
        do {
            let out = try ContextCoder.decompress(p, count: s.rawSize)
            guard out.count == s.rawSize else {
                throw MPZError(.corrupt, file: name, "decoded to \(out.count) bytes, not \(s.rawSize)", in: s.label)
            }
            return out
        } catch let e as MPZError {
            throw e
        } catch {
            throw MPZError(.corrupt, file: name, "\(error)", in: s.label)
        }
    }

    /// The graph section, decoded: the graph (an `ONNXSkeleton`) and, for Keras, the container record.
    public func structure() throws(MPZError) -> (graph: [UInt8], container: OpaqueMessage?) {
        let s = sections.first { $0.kind == .graph }!
        let bytes = try decoded(s)
        let format = sourceFormat
        let file = name
        let parts = try bytes.withUnsafeBytes { (p) -> Result<([UInt8], OpaqueMessage?), MPZError> in
            var r = ByteReader(p, file: file, section: s.label)
            return Result { () throws(MPZError) in
                let n = try r.count("graph size", itemBytes: 1)
                let graph = Array(try r.region(n, "graph"))
                guard format == .keras else {
                    guard r.remaining == 0 else { throw r.error("has \(r.remaining) bytes after the graph") }
                    return (graph, nil)
                }
                let nameSize = Int(try r.u16("container type name size"))
                let typeName = try r.region(nameSize, "container type name")
                guard let text = String(validating: typeName, as: UTF8.self) else {
                    throw r.error("has a container type name that is not UTF-8")
                }
                let record = Array(try r.region(r.remaining, "container record"))
                return (graph, OpaqueMessage(typeName: text, bytes: record))
            }
        }.get()
        return parts
    }

    /// The graph, decoded: an `ONNXSkeleton`.
    public func graph() throws(MPZError) -> [UInt8] { try structure().graph }

    /// The container record (Keras), if any.
    public func container() throws(MPZError) -> OpaqueMessage? { try structure().container }

    /// The info section's JSON bytes, if any.
    public func info() throws(MPZError) -> [UInt8]? {
        guard let s = sections.first(where: { $0.kind == .info }) else { return nil }
        return try decoded(s)
    }

    /// The tensor chunks, in ordinal order.
    public var chunks: [MPZSection] { sections.filter { $0.kind == .tensor } }

    /// The header of a chunk (encoding, bits, dtype, dims, data size), without decoding its data.
    public func chunkInfo(_ s: MPZSection, label: String? = nil) throws(MPZError) -> MPZChunkInfo {
        let p = data.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[s.offset..<s.offset + s.storedSize]) }
        var r = ByteReader(p, file: name, section: label ?? s.label)
        return try ChunkCodec.info(&r).0
    }

    /// Decodes a chunk: CRC, header, data. Huffman-coded symbols come back as the packed codes the
    /// passes produced. `label` names the tensor in errors (e.g. `chunk 3 (tensor 'fc1.weight')`).
    public func tensor(_ s: MPZSection, label: String? = nil, threads: Int = 1) throws(MPZError) -> (
        MPZChunkInfo, TensorStorage
    ) {
        let label = label ?? s.label
        let p: UnsafeRawBufferPointer
        do {
            p = try stored(s)
        } catch {
            throw MPZError(error.code, file: name, error.message, in: label)
        }
        let (info, storage) = try ChunkCodec.decode(p, backing: data, file: name, label: label, threads: threads)
        if let size = info.dtype.byteCount(elements: elementCount(of: info.dims) ?? 0), size != s.rawSize {
            throw MPZError(.corrupt, file: name, "index says \(s.rawSize) dense bytes, header \(size)", in: label)
        }
        return (info, storage)
    }
}
