import ArgumentParser
import Compression
import ModelPress

/// `--onnx-weights float|qdq|fp16`, shared by `decompress` and `convert`.
struct ONNXWeightsOption: ParsableArguments {
    @Option(
        name: .customLong("onnx-weights"),
        help: ArgumentHelp(
            "How an ONNX output stores weights: float (dequantized), qdq (int8/uint8 + DequantizeLinear) or fp16.",
            valueName: "float|qdq|fp16"))
    var text = "float"

    /// The mode asked for; a usage error (one line, exit 64) for anything else.
    func mode() throws(ModelPressError) -> ONNXWeightMode { try ModelPress.onnxWeightMode(text) }
}
