public import SystemPackage

/// An error of a file-system operation: what failed, on which path, the `errno` it failed with, and
/// where in ModelPress the operation was asked for.
///
/// The shape follows swift-nio's `NIOFS/FileSystemError`: a `code` to branch on, a `message` for people,
/// the underlying `cause` (the system's `Errno`, kept as a value, not as text), the `path` and the
/// `operation` (the system call), and the call site's `location`. `description` is one line for a
/// terminal: `out/model.onnx: cannot open: No such file or directory`.
public struct FileSystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is, derived from the `errno` where there is one.
    public enum Code: String, Hashable, Sendable {
        /// The path, or a folder on it, does not exist (`ENOENT`, `ENOTDIR`).
        case notFound
        /// The caller may not do this (`EACCES`, `EPERM`, `EROFS`).
        case permissionDenied
        /// A file already exists where one was to be created (`EEXIST`).
        case fileAlreadyExists
        /// The path names something other than a regular file: a folder, a FIFO, a device.
        case notRegularFile
        /// The disk or the quota is full, or the file would be too large (`ENOSPC`, `EDQUOT`, `EFBIG`).
        case noSpace
        /// Any other failure of the system call.
        case io
    }

    /// The system call that failed.
    public enum Operation: String, Hashable, Sendable {
        case open, stat, read, write, fsync, close, rename, unlink, mmap, realpath
    }

    /// Where in ModelPress the failed operation was asked for (`#fileID`, `#line` of the call site).
    public struct SourceLocation: Hashable, Sendable {
        public var file: String
        public var line: Int
        public init(file: String, line: Int) {
            self.file = file
            self.line = line
        }
    }

    public var code: Code
    /// What could not be done, without the path or the system's reason: `cannot open`, `is not a regular file`.
    public var message: String
    /// The `errno` the system call returned; nil when the failure is ModelPress's own finding (a folder
    /// given where a file is needed).
    public var cause: Errno?
    /// The path as the caller named it (`-` for standard input or output).
    public var path: String
    public var operation: Operation
    public var location: SourceLocation

    public init(
        _ code: Code, path: String, operation: Operation, _ message: String, cause: Errno? = nil,
        location: SourceLocation
    ) {
        self.code = code
        self.path = path
        self.operation = operation
        self.message = message
        self.cause = cause
        self.location = location
    }

    /// The error for `operation` on `path` failing with `errno`; the code follows from the `errno`.
    public init(
        _ errno: Errno, path: String, operation: Operation, _ message: String, location: SourceLocation
    ) {
        self.init(Self.code(for: errno), path: path, operation: operation, message, cause: errno, location: location)
    }

    /// The message with the system's reason: `cannot open: No such file or directory`.
    public var detail: String {
        message + (cause.map { ": " + $0.description } ?? "")
    }

    /// `path: message: reason`, e.g. `out/model.onnx: cannot open: No such file or directory`.
    public var description: String { path + ": " + detail }

    static func code(for errno: Errno) -> Code {
        switch errno {
        case .noSuchFileOrDirectory, .notDirectory: .notFound
        case .permissionDenied, .notPermitted, .readOnlyFileSystem: .permissionDenied
        case .fileExists: .fileAlreadyExists
        case .isDirectory: .notRegularFile
        case .noSpace, .diskQuotaExceeded, .fileTooLarge: .noSpace
        default: .io
        }
    }
}
