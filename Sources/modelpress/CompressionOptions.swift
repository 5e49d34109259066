import ArgumentParser
import Foundation
import ModelPress

extension CompressionPreset: ExpressibleByArgument {}
extension ONNXWeights: ExpressibleByArgument {}
extension OutputFormat: ExpressibleByArgument {}

/// The options that choose and report compression passes, shared by `compress` and `convert`.
struct CompressionOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp("Passes to run, e.g. 'prune(sparsity=0.6),kmeans(bits=4),huffman'.", valueName: "pipeline"))
    var passes: String?

    @Option(help: ArgumentHelp("A JSON recipe: passes, defaults and per-tensor overrides.", valueName: "file"))
    var recipe: String?

    @Option(
        help: ArgumentHelp(
            "Per tensor, the fewest bits (cheaper of linear and k-means) whose relative L2 error stays <= E.",
            valueName: "E"))
    var maxError: Double?

    @Option(
        help: ArgumentHelp(
            "Write the per-tensor report as JSON to this file (- for standard output).", valueName: "file"))
    var report: String?

    @Flag(help: "List skipped tensors in the table too.")
    var showSkipped = false

    @Flag(help: "Run on one core (default: every core).")
    var singleThread = false

    /// The passes these options choose, with `preset` when one was given.
    func selection(preset: CompressionPreset? = nil) -> PassSelection {
        PassSelection(preset: preset, passes: passes, recipePath: recipe, maxError: maxError)
    }

    var threads: Int { singleThread ? 1 : ProcessInfo.processInfo.activeProcessorCount }

    /// Prints the table (to standard error when standard output carries a model) and the passes' warnings.
    func printTable(_ outcome: CompressOutcome, toStandardError: Bool) {
        let text = outcome.tableText(showSkipped: showSkipped) + "\n"
        if toStandardError { writeStandardError(text) } else { print(text, terminator: "") }
        for w in outcome.warnings { writeStandardError("modelpress: \(w)\n") }
    }
}

/// `--onnx-weights float|qdq|fp16`, shared by `decompress` and `convert`.
struct ONNXWeightsOption: ParsableArguments {
    @Option(
        name: .customLong("onnx-weights"),
        help: ArgumentHelp(
            "How an ONNX output stores weights: float (dequantized), qdq (int8/uint8 + DequantizeLinear) or fp16."))
    var weights = ONNXWeights.float
}
