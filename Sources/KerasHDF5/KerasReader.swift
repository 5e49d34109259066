import Foundation
import ModelIR

/// What kind of Keras file was read, and the facts `inspect` reports about it.
public struct KerasFileInfo: Hashable, Sendable, Codable {
    public enum Layout: String, Hashable, Sendable, Codable {
        /// `model.save('x.h5')` (Keras 2 or 3): config, weights, maybe training config and optimizer state.
        case fullModel = "full-model"
        /// Keras 2 `save_weights('x.h5')`: root `layer_names`, no config.
        case weightsOnly = "weights-only"
        /// Keras 3 `.weights.h5`: `layers/<name>/vars/<i>`, no config.
        case weightsV3 = "weights-v3"
        /// Keras 3 `.keras` zip: `config.json`, `metadata.json`, `model.weights.h5`.
        case kerasZip = "keras-zip"
    }
    public var layout: Layout
    public var kerasVersion: String?
    public var backend: String?
    /// The model's class in its config (`Sequential`, `Functional`, `Model`), when there is a config.
    public var modelClass: String?
    public var hasTrainingConfig: Bool
    /// Optimizer state kept in the file (`/optimizer_weights`, or `optimizer/` in Keras 3 weights files).
    public var optimizerTensors: Int
    public var optimizerBytes: Int
}

/// A Keras file read into the IR.
public struct KerasReadResult: Sendable {
    public var model: Model
    public var diagnostics: [Diagnostic]
    public var info: KerasFileInfo
}

/// Reads Keras HDF5 files (full models and weights-only, Keras 2 and 3) and Keras 3 `.keras` zips.
public enum KerasReader {
    /// Reads the file at `path`.
    public static func read(path: String) throws(KerasError) -> KerasReadResult {
        if KerasZip.isZip(path: path) {
            return try KerasZip.read(path: path)
        }
        let tree = try HDF5.readTree(path: path)
        return try KerasModelBuilder.build(tree: tree, path: path, zip: nil)
    }

    /// Reads a file's bytes (standard input); `path` names it in errors.
    public static func read(bytes: [UInt8], path: String) throws(KerasError) -> KerasReadResult {
        if bytes.starts(with: KerasZip.magic) {
            return try KerasZip.read(bytes: bytes, path: path)
        }
        let tree = try HDF5.readTree(image: bytes, name: path)
        return try KerasModelBuilder.build(tree: tree, path: path, zip: nil)
    }
}

/// Turns an HDF5 tree into the IR: one tensor per numeric dataset, one `keras`-domain node per layer.
enum KerasModelBuilder {
    struct ZipContext {
        var entries: [ContainerDoc.ZipEntryDoc]
        var config: [UInt8]?
        var metadata: [UInt8]?
    }

