import ModelIR

/// The output-channel and input axes of a weight, from the operator (or Keras layer) that consumes it.
///
/// This is the one table of operator knowledge the passes need: per-channel quantization, channel pruning and
/// k-means per channel group follow the axis found here. To teach it a new operator, add a case to
/// `axes(for:rank:)` (ONNX ops by op type and input index; Keras layers by class and weight name) and a test in
/// `PassManagerTests`.
enum ChannelAxes {
    /// (output-channel axis, input axis, reason).
    static func axes(_ site: TensorSite) -> (Int?, Int?, String) {
        let r = site.dims.count
        guard r >= 2 else { return (nil, nil, "it has rank \(r)") }
        guard !site.consumers.isEmpty else { return (nil, nil, "no operator consumes it") }
        var found: [(Int?, Int?, String)] = []
        for c in site.consumers { found.append(axes(for: c, rank: r)) }
        let first = found[0]
        if found.allSatisfy({ $0.0 == first.0 && $0.1 == first.1 }) { return first }
        return (nil, nil, "its consumers disagree on the channel axis (\(found.map(\.2).joined(separator: ", ")))")
    }

    static func axes(for c: TensorConsumer, rank r: Int) -> (Int?, Int?, String) {
        if c.domain == "keras" {
            let w = c.weightName ?? ""
            let cls = c.opType
            let what = "Keras \(cls) \(w)"
            if cls == "Embedding" { return (0, 1, what + " (rows)") }
            if w == "depthwise_kernel" || (cls.hasPrefix("DepthwiseConv") && w == "kernel") {
                return (r - 2, nil, what + " (input channels)")
            }
            if cls.hasSuffix("Transpose") { return (r - 2, r - 1, what) }
            if ["LSTM", "GRU", "SimpleRNN"].contains(cls) || cls == "Dense" || cls == "EinsumDense" {
                return (r - 1, 0, what)
            }
            if cls.hasPrefix("Conv") || cls.hasPrefix("SeparableConv") || w == "pointwise_kernel" {
                return (r - 1, r - 2, what)
            }
            return (r - 1, r == 2 ? 0 : r - 2, what + " (assumed last axis)")
        }
        switch (c.opType, c.inputIndex) {
        case ("Conv", 1): return (0, 1, c.group > 1 ? "Conv weight, group=\(c.group)" : "Conv weight")
        case ("ConvTranspose", 1): return (1, 0, "ConvTranspose weight")
        case ("Gemm", 1): return c.transB ? (0, 1, "Gemm B, transB=1") : (1, 0, "Gemm B, transB=0")
        case ("MatMul", 1): return (r - 1, r - 2, "MatMul B")
        case ("MatMul", 0): return (r - 2, r - 1, "MatMul A")
        case ("Gather", 0): return (0, r == 2 ? 1 : nil, "Gather table (rows)")
        case ("LSTM", 1), ("LSTM", 2), ("GRU", 1), ("GRU", 2), ("RNN", 1), ("RNN", 2):
            return (1, r >= 3 ? 2 : nil, "\(c.opType) weights")
        default: return (nil, nil, "\(c.qualifiedOpType) input \(c.inputIndex) has no known channel axis")
        }
    }
}
