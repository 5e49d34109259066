import ModelIR

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small, checked wrappers over the POSIX file calls the ONNX reader and writer need.
enum FileIO {
    /// Maps the file at `path` read-only into memory, as a buffer that unmaps when released.
    ///
    /// Pages are read lazily, so a caller that touches only part of a large file pays only for that.
    static func map(_ path: String) throws(ONNXError) -> TensorBuffer {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError(path, "cannot open") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError(path, "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw ONNXError(.io, path: path, "is not a regular file")
        }
        let size = Int(st.st_size)
        guard size > 0 else { return TensorBuffer(copying: []) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw ioError(path, "cannot map into memory")
        }
        return TensorBuffer(adopting: p, count: size) { munmap($0, size) }
    }

    /// The canonical absolute path (symlinks resolved), or nil when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
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

    /// Identity of an existing file (device, inode), to detect that two paths name the same file.
    static func identity(_ path: String) -> (UInt64, UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    static func ioError(_ path: String, _ what: String) -> ONNXError {
        let reason = String(cString: strerror(errno))
        return ONNXError(.io, path: path, "\(what): \(reason)")
    }
}

/// A file being written under a temporary name next to its destination, renamed into place by
/// `commit()` and removed if dropped uncommitted, so no half-written output is ever left behind.
final class AtomicOutputFile {
    let path: String
    let temporaryPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var committed = false
    private(set) var bytesWritten = 0
    /// First write error, reported by `commit()` (the pack callback cannot throw).
    private var failure: ONNXError?

    init(path: String) throws(ONNXError) {
        self.path = path
        let dir = FileIO.directory(of: path)
        let name = FileIO.fileName(of: path)
        var tmp = ""
        var fd: Int32 = -1
        for attempt in 0..<100 {
            tmp = dir + "/." + name + ".tmp-\(getpid())-\(attempt)"
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw FileIO.ioError(path, "cannot create a temporary file in \(dir)") }
        self.fd = fd
        self.temporaryPath = tmp
        buffer.reserveCapacity(1 << 20)
    }

    /// Appends bytes. Large runs go straight to the file; small ones are gathered first.
    func write(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, bytes.count > 0 else { return }
        bytesWritten += bytes.count
        if buffer.count + bytes.count > (1 << 20) { flush() }
        if bytes.count >= (1 << 20) {
            writeOut(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    func write(_ bytes: [UInt8]) { bytes.withUnsafeBytes { write($0) } }

    /// Pads with zeros to a multiple of `alignment`.
    func pad(to alignment: Int) {
        let r = bytesWritten % alignment
        if r != 0 { write([UInt8](repeating: 0, count: alignment - r)) }
    }

    private func flush() {
        guard !buffer.isEmpty else { return }
        let b = buffer
        buffer.removeAll(keepingCapacity: true)
        b.withUnsafeBytes { writeOut($0) }
    }

    private func writeOut(_ bytes: UnsafeRawBufferPointer) {
        var done = 0
        while done < bytes.count, failure == nil {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                failure = FileIO.ioError(path, "cannot write")
                return
            }
            done += n
        }
    }

    /// Flushes, closes and renames the file into place.
    func commit() throws(ONNXError) {
        flush()
        if let failure { throw failure }
        guard fsync(fd) == 0 || errno == EINVAL else { throw FileIO.ioError(path, "cannot sync") }
        guard close(fd) == 0 else {
            fd = -1
            throw FileIO.ioError(path, "cannot close")
        }
        fd = -1
        guard rename(temporaryPath, path) == 0 else { throw FileIO.ioError(path, "cannot rename into place") }
        committed = true
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(temporaryPath) }
    }
}
