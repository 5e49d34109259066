/// Where a tensor sits in a model, for reports and errors.
public struct TensorLocation: Hashable, Sendable, CustomStringConvertible {
    public enum Role: String, Hashable, Sendable, Codable {
        /// A graph initializer (ONNX) or a layer weight (Keras).
        case initializer
        /// The `value` (or other tensor attribute) of a node, e.g. a `Constant` node.
        case attribute
        /// Values or indices of a sparse initializer.
        case sparseInitializer
    }
    public var role: Role
    /// Path of enclosing graphs: `main`, `main/If_0.then_branch`, `function:custom.Foo`.
    public var graphPath: String
    /// The node holding the attribute (for `.attribute`).
    public var nodeName: String?
    /// The node's operator (for `.attribute`), e.g. `Constant`.
    public var opType: String?
    /// The attribute name (for `.attribute`).
    public var attributeName: String?
    /// The node's outputs (for `.attribute`): a `Constant` node's value is consumed under `nodeOutputs[0]`.
    public var nodeOutputs: [String] = []
    /// Nesting depth of the graph: 0 for the main graph.
    public var depth: Int

    public var description: String {
        switch role {
        case .initializer, .sparseInitializer: graphPath
        case .attribute: graphPath + "/" + (nodeName ?? "?") + "." + (attributeName ?? "?")
        }
    }
}

extension Model {
    /// Calls `body` for every dense tensor of the model: initializers, tensor attributes of every node
    /// (so weights held in `Constant` nodes count like initializers), sparse initializers' parts, in
    /// subgraphs at any depth, in functions and in training graphs. Order is deterministic (file order).
    ///
    /// `body` may modify the tensor in place. O(total nodes + tensors).
    public mutating func forEachTensor(_ body: (TensorLocation, inout Tensor) throws -> Void) rethrows {
        try graph.forEachTensor(path: "main", depth: 0, body)
        for i in functions.indices {
            let path = "function:" + (functions[i].domain ?? "") + "." + (functions[i].name ?? "?")
            for n in functions[i].nodes.indices {
                try functions[i].nodes[n].forEachAttributeTensor(path: path, depth: 0, body)
            }
            for a in functions[i].attributes.indices {
                try functions[i].attributes[a].forEachTensor(
                    path: path, depth: 0, nodeName: nil, opType: nil, body)
            }
        }
        for i in trainingInfo.indices {
            try trainingInfo[i].initialization?.forEachTensor(path: "training[\(i)].initialization", depth: 0, body)
            try trainingInfo[i].algorithm?.forEachTensor(path: "training[\(i)].algorithm", depth: 0, body)
        }
    }

    /// Read-only form of `forEachTensor(_:)`.
    public func visitTensors(_ body: (TensorLocation, Tensor) throws -> Void) rethrows {
        var copy = self
        try copy.forEachTensor { loc, t in try body(loc, t) }
    }

    /// Calls `body` for every graph (main, subgraphs at any depth, training graphs) with its path and depth.
    public func visitGraphs(_ body: (String, Int, Graph) throws -> Void) rethrows {
        try graph.visitGraphs(path: "main", depth: 0, body)
        for f in functions {
            for n in f.nodes {
                for a in n.attributes {
                    for (k, g) in a.subgraphs.enumerated() {
                        let path =
                            "function:\(f.name ?? "?")/\(n.name ?? "?").\(a.name ?? "?")" + (k > 0 ? "[\(k)]" : "")
                        try g.visitGraphs(path: path, depth: 1, body)
                    }
                }
            }
        }
        for (i, t) in trainingInfo.enumerated() {
            try t.initialization?.visitGraphs(path: "training[\(i)].initialization", depth: 0, body)
            try t.algorithm?.visitGraphs(path: "training[\(i)].algorithm", depth: 0, body)
        }
    }
}

extension Graph {
    mutating func forEachTensor(path: String, depth: Int, _ body: (TensorLocation, inout Tensor) throws -> Void)
        rethrows
    {
        let loc = TensorLocation(
            role: .initializer, graphPath: path, nodeName: nil, opType: nil, attributeName: nil, depth: depth)
        for i in initializers.indices { try body(loc, &initializers[i]) }
        var sloc = loc
        sloc.role = .sparseInitializer
        for i in sparseInitializers.indices {
            if sparseInitializers[i].values != nil { try body(sloc, &sparseInitializers[i].values!) }
            if sparseInitializers[i].indices != nil { try body(sloc, &sparseInitializers[i].indices!) }
        }
        for n in nodes.indices { try nodes[n].forEachAttributeTensor(path: path, depth: depth, body) }
    }

    func visitGraphs(path: String, depth: Int, _ body: (String, Int, Graph) throws -> Void) rethrows {
        try body(path, depth, self)
        for n in nodes {
            for a in n.attributes {
                for (k, g) in a.subgraphs.enumerated() {
                    let sub = path + "/" + (n.name ?? n.opType ?? "?") + "." + (a.name ?? "?") + (k > 0 ? "[\(k)]" : "")
                    try g.visitGraphs(path: sub, depth: depth + 1, body)
                }
            }
        }
    }
}

extension Node {
    mutating func forEachAttributeTensor(
        path: String, depth: Int, _ body: (TensorLocation, inout Tensor) throws -> Void
    ) rethrows {
        for a in attributes.indices {
            try attributes[a].forEachTensor(
                path: path, depth: depth, nodeName: name, opType: opType, outputs: outputs, body)
        }
    }
}

extension Attribute {
    mutating func forEachTensor(
        path: String, depth: Int, nodeName: String?, opType: String?, outputs: [String] = [],
        _ body: (TensorLocation, inout Tensor) throws -> Void
    ) rethrows {
        let loc = TensorLocation(
            role: .attribute, graphPath: path, nodeName: nodeName, opType: opType, attributeName: name,
            nodeOutputs: outputs, depth: depth)
        if tensor != nil { try body(loc, &tensor!) }
        for i in tensors.indices { try body(loc, &tensors[i]) }
        if sparseTensor != nil {
            if sparseTensor!.values != nil { try body(loc, &sparseTensor!.values!) }
            if sparseTensor!.indices != nil { try body(loc, &sparseTensor!.indices!) }
        }
        for i in sparseTensors.indices {
            if sparseTensors[i].values != nil { try body(loc, &sparseTensors[i].values!) }
            if sparseTensors[i].indices != nil { try body(loc, &sparseTensors[i].indices!) }
        }
        let label = (nodeName ?? opType ?? "?") + "." + (name ?? "?")
        if graph != nil { try graph!.forEachTensor(path: path + "/" + label, depth: depth + 1, body) }
        for i in graphs.indices {
            try graphs[i].forEachTensor(path: path + "/" + label + "[\(i)]", depth: depth + 1, body)
        }
    }
}
