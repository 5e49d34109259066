import ModelIR

/// Constants and the fixed-size records of the `.mpz` format (schemas/mpz.md, sections 3 and 4).
public enum MPZ {
    public static let magic: [UInt8] = [0x89, 0x4D, 0x50, 0x5A, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let majorVersion: UInt16 = 1
    public static let minorVersion: UInt16 = 0
    static let headerSize = 64
    static let indexEntrySize = 40
    /// Sections start at multiples of this.
    static let alignment = 64
    /// Largest decoded graph, container or info section a reader accepts.
    public static let maxCodedSectionBytes = 1 << 30
    /// Largest rank a chunk may declare.
    static let maxRank = 64

    /// True when `bytes` starts like a `.mpz` file.
    public static func hasMagic(_ bytes: [UInt8]) -> Bool { bytes.count >= 8 && Array(bytes.prefix(8)) == magic }

    static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}

/// What a section of the file holds.
public enum MPZSectionKind: UInt8, Sendable {
    case graph = 1
    /// Reserved (a separate container section); version 1.0 keeps the container in the graph section.
    case container = 2
    case info = 3
    case tensor = 4
}

/// One entry of the index: where a section is and how it is stored.
public struct MPZSection: Hashable, Sendable {
    public var kind: MPZSectionKind
    /// Graph, container, info: 0 stored, 1 context-coded. Tensor chunks: 0.
    public var coding: UInt8
    public var crc: UInt32
    public var offset: Int
    public var storedSize: Int
    /// Decoded size (graph, container, info) or the tensor's dense size in bytes.
    public var rawSize: Int
    /// The tensor's ordinal (`Model.forEachTensor` order); 0 for other sections.
    public var ordinal: Int

    func encode(into w: inout ByteWriter) {
        w.u8(kind.rawValue)
        w.u8(coding)
        w.u16(0)
        w.u32(crc)
        w.u64(UInt64(offset))
        w.u64(UInt64(storedSize))
        w.u64(UInt64(rawSize))
        w.u32(UInt32(ordinal))
        w.u32(0)
    }

    /// The name errors use: `graph section`, `chunk 12`.
    public var label: String {
        switch kind {
        case .graph: "graph section"
        case .container: "container section"
        case .info: "info section"
        case .tensor: "chunk \(ordinal)"
        }
    }
}

extension ModelFormat {
    var mpzCode: UInt8 {
        switch self {
        case .onnx: 1
        case .keras: 2
        }
    }

    init?(mpzCode: UInt8) {
        switch mpzCode {
        case 1: self = .onnx
        case 2: self = .keras
        default: return nil
        }
    }
}
