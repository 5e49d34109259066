import FileSystem
import ModelIR

/// Reads tensors kept in side files, confined to the model's folder.
///
/// A location must be relative, must not contain `..`, and must resolve (symlinks included) to a
/// regular file inside the model's folder; the declared offset and length must lie inside the file
/// and match the tensor's declared size. Anything else is refused with an `.externalData` error.
struct ExternalDataReader {
    let directory: String
    private var realDirectory: String?
    private(set) var uses: [ExternalFileUse] = []
    /// Each side file is mapped once; tensors are zero-copy slices of the mapping.
    private var mapped: [String: TensorBuffer] = [:]

    init(directory: String) {
        self.directory = directory
        self.realDirectory = Files.realPath(directory)
    }

    mutating func load(_ entries: [MetadataEntry], expectedBytes: Int, modelPath: String, tensor: String)
        throws(ONNXError) -> TensorBuffer
    {
        func fail(_ message: String) -> ONNXError {
            ONNXError(.externalData, path: modelPath, message, at: tensor)
        }
        var location: String?
        var offset = 0
        var length: Int?
        for e in entries {
            switch e.key {
            case "location": location = e.value
            case "offset":
                guard let v = e.value.flatMap({ Int($0) }), v >= 0 else {
                    throw fail("has external-data offset '\(e.value ?? "")', which is not a non-negative integer")
                }
                offset = v
            case "length":
                guard let v = e.value.flatMap({ Int($0) }), v >= 0 else {
                    throw fail("has external-data length '\(e.value ?? "")', which is not a non-negative integer")
                }
                length = v
            default: break
            }
        }
        guard let location, !location.isEmpty else { throw fail("is marked external but names no location") }
        guard !location.hasPrefix("/"), !location.contains("\0") else {
            throw fail(
                "names external data at absolute path '\(location)'; locations must be relative to the model's folder")
        }
        guard !location.split(separator: "/").contains("..") else {
            throw fail("names external data '\(location)', which leaves the model's folder through '..'")
        }
        guard let root = realDirectory else { throw fail("the model's folder '\(directory)' cannot be resolved") }
        let joined = directory + "/" + location
        guard let resolved = Files.realPath(joined) else {
            throw fail("needs external data file '\(location)', which does not exist next to the model")
        }
        guard resolved.hasPrefix(root == "/" ? "/" : root + "/") else {
            throw fail(
                "names external data '\(location)', which resolves (through a symlink) outside the model's folder")
        }
        let file: TensorBuffer
        if let m = mapped[resolved] {
            file = m
        } else {
            file = try FileIO.map(resolved)
            mapped[resolved] = file
        }
        let size = file.count
        let count = length ?? (size - offset)
        guard count == expectedBytes else {
            let declared =
                length.map { "declares \($0) bytes" }
                ?? "has \(count) bytes from offset \(offset) to the end of the file"
            throw fail(
                "\(declared) of external data in '\(location)', but its type and shape need \(expectedBytes) bytes")
        }
        let (end, overflow) = offset.addingReportingOverflow(count)
        guard !overflow, offset <= size, end <= size else {
            throw fail(
                "needs bytes \(offset)..<\(end) of '\(location)', but that file has only \(size) bytes (shorter than declared)"
            )
        }
        let buffer = TensorBuffer(slice: offset..<end, of: file)
        if let i = uses.firstIndex(where: { $0.location == location }) {
            uses[i].tensorCount += 1
            uses[i].bytes += count
        } else {
            uses.append(ExternalFileUse(location: location, tensorCount: 1, bytes: count))
        }
        return buffer
    }
}
