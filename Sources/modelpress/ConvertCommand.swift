import ArgumentParser
import ModelPress

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Read a model and write it again, in the format the output name (or --to) says.",
        discussion: """
            With no passes the model goes through the IR unchanged: every field of the input comes out \
            again. Tensors kept in external data stay there (in <OUTPUT>.data next to the output); \
            --external-data moves every tensor of at least --external-threshold bytes there; a model \
            whose file would pass protobuf's 2 GiB limit gets external data automatically. A Keras \
            file (.h5, .hdf5, .weights.h5, .keras) comes out as the same kind of file, every group, \
            attribute and dataset as it was; --strip-optimizer leaves out the optimizer state. With \
            --passes, --recipe or --max-error the weights are compressed and written back dequantized, so \
            their effect can be measured in onnxruntime or Keras; --onnx-weights qdq keeps linear-quantized \
            weights as int8/uint8 followed by DequantizeLinear (k-means palettes as a Gather, fp16/bf16 as a \
            Cast), and --onnx-weights fp16 stores float32 weights as float16 followed by a Cast, so the ONNX \
            file itself gets smaller; a weight that cannot be stored that way is written as float, with a note. \
            A .mpz input is restored (as `decompress` does); a .mpz output is written as `compress` writes it, \
            with the passes given (none: lossless). \
            The output is written to a temporary file and renamed into place; inputs are never overwritten.
            """
    )

    @Argument(help: "The input model (.onnx, .h5, .hdf5, .keras), or - for standard input.")
    var input: String

    @Argument(help: "The output model, same kind as the input, or - for standard output.")
    var output: String

    @Flag(help: "Keras: leave out the optimizer weights (often half the file); the model still loads.")
    var stripOptimizer = false

    @Flag(help: "Write tensors of at least --external-threshold bytes to <OUTPUT>.data.")
    var externalData = false

    @Option(help: "Smallest tensor, in bytes, that --external-data moves out.")
    var externalThreshold = 1024

    @OptionGroup(title: "Compression (weights are written back as --onnx-weights says; dequantized by default)")
    var compression: CompressionOptions

    @OptionGroup var weights: ONNXWeightsOption

    @Option(help: "Output format when the name does not say (or for -).")
    var to: OutputFormat?

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    /// The job these arguments describe.
    var job: ConvertJob {
        var job = ConvertJob(input: input, output: output)
        job.format = to
        job.selection = compression.selection()
        job.onnxWeights = weights.weights
        job.externalData = externalData
        job.externalThreshold = externalThreshold
        job.stripOptimizer = stripOptimizer
        job.threads = compression.threads
        job.reportPath = compression.report
        return job
    }

    func validate() throws {
        do {
            try job.validate()
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        try runReportingErrors { () throws(ModelPressError) in
            let outcome = try job.run()
            if let c = outcome.compression {
                if !quiet { compression.printTable(c, toStandardError: output == "-") }
                if let text = c.reportText { print(text) }
            }
            if !quiet {
                for d in outcome.diagnostics { writeStandardError("modelpress: \(d)\n") }
                for n in outcome.notes { writeStandardError("modelpress: note: \(n)\n") }
                if output != "-" {
                    let w = outcome.written
                    var line = "wrote \(output) (\(w.bytes) bytes"
                    if let side = w.externalDataPath {
                        line += ", external data \(side) \(w.externalDataBytes) bytes"
                    }
                    writeStandardError(line + ")\n")
                }
            }
        }
    }
}
