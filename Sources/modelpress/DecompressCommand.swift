import ArgumentParser
import Compression
import Foundation
import ModelPress

struct DecompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decompress",
        abstract: "Restore a .mpz file as the model it came from (ONNX from ONNX, Keras from Keras).",
        discussion: """
            The graph, metadata and attributes come back exactly as they were; the weights are decoded \
            (dequantized). --onnx-weights chooses how ONNX stores them: float (default), fp16 (float16 \
            weights with a Cast after each), or qdq (int8/uint8 weights with DequantizeLinear nodes, per \
            axis where they were quantized per channel: the ONNX file itself stays about 4x smaller and \
            runs in onnxruntime). The output is checked before anything is written: a Keras model cannot \
            become ONNX, nor an .h5 file a .keras zip. Written to a temporary file, then renamed.
            """
    )

    @Argument(help: "The .mpz file, or - for standard input.")
    var input: String

    @Option(name: .shortAndLong, help: "The restored model (.onnx, .h5, .keras), or - for standard output.")
    var output: String

    @OptionGroup var weights: ONNXWeightsOption

    @Flag(help: "Run on one core (default: every core).")
    var singleThread = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func run() throws {
        try runReportingErrors { () throws(ModelPressError) in
            let onnxWeights = try weights.mode()
            let progress = Progress(quiet: quiet)
            defer { progress.finish() }
            progress.stage("reading \(input)")
            let threads = singleThread ? 1 : ProcessInfo.processInfo.activeProcessorCount
            let loaded = try ModelPress.load(input, threads: threads)
            guard loaded.mpz != nil else {
                throw ModelPressError(.usage, "\(input): is not a .mpz file; use `modelpress convert` for other models")
            }
            progress.stage("decoding")
            let (model, notes) = try ModelPress.restored(loaded.model, to: output, onnxWeights: onnxWeights)
            progress.stage("writing \(output)")
            var options = ModelPress.WriteOptions()
            options.protectedPaths = input == "-" ? [] : [input]
            let written = try ModelPress.write(model, to: output, options: options)
            progress.finish()
            if !quiet {
                for n in notes { writeStandardError("modelpress: \(n)\n") }
                if output != "-" { writeStandardError("wrote \(output) (\(written.bytes) bytes)\n") }
            }
        }
    }
}
