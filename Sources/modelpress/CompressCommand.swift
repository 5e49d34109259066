import ArgumentParser
import Compression
import ModelPress

struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Run compression passes on a model and report what each cost, per tensor.",
        discussion: CompressionOptions.pipelineHelp + """
             With -o, the result is written: as ONNX or Keras with the weights put back dequantized (so \
            their effect can be measured in onnxruntime or Keras). Without -o, nothing is written.
            """
    )

    @Argument(help: "The model file (.onnx, .h5, .hdf5, .keras), or - for standard input.")
    var model: String?

    @Option(
        name: .shortAndLong, help: "Write the compressed model here (same format as the input, weights dequantized).")
    var output: String?

    @OptionGroup var compression: CompressionOptions

    @Flag(help: "List every pass and its parameters, then exit.")
    var listPasses = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors (and the --report JSON).")
    var quiet = false

    func run() throws {
        if listPasses {
            print(PassRegistry.helpText)
            return
        }
        try runReportingErrors { () throws(ModelPressError) in
            guard let model else { throw ModelPressError(.usage, "give a model file (or --list-passes)") }
            guard let recipe = try compression.makeRecipe() else {
                throw ModelPressError(.usage, "give --passes, --recipe or --max-error (see --list-passes)")
            }
            if let output, output.lowercased().hasSuffix(".mpz") {
                throw ModelPressError(
                    .unsupported,
                    "\(output): the .mpz writer is not in this version yet; write .onnx or .h5 to try passes")
            }
            let loaded = try ModelPress.load(model)
            let result = try ModelPress.compress(loaded.model, recipe: recipe, parallel: !compression.singleThread)
            var options = ModelPress.WriteOptions()
            options.protectedPaths = model == "-" ? [] : [model]
            if let output {
                _ = try ModelPress.write(try ModelPress.dequantized(result), to: output, options: options)
            }
            try compression.emit(result, tableTo: output == "-" ? 2 : 1, quiet: quiet)
        }
    }
}