    static func build(tree: H5Tree, path: String, zip: ZipContext?) throws(KerasError) -> KerasReadResult {
        var split = TreeSplitter()
        let rootDoc = split.group(tree.root, path: "/")
        let treeDoc = ContainerDoc.TreeDoc(fileCreation: Data(tree.encodedFileCreationProperties), root: rootDoc)
        var diagnostics = Diagnostics()
        var tensors = split.tensors
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name ?? ""] = i }

        let root = tree.root
        let attrs = AttributeReader(path: path)
        let hasModelWeights = root.child("model_weights") != nil
        let rootLayerNames = try attrs.stringList(root, "layer_names")
        var info: KerasFileInfo
        var config: KerasModelConfig?
        var configBytes: [UInt8]?
        // Where the per-layer weight groups are, for the legacy layouts.
        var legacyWeightsPath: String?

        if let zip {
            info = KerasFileInfo(
                layout: .kerasZip, kerasVersion: nil, backend: nil, modelClass: nil, hasTrainingConfig: false,
                optimizerTensors: 0, optimizerBytes: 0)
            if let m = zip.metadata,
                let obj = try? JSONSerialization.jsonObject(with: Data(m)) as? [String: Any]
            {
                info.kerasVersion = obj["keras_version"] as? String
            }
            if let c = zip.config {
                configBytes = c
                if let obj = try? JSONSerialization.jsonObject(with: Data(c)) as? [String: Any] {
                    info.hasTrainingConfig = (obj["compile_config"] as? [String: Any]).map { !$0.isEmpty } ?? false
                }
            }
        } else if hasModelWeights, try attrs.string(root, "model_config") != nil {
            info = KerasFileInfo(
                layout: .fullModel, kerasVersion: try attrs.string(root, "keras_version"),
                backend: try attrs.string(root, "backend"), modelClass: nil,
                hasTrainingConfig: root.attribute("training_config") != nil, optimizerTensors: 0, optimizerBytes: 0)
            configBytes = try attrs.string(root, "model_config").map { Array($0.utf8) }
            legacyWeightsPath = "/model_weights"
        } else if rootLayerNames != nil {
            info = KerasFileInfo(
                layout: .weightsOnly, kerasVersion: try attrs.string(root, "keras_version"),
                backend: try attrs.string(root, "backend"), modelClass: nil, hasTrainingConfig: false,
                optimizerTensors: 0, optimizerBytes: 0)
            legacyWeightsPath = "/"
        } else if case .group = root.child("layers") {
            info = KerasFileInfo(
                layout: .weightsV3, kerasVersion: nil, backend: nil, modelClass: nil, hasTrainingConfig: false,
                optimizerTensors: 0, optimizerBytes: 0)
        } else if hasModelWeights {
            throw KerasError(
                .notKeras, path: path,
                "has a model_weights group but no model_config attribute; "
                    + "it is not a complete Keras model file (load the architecture separately)")
        } else {
            throw KerasError(
                .notKeras, path: path,
                "is an HDF5 file but not a Keras model: it has no model_config, layer_names or layers/ group")
        }

        if let configBytes {
            do {
                config = try KerasModelConfig.parse(configBytes)
            } catch {
                throw KerasError(.inconsistent, path: path, error.message, at: "model_config")
            }
            info.modelClass = config?.className
        }
        let layers = config?.layers ?? []
        let layerNames = Set(layers.map(\.name))

        // Which layer owns each weight tensor.
        var owner: [Int: String] = [:]
        var weightName: [Int: String] = [:]
        if let base = legacyWeightsPath {
            let group =
                base == "/"
                ? root
                : root.child("model_weights").flatMap { n -> H5Group? in
                    if case .group(let g) = n { return g }
                    return nil
                }
            guard let group else {
                throw KerasError(.notKeras, path: path, "model_weights is not a group")
            }
            guard let listed = try attrs.stringList(group, "layer_names") else {
                throw KerasError(
                    .inconsistent, path: path,
                    "has no layer_names attribute on \(base); the file is damaged or not written by Keras",
                    at: base)
            }
            let topLevel = Set(layers.filter { $0.parent == nil }.map(\.name))
            for layer in listed {
                let layerPath = (base == "/" ? "" : base) + "/" + layer
                guard case .group(let lg)? = group.child(layer) else {
                    throw KerasError(
                        .inconsistent, path: path,
                        "layer '\(layer)' is listed in layer_names but its weight group \(layerPath) is missing",
                        at: layerPath)
                }
                if config != nil, !topLevel.contains(layer) {
                    throw KerasError(
                        .inconsistent, path: path,
                        "layer_names lists '\(layer)', which the model config does not have", at: layerPath)
                }
                for w in try attrs.stringList(lg, "weight_names") ?? [] {
                    let datasetPath = layerPath + "/" + w
                    guard let i = index[String(datasetPath.dropFirst())] else {
                        throw KerasError(
                            .inconsistent, path: path,
                            "layer '\(layer)' lists weight '\(w)' but the file has no dataset \(datasetPath)",
                            at: datasetPath)
                    }
                    let parts = w.split(separator: "/").map(String.init)
                    owner[i] = parts.dropLast().last(where: { layerNames.contains($0) }) ?? layer
                    weightName[i] = w
                }
            }
        } else {
            // Keras 3 weights layout: layers/<name>[/layers/<inner>]/.../vars/<i>, where <name> is the
            // layer's class in snake case numbered per container; the config (in a .keras zip) says which
            // layer that is.
            var bySavePath: [String: String] = [:]
            for l in layers { bySavePath[l.savePath] = l.name }
            for (i, t) in tensors.enumerated() {
                let parts = (t.name ?? "").split(separator: "/").map(String.init)
                guard parts.first == "layers", parts.count >= 4 else { continue }
                var o: String?
                for k in stride(from: parts.count - 2, through: 2, by: -1) {
                    if let n = bySavePath[parts[0..<k].joined(separator: "/")] {
                        o = n
                        break
                    }
                }
                if o == nil {
                    for k in 0..<(parts.count - 1) where parts[k] == "layers" { o = parts[k + 1] }
                }
                owner[i] = o
                weightName[i] = parts.suffix(2).joined(separator: "/")
            }
        }

        // Roles, metadata, optimizer totals.
        let optimizerRoots = ["optimizer_weights/", "optimizer/"]
        for i in tensors.indices {
            let name = tensors[i].name ?? ""
            let role: String
            if let o = owner[i] {
                role = KerasMetadata.Role.weight
                tensors[i].metadata.append(MetadataEntry(key: KerasMetadata.layer, value: o))
            } else if optimizerRoots.contains(where: { name.hasPrefix($0) }) {
                role = KerasMetadata.Role.optimizer
                info.optimizerTensors += 1
                info.optimizerBytes += tensors[i].denseByteCount ?? 0
            } else {
                role = KerasMetadata.Role.other
            }
            tensors[i].metadata.append(MetadataEntry(key: KerasMetadata.role, value: role))
            if let w = weightName[i] { tensors[i].metadata.append(MetadataEntry(key: KerasMetadata.weight, value: w)) }
        }

        // Nodes: one per layer of the config, or per weight-owning layer when there is no config.
        var nodes: [Node] = []
        var weightsOf: [String: [String]] = [:]
        for i in tensors.indices { if let o = owner[i] { weightsOf[o, default: []].append(tensors[i].name ?? "") } }
        if !layers.isEmpty {
            for l in layers {
                var n = Node(
                    name: l.name, domain: "keras", opType: l.className, inputs: l.inbound + (weightsOf[l.name] ?? []),
                    outputs: [l.name])
                var a = Attribute(name: "config", kind: .string)
                a.string = Array(l.configJSON.utf8)
                n.attributes = [a]
                if let p = l.parent { n.metadata.append(MetadataEntry(key: KerasMetadata.parent, value: p)) }
                nodes.append(n)
            }
            let known = Set(layers.map(\.name))
            for o in weightsOf.keys.sorted() where !known.contains(o) {
                if info.layout == .kerasZip {
                    diagnostics.warn("weights of layer '\(o)' match no layer of config.json", at: o)
                }
                nodes.append(Node(name: o, domain: "keras", opType: "Layer", inputs: weightsOf[o] ?? [], outputs: [o]))
            }
        } else {
            var seen = Set<String>()
            for i in tensors.indices {
                guard let o = owner[i], seen.insert(o).inserted else { continue }
                nodes.append(Node(name: o, domain: "keras", opType: "Layer", inputs: weightsOf[o] ?? [], outputs: [o]))
            }
        }

        // What a user must know before loading the file.
        for l in layers {
            if l.className == "Lambda" {
                diagnostics.warn(
                    "is a Lambda layer: its config carries Python bytecode that Keras would execute on loading "
                        + "(ModelPress never runs it); load this model only if you trust where it came from",
                    at: "layer '\(l.name)'")
            } else if !l.isStockClass {
                let reg = l.registeredName.map { " (registered as '\($0)')" } ?? ""
                diagnostics.warn(
                    "uses the custom class '\(l.className)'\(reg) that stock Keras does not have: loading needs "
                        + "its Python code (custom_objects), which this file does not contain",
                    at: "layer '\(l.name)'")
            }
        }

        try KerasShapeCheck.check(layers: layers, tensors: tensors, owner: owner, path: path)

        var graph = Graph(name: config?.name)
        graph.nodes = nodes
        graph.initializers = tensors
        var model = Model(format: .keras, graph: graph)
        model.producerName = "Keras"
        model.producerVersion = info.kerasVersion
        model.sourceContainer = ContainerDoc(
            version: ContainerDoc.currentVersion, kind: zip == nil ? "hdf5" : "keras-zip", tree: treeDoc,
            zipEntries: zip?.entries
        ).encoded()
        return KerasReadResult(model: model, diagnostics: diagnostics.items, info: info)
    }
}

