import SystemPackage

/// Reading, checking and identifying files; writing standard output. Atomic writes are `AtomicFile`.
///
/// Every input is opened with `O_NONBLOCK` and checked with `fstat` before a byte is read, so a folder,
/// FIFO or device given as a model file is refused at once as not a regular file instead of blocking.
/// Every failure is a `FileSystemError` naming the path, the system call and its `errno`.
public enum Files {
    /// A file's identity (device, inode): two paths with the same identity name the same file.
    public struct Identity: Hashable, Sendable {
        public var device: UInt64
        public var inode: UInt64
    }

    /// The whole regular file at `path`. O(file size).
    public static func readAll(_ path: String, file: String = #fileID, line: Int = #line) throws(FileSystemError)
        -> [UInt8]
    {
        let location = FileSystemError.SourceLocation(file: file, line: line)
        let (fd, size) = try openRegularFile(path, location: location)
        defer { try? fd.close() }
        return try readToEnd(fd, sizeHint: size + 1, path: path, location: location)
    }

    /// Everything on standard input, up to end of file. O(input size).
    public static func readStandardInput(file: String = #fileID, line: Int = #line) throws(FileSystemError)
        -> [UInt8]
    {
        try readToEnd(
            .standardInput, sizeHint: 1 << 20, path: "-", location: .init(file: file, line: line))
    }

    /// The first `count` bytes of the regular file at `path` (fewer if the file is shorter), for format
    /// sniffing, and the file's size.
    public static func readPrefix(_ path: String, count: Int, file: String = #fileID, line: Int = #line)
        throws(FileSystemError) -> (bytes: [UInt8], fileSize: Int)
    {
        let input = try ReadableFile(path: path, file: file, line: line)
        return (try input.read(at: 0, count: count), input.size)
    }

    /// The regular file at `path`, mapped read-only (pages are read when touched).
    public static func map(_ path: String, file: String = #fileID, line: Int = #line) throws(FileSystemError)
        -> MappedFile
    {
        let location = FileSystemError.SourceLocation(file: file, line: line)
        let (fd, size) = try openRegularFile(path, location: location)
        defer { try? fd.close() }
        guard size > 0 else { return MappedFile(address: nil, count: 0) }
        switch Syscalls.mapReadOnly(fd, count: size) {
        case .success(let address): return MappedFile(address: address, count: size)
        case .failure(let errno):
            throw FileSystemError(errno, path: path, operation: .mmap, "cannot map into memory", location: location)
        }
    }

    /// Checks that `path` is a regular file that can be opened for reading, and returns its size.
    @discardableResult
    public static func checkRegularFile(_ path: String, file: String = #fileID, line: Int = #line)
        throws(FileSystemError) -> Int
    {
        let (fd, size) = try openRegularFile(path, location: .init(file: file, line: line))
        try? fd.close()
        return size
    }

    /// The size of the file at `path`, or nil when it cannot be examined.
    public static func size(ofFileAt path: String) -> Int? {
        (try? Stat(FilePath(path))).map { Int($0.size) }
    }

    /// The identity of the file at `path` (symlinks followed), or nil when there is none.
    public static func identity(_ path: String) -> Identity? {
        guard let st = try? Stat(FilePath(path)) else { return nil }
        return Identity(device: UInt64(st.deviceID.rawValue), inode: UInt64(st.inode.rawValue))
    }

    /// True when `path` names an existing file that one of `others` names too (through links or other
    /// spellings): writing to `path` would destroy that input.
    public static func isSameFile(_ path: String, asAnyOf others: [String]) -> Bool {
        guard let id = identity(path) else { return false }
        return others.contains { identity($0) == id }
    }

    /// The canonical absolute path (symlinks resolved), or nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        try? Syscalls.realPath(FilePath(path)).get()
    }

    /// Writes all of `bytes` to standard output, retrying short and interrupted writes.
    public static func writeStandardOutput(_ bytes: UnsafeRawBufferPointer, file: String = #fileID, line: Int = #line)
        throws(FileSystemError)
    {
        do {
            try FileDescriptor.standardOutput.writeAll(bytes)
        } catch {
            throw FileSystemError(
                Syscalls.failure(error), path: "-", operation: .write, "cannot write to standard output",
                location: .init(file: file, line: line))
        }
    }

    /// Writes all of `bytes` to standard output.
    public static func writeStandardOutput(_ bytes: [UInt8], file: String = #fileID, line: Int = #line)
        throws(FileSystemError)
    {
        var failure: FileSystemError?
        bytes.withUnsafeBytes { p in
            do throws(FileSystemError) {
                try writeStandardOutput(p, file: file, line: line)
            } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Opens `path` read-only and non-blocking, and checks that it is a regular file; returns it with its size.
    static func openRegularFile(_ path: String, location: FileSystemError.SourceLocation) throws(FileSystemError)
        -> (FileDescriptor, Int)
    {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.nonBlocking, .closeOnExec])
        } catch {
            throw FileSystemError(
                Syscalls.failure(error), path: path, operation: .open, "cannot open", location: location)
        }
        let st: Stat
        do {
            st = try Stat(fd)
        } catch {
            try? fd.close()
            throw FileSystemError(error, path: path, operation: .stat, "cannot read", location: location)
        }
        guard st.type == .regular else {
            try? fd.close()
            throw FileSystemError(
                .notRegularFile, path: path, operation: .stat,
                "is not a regular file", location: location)
        }
        return (fd, Int(st.size))
    }

    /// Reads `fd` to end of file, growing the buffer as needed. O(bytes read).
    static func readToEnd(
        _ fd: FileDescriptor, sizeHint: Int, path: String, location: FileSystemError.SourceLocation
    ) throws(FileSystemError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(sizeHint, 1))
        var used = 0
        while true {
            if used == out.count { out.append(contentsOf: repeatElement(0, count: out.count)) }
            let n: Int
            do {
                n = try out.withUnsafeMutableBytes {
                    try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[used...]))
                }
            } catch {
                throw FileSystemError(
                    Syscalls.failure(error), path: path, operation: .read, "cannot read", location: location)
            }
            if n == 0 { break }
            used += n
        }
        out.removeLast(out.count - used)
        return out
    }
}

/// A regular file mapped read-only into memory; unmapped when the last reference goes.
///
/// `address` is nil for an empty file. The bytes stay valid and unchanged while this object lives
/// (`MAP_PRIVATE`: later writes to the file by others may or may not show, as POSIX allows).
public final class MappedFile: @unchecked Sendable {
    public let address: UnsafeMutableRawPointer?
    public let count: Int

    init(address: UnsafeMutableRawPointer?, count: Int) {
        self.address = address
        self.count = count
    }

    deinit {
        if let address { Syscalls.unmap(address, count: count) }
    }
}
