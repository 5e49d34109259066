import Compression
import FileSystem
import Foundation
import KerasHDF5
import MPZFormat
import ModelIR
import ONNXFormat

#if canImport(Glibc)
    import Glibc
#endif

/// A model read from a file, with what the reader noticed.
public struct LoadedModel: Sendable {
    /// The path as given (`-` for standard input).
    public var path: String
    public var model: Model
    public var diagnostics: [Diagnostic]
    /// Size of the model file itself.
    public var fileBytes: Int
    /// External-data files the model referenced.
    public var externalFiles: [ExternalFileUse]
    /// For Keras files: which layout, the Keras version and backend, optimizer state.
    public var keras: KerasFileInfo?
    /// For `.mpz` files: what each section and tensor chunk holds.
    public var mpz: MPZSummary?

    public init(
        path: String, model: Model, diagnostics: [Diagnostic], fileBytes: Int, externalFiles: [ExternalFileUse] = [],
        keras: KerasFileInfo? = nil, mpz: MPZSummary? = nil
    ) {
        self.path = path
        self.model = model
        self.diagnostics = diagnostics
        self.fileBytes = fileBytes
        self.externalFiles = externalFiles
        self.keras = keras
        self.mpz = mpz
    }
}

/// Summary of a write.
public struct WrittenModel: Sendable {
    public var path: String
    public var bytes: Int
    public var externalDataPath: String?
    public var externalDataBytes: Int

    public init(path: String, bytes: Int, externalDataPath: String? = nil, externalDataBytes: Int = 0) {
        self.path = path
        self.bytes = bytes
        self.externalDataPath = externalDataPath
        self.externalDataBytes = externalDataBytes
    }
}

/// The library facade: load a model file into the IR, write the IR to a file.
public enum ModelPress {
    /// Guesses a file's format from its name, then its first bytes.
    public static func format(ofPath path: String, firstBytes: [UInt8]) -> ModelFormat? {
        let lower = path.lowercased()
        if lower.hasSuffix(".onnx") { return .onnx }
        if lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5") || lower.hasSuffix(".keras") { return .keras }
        if firstBytes.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]) { return .keras }
        if firstBytes.starts(with: [0x50, 0x4b, 0x03, 0x04]) { return .keras }
        return nil
    }

    /// The ModelPress version, as `--version` and `.mpz` info sections give it.
    public static let version = "0.2.0"

    /// True when `path` names a `.mpz` file by its extension or its first bytes.
    public static func isMPZ(path: String, firstBytes: [UInt8]) -> Bool {
        path.lowercased().hasSuffix(".mpz") || MPZ.hasMagic(firstBytes)
    }

    /// Reads the model at `path` (`-` for standard input): ONNX, Keras, or `.mpz` (whose tensors come
    /// back in the encodings the passes chose; `dequantized` or `ONNXWeightExport` turn them into weights).
    public static func load(_ path: String, threads: Int = 1) throws(ModelPressError) -> LoadedModel {
        let stdin = path == "-"
        let bytes = stdin ? try readStandardInput() : []
        let (header, size) = stdin ? (Array(bytes.prefix(8)), bytes.count) : try readHeader(path)
        if MPZ.hasMagic(header) || (!stdin && path.lowercased().hasSuffix(".mpz")) {
            do {
                let archive =
                    stdin
                    ? try MPZArchive(bytes: TensorBuffer(copying: bytes), name: path) : try MPZArchive(path: path)
                return try loadMPZ(archive, path: path, threads: threads)
            } catch let e as MPZError {
                throw ModelPressError(e.code == .unsupported ? .unsupported : .input, e.description, cause: e)
            } catch let e as ModelPressError {
                throw e
            } catch {
                throw ModelPressError(.input, "\(path): \(error)")
            }
        }
        switch format(ofPath: path, firstBytes: header) ?? .onnx {
        case .keras:
            do {
                let r = stdin ? try KerasReader.read(bytes: bytes, path: path) : try KerasReader.read(path: path)
                return LoadedModel(
                    path: path, model: r.model, diagnostics: r.diagnostics, fileBytes: size, keras: r.info)
            } catch {
                throw ModelPressError(
                    error.code == .unsupported ? .unsupported : .input, error.description, cause: error)
            }
        case .onnx:
            do {
                let r =
                    stdin
                    ? try ONNXReader.decode(bytes, path: path, baseDirectory: nil)
                    : try ONNXReader.read(path: path)
                return LoadedModel(
                    path: path, model: r.model, diagnostics: r.diagnostics, fileBytes: size,
                    externalFiles: r.externalFiles)
            } catch {
                throw ModelPressError(.input, error.description, cause: error)
            }
        }
    }

    /// Options for `write`.
    public struct WriteOptions: Sendable {
        /// Put every tensor of at least `externalThreshold` bytes in a side file `<output>.data`.
        public var externalData = false
        public var externalThreshold = 1024
        /// Files that must not be overwritten (the inputs).
        public var protectedPaths: [String] = []
        /// Keras: leave out the optimizer state.
        public var stripOptimizer = false
        public init() {}
    }

    /// Writes `model` to `path` (`-` for standard output) in the format its extension names
    /// (ONNX when it names none).
    public static func write(_ model: Model, to path: String, options: WriteOptions = .init()) throws(ModelPressError)
        -> WrittenModel
    {
        let fmt = path == "-" ? model.format : (format(ofPath: path, firstBytes: []) ?? .onnx)
        if fmt == .keras {
            return try writeKeras(model, to: path, options: options)
        }
        if options.stripOptimizer {
            throw ModelPressError(.usage, "--strip-optimizer applies to Keras outputs only")
        }
        if model.format == .keras {
            throw ModelPressError(
                .unsupported,
                "\(path): converting a Keras model to ONNX is not supported; write it as .h5 (or .keras) instead")
        }
        do {
            if path == "-" {
                guard !options.externalData else {
                    throw ModelPressError(.usage, "--external-data needs an output file, not standard output")
                }
                let bytes = try ONNXWriter.serialize(model)
                try writeStandardOutput(bytes)
                return WrittenModel(path: path, bytes: bytes.count, externalDataPath: nil, externalDataBytes: 0)
            }
            var o = ONNXWriteOptions()
            o.externalData = options.externalData ? .always : .automatic
            o.externalThreshold = options.externalThreshold
            o.protectedPaths = options.protectedPaths
            let r = try ONNXWriter.write(model, to: path, options: o)
            return WrittenModel(
                path: path, bytes: r.bytes, externalDataPath: r.externalDataPath, externalDataBytes: r.externalDataBytes
            )
        } catch let e as ONNXError {
            throw ModelPressError(.output, e.description, cause: e)
        } catch let e as ModelPressError {
            throw e
        } catch {
            throw ModelPressError(.output, "\(path): \(error)")
        }
    }

    private static func writeKeras(_ model: Model, to path: String, options: WriteOptions) throws(ModelPressError)
        -> WrittenModel
    {
        if options.externalData {
            throw ModelPressError(.usage, "--external-data applies to ONNX outputs only")
        }
        var o = KerasWriteOptions()
        o.stripOptimizer = options.stripOptimizer
        o.protectedPaths = options.protectedPaths
        do {
            if path == "-" {
                let bytes = try KerasWriter.serialize(model, options: o)
                try writeStandardOutput(bytes)
                return WrittenModel(path: path, bytes: bytes.count, externalDataPath: nil, externalDataBytes: 0)
            }
            let r = try KerasWriter.write(model, to: path, options: o)
            return WrittenModel(path: path, bytes: r.bytes, externalDataPath: nil, externalDataBytes: 0)
        } catch let e as KerasError {
            throw ModelPressError(e.code == .unsupported ? .unsupported : .output, e.description, cause: e)
        } catch let e as ModelPressError {
            throw e
        } catch {
            throw ModelPressError(.output, "\(path): \(error)")
        }
    }

    // MARK: Files

    /// The first bytes of the file at `path` (for format detection) and its size.
    static func readHeader(_ path: String) throws(ModelPressError) -> ([UInt8], Int) {
        do {
            return try Files.readPrefix(path, count: 8)
        } catch {
            throw ModelPressError(.input, error.description, cause: error)
        }
    }

    static func readStandardInput() throws(ModelPressError) -> [UInt8] {
        do {
            return try Files.readStandardInput()
        } catch {
            throw ModelPressError(.input, error.description, cause: error)
        }
    }

    static func writeStandardOutput(_ bytes: [UInt8]) throws(ModelPressError) {
        do {
            try Files.writeStandardOutput(bytes)
        } catch {
            throw ModelPressError(.output, error.description, cause: error)
        }
    }
}

