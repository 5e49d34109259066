import FileSystem
import Foundation
import ModelIR

/// Options for `KerasWriter`.
public struct KerasWriteOptions: Sendable {
    /// Leave out the optimizer state (`/optimizer_weights`, or `optimizer/` in Keras 3 weights files).
    /// The model still loads; training resumes with a fresh optimizer.
    public var stripOptimizer = false
    /// Files that must not be overwritten (the inputs).
    public var protectedPaths: [String] = []
    public init() {}
}

/// What a write produced.
public struct KerasWriteResult: Sendable {
    public var path: String
    public var bytes: Int
}

/// Writes a model read from a Keras file back as that kind of file (`.h5`/`.hdf5`/`.weights.h5`, or a
/// `.keras` zip), re-creating every group, attribute and dataset the source had, with the weights taken
/// from the IR's tensors.
///
/// Output goes to a temporary file next to the destination, renamed into place when complete: a failed
/// write leaves nothing behind. The bytes are the same for the same model (no timestamps are added).
public enum KerasWriter {
    /// Writes `model` to `path`.
    public static func write(_ model: Model, to path: String, options: KerasWriteOptions = .init()) throws(KerasError)
        -> KerasWriteResult
    {
        let (doc, tree) = try prepare(model, path: path, options: options)
        if Files.isSameFile(path, asAnyOf: options.protectedPaths) {
            throw KerasError(
                .io, path: path, "is an input of this run; refusing to overwrite it (choose another output name)")
        }
        // Dropped without `commit` (any throw below), the temporary file is removed.
        var output = try KerasFiles.create(path)
        if doc.kind == "keras-zip" {
            let archive = try KerasZip.archive(
                entries: doc.zipEntries ?? [], weights: try HDF5.writeTreeImage(tree), path: path)
            do {
                try output.write(archive)
            } catch {
                throw KerasError(error)
            }
        } else {
            // libhdf5 creates (truncates) and writes the temporary file through its own handle.
            let temporary = output.temporaryPath
            do {
                try HDF5.writeTree(tree, to: temporary)
            } catch {
                throw error.naming(path, insteadOf: temporary)
            }
        }
        try KerasFiles.commit(output)
        return KerasWriteResult(path: path, bytes: Files.size(ofFileAt: path) ?? 0)
    }

    /// The file's bytes, for standard output.
    public static func serialize(_ model: Model, path: String = "-", options: KerasWriteOptions = .init())
        throws(KerasError) -> [UInt8]
    {
        let (doc, tree) = try prepare(model, path: path, options: options)
        let image = try HDF5.writeTreeImage(tree)
        guard doc.kind == "keras-zip" else { return image }
        return try KerasZip.archive(entries: doc.zipEntries ?? [], weights: image, path: path)
    }

    /// Checks everything that can fail before a byte is written, and builds the tree to write.
    static func prepare(_ model: Model, path: String, options: KerasWriteOptions) throws(KerasError) -> (
        ContainerDoc, H5Tree
    ) {
        guard let container = model.sourceContainer else {
            throw KerasError(
                .unsupported, path: path,
                "writing a Keras file needs a model read from a Keras file; this one was read from "
                    + "\(model.format.rawValue) (write it as .onnx instead)")
        }
        let doc = try ContainerDoc.decode(container, path: path)
        let lower = path.lowercased()
        if path != "-" {
            if doc.kind == "keras-zip", !lower.hasSuffix(".keras") {
                throw KerasError(
                    .unsupported, path: path,
                    "the model came from a .keras archive; write it with the .keras extension")
            }
            if doc.kind == "hdf5", lower.hasSuffix(".keras") {
                throw KerasError(
                    .unsupported, path: path,
                    "the model came from an HDF5 file; write it as .h5 (building a .keras archive from it is not supported)"
                )
            }
        }
        var tensors: [String: Tensor] = [:]
        for t in model.graph.initializers {
            guard let n = t.name else { continue }
            tensors[n] = t
        }
        var builder = TreeJoiner(tensors: tensors, path: path, stripOptimizer: options.stripOptimizer)
        let root = try builder.group(doc.tree.root, at: "/")
        if let extra = tensors.keys.sorted().first(where: {
            !builder.used.contains($0) && !builder.stripped.contains($0)
        }) {
            throw KerasError(
                .unsupported, path: path,
                "tensor '\(extra)' has no place in the Keras file (it was not read from it); "
                    + "Keras files can only carry the weights they were read with")
        }
        return (doc, H5Tree(root: root, encodedFileCreationProperties: [UInt8](doc.tree.fileCreation)))
    }
}

/// Rebuilds an `H5Tree` from a container document and the IR's tensors.
struct TreeJoiner {
    var tensors: [String: Tensor]
    var path: String
    var stripOptimizer: Bool
    private(set) var used = Set<String>()
    private(set) var stripped = Set<String>()

    init(tensors: [String: Tensor], path: String, stripOptimizer: Bool) {
        self.tensors = tensors
        self.path = path
        self.stripOptimizer = stripOptimizer
    }

    static let optimizerGroups: Set<String> = ["/optimizer_weights", "/optimizer"]

