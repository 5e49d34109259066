import ModelIR

/// Checks stored weight shapes against what the model config says, for the common layer classes, so a
/// file whose config and data disagree fails on reading instead of inside Keras.
enum KerasShapeCheck {
    static func check(layers: [KerasLayer], tensors: [Tensor], owner: [Int: String], path: String) throws(KerasError) {
        guard !layers.isEmpty else { return }
        var byLayer: [String: [(String, Tensor)]] = [:]
        for (i, t) in tensors.enumerated() {
            guard let o = owner[i] else { continue }
            let last = (t.name ?? "").split(separator: "/").last.map(String.init) ?? ""
            let short = last.split(separator: ":").first.map(String.init) ?? last
            byLayer[o, default: []].append((short, t))
        }
        for l in layers {
            guard let weights = byLayer[l.name] else { continue }
            for (short, t) in weights {
                if let expected = expectedShape(layer: l, weight: short, tensor: t), !matches(expected, t.dims) {
                    let want = expected.map { $0.map(String.init) ?? "?" }.joined(separator: "x")
                    throw KerasError(
                        .inconsistent, path: path,
                        "layer '\(l.name)' (\(l.className)) expects \(short) of shape \(want) from its config, "
                            + "but the file holds \(t.dimsText) \(t.dtype.name); the config and the weights "
                            + "do not belong together",
                        at: t.name)
                }
            }
        }
    }

    private static func matches(_ expected: [Int?], _ dims: [Int64]) -> Bool {
        guard expected.count == dims.count else { return false }
        return zip(expected, dims).allSatisfy { e, d in e.map { Int64($0) == d } ?? true }
    }

    /// The shape the config implies for one weight (nil entries: not determined by the config), or nil
    /// when this check does not know the layer or weight.
    private static func expectedShape(layer l: KerasLayer, weight: String, tensor: Tensor) -> [Int?]? {
        let rank = tensor.dims.count
        func spatial(_ n: Int) -> [Int?]? {
            guard let ks = l.ints("kernel_size") else { return nil }
            return ks.count == n ? ks.map { Optional($0) } : (ks.count == 1 ? Array(repeating: ks[0], count: n) : nil)
        }
        let convRank: Int? =
            switch l.className {
            case "Conv1D", "Convolution1D", "Conv1DTranspose", "SeparableConv1D", "SeparableConvolution1D",
                "DepthwiseConv1D":
                1
            case "Conv2D", "Convolution2D", "Conv2DTranspose", "SeparableConv2D", "SeparableConvolution2D",
                "DepthwiseConv2D":
                2
            case "Conv3D", "Convolution3D", "Conv3DTranspose": 3
            default: nil
            }
        switch (l.className, weight) {
        case ("Dense", "kernel"):
            guard let u = l.int("units"), rank == 2 else { return rank == 2 ? nil : [nil, l.int("units")] }
            return [nil, u]
        case ("Dense", "bias"):
            return l.int("units").map { [$0] }
        case ("Embedding", "embeddings"):
            return [l.int("input_dim"), l.int("output_dim")]
        case (_, "kernel") where convRank != nil && !l.className.hasPrefix("Depthwise"):
            guard let n = convRank, let sp = spatial(n) else { return nil }
            if l.className.hasSuffix("Transpose") { return sp + [l.int("filters"), nil] }
            return sp + [nil, l.int("filters")]
        case (_, "bias") where convRank != nil:
            if l.className.hasPrefix("Depthwise") { return nil }
            return l.int("filters").map { [$0] }
        case (_, "depthwise_kernel") where convRank != nil:
            guard let n = convRank, let sp = spatial(n) else { return nil }
            return sp + [nil, l.int("depth_multiplier") ?? 1]
        case (_, "kernel") where l.className.hasPrefix("DepthwiseConv"):
            guard let n = convRank, let sp = spatial(n) else { return nil }
            return sp + [nil, l.int("depth_multiplier") ?? 1]
        case (_, "pointwise_kernel") where convRank != nil:
            guard let n = convRank else { return nil }
            return Array(repeating: 1, count: n) + [nil, l.int("filters")]
        case ("LSTM", "kernel"), ("LSTM", "recurrent_kernel"), ("GRU", "kernel"), ("GRU", "recurrent_kernel"),
            ("SimpleRNN", "kernel"), ("SimpleRNN", "recurrent_kernel"):
            guard let u = l.int("units") else { return nil }
            let gates = l.className == "LSTM" ? 4 : (l.className == "GRU" ? 3 : 1)
            return [weight == "recurrent_kernel" ? u : nil, gates * u]
        case ("LSTM", "bias"), ("SimpleRNN", "bias"):
            guard let u = l.int("units") else { return nil }
            return [(l.className == "LSTM" ? 4 : 1) * u]
        default:
            return nil
        }
    }
}
