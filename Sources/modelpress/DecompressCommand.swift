import ArgumentParser
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
            var job = DecompressJob(input: input, output: output)
            job.onnxWeights = weights.weights
            if singleThread { job.threads = 1 }
            let progress = Progress(quiet: quiet)
            defer { progress.finish() }
            let (written, notes) = try job.run(stage: progress.stage)
            progress.finish()
            if !quiet {
                for n in notes { writeStandardError("modelpress: \(n)\n") }
                if output != "-" { writeStandardError("wrote \(output) (\(written.bytes) bytes)\n") }
            }
        }
    }
}
