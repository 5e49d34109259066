import Compression
import ModelIR
import ONNXExport

/// How an ONNX output stores the weights of a compressed model (`--onnx-weights`).
public enum ONNXWeights: String, Sendable, CaseIterable {
    /// Every encoded tensor decoded to dense values of its own type: the file runs anywhere, at full size.
    case float
    /// Linear-quantized weights as int8/uint8 codes followed by `DequantizeLinear` (k-means palettes as a
    /// `Gather`, fp16/bf16 as a `Cast`): about a quarter of the size at 8 bits.
    case qdq
    /// float32 weights stored as float16 followed by a `Cast`: about half the size.
    case fp16

    var mode: ONNXWeightMode {
        switch self {
        case .float: .float
        case .qdq: .qdq
        case .fp16: .fp16
        }
    }
}

extension ModelPress {
    /// `model` (as a compression run left it) made writable as ONNX with its weights stored as `weights` says:
    /// dequantized floats, int8/uint8 codes with `DequantizeLinear`, or float16 with `Cast` (see
    /// `ONNXWeightExport.export`). Returns the model and one note per tensor that could not be stored as asked.
    static func onnxWeights(_ model: Model, as weights: ONNXWeights) throws(ModelPressError) -> (
        model: Model, notes: [String]
    ) {
        var m = model
        // Entropy coding is for .mpz files; its inner storage keeps the packed codes the export needs.
        m.forEachTensor { _, t in
            if case .entropyCoded(let e) = t.storage { t.storage = e.inner.value }
        }
        do {
            return try ONNXWeightExport.export(m, mode: weights.mode)
        } catch {
            throw ModelPressError(
                error.code == .invalidTensor ? .input : .unsupported, error.description, cause: error)
        }
    }
}
