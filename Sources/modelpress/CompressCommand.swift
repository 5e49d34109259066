import ArgumentParser
import Compression
import Foundation
import ModelPress

struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Compress a model into a .mpz file and report what each tensor cost.",
        discussion: """
            Presets: \(Preset.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")). \
            The default is balanced. --passes, --recipe or --max-error choose the passes instead. \
            The .mpz file keeps the graph exactly; `modelpress decompress` restores the model in its \
            source format (ONNX or Keras). Without -o nothing is written, but the sizes are those of the \
            file that would be. With -o x.onnx or x.h5 the weights are written back dequantized, so their \
            effect can be measured in onnxruntime or Keras.
            """ + " " + CompressionOptions.pipelineHelp
    )

    @Argument(help: "The model file (.onnx, .h5, .hdf5, .keras), or - for standard input.")
    var model: String?

    @Option(
        name: .shortAndLong,
        help: "Write here: .mpz (or - for standard output), or .onnx / .h5 with dequantized weights.")
    var output: String?

    @Option(help: ArgumentHelp("lossless, balanced (default) or small.", valueName: "preset"))
    var preset: String?

    @OptionGroup var compression: CompressionOptions

    @Flag(help: "Print one JSON object (sizes, ratio, per-tensor report, file sections) on standard output.")
    var json = false

    @Flag(help: "List every pass and its parameters, then exit.")
    var listPasses = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors (and --report / --json output).")
    var quiet = false

    func run() throws {
        if listPasses {
            print(PassRegistry.helpText)
            return
        }
        try runReportingErrors { () throws(ModelPressError) in
            guard let model else { throw ModelPressError(.usage, "give a model file (or --list-passes)") }
            let custom = try compression.makeRecipe()
            let preset = try self.preset.map { (name) throws(ModelPressError) in
                guard let p = Preset(rawValue: name.lowercased()) else {
                    throw ModelPressError(.usage, "--preset \(name): use lossless, balanced or small")
                }
                return p
            }
            if custom != nil, let preset {
                throw ModelPressError(
                    .usage, "--preset \(preset.rawValue) and --passes/--recipe/--max-error exclude each other")
            }
            let chosen = preset ?? (custom == nil ? .balanced : nil)
            let recipe = custom ?? chosen?.recipe
            let toMPZ = output.map { $0 == "-" || $0.lowercased().hasSuffix(".mpz") } ?? true
            if json, output == "-" {
                throw ModelPressError(.usage, "--json prints on standard output; write the file with -o FILE")
            }
            let progress = Progress(quiet: quiet)
            defer { progress.finish() }
            progress.stage("reading \(model)")
            let loaded = try ModelPress.load(model)
            if loaded.mpz != nil {
                throw ModelPressError(.usage, "\(model): is already a .mpz file; decompress it first")
            }
            let protected = model == "-" ? [] : [model]
            var result: CompressionResult?
            if let recipe {
                progress.stage("compressing")
                result = try ModelPress.compress(loaded.model, recipe: recipe, parallel: !compression.singleThread)
            }
            if !toMPZ, let output {
                guard let result else {
                    throw ModelPressError(
                        .usage, "the lossless preset writes .mpz; to copy the model as it is use `modelpress convert`")
                }
                progress.stage("writing \(output)")
                var options = ModelPress.WriteOptions()
                options.protectedPaths = protected
                _ = try ModelPress.write(try ModelPress.dequantized(result), to: output, options: options)
                progress.finish()
                try compression.emit(result, tableTo: 1, quiet: quiet)
                return
            }
            let outputOrNil = output
            progress.stage("encoding")
            var info = ["producer": "modelpress \(ModelPress.version)"]
            if let chosen { info["preset"] = chosen.rawValue }
            if let recipe { info["passes"] = recipe.passes.map(\.text).joined(separator: ",") }
            let encoded = result?.model ?? loaded.model
            let threads = compression.singleThread ? 1 : ProcessInfo.processInfo.activeProcessorCount
            let (image, summary) = try ModelPress.mpzImage(
                encoded, path: outputOrNil ?? "<memory>", info: info, threads: threads)
            if let output = outputOrNil {
                progress.stage("writing \(output)")
                try ModelPress.writeMPZ(image, to: output, protectedPaths: protected)
            }
            progress.finish()
            // The model's size includes its external-data files.
            let inputBytes = loaded.fileBytes + loaded.externalFiles.reduce(0) { $0 + $1.bytes }
            var report = result?.report ?? ModelPress.losslessReport(loaded.model)
            ModelPress.fill(&report, with: summary)
            let outcome = CompressOutcome(
                input: .init(path: model, bytes: inputBytes, format: loaded.model.format.rawValue),
                output: outputOrNil.map { .init(path: $0, bytes: summary.fileBytes, format: "mpz") },
                preset: chosen?.rawValue, passes: report.pipeline,
                ratio: summary.fileBytes > 0 ? Double(inputBytes) / Double(summary.fileBytes) : 0,
                report: report, mpz: summary)
            try compression.writeReport(report)
            if json {
                print(try outcome.jsonText())
            } else if !quiet {
                let stream: Int32 = outputOrNil == "-" ? 2 : 1
                let text = report.renderText(showSkipped: compression.showSkipped) + "\n" + outcome.summaryText() + "\n"
                if stream == 2 { writeStandardError(text) } else { print(text, terminator: "") }
                for d in result?.diagnostics ?? [] where d.severity == .warning {
                    writeStandardError("modelpress: \(d)\n")
                }
            }
        }
    }
}

/// What `compress --json` prints.
struct CompressOutcome: Codable {
    struct File: Codable {
        var path: String
        var bytes: Int
        var format: String
    }
    var input: File
    var output: File?
    var preset: String?
    var passes: [String]
    /// Input file bytes / .mpz bytes.
    var ratio: Double
    var report: Report
    var mpz: MPZSummary

    func jsonText() throws(ModelPressError) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        do {
            return String(decoding: try e.encode(self), as: UTF8.self)
        } catch {
            throw ModelPressError(.output, "cannot encode the JSON output: \(error)")
        }
    }

    /// Sizes before and after, for the terminal.
    func summaryText() -> String {
        let weights = mpz.tensors.reduce(0) { $0 + $1.fileBytes }
        let dense = mpz.tensors.reduce(0) { $0 + $1.denseBytes }
        var lines = [
            "\(input.path): \(bytesText(input.bytes)) -> \(bytesText(mpz.fileBytes)) as .mpz "
                + "(\(String(format: "%.2f", ratio))x\(preset.map { ", preset \($0)" } ?? ""))",
            "  graph\(mpz.containerBytes == nil ? "" : ", Keras file structure") and small tensors "
                + "\(bytesText(mpz.graphBytes)) -> \(bytesText(mpz.graphStoredBytes)); "
                + "\(mpz.tensors.count) tensor chunks \(bytesText(dense)) -> \(bytesText(weights))",
        ]

        if let o = output { lines.append("wrote \(o.path)") }
        return lines.joined(separator: "\n")
    }
}

func bytesText(_ n: Int) -> String {
    if n < 10_000 { return "\(n) B" }
    if n < 10_000_000 { return String(format: "%.1f kB", Double(n) / 1e3) }
    return String(format: "%.1f MB", Double(n) / 1e6)
}
