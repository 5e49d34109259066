import SystemPackage

/// A regular file open for reading, for callers that read parts of it (signature probes at several
/// offsets). Checked when opened, as every input is: `O_NONBLOCK` and `fstat`, so a folder or FIFO is
/// refused at once. Closed when dropped.
public struct ReadableFile: ~Copyable {
    public let path: String
    /// The size when opened.
    public let size: Int
    private let descriptor: FileDescriptor
    private let location: FileSystemError.SourceLocation

    /// Opens the regular file at `path`.
    public init(path: String, file: String = #fileID, line: Int = #line) throws(FileSystemError) {
        let location = FileSystemError.SourceLocation(file: file, line: line)
        (descriptor, size) = try Files.openRegularFile(path, location: location)
        self.path = path
        self.location = location
    }

    /// Up to `count` bytes from `offset` (fewer at the end of the file), by `pread`: the file's position
    /// does not move.
    public func read(at offset: Int, count: Int) throws(FileSystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(count, 0))
        var used = 0
        while used < bytes.count {
            let n: Int
            do {
                n = try bytes.withUnsafeMutableBytes {
                    try descriptor.read(
                        fromAbsoluteOffset: Int64(offset + used),
                        into: UnsafeMutableRawBufferPointer(rebasing: $0[used...]))
                }
            } catch {
                throw FileSystemError(
                    Syscalls.failure(error), path: path, operation: .read, "cannot read", location: location)
            }
            if n == 0 { break }
            used += n
        }
        bytes.removeLast(bytes.count - used)
        return bytes
    }

    deinit { try? descriptor.close() }
}
