import SystemPackage

/// A file written under a unique temporary name in its target's folder and renamed onto the target by
/// `commit()`, so the target is either left as it was or replaced by the complete new file.
///
/// `commit()` flushes, `fsync`s the file, closes it, renames it onto the target and `fsync`s the folder.
/// Dropping an `AtomicFile` without committing it (a writer that throws, a failed check), or any failure in
/// `commit()` before the rename, removes the temporary file: nothing half-written is ever left behind.
///
/// The temporary file is created with `O_CREAT | O_EXCL` and mode `0o666`, which the kernel reduces by the
/// process umask (as for any file `open(2)` creates). Writes are gathered in a 1 MiB buffer; runs of a
/// megabyte or more go straight to the file.
///
/// A writer that owns its own file handle (libhdf5's `H5Fcreate`) writes to `temporaryPath` instead and
/// calls `commit()` when done: the `fsync` here goes to the same file.
public struct AtomicFile: ~Copyable {
    /// The file this one replaces when committed.
    public let path: String
    /// The temporary file, in `path`'s folder: `.<name>.tmp-<pid>-<random>`.
    public let temporaryPath: String
    /// Bytes accepted by `write` so far (buffered ones included).
    public private(set) var bytesWritten = 0
    /// The first write failure; every later `write` and `commit()` throws it again.
    public private(set) var failure: FileSystemError?

    private var descriptor: FileDescriptor?
    private var buffer: [UInt8] = []
    private var renamed = false
    private let folder: FilePath
    private let location: FileSystemError.SourceLocation

    static let bufferSize = 1 << 20

    /// Creates the temporary file for `path`. Throws when `path`'s folder does not exist or is not writable.
    public init(path: String, file: String = #fileID, line: Int = #line) throws(FileSystemError) {
        let location = FileSystemError.SourceLocation(file: file, line: line)
        let target = FilePath(path)
        guard let name = target.lastComponent, name.kind == .regular else {
            throw FileSystemError(
                .notRegularFile, path: path, operation: .open, "is not a file name", location: location)
        }
        let parent = target.removingLastComponent()
        let folder: FilePath = parent.isEmpty ? "." : parent
        let (fd, temporary) = try Self.createTemporary(
            for: name.string, in: folder, path: path, location: location)
        self.descriptor = fd
        self.temporaryPath = temporary.string
        self.path = path
        self.folder = folder
        self.location = location
        buffer.reserveCapacity(Self.bufferSize)
    }

    /// Creates `.<name>.tmp-<pid>-<random>` in `folder`, exclusively (a name already taken is skipped).
    private static func createTemporary(
        for name: String, in folder: FilePath, path: String, location: FileSystemError.SourceLocation
    ) throws(FileSystemError) -> (FileDescriptor, FilePath) {
        var attempt = 0
        while true {
            let tag = String(UInt64.random(in: .min ... .max), radix: 36)
            let temporary = folder.appending(".\(name).tmp-\(Syscalls.processID())-\(tag)")
            do {
                let fd = try FileDescriptor.open(
                    temporary, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
                    permissions: FilePermissions(rawValue: 0o666))
                return (fd, temporary)
            } catch {
                let errno = Syscalls.failure(error)
                attempt += 1
                if errno == .fileExists, attempt < 100 { continue }
                throw FileSystemError(
                    errno, path: path, operation: .open, "cannot create a temporary file in \(folder)",
                    location: location)
            }
        }
    }

