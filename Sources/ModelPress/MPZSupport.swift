import Compression
import Dispatch
import Foundation
import MPZFormat
import ModelIR
import ONNXFormat

/// One tensor of a `.mpz` file: how it is stored and what it costs.
public struct MPZTensorSummary: Sendable, Codable, Hashable {
    public var name: String
    public var ordinal: Int
    public var dtype: String
    public var shape: [Int64]
    /// `linear 8-bit + huffman`, `palette 4-bit + huffman`, `planes`, `raw`, `reduced + planes`.
    public var encoding: String
    /// Bits per symbol for linear and palette chunks.
    public var bits: Int?
    /// The tensor's size as plain elements.
    public var denseBytes: Int
    /// Its chunk in the file (header and data).
    public var fileBytes: Int
}

/// What a `.mpz` file holds, section by section.
public struct MPZSummary: Sendable, Codable, Hashable {
    public var fileBytes: Int
    public var formatVersion: String
    /// `onnx` or `keras`: the format `decompress` restores.
    public var sourceFormat: String
    /// The graph section (structure, small tensors inline, and for Keras the file's structure record)
    /// decoded and as stored.
    public var graphBytes: Int
    public var graphStoredBytes: Int
    /// Keras: the part of `graphBytes` that is the HDF5 / zip structure record.
    public var containerBytes: Int?
    /// The info section: producer, preset, passes.
    public var info: [String: String]
    public var tensors: [MPZTensorSummary]
}

extension ModelPress {
    /// Tensors of at least this many elements get a chunk of their own (smaller ones stay in the graph).
    public static let chunkElements = 1024

    /// True when `t` gets a chunk: it is encoded, or it is a large (or externally stored) dense tensor.
    static func hasChunk(_ t: Tensor) -> Bool {
        switch t.storage {
        case .strings: return false
        case .dense:
            guard t.layout.segment == nil, t.dtype.bitWidth != nil, t.dtype != .string else { return false }
            return (t.elementCount ?? 0) >= chunkElements || t.layout.dataField == .external
        default: return true
        }
    }

    /// Encodes `model` (dense or as the passes left it) as a `.mpz` image; nothing is written yet.
    static func mpzImage(_ model: Model, path: String, info: [String: String], threads: Int)
        throws(ModelPressError) -> (MPZImage, MPZSummary)
    {
        var detached = Set<Int>()
        var tensors: [(ordinal: Int, name: String, tensor: Tensor)] = []
        var ordinal = 0
        model.visitTensors { _, t in
            if hasChunk(t) {
                detached.insert(ordinal)
                tensors.append((ordinal, t.name ?? "", t))
            }
            ordinal += 1
        }
        let graph: [UInt8]
        do {
            graph = try ONNXSkeleton.serialize(model, detached: detached)
        } catch {
            throw ModelPressError(.output, "\(path): cannot encode the graph: \(error.description)", cause: error)
        }
        let infoBytes = Array(jsonObject(info).utf8)
        let contents = MPZContents(
            sourceFormat: model.format, graph: graph, container: model.sourceContainer, info: infoBytes,
            tensors: tensors)
        let image: MPZImage
        do {
            image = try MPZWriter.image(contents, file: path, threads: threads)
        } catch {
            throw ModelPressError(error.code == .invalidInput ? .unsupported : .output, error.description, cause: error)
        }
        var summary = MPZSummary(
            fileBytes: image.fileSize, formatVersion: "\(MPZ.majorVersion).\(MPZ.minorVersion)",
            sourceFormat: model.format.rawValue, graphBytes: 0, graphStoredBytes: 0,
            containerBytes: model.sourceContainer.map { $0.bytes.count }, info: info, tensors: [])
        var chunk = 0
        for s in image.sections {
            switch s.kind {
            case .graph:
                summary.graphBytes = s.rawSize
                summary.graphStoredBytes = s.storedSize
            case .container, .info: break
            case .tensor:
                let t = tensors[chunk].tensor
                chunk += 1
                summary.tensors.append(
                    MPZTensorSummary(
                        name: t.name ?? "", ordinal: s.ordinal, dtype: t.dtype.name, shape: t.dims,
                        encoding: encodingText(t.storage, fallback: image, section: s), bits: symbolBits(t.storage),
                        denseBytes: s.rawSize, fileBytes: s.storedSize))
            }
        }
        return (image, summary)
    }

