import Compression
import FileSystem
import Foundation
import ModelIR

/// `modelpress compress` as a library call: load, run the passes, encode, write, report.
///
/// ```swift
/// var job = CompressJob(model: "model.onnx", output: "model.mpz")
/// job.selection.preset = .small
/// let outcome = try job.run()
/// print(outcome.summaryText())
/// ```
public struct CompressJob: Sendable {
    /// The model file, or `-` for standard input.
    public var model: String
    /// `.mpz` (or `-` for standard output), or `.onnx` / `.h5` with dequantized weights; nil writes nothing
    /// (the sizes are those of the file that would be written).
    public var output: String?
    /// The passes; no preset and no custom pipeline means `balanced`.
    public var selection = PassSelection()
    /// Write the per-tensor report as JSON here (`-`: returned in `CompressOutcome.reportText`).
    public var reportPath: String?
    /// Threads for the passes and the encoder.
    public var threads = ProcessInfo.processInfo.activeProcessorCount

    public init(model: String, output: String? = nil) {
        self.model = model
        self.output = output
    }

    /// Usage errors found without reading anything.
    public func validate(json: Bool = false) throws(ModelPressError) {
        try selection.validate()
        if json, output == "-" {
            throw ModelPressError(.usage, "--json prints on standard output; write the file with -o FILE")
        }
    }

    /// Runs the job; `stage` hears each step's name (for a progress line). Nothing is written on failure.
    public func run(stage: (String) -> Void = { _ in }) throws(ModelPressError) -> CompressOutcome {
        try validate()
        let (chosen, recipe) = try selection.resolved()
        let toMPZ = output.map { $0 == "-" || $0.lowercased().hasSuffix(".mpz") } ?? true
        stage("reading \(model)")
        let loaded = try ModelPress.load(model)
        if loaded.mpz != nil {
            throw ModelPressError(.usage, "\(model): is already a .mpz file; decompress it first")
        }
        let protected = model == "-" ? [] : [model]
        var result: CompressionResult?
        if let recipe {
            stage("compressing")
            result = try ModelPress.compress(loaded.model, recipe: recipe, parallel: threads > 1)
        }
        let warnings = (result?.diagnostics ?? []).filter { $0.severity == .warning }.map { "\($0)" }
        if !toMPZ, let output {
            guard let result else {
                throw ModelPressError(
                    .usage, "the lossless preset writes .mpz; to copy the model as it is use `modelpress convert`")
            }
            stage("writing \(output)")
            var options = ModelPress.WriteOptions()
            options.protectedPaths = protected
            _ = try ModelPress.write(try ModelPress.dequantized(result), to: output, options: options)
            let reportText = try ReportFile.write(result.report, to: reportPath)
            return CompressOutcome(
                input: .init(path: model, bytes: loaded.inputBytes, format: loaded.model.format.rawValue),
                output: .init(path: output, bytes: 0, format: loaded.model.format.rawValue), preset: chosen?.rawValue,
                passes: result.report.pipeline, ratio: 0, report: result.report, mpz: nil, warnings: warnings,
                reportText: reportText)
        }
        stage("encoding")
        let info = PassSelection.mpzInfo(preset: chosen, recipe: recipe)
        let encoded = result?.model ?? loaded.model
        let (image, summary) = try ModelPress.mpzImage(
            encoded, path: output ?? "<memory>", info: info, threads: threads)
        if let output {
            stage("writing \(output)")
            try ModelPress.writeMPZ(image, to: output, protectedPaths: protected)
        }
        var report = result?.report ?? ModelPress.losslessReport(loaded.model)
        ModelPress.fill(&report, with: summary)
        let inputBytes = loaded.inputBytes
        let reportText = try ReportFile.write(report, to: reportPath)
        return CompressOutcome(
            input: .init(path: model, bytes: inputBytes, format: loaded.model.format.rawValue),
            output: output.map { .init(path: $0, bytes: summary.fileBytes, format: "mpz") },
            preset: chosen?.rawValue, passes: report.pipeline,
            ratio: summary.fileBytes > 0 ? Double(inputBytes) / Double(summary.fileBytes) : 0,
            report: report, mpz: summary, warnings: warnings, reportText: reportText)
    }
}

