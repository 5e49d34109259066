import ModelIR

/// Finds, for every tensor of a model, what consumes it, its role and its channel axes.
///
/// ONNX: consumers are the nodes that take the tensor (an initializer's name, or a Constant node's
/// output) as an input, in any graph, looking through Identity, Cast and Slice. Keras: the layer node
/// the weight belongs to. O(nodes + tensors).
enum ModelAnalysis {
    static let passThrough: Set<String> = ["Identity", "Cast", "Slice"]
    static let normalizationOps: Set<String> = [
        "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
        "SkipLayerNormalization", "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization",
        "RMSNormalization",
    ]

    static func sites(of model: Model) -> [TensorSite] {
        // name -> (node, input index) over every graph.
        var uses: [String: [(Node, Int)]] = [:]
        model.visitGraphs { _, _, g in
            for n in g.nodes {
                for (i, input) in n.inputs.enumerated() where !input.isEmpty { uses[input, default: []].append((n, i)) }
            }
        }
        for f in model.functions {
            for n in f.nodes {
                for (i, input) in n.inputs.enumerated() where !input.isEmpty { uses[input, default: []].append((n, i)) }
            }
        }

        func consumers(of name: String, depth: Int = 0) -> [(Node, Int)] {
            var out: [(Node, Int)] = []
            for (n, i) in uses[name] ?? [] {
                if depth < 4, i == 0, passThrough.contains(n.opType ?? ""), (n.domain ?? "").isEmpty,
                    let o = n.outputs.first
                {
                    let next = consumers(of: o, depth: depth + 1)
                    out += next.isEmpty ? [(n, i)] : next
                } else {
                    out.append((n, i))
                }
            }
            return out
        }

        var sites: [TensorSite] = []
        var index = 0
        model.visitTensors { loc, t in
            defer { index += 1 }
            let name: String
            if loc.role == .attribute, (t.name ?? "").isEmpty, let o = loc.nodeOutputs.first {
                name = o
            } else {
                name = t.name ?? loc.nodeOutputs.first ?? "#\(index)"
            }
            let lookup = loc.role == .attribute && loc.opType == "Constant" ? (loc.nodeOutputs.first ?? name) : name
            let found = consumers(of: lookup).map { (n, i) -> TensorConsumer in
                var c = TensorConsumer(
                    domain: (n.domain ?? "").isEmpty ? "ai.onnx" : n.domain!, opType: n.opType ?? "?",
                    nodeName: n.name, inputIndex: i)
                if let a = n.attribute("transB") { c.transB = (a.int ?? 0) != 0 }
                if let a = n.attribute("group"), let g = a.int { c.group = Int(g) }
                if c.domain == "keras" { c.weightName = kerasWeightName(t) }
                return c
            }
            let dims = t.dims.map { Int($0) }
            var site = TensorSite(
                index: index, name: name, location: loc, dtype: t.dtype, dims: dims, consumers: found, channelAxis: nil,
                inputAxis: nil, role: .weight, axisReason: "")
            site.role = role(of: t, site: site)
            (site.channelAxis, site.inputAxis, site.axisReason) = ChannelAxes.axes(site)
            sites.append(site)
        }
        return sites
    }

    static func kerasWeightName(_ t: Tensor) -> String? {
        let w = t.metadata.first { $0.key == KerasMetadata.weight }?.value ?? t.name ?? ""
        let last = w.split(separator: "/").last.map(String.init) ?? w
        return last.split(separator: ":").first.map(String.init) ?? last
    }

    static func role(of t: Tensor, site: TensorSite) -> WeightRole {
        if let r = t.metadata.first(where: { $0.key == KerasMetadata.role })?.value, r != KerasMetadata.Role.weight {
            return .notAWeight
        }
        switch t.dtype {
        case .float32, .float16, .bfloat16, .float64: break
        case .int8, .uint8, .int4, .uint4, .int2, .uint2: return .quantized
        default: return .integer
        }
        for c in site.consumers {
            let op = c.opType
            if op == "DequantizeLinear" || op == "QuantizeLinear" || op.hasPrefix("QLinear")
                || op.hasPrefix("DynamicQuantize")
                || op.hasSuffix("Integer")
            {
                return .quantized
            }
        }
        if site.consumers.contains(where: { $0.domain == "keras" }) {
            let w = site.consumers.first?.weightName ?? ""
            if w == "bias" || w.hasSuffix("_bias") { return .bias }
            if site.consumers.contains(where: { $0.opType.hasSuffix("Normalization") }) { return .normalization }
            return .weight
        }
        if !site.consumers.isEmpty {
            if site.consumers.allSatisfy({ normalizationOps.contains($0.opType) && $0.inputIndex >= 1 }) {
                return .normalization
            }
            if site.consumers.allSatisfy({ c in
                (["Conv", "ConvTranspose", "Gemm", "QLinearConv"].contains(c.opType) && c.inputIndex == 2)
                    || (["LSTM", "GRU", "RNN"].contains(c.opType) && c.inputIndex == 3)
                    || (c.opType == "Add" && site.dims.count <= 1)
            }) {
                return .bias
            }
        }
        return .weight
    }
}
