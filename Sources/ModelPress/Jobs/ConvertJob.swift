import Compression
import Foundation
import ModelIR

/// The file formats a job can write.
public enum OutputFormat: String, Sendable, CaseIterable {
    case onnx
    case keras
    case mpz
}

/// `modelpress convert` as a library call: every pair the readers and writers support, optionally through
/// compression passes (weights written back as `onnxWeights` says).
public struct ConvertJob: Sendable {
    public var input: String
    public var output: String
    /// The output format when the name does not say (or for `-`).
    public var format: OutputFormat?
    /// Passes to run (presets are for `compress`); none: the model goes through unchanged.
    public var selection = PassSelection()
    public var onnxWeights = ONNXWeights.float
    public var externalData = false
    public var externalThreshold = 1024
    public var stripOptimizer = false
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Write the per-tensor report as JSON here when passes ran (`-`: returned in the outcome).
    public var reportPath: String?

    public init(input: String, output: String) {
        self.input = input
        self.output = output
    }

    /// Usage errors found without reading anything.
    public func validate() throws(ModelPressError) {
        if format != nil, format != .mpz, output.lowercased().hasSuffix(".mpz") {
            throw ModelPressError(.usage, "--to \(format!.rawValue) contradicts the output name \(output)")
        }
        guard externalThreshold >= 0 else {
            throw ModelPressError(.usage, "--external-threshold must be 0 or more")
        }
    }

    /// What a conversion wrote and noticed.
    public struct Outcome: Sendable {
        public var written: WrittenModel
        /// The passes' outcome (table, report), when passes ran.
        public var compression: CompressOutcome?
        /// What the reader noticed, one line each.
        public var diagnostics: [String]
        /// Tensors that could not be stored as `onnxWeights` asked, one line each.
        public var notes: [String]
    }

    public func run() throws(ModelPressError) -> Outcome {
        try validate()
        let recipe = try selection.customRecipe()
        let toMPZ = format.map { $0 == .mpz } ?? output.lowercased().hasSuffix(".mpz")
        var loaded = try ModelPress.load(input, threads: threads)
        if let format, !toMPZ, format.rawValue != loaded.model.format.rawValue {
            throw ModelPressError(
                .unsupported,
                "\(input): is \(loaded.model.format == .keras ? "a Keras" : "an ONNX") model; converting it to "
                    + "\(format.rawValue) is not supported")
        }
        let fromMPZ = loaded.mpz != nil
        var result: CompressionResult?
        var notes: [String] = []
        if let recipe {
            // Passes start from plain weights: a .mpz input is decoded first.
            let plain = fromMPZ ? try ModelPress.restored(loaded.model, to: "-", onnxWeights: .float).0 : loaded.model
            let r = try ModelPress.compress(plain, recipe: recipe, parallel: threads > 1)
            loaded.model = r.model
            result = r
        }
        let protected = input == "-" ? [] : [input] + loaded.externalFiles.map { Self.sibling(input, $0.location) }
        let written: WrittenModel
        if toMPZ {
            let info = PassSelection.mpzInfo(preset: nil, recipe: recipe)
            let (image, summary) = try ModelPress.mpzImage(loaded.model, path: output, info: info, threads: threads)
            try ModelPress.writeMPZ(image, to: output, protectedPaths: protected)
            written = WrittenModel(path: output, bytes: summary.fileBytes, externalDataPath: nil, externalDataBytes: 0)
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
        var compression: CompressOutcome?
        if let result {
            let reportText = try ReportFile.write(result.report, to: reportPath)
            compression = CompressOutcome(
                input: .init(path: input, bytes: loaded.inputBytes, format: loaded.model.format.rawValue),
                output: .init(path: output, bytes: written.bytes, format: toMPZ ? "mpz" : loaded.model.format.rawValue),
                preset: nil, passes: result.report.pipeline, ratio: 0, report: result.report, mpz: nil,
                warnings: result.diagnostics.filter { $0.severity == .warning }.map { "\($0)" }, reportText: reportText)
        }
        return Outcome(
            written: written, compression: compression, diagnostics: loaded.diagnostics.map { "\($0)" }, notes: notes)
    }

    static func sibling(_ path: String, _ name: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return name }
        return String(path[...slash]) + name
    }
}

/// `modelpress decompress` as a library call: a `.mpz` file restored as the model it came from.
public struct DecompressJob: Sendable {
    public var input: String
    public var output: String
    public var onnxWeights = ONNXWeights.float
    public var threads = ProcessInfo.processInfo.activeProcessorCount

    public init(input: String, output: String) {
        self.input = input
        self.output = output
    }

    /// What was written, and the tensors that could not be stored as `onnxWeights` asked.
    public func run(stage: (String) -> Void = { _ in }) throws(ModelPressError) -> (
        written: WrittenModel, notes: [String]
    ) {
        stage("reading \(input)")
        let loaded = try ModelPress.load(input, threads: threads)
        guard loaded.mpz != nil else {
            throw ModelPressError(.usage, "\(input): is not a .mpz file; use `modelpress convert` for other models")
        }
        stage("decoding")
        let (model, notes) = try ModelPress.restored(loaded.model, to: output, onnxWeights: onnxWeights)
        stage("writing \(output)")
        var options = ModelPress.WriteOptions()
        options.protectedPaths = input == "-" ? [] : [input]
        return (try ModelPress.write(model, to: output, options: options), notes)
    }
}