    mutating func group(_ g: ContainerDoc.GroupDoc, at groupPath: String) throws(KerasError) -> H5Group {
        var children: [H5Node] = []
        for c in g.children {
            if let sub = c.group {
                let p = groupPath == "/" ? "/" + sub.name : groupPath + "/" + sub.name
                if stripOptimizer, Self.optimizerGroups.contains(p) {
                    collectStripped(sub, at: p)
                    continue
                }
                children.append(.group(try group(sub, at: p)))
            } else if let d = c.dataset {
                let p = groupPath == "/" ? "/" + d.name : groupPath + "/" + d.name
                children.append(.dataset(try dataset(d, at: p)))
            }
        }
        var out = H5Group(
            name: g.name, attributes: g.attributes.map(\.attribute), children: children,
            encodedCreationProperties: [UInt8](g.creation))
        out.linkOrder = g.linksByCreation == true ? .creation : .name
        out.attributeOrder = g.attributesByCreation == true ? .creation : .name
        out.nameIsUTF8 = g.utf8 ?? false
        return out
    }

    private mutating func collectStripped(_ g: ContainerDoc.GroupDoc, at groupPath: String) {
        for c in g.children {
            if let sub = c.group {
                collectStripped(sub, at: groupPath + "/" + sub.name)
            } else if let t = c.dataset?.tensor {
                stripped.insert(t)
            }
        }
    }

    private mutating func dataset(_ d: ContainerDoc.DatasetDoc, at datasetPath: String) throws(KerasError) -> H5Dataset
    {
        let type = d.type.info
        let space = d.space.space
        let value: H5Value
        if let name = d.tensor {
            guard let t = tensors[name] else {
                throw KerasError(
                    .inconsistent, path: path,
                    "the model has no tensor for dataset \(datasetPath); a Keras file must keep every weight it had",
                    at: datasetPath)
            }
            guard let want = KerasDTypes.dtype(of: type), want == t.dtype else {
                throw KerasError(
                    .unsupported, path: path,
                    "tensor '\(name)' is \(t.dtype.name) but the dataset stores "
                        + "\(KerasDTypes.dtype(of: type)?.name ?? "another type"); Keras files keep each weight's type",
                    at: datasetPath)
            }
            let dims = space.kind == .scalar ? [] : space.dims.map { Int64($0) }
            guard dims == t.dims else {
                throw KerasError(
                    .inconsistent, path: path,
                    "tensor '\(name)' has shape \(t.dimsText) but the dataset has shape "
                        + (dims.isEmpty ? "scalar" : dims.map(String.init).joined(separator: "x")),
                    at: datasetPath)
            }
            guard case .dense(let buffer) = t.storage else {
                throw KerasError(
                    .unsupported, path: path,
                    "tensor '\(name)' is stored \(t.storage.kind); Keras files hold plain weights, so dequantize it "
                        + "first (or write .mpz)",
                    at: datasetPath)
            }
            used.insert(name)
            value = .raw(buffer)
        } else if let s = d.strings {
            value = .variableStrings(s.map { [UInt8]($0) })
        } else {
            value = .raw(TensorBuffer(copying: [UInt8](d.raw ?? Data())))
        }
        let layout: H5Dataset.Layout =
            switch d.layout {
            case "compact": .compact
            case "chunked": .chunked(chunk: d.chunk ?? [], filters: d.filters ?? [])
            case "virtual": .virtual
            default: .contiguous
            }
        var out = H5Dataset(
            name: d.name, attributes: d.attributes.map(\.attribute), type: type, space: space,
            encodedCreationProperties: [UInt8](d.creation), layout: layout, value: value)
        out.attributeOrder = d.attributesByCreation == true ? .creation : .name
        out.nameIsUTF8 = d.utf8 ?? false
        return out
    }
}

/// KerasHDF5's use of the file-system layer (`FileSystem`): inputs and output files, with its errors
/// wrapped as `KerasError`s that keep them as their cause.
enum KerasFiles {
    /// The regular file at `path`, open for reading.
    static func open(_ path: String) throws(KerasError) -> ReadableFile {
        do {
            return try ReadableFile(path: path)
        } catch {
            throw KerasError(error)
        }
    }

    /// The temporary file that becomes `path` when committed (see `AtomicFile`).
    static func create(_ path: String) throws(KerasError) -> AtomicFile {
        do {
            return try AtomicFile(path: path)
        } catch {
            throw KerasError(error)
        }
    }

    /// Syncs the finished file and renames it into place.
    static func commit(_ file: consuming AtomicFile) throws(KerasError) {
        do {
            try file.commit()
        } catch {
            throw KerasError(error)
        }
    }
}

extension KerasError {
    /// An `.io` error for a failed file-system operation, naming its path and keeping it as the cause.
    init(_ cause: FileSystemError) {
        self.init(.io, path: cause.path, cause.detail, cause: cause)
    }

    /// This error with `path` in place of `temporary` (a write's temporary file), in the path and in
    /// libhdf5's own text, so the user is told about the file they named.
    func naming(_ path: String, insteadOf temporary: String) -> KerasError {
        var e = self
        if e.path == temporary || e.path.isEmpty { e.path = path }
        e.message = e.message.replacingOccurrences(of: temporary, with: path)
        return e
    }
}