extension LoadedModel {
    /// The model's size with its external-data files.
    var inputBytes: Int { fileBytes + externalFiles.reduce(0) { $0 + $1.bytes } }
}

/// What a compression did: sizes, ratio, the per-tensor report and, for `.mpz` outputs, the file's sections.
public struct CompressOutcome: Sendable, Encodable {
    public struct File: Sendable, Codable {
        public var path: String
        public var bytes: Int
        public var format: String
    }
    public var input: File
    /// The written file; nil when nothing was written.
    public var output: File?
    public var preset: String?
    public var passes: [String]
    /// Input bytes / `.mpz` bytes (0 when the output is not a `.mpz`).
    public var ratio: Double
    var report: Report
    /// The `.mpz` file's sections; nil when the output is ONNX or Keras.
    public var mpz: MPZSummary?
    /// Warnings of the passes, one line each.
    public var warnings: [String]
    /// The JSON report, when it was asked for on standard output (`reportPath` `-`).
    public var reportText: String?

    enum CodingKeys: String, CodingKey {
        case input, output, preset, passes, ratio, report, mpz
    }

    /// The `--json` object: input, output, preset, passes, ratio, report and the `.mpz` sections.
    public func jsonText() throws(ModelPressError) -> String {
        try ReportFile.json(self, what: "the JSON output")
    }

    /// The per-tensor table.
    public func tableText(showSkipped: Bool) -> String { report.renderText(showSkipped: showSkipped) }

    /// Sizes before and after, for the terminal (`.mpz` outputs).
    public func summaryText() -> String {
        guard let mpz else { return output.map { "wrote \($0.path)" } ?? "" }
        let weights = mpz.tensors.reduce(0) { $0 + $1.fileBytes }
        let dense = mpz.tensors.reduce(0) { $0 + $1.denseBytes }
        var lines = [
            "\(input.path): \(Self.bytesText(input.bytes)) -> \(Self.bytesText(mpz.fileBytes)) as .mpz "
                + "(\(String(format: "%.2f", ratio))x\(preset.map { ", preset \($0)" } ?? ""))",
            "  graph\(mpz.containerBytes == nil ? "" : ", Keras file structure") and small tensors "
                + "\(Self.bytesText(mpz.graphBytes)) -> \(Self.bytesText(mpz.graphStoredBytes)); "
                + "\(mpz.tensors.count) tensor chunks \(Self.bytesText(dense)) -> \(Self.bytesText(weights))",
        ]
        if let o = output { lines.append("wrote \(o.path)") }
        return lines.joined(separator: "\n")
    }

    static func bytesText(_ n: Int) -> String {
        if n < 10_000 { return "\(n) B" }
        if n < 10_000_000 { return String(format: "%.1f kB", Double(n) / 1e3) }
        return String(format: "%.1f MB", Double(n) / 1e6)
    }
}

/// The JSON report file of `--report`.
enum ReportFile {
    /// Sorted-key, pretty-printed JSON of `value`.
    static func json<T: Encodable>(_ value: T, what: String) throws(ModelPressError) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        do {
            return String(decoding: try e.encode(value), as: UTF8.self)
        } catch {
            throw ModelPressError(.output, "cannot encode \(what): \(error)")
        }
    }

    /// Writes `report` as JSON to `path` (nil: nowhere). Returns the text instead when `path` is `-`.
    static func write(_ report: Report, to path: String?) throws(ModelPressError) -> String? {
        guard let path else { return nil }
        let text = try json(report, what: "the report")
        if path == "-" { return text }
        func failed(_ e: FileSystemError) -> ModelPressError {
            ModelPressError(.output, "\(e.path): cannot write the report: \(e.detail)", cause: e)
        }
        try Files.writeAtomically(to: path, mapError: failed) { (file) throws(ModelPressError) in
            do throws(FileSystemError) {
                try file.write(Array(text.utf8))
            } catch {
                throw failed(error)
            }
        }
        return nil
    }
}
