import Compression
import ModelIR

extension ModelPress {
    /// `float`, `fp16` or `qdq` as given to `--onnx-weights`.
    public static func onnxWeightMode(_ text: String) throws(ModelPressError) -> ONNXWeightMode {
        guard let mode = ONNXWeightMode(rawValue: text.lowercased()) else {
            throw ModelPressError(.usage, "--onnx-weights \(text): use float, qdq or fp16")
        }
        return mode
    }

    /// `model` (as a compression run left it) made writable as ONNX with its weights stored as `mode` says:
    /// dequantized floats, int8/uint8 codes with `DequantizeLinear`, or float16 with `Cast` (see
    /// `ONNXWeightExport.export`). Returns the model and one note per tensor that could not be stored as asked.
    public static func onnxWeights(_ model: Model, mode: ONNXWeightMode) throws(ModelPressError) -> (
        model: Model, notes: [String]
    ) {
        var m = model
        // Entropy coding is for .mpz files; its inner storage keeps the packed codes the export needs.
        m.forEachTensor { _, t in
            if case .entropyCoded(let e) = t.storage { t.storage = e.inner.value }
        }
        do {
            return try ONNXWeightExport.export(m, mode: mode)
        } catch {
            throw ModelPressError(error.code == .invalidTensor ? .input : .unsupported, error.description)
        }
    }
}
