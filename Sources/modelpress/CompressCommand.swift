import ArgumentParser
import Foundation
import ModelPress

struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Compress a model into a .mpz file and report what each tensor cost.",
        discussion: """
            Presets: \(CompressionPreset.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")). \
            The default is balanced. --passes, --recipe or --max-error choose the passes instead. \
            The .mpz file keeps the graph exactly; `modelpress decompress` restores the model in its \
            source format (ONNX or Keras). Without -o nothing is written, but the sizes are those of the \
            file that would be. With -o x.onnx or x.h5 the weights are written back dequantized, so their \
            effect can be measured in onnxruntime or Keras.
            """ + " " + PassSelection.pipelineHelp
    )

    @Argument(help: "The model file (.onnx, .h5, .hdf5, .keras), or - for standard input.")
    var model: String?

    @Option(
        name: .shortAndLong,
        help: "Write here: .mpz (or - for standard output), or .onnx / .h5 with dequantized weights.")
    var output: String?

    @Option(help: "The compression level (default: balanced).")
    var preset: CompressionPreset?

    @OptionGroup var compression: CompressionOptions

    @Flag(help: "Print one JSON object (sizes, ratio, per-tensor report, file sections) on standard output.")
    var json = false

    @Flag(help: "List every pass and its parameters, then exit.")
    var listPasses = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors (and --report / --json output).")
    var quiet = false

    /// The job these arguments describe.
    var job: CompressJob {
        var job = CompressJob(model: model ?? "", output: output)
        job.selection = compression.selection(preset: preset)
        job.reportPath = compression.report
        job.threads = compression.threads
        return job
    }

    func validate() throws {
        if listPasses { return }
        guard model != nil else { throw ValidationError("give a model file (or --list-passes)") }
        do {
            try job.validate(json: json)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        if listPasses {
            print(PassSelection.passListText)
            return
        }
        try runReportingErrors { () throws(ModelPressError) in
            let progress = Progress(quiet: quiet)
            defer { progress.finish() }
            let outcome = try job.run(stage: progress.stage)
            progress.finish()
            if outcome.mpz == nil {
                // Dequantized ONNX or Keras output: the table, then the report.
                if !quiet { compression.printTable(outcome, toStandardError: false) }
                if let text = outcome.reportText { print(text) }
                return
            }
            if let text = outcome.reportText { print(text) }
            if json {
                print(try outcome.jsonText())
            } else if !quiet {
                let text = outcome.tableText(showSkipped: compression.showSkipped) + "\n" + outcome.summaryText() + "\n"
                if output == "-" { writeStandardError(text) } else { print(text, terminator: "") }
                for w in outcome.warnings { writeStandardError("modelpress: \(w)\n") }
            }
        }
    }
}