    /// Writes `image` to `path` (temporary file, then rename; `-` for standard output).
    static func writeMPZ(_ image: MPZImage, to path: String, protectedPaths: [String]) throws(ModelPressError) {
        do {
            try MPZWriter.write(image, to: path, protectedPaths: protectedPaths)
        } catch {
            throw ModelPressError(.output, error.description, cause: error)
        }
    }

    /// Reads a `.mpz` file: the model in its source format's IR with each tensor in the encoding the
    /// passes chose (Huffman-coded symbols decoded back to packed codes), plus the file's summary.
    static func loadMPZ(_ archive: MPZArchive, path: String, threads: Int) throws(ModelPressError) -> LoadedModel {
        func fail(_ e: MPZError) -> ModelPressError {
            ModelPressError(e.code == .unsupported ? .unsupported : .input, e.description, cause: e)
        }
        var model: Model
        var summary: MPZSummary
        do {
            let (graph, container) = try archive.structure()
            do {
                model = try ONNXSkeleton.decode(graph, name: path + ": graph section")
            } catch {
                throw ModelPressError(.input, error.description, cause: error)
            }
            model.format = archive.sourceFormat
            model.sourceContainer = container
            let infoBytes = try archive.info()
            let info = infoBytes.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0)) } ?? [:]
            summary = MPZSummary(
                fileBytes: archive.fileSize, formatVersion: "1.\(archive.minorVersion)",
                sourceFormat: archive.sourceFormat.rawValue,
                graphBytes: archive.sections.first { $0.kind == .graph }?.rawSize ?? graph.count,
                graphStoredBytes: archive.sections.first { $0.kind == .graph }?.storedSize ?? 0,
                containerBytes: container.map { $0.bytes.count }, info: info, tensors: [])
        } catch let e as MPZError {
            throw fail(e)
        } catch let e as ModelPressError {
            throw e
        } catch {
            throw ModelPressError(.input, "\(path): \(error)")
        }

        // Which tensors the graph says are in chunks, with their names, types and dims.
        var marked: [(ordinal: Int, name: String, dtype: DType, dims: [Int64])] = []
        var ordinal = 0
        model.forEachTensor { _, t in
            if ONNXSkeleton.takeMarker(&t) { marked.append((ordinal, t.name ?? "", t.dtype, t.dims)) }
            ordinal += 1
        }
        let chunks = archive.chunks
        guard marked.map(\.ordinal) == chunks.map(\.ordinal) else {
            let missing = Set(marked.map(\.ordinal)).symmetricDifference(chunks.map(\.ordinal)).sorted()
            throw ModelPressError(
                .input,
                "\(path): graph section: \(marked.count) tensors are stored in chunks but the index lists "
                    + "\(chunks.count); they differ at ordinal \(missing.first ?? -1); the file is damaged")
        }
        var decoded = [Result<(MPZChunkInfo, TensorStorage), MPZError>](
            repeating: .failure(MPZError(.corrupt, file: path, "not decoded")), count: chunks.count)
        let names = marked.map(\.name)
        // Chunks decode in parallel; with fewer chunks than threads, each splits its segments too.
        let perChunk = chunks.count < threads ? threads : 1
        decoded.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let slots = out
            let work: @Sendable (Int) -> Void = { i in
                let label = "chunk \(chunks[i].ordinal) (tensor '\(names[i])')"
                slots[i] = Result { () throws(MPZError) in
                    try archive.tensor(chunks[i], label: label, threads: perChunk)
                }
            }
            if threads > 1, chunks.count > 1 {
                DispatchQueue.concurrentPerform(iterations: chunks.count, execute: work)
            } else {
                for i in chunks.indices { work(i) }
            }
        }
        var storages: [Int: TensorStorage] = [:]
        for (i, r) in decoded.enumerated() {
            let (info, storage): (MPZChunkInfo, TensorStorage)
            do {
                (info, storage) = try r.get()
            } catch {
                throw fail(error)
            }
            let m = marked[i]
            guard info.dtype == m.dtype, info.dims == m.dims else {
                throw ModelPressError(
                    .input,
                    "\(path): chunk \(m.ordinal) (tensor '\(m.name)'): holds \(info.dtype.name) \(info.dims) but the "
                        + "graph says \(m.dtype.name) \(m.dims); the file is damaged")
            }
            storages[m.ordinal] = storage
            summary.tensors.append(
                MPZTensorSummary(
                    name: m.name, ordinal: m.ordinal, dtype: m.dtype.name, shape: m.dims, encoding: info.text,
                    bits: info.bits > 0 ? info.bits : nil, denseBytes: chunks[i].rawSize,
                    fileBytes: chunks[i].storedSize))
        }
        ordinal = 0
        model.forEachTensor { _, t in
            if let s = storages[ordinal] { t.storage = s }
            ordinal += 1
        }
        return LoadedModel(path: path, model: model, diagnostics: [], fileBytes: archive.fileSize, mpz: summary)
    }

    private static func symbolBits(_ s: TensorStorage) -> Int? {
        switch s {
        case .linearQuantized(let q): q.bits
        case .palettized(let p): p.bits
        case .entropyCoded(let e): symbolBits(e.inner.value)
        default: nil
        }
    }

    private static func encodingText(_ s: TensorStorage, fallback image: MPZImage, section: MPZSection) -> String {
        switch s {
        case .linearQuantized(let q): "linear \(q.bits)-bit"
        case .palettized(let p): "palette \(p.bits)-bit"
        case .entropyCoded(let e): encodingText(e.inner.value, fallback: image, section: section) + " + huffman"
        case .reducedPrecision(let r): "reduced \(r.storedType.name)"
        case .dense:
            switch image.payloads[image.sections.firstIndex(of: section)!].first {
            case 1: "planes"
            case 5: "context"
            default: "raw"
            }
        default: s.kind
        }
    }

    /// `{"a":"x","b":"y"}` with sorted keys (deterministic bytes).
    static func jsonObject(_ d: [String: String]) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(d)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

