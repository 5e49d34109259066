import FileSystem

/// An error reading or writing a `.mpz` file: one line naming the file, the section and the problem.
public struct MPZError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The file is not a `.mpz` file (wrong magic, too short for a header).
        case notMPZ
        /// A checksum, offset, size or count is wrong: the file is damaged or truncated.
        case corrupt
        /// A valid file uses something this version cannot read (a newer major version, an unknown encoding).
        case unsupported
        /// The tensors cannot be written as asked (e.g. an encoding `.mpz` cannot hold).
        case invalidInput
        /// Reading or writing the file failed.
        case io
    }

    public var code: Code
    public var file: String
    /// `header`, `index`, `graph section`, `chunk 12 (tensor 'conv1.weight')`, ...
    public var section: String?
    public var message: String
    /// The file-system failure behind an `.io` error (its `errno`, path and operation).
    public var cause: FileSystemError?

    public init(
        _ code: Code, file: String, _ message: String, in section: String? = nil, cause: FileSystemError? = nil
    ) {
        self.code = code
        self.file = file
        self.section = section
        self.message = message
        self.cause = cause
    }

    public var description: String { file + ": " + (section.map { $0 + ": " } ?? "") + message }
}
