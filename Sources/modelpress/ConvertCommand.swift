import ArgumentParser
import Compression
import Foundation
import ModelPress

#if canImport(Glibc)
    import Glibc
#endif

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

    @Option(help: "Output format when the name does not say (or for -): onnx, keras or mpz.")
    var to: String?

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        guard externalThreshold >= 0 else { throw ValidationError("--external-threshold must be 0 or more") }
    }

    func run() throws {
        try runReportingErrors { () throws(ModelPressError) in
            let onnxWeights = try weights.mode()
            let recipe = try compression.makeRecipe()
            let toMPZ: Bool
            switch to?.lowercased() {
            case nil: toMPZ = output.lowercased().hasSuffix(".mpz")
            case "mpz": toMPZ = true
            case "onnx", "keras":
                toMPZ = false
                if output.lowercased().hasSuffix(".mpz") {
                    throw ModelPressError(.usage, "--to \(to!) contradicts the output name \(output)")
                }
            default: throw ModelPressError(.usage, "--to \(to!): use onnx, keras or mpz")
            }
            let threads = compression.singleThread ? 1 : ProcessInfo.processInfo.activeProcessorCount
            var loaded = try ModelPress.load(input, threads: threads)
            if let to, !toMPZ, to.lowercased() != loaded.model.format.rawValue {
                throw ModelPressError(
                    .unsupported,
                    "\(input): is \(loaded.model.format == .keras ? "a Keras" : "an ONNX") model; converting it to "
                        + "\(to) is not supported")
            }
            let fromMPZ = loaded.mpz != nil
            var result: CompressionResult?
            var notes: [String] = []
            if let recipe {
                // Passes start from plain weights: a .mpz input is decoded first.
                let plain =
                    fromMPZ ? try ModelPress.restored(loaded.model, to: "-", onnxWeights: .float).0 : loaded.model
                let r = try ModelPress.compress(plain, recipe: recipe, parallel: !compression.singleThread)
                loaded.model = r.model
                result = r
            }
            let protected =
                input == "-" ? [] : [input] + loaded.externalFiles.map { Self.sibling(input, $0.location) }
            let written: WrittenModel
            if toMPZ {
                var info = ["producer": "modelpress \(ModelPress.version)"]
                if let recipe { info["passes"] = recipe.passes.map(\.text).joined(separator: ",") }
                let (image, summary) = try ModelPress.mpzImage(loaded.model, path: output, info: info, threads: threads)
                try ModelPress.writeMPZ(image, to: output, protectedPaths: protected)
                written = WrittenModel(
                    path: output, bytes: summary.fileBytes, externalDataPath: nil, externalDataBytes: 0)
            } else {
                if fromMPZ || result != nil || onnxWeights != .float {
                    (loaded.model, notes) = try ModelPress.restored(loaded.model, to: output, onnxWeights: onnxWeights)
                }
                var options = ModelPress.WriteOptions()
                options.externalData = externalData
                options.externalThreshold = externalThreshold
                options.stripOptimizer = stripOptimizer
                options.protectedPaths = protected
                written = try ModelPress.write(loaded.model, to: output, options: options)
            }
            if let result { try compression.emit(result, tableTo: output == "-" ? 2 : 1, quiet: quiet) }
            if !quiet {
                for d in loaded.diagnostics { writeStandardError("modelpress: \(d)\n") }
                for n in notes { writeStandardError("modelpress: note: \(n)\n") }
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
