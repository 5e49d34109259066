/// A minimal protobuf wire-format writer for crafting test inputs by hand, hostile ones included,
/// independently of protobuf-c.
public struct ProtoBytes {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// A varint field (wire type 0).
    public mutating func int(_ field: UInt64, _ value: Int64) {
        varint(field << 3)
        varint(UInt64(bitPattern: value))
    }

    /// A length-delimited field (wire type 2).
    public mutating func bytes(_ field: UInt64, _ payload: [UInt8]) {
        varint(field << 3 | 2)
        varint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }

    public mutating func string(_ field: UInt64, _ s: String) { bytes(field, Array(s.utf8)) }

    public mutating func message(_ field: UInt64, _ build: (inout ProtoBytes) -> Void) {
        var m = ProtoBytes()
        build(&m)
        bytes(field, m.bytes)
    }
}

/// Hand-made ONNX files, valid and hostile, for reader and CLI tests.
public enum CraftedONNX {
    /// A model `{ir_version 8, graph, opset ai.onnx 17}` around `graph`.
    public static func model(graph: (inout ProtoBytes) -> Void) -> [UInt8] {
        var m = ProtoBytes()
        m.int(1, 8)
        m.message(7, graph)
        m.message(8) {
            $0.string(1, ""); $0.int(2, 17)
        }
        return m.bytes
    }

    /// A graph with one float32 initializer `w` of `dims`, holding `rawBytes` bytes of raw_data.
    public static func initializer(dims: [Int64], rawBytes: Int) -> [UInt8] {
        model { g in
            g.string(2, "g")
            g.message(5) { t in
                for d in dims { t.int(1, d) }
                t.int(2, 1)
                t.string(8, "w")
                t.bytes(9, [UInt8](repeating: 0x3f, count: rawBytes))
            }
            g.message(12) { v in v.string(1, "w") }
        }
    }

    /// A graph with one float32 initializer of `elements` elements kept in external data.
    public static func external(location: String, elements: Int, length: Int? = nil, offset: Int? = nil) -> [UInt8] {
        model { g in
            g.string(2, "g")
            g.message(5) { t in
                t.int(1, Int64(elements))
                t.int(2, 1)
                t.string(8, "w")
                t.message(13) {
                    $0.string(1, "location"); $0.string(2, location)
                }
                if let offset {
                    t.message(13) {
                        $0.string(1, "offset"); $0.string(2, String(offset))
                    }
                }
                if let length {
                    t.message(13) {
                        $0.string(1, "length"); $0.string(2, String(length))
                    }
                }
                t.int(14, 1)
            }
            g.message(12) { v in v.string(1, "w") }
        }
    }

    /// Graphs nested `levels` deep through If-like node attributes (graph -> node -> attribute -> graph):
    /// about 3 message levels per graph level.
    public static func deeplyNested(levels: Int) -> [UInt8] {
        var inner = ProtoBytes()
        inner.string(2, "leaf")
        for _ in 0..<levels {
            var attr = ProtoBytes()
            attr.string(1, "then_branch")
            attr.int(20, 5)
            attr.bytes(6, inner.bytes)
            var node = ProtoBytes()
            node.string(4, "If")
            node.bytes(5, attr.bytes)
            var graph = ProtoBytes()
            graph.bytes(1, node.bytes)
            inner = graph
        }
        var m = ProtoBytes()
        m.int(1, 8)
        m.bytes(7, inner.bytes)
        m.message(8) {
            $0.string(1, ""); $0.int(2, 17)
        }
        return m.bytes
    }
}
