import ArgumentParser
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
            whose file would pass protobuf's 2 GiB limit gets external data automatically. The output \
            is written to a temporary file and renamed into place; inputs are never overwritten.
            """
    )

    @Argument(help: "The input model (.onnx), or - for standard input.")
    var input: String

    @Argument(help: "The output model (.onnx), or - for standard output.")
    var output: String

    @Flag(help: "Write tensors of at least --external-threshold bytes to <OUTPUT>.data.")
    var externalData = false

    @Option(help: "Smallest tensor, in bytes, that --external-data moves out.")
    var externalThreshold = 1024

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        guard externalThreshold >= 0 else { throw ValidationError("--external-threshold must be 0 or more") }
    }

    func run() throws {
        try runReportingErrors { () throws(ModelPressError) in
            let loaded = try ModelPress.load(input)
            var options = ModelPress.WriteOptions()
            options.externalData = externalData
            options.externalThreshold = externalThreshold
            options.protectedPaths =
                input == "-" ? [] : [input] + loaded.externalFiles.map { Self.sibling(input, $0.location) }
            let written = try ModelPress.write(loaded.model, to: output, options: options)
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
