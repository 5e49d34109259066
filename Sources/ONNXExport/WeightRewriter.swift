import Compression
import ModelIR

/// New tensors and the nodes that turn them into a weight's values, under the weight's own name.
struct WeightReplacement {
    /// Tensors to store (initializers, or `Constant` nodes where the weight was a constant).
    var tensors: [Tensor]
    /// Nodes consuming `tensors`; the last one outputs the weight's name.
    var nodes: [Node]
}

/// Where a weight is, for notes and errors: `tensor 'w'`, or `tensor 'w' in main/If_0.then_branch`.
struct WeightSite {
    var name: String
    var path: String
    var label: String { "tensor '\(name)'" + (path == "main" ? "" : " in \(path)") }
}

/// Rewrites the weights of one graph and its subgraphs for `ONNXWeightExport` (`.fp16` and `.qdq`).
struct WeightRewriter {
    let mode: ONNXWeightMode
    /// The model's default-domain opset (nil: it imports none, so no standard op can be added).
    let opset: Int64?
    /// IR version 3 and older require every initializer to be a graph input: new tensors become
    /// `Constant` nodes there.
    let constantsOnly: Bool
    var names: ValueNames
    private(set) var notes: [String] = []

    init(model: Model, mode: ONNXWeightMode) {
        self.mode = mode
        opset = ONNXWeightExport.defaultOpset(of: model)
        constantsOnly = (model.irVersion ?? 8) <= 3
        names = ValueNames(model)
    }

    mutating func note(_ site: WeightSite, _ text: String) { notes.append(site.label + ": " + text) }

    /// Rewrites `g` (at `path`, as `TensorLocation.graphPath` names it) and every subgraph in it.
    /// O(elements + nodes).
    mutating func rewrite(_ g: inout Graph, path: String) throws(CompressionError) {
        let graphInputs = Set(g.inputs.compactMap(\.name))
        var head: [Node] = []
        var initializers: [Tensor] = []
        initializers.reserveCapacity(g.initializers.count)
        for t in g.initializers {
            guard let name = t.name else {
                initializers.append(try plain(t, WeightSite(name: "?", path: path)))
                continue
            }
            let site = WeightSite(name: name, path: path)
            if graphInputs.contains(name) {
                if isCandidate(t) {
                    note(
                        site,
                        "is also a graph input (IR < 4 style), so a feed may replace it; kept as a plain "
                            + (t.storage.isDense ? t.dtype.name : "float") + " initializer")
                }
                initializers.append(try plain(t, site))
            } else if let r = try encode(t, site) {
                if constantsOnly {
                    head += r.tensors.map { constantNode($0) }
                } else {
                    initializers += r.tensors
                }
                head += r.nodes
            } else {
                initializers.append(try plain(t, site))
            }
        }
        g.initializers = initializers

        var nodes = head
        nodes.reserveCapacity(head.count + g.nodes.count)
        for var n in g.nodes {
            for a in n.attributes.indices {
                let label = path + "/" + (n.name ?? n.opType ?? "?") + "." + (n.attributes[a].name ?? "?")
                if n.attributes[a].graph != nil { try rewrite(&n.attributes[a].graph!, path: label) }
                for k in n.attributes[a].graphs.indices {
                    try rewrite(&n.attributes[a].graphs[k], path: label + "[\(k)]")
                }
            }
            if let (index, t) = Self.constantValue(n) {
                let site = WeightSite(name: n.outputs[0], path: path)
                if let r = try encode(t, site) {
                    nodes += r.tensors.map { constantNode($0) }
                    nodes += r.nodes
                    continue
                }
                n.attributes[index].tensor = try plain(t, site)
            }
            try plainAttributeTensors(&n, path: path)
            nodes.append(n)
        }
        g.nodes = nodes

        for i in g.sparseInitializers.indices {
            let site = WeightSite(name: g.sparseInitializers[i].values?.name ?? "?", path: path)
            if let v = g.sparseInitializers[i].values { g.sparseInitializers[i].values = try plain(v, site) }
            if let x = g.sparseInitializers[i].indices { g.sparseInitializers[i].indices = try plain(x, site) }
        }
    }

