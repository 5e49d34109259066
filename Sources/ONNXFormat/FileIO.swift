import FileSystem
import ModelIR

/// The ONNX reader's and writer's use of the file-system layer (`FileSystem`): memory maps as tensor
/// buffers, output files, and its errors wrapped as `ONNXError`s that keep them as their cause.
enum FileIO {
    /// Maps the file at `path` read-only into memory, as a buffer that unmaps when released.
    ///
    /// Pages are read lazily, so a caller that touches only part of a large file pays only for that.
    static func map(_ path: String) throws(ONNXError) -> TensorBuffer {
        let file: MappedFile
        do {
            file = try Files.map(path)
        } catch {
            throw ONNXError(error)
        }
        guard let address = file.address else { return TensorBuffer(copying: []) }
        return TensorBuffer(adopting: address, count: file.count) { _ in withExtendedLifetime(file) {} }
    }

    /// The temporary file that becomes `path` when committed (see `AtomicFile`).
    static func create(_ path: String) throws(ONNXError) -> AtomicFile {
        do {
            return try AtomicFile(path: path)
        } catch {
            throw ONNXError(error)
        }
    }

    /// Renames a finished file into place (see `AtomicFile.commit()`).
    static func commit(_ file: consuming AtomicFile) throws(ONNXError) {
        do {
            try file.commit()
        } catch {
            throw ONNXError(error)
        }
    }

    /// Renames a side file, then the file naming it, into place; both stay as they were unless both can be
    /// (see `AtomicFile.commit(_:then:)`).
    static func commit(_ side: consuming AtomicFile, then main: consuming AtomicFile) throws(ONNXError) {
        do {
            try AtomicFile.commit(side, then: main)
        } catch {
            throw ONNXError(error)
        }
    }

    /// Folder part of `path` (`.` when it has none).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// File-name part of `path`.
    static func fileName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

extension ONNXError {
    /// An `.io` error for a failed file-system operation, naming its path and keeping it as the cause.
    init(_ cause: FileSystemError) {
        self.init(.io, path: cause.path, cause.detail, cause: cause)
    }
}
