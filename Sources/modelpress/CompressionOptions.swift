import ArgumentParser
import Compression
import Foundation
import ModelPress

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

    /// The recipe these options describe, or nil when none was given.
    func makeRecipe() throws(ModelPressError) -> Recipe? {
        try RecipeFile.fromOptions(passes: passes, recipePath: recipe, maxError: maxError)
    }

    /// Prints the table (to `stream`) and writes the JSON report when asked.
    func emit(_ result: CompressionResult, tableTo stream: Int32, quiet: Bool) throws(ModelPressError) {
        if !quiet {
            let text = result.report.renderText(showSkipped: showSkipped) + "\n"
            if stream == 2 { writeStandardError(text) } else { print(text, terminator: "") }
            for d in result.diagnostics where d.severity == .warning { writeStandardError("modelpress: \(d)\n") }
        }
        try writeReport(result.report)
    }

    /// Writes `report` as JSON to the --report file, when one was given.
    func writeReport(_ report: Report) throws(ModelPressError) {
        guard let path = self.report else { return }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data: Data
        do {
            data = try e.encode(report)
        } catch {
            throw ModelPressError(.output, "\(path): cannot encode the report: \(error)")
        }
        if path == "-" {
            print(String(decoding: data, as: UTF8.self))
        } else {
            do {
                try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw ModelPressError(.output, "\(path): cannot write the report: \(error.localizedDescription)")
            }
        }
    }

    static let pipelineHelp = """
        Pipelines run value passes (prune, prune_channels, clip), then one encoding (linear, kmeans, fp16, \
        bf16, binary, ternary, auto), then huffman. By default tensors under 1024 elements, biases, \
        normalization parameters, integer and already-quantized tensors are left alone (a recipe can change \
        that per tensor). Weights in Constant nodes and in If/Loop subgraphs are compressed like \
        initializers. `modelpress compress --list-passes` lists every pass and parameter.
        """
}
