import Compression
import ModelIR

extension ModelPress {
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
