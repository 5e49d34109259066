import ArgumentParser
import Compression
import ModelPress

#if canImport(Glibc)
    import Glibc
#endif

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Read a model and write it again, in the format the output name says.",
        discussion: """
            With no passes the model goes through the IR unchanged: every field of the input comes out \
            again. Tensors kept in external data stay there (in <OUTPUT>.data next to the output); \
            --external-data moves every tensor of at least --external-threshold bytes there; a model \
            whose file would pass protobuf's 2 GiB limit gets external data automatically. A Keras \
            file (.h5, .hdf5, .weights.h5, .keras) comes out as the same kind of file, every group, \
            attribute and dataset as it was; --strip-optimizer leaves out the optimizer state. With \
            --passes, --recipe or --max-error the weights are compressed and written back dequantized, so \
            their effect can be measured in onnxruntime or Keras. The output \
            is written to a temporary file and renamed into place; inputs are never overwritten.
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

    @OptionGroup(title: "Compression (the weights are written back dequantized)")
    var compression: CompressionOptions

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        guard externalThreshold >= 0 else { throw ValidationError("--external-threshold must be 0 or more") }
    }

    func run() throws {
        try runReportingErrors { () throws(ModelPressError) in
            let recipe = try compression.makeRecipe()
            var loaded = try ModelPress.load(input)
            var result: CompressionResult?
            if let recipe {
                let r = try ModelPress.compress(loaded.model, recipe: recipe, parallel: !compression.singleThread)
                loaded.model = try ModelPress.dequantized(r)
                result = r
            }
            var options = ModelPress.WriteOptions()
            options.externalData = externalData
            options.externalThreshold = externalThreshold
            options.stripOptimizer = stripOptimizer
            options.protectedPaths =
                input == "-" ? [] : [input] + loaded.externalFiles.map { Self.sibling(input, $0.location) }
            let written = try ModelPress.write(loaded.model, to: output, options: options)
            if let result { try compression.emit(result, tableTo: output == "-" ? 2 : 1, quiet: quiet) }
            if !quiet {
                for d in loaded.diagnostics { writeStandardError("modelpress: \(d)\n") }
                if output != "-" {
                    var line = "wrote \(output) (\(written.bytes) bytes"
                    if let side = written.externalDataPath {
                        line += ", external data \(side) \(written.externalDataBytes) bytes"
                    }
                    writeStandardError(line + ")\n")
                }
            }
        }
    }

    static func sibling(_ path: String, _ name: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return name }
        return String(path[...slash]) + name
    }
}
