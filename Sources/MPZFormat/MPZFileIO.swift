import FileSystem
import ModelIR

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `.mpz`'s use of the file-system layer (`FileSystem`): memory maps as tensor buffers, the output check,
/// and its errors wrapped as `MPZError`s that keep them as their cause.
enum MPZFileIO {
    /// The file at `path`, memory-mapped read-only; unmapped when the buffer dies.
    static func map(_ path: String) throws(MPZError) -> TensorBuffer {
        let file: MappedFile
        do {
            file = try Files.map(path)
        } catch {
            throw MPZError(error)
        }
        guard let address = file.address else { return TensorBuffer(copying: []) }
        return TensorBuffer(adopting: address, count: file.count) { _ in withExtendedLifetime(file) {} }
    }

    /// Refuses `path` as an output when it names the same file as one of `protectedPaths` (the inputs).
    static func checkNotInput(_ path: String, protectedPaths: [String]) throws(MPZError) {
        if Files.isSameFile(path, asAnyOf: protectedPaths) {
            throw MPZError(.io, file: path, "is an input of this command; choose another output name")
        }
    }

    /// Bytes of physical memory (a bound on any tensor a reader will decode).
    static let physicalMemory: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: size)
        return overflow ? Int.max : bytes
    }()
}

extension MPZError {
    /// An `.io` error for a failed file-system operation, naming its path and keeping it as the cause.
    init(_ cause: FileSystemError) {
        self.init(.io, file: cause.path, cause.detail, cause: cause)
    }
}