/// Splits a tree into its document (structure) and its numeric datasets as IR tensors.
struct TreeSplitter {
    private(set) var tensors: [Tensor] = []

    mutating func group(_ g: H5Group, path: String) -> ContainerDoc.GroupDoc {
        var children: [ContainerDoc.NodeDoc] = []
        for c in g.children {
            let p = path == "/" ? "/" + c.name : path + "/" + c.name
            switch c {
            case .group(let sub): children.append(.init(group: group(sub, path: p), dataset: nil))
            case .dataset(let d): children.append(.init(group: nil, dataset: dataset(d, path: p)))
            }
        }
        return ContainerDoc.GroupDoc(
            name: g.name, creation: Data(g.encodedCreationProperties),
            attributes: g.attributes.map(ContainerDoc.AttributeDoc.init), children: children,
            linksByCreation: g.linkOrder == .creation ? true : nil,
            attributesByCreation: g.attributeOrder == .creation ? true : nil, utf8: g.nameIsUTF8 ? true : nil)
    }

    mutating func dataset(_ d: H5Dataset, path: String) -> ContainerDoc.DatasetDoc {
        var doc = ContainerDoc.DatasetDoc(
            name: d.name, attributes: d.attributes.map(ContainerDoc.AttributeDoc.init), type: .init(d.type),
            space: .init(d.space), creation: Data(d.encodedCreationProperties), layout: "contiguous",
            attributesByCreation: d.attributeOrder == .creation ? true : nil, utf8: d.nameIsUTF8 ? true : nil)
        switch d.layout {
        case .compact: doc.layout = "compact"
        case .contiguous: doc.layout = "contiguous"
        case .chunked(let chunk, let filters):
            doc.layout = "chunked"
            doc.chunk = chunk
            doc.filters = filters
        case .virtual: doc.layout = "virtual"
        }
        if case .raw(let buffer) = d.value, d.space.kind != .null, let dtype = KerasDTypes.dtype(of: d.type) {
            let name = String(path.dropFirst())
            doc.tensor = name
            tensors.append(
                Tensor(
                    name: name, dtype: dtype, dims: d.space.kind == .scalar ? [] : d.space.dims.map { Int64($0) },
                    storage: .dense(buffer)))
        } else {
            switch d.value {
            case .raw(let b): doc.raw = Data(b.bytes)
            case .variableStrings(let s): doc.strings = s.map { Data($0) }
            }
        }
        return doc
    }
}