    /// Appends `bytes`. After a failure, throws that failure again without writing.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        if let failure { throw failure }
        guard !bytes.isEmpty else { return }
        if buffer.count + bytes.count > Self.bufferSize { try flush() }
        if bytes.count >= Self.bufferSize {
            try writeOut(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
        bytesWritten += bytes.count
    }

    /// Appends `bytes`.
    public mutating func write(_ bytes: [UInt8]) throws(FileSystemError) {
        var result: FileSystemError?
        bytes.withUnsafeBytes { p in
            do throws(FileSystemError) { try write(p) } catch { result = error }
        }
        if let result { throw result }
    }

    /// Appends `count` zero bytes.
    public mutating func writeZeros(_ count: Int) throws(FileSystemError) {
        guard count > 0 else { return }
        try write([UInt8](repeating: 0, count: count))
    }

    /// Writes out the buffered bytes.
    private mutating func flush() throws(FileSystemError) {
        if let failure { throw failure }
        guard !buffer.isEmpty, let fd = descriptor else { return }
        let status = buffer.withUnsafeBytes { Self.writeAll(fd, $0) }
        buffer.removeAll(keepingCapacity: true)
        if let status { throw record(status, .write, "cannot write") }
    }

    private mutating func writeOut(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        guard let fd = descriptor else { return }
        if let status = Self.writeAll(fd, bytes) { throw record(status, .write, "cannot write") }
    }

    /// Writes all of `bytes`, retrying short and interrupted writes.
    private static func writeAll(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer) -> Errno? {
        do {
            try fd.writeAll(bytes)
            return nil
        } catch {
            return Syscalls.failure(error)
        }
    }

    private mutating func record(_ errno: Errno, _ operation: FileSystemError.Operation, _ message: String)
        -> FileSystemError
    {
        let error = FileSystemError(errno, path: path, operation: operation, message, location: location)
        if failure == nil { failure = error }
        return error
    }

    /// Flushes, syncs and closes the file, renames it onto `path`, and syncs the folder.
    ///
    /// Any failure before the rename removes the temporary file and leaves `path` as it was; a failure to
    /// sync the folder after the rename is reported too (the new file is in place but may not survive a
    /// crash).
    public consuming func commit() throws(FileSystemError) {
        try flush()
        guard let fd = descriptor else { return }
        descriptor = nil
        // EINVAL: a file system that cannot sync this file; its data is as safe as it can be made.
        if let e = Syscalls.fsync(fd), e != .invalidArgument {
            try? fd.close()
            throw record(e, .fsync, "cannot sync to disk")
        }
        do {
            try fd.close()
        } catch {
            throw record(Syscalls.failure(error), .close, "cannot write")
        }
        if let e = Syscalls.rename(FilePath(temporaryPath), FilePath(path)) {
            throw record(e, .rename, "cannot move the finished file into place")
        }
        renamed = true
        try syncFolder()
    }

    /// `fsync`s the folder so the rename itself is on disk.
    private func syncFolder() throws(FileSystemError) {
        let directory: FileDescriptor
        do {
            directory = try FileDescriptor.open(folder, .readOnly, options: [.directory, .closeOnExec])
        } catch {
            throw FileSystemError(
                Syscalls.failure(error), path: folder.string, operation: .open, "cannot open the folder to sync it",
                location: location)
        }
        defer { try? directory.close() }
        if let e = Syscalls.fsync(directory), e != .invalidArgument {
            throw FileSystemError(e, path: folder.string, operation: .fsync, "cannot sync to disk", location: location)
        }
    }

    deinit {
        if let descriptor { try? descriptor.close() }
        if !renamed { _ = Syscalls.unlink(FilePath(temporaryPath)) }
    }
}

extension Files {
    /// Writes `path` atomically: `body` fills an `AtomicFile`, which is committed when `body` returns and
    /// removed when it throws. File-system failures reach the caller through `mapError`, so a module throws
    /// its own error type with the `FileSystemError` kept as its cause.
    public static func writeAtomically<R, E: Error>(
        to path: String, mapError: (FileSystemError) -> E, file: String = #fileID, line: Int = #line,
        _ body: (inout AtomicFile) throws(E) -> R
    ) throws(E) -> R {
        var output: AtomicFile
        do {
            output = try AtomicFile(path: path, file: file, line: line)
        } catch {
            throw mapError(error)
        }
        let result = try body(&output)
        do {
            try output.commit()
        } catch {
            throw mapError(error)
        }
        return result
    }
}

extension AtomicFile {
    /// Commits `first`, then `second`, as one change: when either cannot be committed, both targets are left as
    /// they were. `first`'s previous file is kept aside under a second name (a hard link) until `second` is in
    /// place, and put back (or `first`'s new file removed, when there was none before) if `second` fails.
    ///
    /// For a file and a side file it names (an ONNX model and its external data): the side file goes first,
    /// so the model never names data that is not in place, and a failed model leaves no side file behind.
    public static func commit(_ first: consuming AtomicFile, then second: consuming AtomicFile)
        throws(FileSystemError)
    {
        let target = FilePath(first.path)
        let previous = FilePath(first.temporaryPath + ".previous")
        // ENOENT when there is no previous file: then there is nothing to keep.
        let kept = Syscalls.link(target, previous) == nil
        defer { if kept { _ = Syscalls.unlink(previous) } }
        try first.commit()
        do {
            try second.commit()
        } catch {
            _ = kept ? Syscalls.rename(previous, target) : Syscalls.unlink(target)
            throw error
        }
    }
}