    /// The `value` tensor of a default-domain `Constant` node with one output, and its attribute index.
    static func constantValue(_ n: Node) -> (Int, Tensor)? {
        guard n.opType == "Constant", (n.domain ?? "").isEmpty || n.domain == "ai.onnx", n.outputs.count == 1,
            !n.outputs[0].isEmpty,
            let i = n.attributes.firstIndex(where: { $0.name == "value" }), let t = n.attributes[i].tensor
        else { return nil }
        return (i, t)
    }

    /// Whether `mode` would store `t` differently from plain dense values.
    func isCandidate(_ t: Tensor) -> Bool {
        switch mode {
        case .float: return false
        case .qdq: return !t.storage.isDense
        case .fp16: return t.dtype == .float32 && (t.elementCount ?? 0) >= ONNXWeightExport.fp16MinimumElements
        }
    }

    /// `t` with encoded storage decoded to dense values of its own type; notes nothing. Throws
    /// `.unsupported` for sparse and entropy-coded storage.
    func plain(_ t: Tensor, _ site: WeightSite) throws(CompressionError) -> Tensor {
        var t = t
        if let values = try Self.decoded(t, label: site.label) {
            t.storage = .dense(FloatIO.buffer(values, as: t.dtype))
        }
        return t
    }

    /// The values of an encoded tensor, or nil when it is dense. Sparse and entropy-coded storage is refused
    /// (`.unsupported`): the caller decodes it first.
    static func decoded(_ t: Tensor, label: String) throws(CompressionError) -> [Float]? {
        switch t.storage {
        case .sparse, .entropyCoded:
            throw CompressionError(
                .unsupported,
                "is stored \(t.storage.kind); the ONNX weight export takes dense, linear, palettized and "
                    + "reduced-precision tensors, so decode it first", at: label)
        default:
            return try Dequantizer.values(of: t)
        }
    }

    /// Other tensor attributes (not a `Constant`'s weight) are written dense, with a note when encoded.
    private mutating func plainAttributeTensors(_ n: inout Node, path: String) throws(CompressionError) {
        for a in n.attributes.indices {
            let label = (n.name ?? n.opType ?? "?") + "." + (n.attributes[a].name ?? "?")
            if let t = n.attributes[a].tensor, !t.storage.isDense {
                note(WeightSite(name: t.name ?? label, path: path), "held by attribute \(label); written as float")
                n.attributes[a].tensor = try plain(t, WeightSite(name: t.name ?? label, path: path))
            }
            for k in n.attributes[a].tensors.indices where !n.attributes[a].tensors[k].storage.isDense {
                let t = n.attributes[a].tensors[k]
                note(WeightSite(name: t.name ?? label, path: path), "held by attribute \(label); written as float")
                n.attributes[a].tensors[k] = try plain(t, WeightSite(name: t.name ?? label, path: path))
            }
        }
    }

    /// A `Constant` node producing `t` under `t`'s name.
    mutating func constantNode(_ t: Tensor) -> Node {
        var value = Attribute(name: "value", kind: .tensor)
        value.tensor = t
        return Node(
            name: names.node(t.name ?? "constant"), opType: "Constant", outputs: [t.name ?? ""], attributes: [value])
    }

    /// The replacement for weight `t` under `mode`, or nil to write it plain (with a note when it was a
    /// candidate that cannot be stored as asked).
    mutating func encode(_ t: Tensor, _ site: WeightSite) throws(CompressionError) -> WeightReplacement? {
        switch mode {
        case .float:
            return nil
        case .fp16:
            return try float16(t, site)
        case .qdq:
            switch t.storage {
            case .linearQuantized(let q): return try linear(q, t, site)
            case .palettized(let p): return try palettized(p, t, site)
            case .reducedPrecision(let r): return try reduced(r, t, site)
            case .dense, .strings, .sparse, .entropyCoded: return nil
            }
        }
    }

    /// Whether the model's opset is at least `version`; notes why not, ending "written as float".
    mutating func requireOpset(_ version: Int64, for what: String, _ site: WeightSite) -> Bool {
        guard let opset else {
            note(site, "the model imports no default-domain opset, so \(what) cannot be added; written as float")
            return false
        }
        guard opset >= version else {
            note(site, "\(what) needs opset \(version) (the model imports \(opset)); written as float")
            return false
        }
        return true
    }
}

extension TensorStorage {
    /// True for storages an ONNX writer holds as they are (dense elements, strings).
    var isDense: Bool {
        switch self {
        case .dense, .strings: true
        default: false
        }
    }
}
