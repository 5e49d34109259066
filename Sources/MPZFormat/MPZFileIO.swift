import ModelIR

#if canImport(Glibc)
    import Glibc
#endif

/// The few file operations `.mpz` needs, over libc: map a file, write one atomically.
enum MPZFileIO {
    static func errorText() -> String { String(cString: strerror(errno)) }

    /// The file at `path`, memory-mapped read-only; unmapped when the buffer dies.
    static func map(_ path: String) throws(MPZError) -> TensorBuffer {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MPZError(.io, file: path, "cannot open: \(errorText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw MPZError(.io, file: path, "is not a regular file")
        }
        let size = Int(st.st_size)
        guard size > 0 else { return TensorBuffer(copying: []) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw MPZError(.io, file: path, "cannot map: \(errorText())")
        }
        return TensorBuffer(adopting: p, count: size) { munmap($0, size) }
    }

    /// (device, inode) of an existing file.
    static func identity(_ path: String) -> (UInt64, UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    static func checkNotInput(_ path: String, protectedPaths: [String]) throws(MPZError) {
        guard let out = identity(path) else { return }
        for p in protectedPaths {
            if let id = identity(p), id == out {
                throw MPZError(.io, file: path, "is an input of this command; choose another output name")
            }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(MPZError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw MPZError(.io, file: path, "cannot write: \(errorText())")
            }
            done += n
        }
    }

    /// A temporary file next to the destination, renamed onto it by `commit`.
    final class AtomicFile {
        let path: String
        let temporary: String
        private var fd: Int32
        private var buffer: [UInt8] = []

        init(_ path: String) throws(MPZError) {
            self.path = path
            let slash = path.lastIndex(of: "/")
            let dir = slash.map { String(path[...$0]) } ?? ""
            let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
            var template = Array((dir + "." + base + ".tmp-XXXXXX").utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else { throw MPZError(.io, file: path, "cannot create a temporary file: \(errorText())") }
            self.fd = fd
            temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            fchmod(fd, 0o644 & ~MPZFileIO.umaskValue)
            buffer.reserveCapacity(1 << 20)
        }

        func write(_ bytes: UnsafeRawBufferPointer) throws(MPZError) {
            if buffer.count + bytes.count > 1 << 20 { try flush() }
            if bytes.count >= 1 << 20 {
                try MPZFileIO.writeAll(fd, bytes, path: temporary)
            } else {
                buffer.append(contentsOf: bytes)
            }
        }

        private func flush() throws(MPZError) {
            let p = buffer.withUnsafeBytes { $0 }
            try withExtendedLifetime(buffer) { () throws(MPZError) in try MPZFileIO.writeAll(fd, p, path: temporary) }
            buffer.removeAll(keepingCapacity: true)
        }

        func commit() throws(MPZError) {
            try flush()
            guard close(fd) == 0 else {
                fd = -1
                throw MPZError(.io, file: path, "cannot write: \(errorText())")
            }
            fd = -1
            guard rename(temporary, path) == 0 else {
                throw MPZError(.io, file: path, "cannot rename the temporary file into place: \(errorText())")
            }
        }

        func abandon() {
            if fd >= 0 { close(fd) }
            fd = -1
            unlink(temporary)
        }

        deinit { if fd >= 0 { abandon() } }
    }

    /// Bytes of physical memory (a bound on any tensor a reader will decode).
    static let physicalMemory: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: size)
        return overflow ? Int.max : bytes
    }()

    /// The process umask, read without changing it for long.
    static var umaskValue: mode_t {
        let m = umask(0o022)
        umask(m)
        return m
    }
}
