import Foundation
import ModelIR

/// The serialisable form of an HDF5 tree without its tensor data: what `Model.sourceContainer` holds
/// for a Keras file, so the writer can re-create every group, attribute and dataset exactly.
///
/// Encoded as JSON with sorted keys (deterministic). Datasets that became IR tensors name their tensor;
/// the few that did not (strings, big-endian or exotic types) carry their bytes inline.
struct ContainerDoc: Codable, Sendable {
    static let typeName = "modelpress.keras.Container"
    static let currentVersion = 1

    var version: Int
    /// `hdf5` for `.h5` files; `keras-zip` for Keras 3 `.keras` archives.
    var kind: String
    /// The HDF5 tree (for a zip: `model.weights.h5`).
    var tree: TreeDoc
    /// For `.keras` zips: every archive entry in order; the weights entry has no `data`.
    var zipEntries: [ZipEntryDoc]?

    struct TreeDoc: Codable, Sendable {
        var fileCreation: Data
        var root: GroupDoc
    }

    struct GroupDoc: Codable, Sendable {
        var name: String
        var creation: Data
        var attributes: [AttributeDoc]
        var children: [NodeDoc]
        /// Set when links iterate in creation order.
        var linksByCreation: Bool?
        /// Set when attributes iterate in creation order.
        var attributesByCreation: Bool?
        /// Set when the link name is UTF-8 encoded.
        var utf8: Bool?
    }

    struct NodeDoc: Codable, Sendable {
        var group: GroupDoc?
        var dataset: DatasetDoc?
    }

    struct TypeDoc: Codable, Sendable {
        /// `int`, `uint`, `float`, `fstr`, `vstr` or `other`.
        var cls: String
        var size: Int
        var le: Bool
        var encoded: Data
    }

    struct SpaceDoc: Codable, Sendable {
        /// `scalar`, `simple` or `null`.
        var kind: String
        var dims: [Int]
        var maxDims: [Int]
        var encoded: Data
    }

    struct AttributeDoc: Codable, Sendable {
        var name: String
        var utf8: Bool?
        var type: TypeDoc
        var space: SpaceDoc
        var raw: Data?
        var strings: [Data]?
    }

    struct DatasetDoc: Codable, Sendable {
        var name: String
        var attributes: [AttributeDoc]
        var type: TypeDoc
        var space: SpaceDoc
        var creation: Data
        /// `compact`, `contiguous`, `chunked` or `virtual`.
        var layout: String
        var chunk: [Int]?
        var filters: [String]?
        /// The IR tensor holding the data, when the dataset became one.
        var tensor: String?
        var raw: Data?
        var strings: [Data]?
        var attributesByCreation: Bool?
        var utf8: Bool?
    }

    struct ZipEntryDoc: Codable, Sendable {
        var path: String
        /// ZIP compression method: 0 stored, 8 deflated.
        var method: Int
        /// Modification time as seconds since 1970 (ZIP keeps 2-second DOS times).
        var modified: Double
        /// Entry bytes; absent for the weights entry, which is `tree`.
        var data: Data?
    }

    func encoded() -> OpaqueMessage {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        // Encoding plain structs of strings, numbers and Data cannot fail.
        let bytes = (try? e.encode(self)).map { [UInt8]($0) } ?? []
        return OpaqueMessage(typeName: Self.typeName, bytes: bytes)
    }

    static func decode(_ message: OpaqueMessage, path: String) throws(KerasError) -> ContainerDoc {
        guard message.typeName == typeName else {
            throw KerasError(
                .unsupported,
                path: path,
                "the model was not read from a Keras file (its container is '\(message.typeName)'); "
                    + "write it as ONNX instead")
        }
        do {
            let doc = try JSONDecoder().decode(ContainerDoc.self, from: Data(message.bytes))
            guard doc.version == currentVersion else {
                throw KerasError(
                    .unsupported, path: path,
                    "the Keras container was recorded by another version (\(doc.version)); read the source file again")
            }
            return doc
        } catch let e as KerasError {
            throw e
        } catch {
            throw KerasError(.unsupported, path: path, "the Keras container record is damaged: \(error)")
        }
    }
}

// MARK: Tree <-> document

extension ContainerDoc.TypeDoc {
    init(_ t: H5TypeInfo) {
        switch t.typeClass {
        case .integer(let signed): cls = signed ? "int" : "uint"
        case .float: cls = "float"
        case .fixedString: cls = "fstr"
        case .variableString: cls = "vstr"
        case .other: cls = "other"
        }
        size = t.size
        le = t.littleEndian
        encoded = Data(t.encoded)
    }

    var info: H5TypeInfo {
        let c: H5TypeInfo.Class =
            switch cls {
            case "int": .integer(signed: true)
            case "uint": .integer(signed: false)
            case "float": .float
            case "fstr": .fixedString
            case "vstr": .variableString
            default: .other
            }
        return H5TypeInfo(typeClass: c, size: size, littleEndian: le, encoded: [UInt8](encoded))
    }
}

extension ContainerDoc.SpaceDoc {
    init(_ s: H5Space) {
        kind =
            switch s.kind {
            case .scalar: "scalar"
            case .simple: "simple"
            case .null: "null"
            }
        dims = s.dims
        maxDims = s.maxDims
        encoded = Data(s.encoded)
    }

    var space: H5Space {
        let k: H5Space.Kind =
            switch kind {
            case "scalar": .scalar
            case "null": .null
            default: .simple
            }
        return H5Space(kind: k, dims: dims, maxDims: maxDims, encoded: [UInt8](encoded))
    }
}

extension ContainerDoc.AttributeDoc {
    init(_ a: H5Attribute) {
        name = a.name
        utf8 = a.nameIsUTF8 ? true : nil
        type = .init(a.type)
        space = .init(a.space)
        switch a.value {
        case .raw(let b): raw = Data(b.bytes)
        case .variableStrings(let s): strings = s.map { Data($0) }
        }
    }

    var attribute: H5Attribute {
        let value: H5Value =
            if let strings { .variableStrings(strings.map { [UInt8]($0) }) } else {
                .raw(TensorBuffer(copying: [UInt8](raw ?? Data())))
            }
        var a = H5Attribute(name: name, type: type.info, space: space.space, value: value)
        a.nameIsUTF8 = utf8 ?? false
        return a
    }
}