/// HDF5 types <-> IR element types.
enum KerasDTypes {
    /// The IR type of a dataset's elements, when they are plain little-endian numbers.
    static func dtype(of t: H5TypeInfo) -> DType? {
        guard t.littleEndian || t.size == 1 else { return nil }
        switch t.typeClass {
        case .float:
            switch t.size {
            case 2: return .float16
            case 4: return .float32
            case 8: return .float64
            default: return nil
            }
        case .integer(let signed):
            switch (t.size, signed) {
            case (1, true): return .int8
            case (1, false): return .uint8
            case (2, true): return .int16
            case (2, false): return .uint16
            case (4, true): return .int32
            case (4, false): return .uint32
            case (8, true): return .int64
            case (8, false): return .uint64
            default: return nil
            }
        default: return nil
        }
    }
}

extension H5Group {
    /// The direct child named `name`.
    func child(_ name: String) -> H5Node? { children.first { $0.name == name } }
    /// The attribute named `name`.
    func attribute(_ name: String) -> H5Attribute? { attributes.first { $0.name == name } }
}

/// Reads Keras's string attributes in both forms: variable-length (h5py 3) and fixed-length
/// null-padded (older Keras), scalars and arrays, and `name0`, `name1`, ... chunks that Keras uses for
/// attributes over 64 KB.
struct AttributeReader {
    var path: String

    func string(_ g: H5Group, _ name: String) throws(KerasError) -> String? {
        guard let a = g.attribute(name) else { return nil }
        let list = try strings(of: a, owner: g.name)
        return list.first
    }

    func stringList(_ g: H5Group, _ name: String) throws(KerasError) -> [String]? {
        if let a = g.attribute(name) { return try strings(of: a, owner: g.name) }
        guard g.attribute(name + "0") != nil else { return nil }
        var out: [String] = []
        var k = 0
        while let a = g.attribute(name + String(k)) {
            out += try strings(of: a, owner: g.name)
            k += 1
        }
        return out
    }

    private func strings(of a: H5Attribute, owner: String) throws(KerasError) -> [String] {
        // Keras writes an empty list as an empty float64 array.
        if a.space.elementCount == 0 { return [] }
        switch (a.type.typeClass, a.value) {
        case (.variableString, .variableStrings(let s)):
            return s.map { String(decoding: $0, as: UTF8.self) }
        case (.fixedString, .raw(let b)):
            let size = a.type.size
            guard size > 0 else { return [] }
            let bytes = b.bytes
            var out: [String] = []
            var start = 0
            while start + size <= bytes.count {
                var piece = bytes[start..<(start + size)]
                while let last = piece.last, last == 0 { piece = piece.dropLast() }
                out.append(String(decoding: piece, as: UTF8.self))
                start += size
            }
            return out
        default:
            throw KerasError(
                .inconsistent, path: path, "attribute '\(a.name)' should hold strings but holds another type",
                at: owner.isEmpty ? "/" : owner)
        }
    }
}
