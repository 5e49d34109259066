import Compression
import ModelIR

/// How an ONNX output stores the weights of a compressed model.
public enum ONNXWeightMode: String, Sendable, CaseIterable {
    /// Every encoded tensor decoded to dense values of its own type: the file runs anywhere, at full size.
    case float
    /// Every float32 weight of at least `ONNXWeightExport.fp16MinimumElements` elements stored as float16,
    /// followed by a `Cast` back to float32: about half the size.
    case fp16
    /// Linear-quantized weights kept as int8/uint8 codes followed by `DequantizeLinear`, per-tensor k-means
    /// palettes as a `Gather` from the codebook, fp16/bf16-rounded weights as the narrow type plus a `Cast`:
    /// about a quarter of the size at 8 bits.
    case qdq
}

/// Makes a compressed model writable as ONNX, choosing how its encoded weights are stored.
///
/// The transform is independent of any file: `export` takes the model a compression run produced (tensor
/// storages dense, linear, palettized or reduced precision) and gives a model whose tensors are all dense,
/// plus the ONNX nodes that turn stored codes back into the values consumers expect. A rewritten weight
/// keeps its name as the output of the last new node, so no consumer changes; the new nodes go where the
/// weight was defined (before every other node of its graph for an initializer, in place of the `Constant`
/// node for a constant), so the graph stays topologically sorted. Weights in `If`/`Loop`/`Scan` subgraphs
/// are rewritten inside their own graph. New names never collide with a name the model already uses.
public enum ONNXWeightExport {
    /// The fewest elements a float32 weight needs for `.fp16` to store it as float16.
    public static let fp16MinimumElements = 1024

    /// `model` (storages dense / linearQuantized / palettized / reducedPrecision; format `.onnx`) made
    /// writable as ONNX.
    ///
    /// - `.float`: every encoded tensor is dequantized to dense (as `Dequantizer.dense`).
    /// - `.qdq`: linear tensors become `<name>_quantized` (int8/uint8; int16/uint16 above 8 bits, opset 21),
    ///   `<name>_scale`, `<name>_zero_point` and a `DequantizeLinear` (with `axis` per channel, `axis` and
    ///   `block_size` per block; a trailing `Cast` for float16/float64/bfloat16 tensors); per-tensor
    ///   palettes of at most 256 entries become `Gather(<name>_codebook, Cast(<name>_indices: uint8))`;
    ///   fp16/bf16-rounded tensors become the narrow type plus `Cast`. Dense tensors are unchanged.
    /// - `.fp16`: every float32 weight of at least `fp16MinimumElements` elements (encoded ones dequantized
    ///   first) becomes float16 plus `Cast(to: FLOAT)`.
    ///
    /// A tensor that cannot be stored as asked (its granularity needs a newer opset than the model imports,
    /// it is also a graph input, its values overflow float16, ...) is written as dense values of its own type
    /// and explained in one note. Weights in function bodies and training graphs are always written dense.
    /// The model's opset imports are never changed.
    ///
    /// Throws `.unsupported` for `.fp16`/`.qdq` on a Keras model and for sparse or entropy-coded storage,
    /// `.invalidTensor` when an encoding does not fit its tensor's shape. Deterministic. O(elements + nodes).
    public static func export(_ model: Model, mode: ONNXWeightMode) throws(CompressionError) -> (
        model: Model, notes: [String]
    ) {
        if mode == .float { return (try Dequantizer.dense(model), []) }
        guard model.format == .onnx else {
            throw CompressionError(
                .unsupported,
                "Keras files keep float weights; --onnx-weights \(mode.rawValue) applies to ONNX models only "
                    + "(use float)")
        }
        var rewriter = WeightRewriter(model: model, mode: mode)
        var m = model
        try rewriter.rewrite(&m.graph, path: "main")
        var notes = rewriter.notes
        // Function bodies and training graphs: plain weights (the main graph has no encoded tensor left).
        do {
            try m.forEachTensor { location, t in
                let label = "tensor '\(t.name ?? "?")' in \(location)"
                guard let values = try WeightRewriter.decoded(t, label: label) else { return }
                t.storage = .dense(FloatIO.buffer(values, as: t.dtype))
                notes.append(label + ": only graph weights are re-encoded; written as float")
            }
        } catch let e as CompressionError {
            throw e
        } catch {
            throw CompressionError(.unsupported, "\(error)")
        }
        return (m, notes)
    }

    /// The version of the default (`ai.onnx`) operator set `model` imports, or nil when it imports none.
    public static func defaultOpset(of model: Model) -> Int64? {
        model.opsetImports.filter { ($0.domain ?? "").isEmpty || $0.domain == "ai.onnx" }.compactMap(\.version).max()
    }
}