extension ModelPress {
    /// The report of a model compressed without passes (lossless preset).
    static func losslessReport(_ model: Model) -> Report { Report.unchanged(model) }

    /// Puts the `.mpz` file's sizes into `report`.
    static func fill(_ report: inout Report, with summary: MPZSummary) {
        var chunks: [Int: Int] = [:]
        var encodings: [Int: String] = [:]
        for t in summary.tensors {
            chunks[t.ordinal] = t.fileBytes
            encodings[t.ordinal] = t.encoding
        }
        report.recordFile(bytes: summary.fileBytes, chunks: chunks, encodings: encodings)
    }
}

extension ModelPress {
    /// `model` (as read from a `.mpz` file, or as the passes left it) made writable as `path`: the
    /// weights decoded, or for ONNX stored as `mode` says. Fails, before anything is written, when `path`
    /// asks for another format than the model's own.
    public static func restored(_ model: Model, to path: String, onnxWeights mode: ONNXWeights)
        throws(ModelPressError) -> (Model, [String])
    {
        let target = path == "-" ? model.format : (format(ofPath: path, firstBytes: []) ?? .onnx)
        guard target == model.format else {
            throw ModelPressError(
                .unsupported,
                "\(path): the model is \(model.format == .keras ? "a Keras model" : "an ONNX model"); it can only be "
                    + "restored as \(model.format == .keras ? ".h5, .hdf5 or .keras" : ".onnx")")
        }
        if model.format == .keras {
            guard mode == .float else {
                throw ModelPressError(
                    .usage, "--onnx-weights \(mode.rawValue) applies to ONNX outputs; Keras files keep float weights")
            }
            do {
                return (try Dequantizer.dense(model), [])
            } catch {
                throw ModelPressError(.unsupported, "\(path): \(error.description)", cause: error)
            }
        }
        return try onnxWeights(model, as: mode)
    }
}
