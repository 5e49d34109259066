import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One checked call site per system call that swift-system 1.8 does not wrap (fsync, rename, link, unlink,
/// mmap, munmap, realpath), in its `valueOrErrno` style: a failure comes back as the `Errno`, read at once,
/// on the same thread. Interrupted calls are retried where POSIX allows it.
enum Syscalls {
    /// The `Errno` a swift-system call threw (they are declared `throws` but throw only `Errno`).
    static func failure(_ error: any Error) -> Errno {
        (error as? Errno) ?? .ioError
    }

    static func fsync(_ fd: FileDescriptor) -> Errno? {
        while true {
            if system_fsync(fd.rawValue) == 0 { return nil }
            let e = currentErrno()
            if e != .interrupted { return e }
        }
    }

    static func rename(_ from: FilePath, _ to: FilePath) -> Errno? {
        let status = from.withPlatformString { f in to.withPlatformString { t in system_rename(f, t) } }
        return status == 0 ? nil : currentErrno()
    }

    /// A second name `to` for the file `from` (both in one file system).
    static func link(_ from: FilePath, _ to: FilePath) -> Errno? {
        let status = from.withPlatformString { f in to.withPlatformString { t in system_link(f, t) } }
        return status == 0 ? nil : currentErrno()
    }

    static func unlink(_ path: FilePath) -> Errno? {
        path.withPlatformString { system_unlink($0) } == 0 ? nil : currentErrno()
    }

    /// Maps `count` bytes of `fd` read-only and private; `count` must be positive.
    static func mapReadOnly(_ fd: FileDescriptor, count: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        guard let p = system_mmap(nil, count, PROT_READ, MAP_PRIVATE, fd.rawValue, 0), p != MAP_FAILED else {
            return .failure(currentErrno())
        }
        return .success(p)
    }

    static func unmap(_ address: UnsafeMutableRawPointer, count: Int) {
        _ = system_munmap(address, count)
    }

    /// The canonical absolute path, with every symlink resolved.
    static func realPath(_ path: FilePath) -> Result<String, Errno> {
        let resolved: UnsafeMutablePointer<CChar>? = path.withPlatformString { system_realpath($0, nil) }
        guard let resolved else { return .failure(currentErrno()) }
        defer { free(resolved) }
        return .success(String(cString: resolved))
    }

    static func processID() -> Int { Int(getpid()) }
}

/// `errno`, read right after the failed call.
private func currentErrno() -> Errno { Errno(rawValue: errno) }

// The raw calls, named as in swift-system's `Internals/Syscalls.swift`.
private func system_fsync(_ fd: CInt) -> CInt { fsync(fd) }
private func system_rename(_ from: UnsafePointer<CChar>, _ to: UnsafePointer<CChar>) -> CInt { rename(from, to) }
private func system_unlink(_ path: UnsafePointer<CChar>) -> CInt { unlink(path) }
private func system_link(_ from: UnsafePointer<CChar>, _ to: UnsafePointer<CChar>) -> CInt { link(from, to) }
private func system_mmap(
    _ address: UnsafeMutableRawPointer?, _ count: Int, _ protection: CInt, _ flags: CInt, _ fd: CInt, _ offset: off_t
) -> UnsafeMutableRawPointer? { mmap(address, count, protection, flags, fd, offset) }
private func system_munmap(_ address: UnsafeMutableRawPointer, _ count: Int) -> CInt { munmap(address, count) }
private func system_realpath(_ path: UnsafePointer<CChar>, _ resolved: UnsafeMutablePointer<CChar>?)
    -> UnsafeMutablePointer<CChar>?
{ realpath(path, resolved) }