extension ModelPress {
    /// Runs the passes `selection` names (a preset; `balanced` when it names none) over `model`. The result's
    /// tensors are in the encodings the passes chose: write it with `writeMPZ`, or `restored` for ONNX/Keras.
    public static func compress(
        _ model: Model, selection: PassSelection = .init(),
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) throws(ModelPressError) -> CompressedModel {
        let (_, recipe) = try selection.resolved()
        guard let recipe else { return CompressedModel(model: model, report: losslessReport(model), warnings: []) }
        let r = try compress(model, recipe: recipe, parallel: threads > 1)
        return CompressedModel(
            model: r.model, report: r.report,
            warnings: r.diagnostics.filter { $0.severity == .warning }.map { "\($0)" })
    }

    /// Writes `model` (as `compress` left it, or as read) as a `.mpz` file at `path` (`-`: standard output),
    /// never over one of `protectedPaths`. Returns the file's sections.
    public static func writeMPZ(
        _ model: Model, to path: String, protectedPaths: [String] = [],
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) throws(ModelPressError) -> MPZSummary {
        let info = PassSelection.mpzInfo(preset: nil, recipe: nil)
        let (image, summary) = try mpzImage(model, path: path, info: info, threads: threads)
        try writeMPZ(image, to: path, protectedPaths: protectedPaths)
        return summary
    }

    /// Runs `recipe`'s passes over `model`.
    static func compress(_ model: Model, recipe: Recipe, parallel: Bool = true) throws(ModelPressError)
        -> CompressionResult
    {
        do {
            return try PassManager(recipe: recipe, parallel: parallel).run(model)
        } catch {
            throw ModelPressError(
                error.code == .usage ? .usage : (error.code == .unsupported ? .unsupported : .input), error.description,
                cause: error)
        }
    }

    /// The compressed model with its weights decoded back to dense values, for ONNX and Keras writers.
    static func dequantized(_ result: CompressionResult) throws(ModelPressError) -> Model {
        do {
            return try result.dequantizedModel()
        } catch {
            throw ModelPressError(.unsupported, error.description, cause: error)
        }
    }
}

/// A model as the passes left it, with the per-tensor account of what each pass did.
public struct CompressedModel: Sendable {
    /// The model, its tensors in the encodings the passes chose.
    public var model: Model
    var report: Report
    /// Warnings of the passes, one line each.
    public var warnings: [String]

    /// The per-tensor table.
    public func tableText(showSkipped: Bool = false) -> String { report.renderText(showSkipped: showSkipped) }

    /// The per-tensor report as JSON (schemas/compression-report.schema.json).
    public func reportJSON() throws(ModelPressError) -> String { try ReportFile.json(report, what: "the report") }
}
