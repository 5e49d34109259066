import Foundation
import SystemPackage
import Testing

@testable import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh folder under the system's temporary folder, removed by `remove()`.
struct Scratch {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fs-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// Names in the folder, sorted (temporary files start with a dot and would show here).
    func listing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
    }

    func read(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: file(name))))
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

struct WriterStopped: Error {}

/// Expects `body` to throw a `FileSystemError` and returns it.
func fileSystemError(_ body: () throws(FileSystemError) -> Void) -> FileSystemError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

@Suite("atomic writes")
struct AtomicWriteTests {
    /// Bytes in a pattern the old file does not have, larger than the 1 MiB write buffer.
    static let newBytes = (0..<(3 << 20) / 2).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    @Test("a new file gets exactly the bytes written, and no temporary file remains")
    func writesNewFile() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        var out = try AtomicFile(path: dir.file("model.bin"))
        try out.write(Array(Self.newBytes[..<1000]))
        try Self.newBytes[1000...].withUnsafeBytes { try out.write($0) }
        #expect(out.bytesWritten == Self.newBytes.count)
        // Until the commit, only the temporary file exists, next to the target.
        #expect(try dir.listing() == [String(out.temporaryPath.split(separator: "/").last ?? "")])
        #expect(try dir.listing().first?.hasPrefix(".model.bin.tmp-") == true)
        try out.commit()
        #expect(try dir.read("model.bin") == Self.newBytes)
        #expect(try dir.listing() == ["model.bin"])
    }

    @Test("a writer that throws midway leaves the old file as it was and removes the temporary file")
    func throwingWriterKeepsOldFile() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        let old = Array("the old model".utf8)
        try dir.write("model.bin", old)
        var thrown = false
        do {
            try Files.writeAtomically(to: dir.file("model.bin"), mapError: { $0 as any Error }) {
                (out) throws(any Error) in
                try out.write(Self.newBytes)  // more than the buffer: part of it is already in the file
                throw WriterStopped()
            }
        } catch is WriterStopped {
            thrown = true
        }
        #expect(thrown)
        #expect(try dir.read("model.bin") == old)
        #expect(try dir.listing() == ["model.bin"])
    }

    @Test("an uncommitted file is removed when dropped")
    func droppedFileIsRemoved() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        do {
            var out = try AtomicFile(path: dir.file("model.bin"))
            try out.write([1, 2, 3])
            #expect(FileManager.default.fileExists(atPath: out.temporaryPath))
        }
        #expect(try dir.listing() == [])
    }

    @Test("replacing an existing file swaps in the new bytes")
    func replacesExistingFile() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try dir.write("model.bin", Array(repeating: 9, count: 5000))
        try Files.writeAtomically(to: dir.file("model.bin"), mapError: { $0 }) { (out) throws(FileSystemError) in
            try out.write([1, 2, 3])
        }
        #expect(try dir.read("model.bin") == [1, 2, 3])
        #expect(try dir.listing() == ["model.bin"])
    }

    @Test("a rename that fails (the target is a folder) leaves the folder and no temporary file")
    func failedRenameCleansUp() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("out.onnx"), withIntermediateDirectories: false)
        try dir.write("out.onnx/keep", [7])
        let error = fileSystemError { () throws(FileSystemError) in
            var out = try AtomicFile(path: dir.file("out.onnx"))
            try out.write([1, 2, 3])
            try out.commit()
        }
        #expect(error?.operation == .rename)
        #expect(error?.path == dir.file("out.onnx"))
        #expect(error?.cause == .isDirectory)
        #expect(try dir.listing() == ["out.onnx"])
        #expect(try dir.read("out.onnx/keep") == [7])
    }

    @Test("two files committed as one change: both in place, or (the second failing) both as they were")
    func pairCommitIsAllOrNothing() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        // Both succeed: an earlier first file is replaced, no temporary or kept-aside file remains.
        try dir.write("m.onnx.data", [9, 9])
        try AtomicFile.commit(
            try Self.file(dir.file("m.onnx.data"), [1]), then: try Self.file(dir.file("m.onnx"), [2]))
        #expect(try dir.listing() == ["m.onnx", "m.onnx.data"])
        #expect(try dir.read("m.onnx.data") == [1])
        #expect(try dir.read("m.onnx") == [2])
        // The second fails (its target is a folder): the earlier first file comes back unchanged.
        try FileManager.default.createDirectory(atPath: dir.file("x.onnx"), withIntermediateDirectories: false)
        try dir.write("x.onnx.data", [5, 6, 7])
        let error = fileSystemError { () throws(FileSystemError) in
            try AtomicFile.commit(
                try Self.file(dir.file("x.onnx.data"), [1, 2]), then: try Self.file(dir.file("x.onnx"), [3]))
        }
        #expect(error?.operation == .rename && error?.path == dir.file("x.onnx"))
        #expect(try dir.read("x.onnx.data") == [5, 6, 7])
        // The same with no earlier first file: the new one is removed again.
        try FileManager.default.createDirectory(atPath: dir.file("y.onnx"), withIntermediateDirectories: false)
        let second = fileSystemError { () throws(FileSystemError) in
            try AtomicFile.commit(
                try Self.file(dir.file("y.onnx.data"), [1, 2]), then: try Self.file(dir.file("y.onnx"), [3]))
        }
        #expect(second?.operation == .rename)
        #expect(try dir.listing() == ["m.onnx", "m.onnx.data", "x.onnx", "x.onnx.data", "y.onnx"])
    }

    /// An uncommitted file at `path` holding `bytes`.
    static func file(_ path: String, _ bytes: [UInt8]) throws(FileSystemError) -> AtomicFile {
        var f = try AtomicFile(path: path)
        try f.write(bytes)
        return f
    }

    @Test("a path in a missing folder is refused with ENOENT, naming the path")
    func missingFolder() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        let path = dir.file("no-such-folder/model.onnx")
        let error = fileSystemError { () throws(FileSystemError) in _ = try AtomicFile(path: path) }
        #expect(error?.code == .notFound)
        #expect(error?.cause == .noSuchFileOrDirectory)
        #expect(error?.cause?.rawValue == ENOENT)
        #expect(error?.path == path)
        #expect(error?.operation == .open)
        #expect(error?.location.file == "FileSystemTests/FileSystemTests.swift")
        #expect(error?.description.hasPrefix(path + ": cannot create a temporary file in ") == true)
        #expect(error?.description.hasSuffix(": No such file or directory") == true)
    }

    @Test("the temporary file gets the mode open(2) gives any new file: 0666 less the umask")
    func modeFollowsUmask() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        // The oracle: a file created the plain way, by open(2) with 0666.
        let reference = open(dir.file("reference"), O_WRONLY | O_CREAT | O_EXCL, 0o666)
        #expect(reference >= 0)
        close(reference)
        var out = try AtomicFile(path: dir.file("model.bin"))
        try out.write([1])
        try out.commit()
        let attributes = { (name: String) throws -> Int in
            let a = try FileManager.default.attributesOfItem(atPath: dir.file(name))
            return (a[.posixPermissions] as? NSNumber)?.intValue ?? -1
        }
        #expect(try attributes("model.bin") == attributes("reference"))
    }

    @Test("a relative path gets its temporary file in the current folder's view of the target's folder")
    func relativeFileName() throws {
        let out = try AtomicFile(path: "just-a-name.bin")
        #expect(out.temporaryPath.hasPrefix("./.just-a-name.bin.tmp-"))
    }
}

@Suite("reads")
struct ReadTests {
    @Test("readAll, readPrefix and map see the file's bytes and size")
    func readsFile() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        let bytes = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try dir.write("in.bin", bytes)
        #expect(try Files.readAll(dir.file("in.bin")) == bytes)
        let head = try Files.readPrefix(dir.file("in.bin"), count: 8)
        #expect(head.bytes == Array(bytes.prefix(8)))
        #expect(head.fileSize == bytes.count)
        let mapped = try Files.map(dir.file("in.bin"))
        #expect(mapped.count == bytes.count)
        let seen = mapped.address.map { Array(UnsafeRawBufferPointer(start: $0, count: mapped.count)) }
        #expect(seen == bytes)
        #expect(try Files.checkRegularFile(dir.file("in.bin")) == bytes.count)
        let input = try ReadableFile(path: dir.file("in.bin"))
        #expect(input.size == bytes.count)
        #expect(try input.read(at: 65_536, count: 8) == Array(bytes[65_536..<65_544]))
        #expect(try input.read(at: 69_996, count: 8) == Array(bytes[69_996...]))
        #expect(try input.read(at: 80_000, count: 8) == [])
    }

    @Test("a file shorter than the prefix asked for gives what it has; an empty one maps to nothing")
    func shortFiles() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try dir.write("short", [1, 2, 3])
        try dir.write("empty", [])
        #expect(try Files.readPrefix(dir.file("short"), count: 8).bytes == [1, 2, 3])
        #expect(try Files.readAll(dir.file("empty")) == [])
        let mapped = try Files.map(dir.file("empty"))
        #expect(mapped.address == nil && mapped.count == 0)
    }

    enum Special: String, CaseIterable, Sendable {
        case folder, fifo
    }

    /// A folder or a FIFO with no writer: opening the FIFO blocking would hang; it must be refused at once.
    @Test(
        "a folder or FIFO given as input is refused as not a regular file, without blocking",
        .timeLimit(.minutes(1)), arguments: Special.allCases)
    func refusesSpecialFiles(_ kind: Special) throws {
        let dir = try Scratch()
        defer { dir.remove() }
        let path = dir.file("input")
        switch kind {
        case .folder: try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        case .fifo: #expect(mkfifo(path, 0o600) == 0)
        }
        let calls: [(String, () throws(FileSystemError) -> Void)] = [
            ("readAll", { () throws(FileSystemError) in _ = try Files.readAll(path) }),
            ("readPrefix", { () throws(FileSystemError) in _ = try Files.readPrefix(path, count: 8) }),
            ("map", { () throws(FileSystemError) in _ = try Files.map(path) }),
            ("checkRegularFile", { () throws(FileSystemError) in try Files.checkRegularFile(path) }),
            ("ReadableFile", { () throws(FileSystemError) in _ = try ReadableFile(path: path) }),
        ]
        for (name, call) in calls {
            let error = fileSystemError(call)
            #expect(error?.code == .notRegularFile, "\(name)")
            #expect(error?.description == path + ": is not a regular file", "\(name)")
            #expect(error?.cause == nil, "\(name)")
        }
    }

    @Test("a missing input is ENOENT from open, naming the path")
    func missingInput() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        let path = dir.file("missing.onnx")
        let error = fileSystemError { () throws(FileSystemError) in _ = try Files.readAll(path) }
        #expect(error?.code == .notFound)
        #expect(error?.cause == .noSuchFileOrDirectory)
        #expect(error?.operation == .open)
        #expect(error?.description == path + ": cannot open: No such file or directory")
    }

    @Test("two spellings of one file are the same file; another file is not")
    func identity() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try dir.write("a", [1])
        try dir.write("b", [1])
        try FileManager.default.createSymbolicLink(atPath: dir.file("link"), withDestinationPath: dir.file("a"))
        #expect(Files.isSameFile(dir.file("link"), asAnyOf: [dir.file("b"), dir.path + "/./a"]))
        #expect(!Files.isSameFile(dir.file("a"), asAnyOf: [dir.file("b")]))
        #expect(!Files.isSameFile(dir.file("missing"), asAnyOf: [dir.file("missing")]))
        #expect(Files.realPath(dir.file("link")) == Files.realPath(dir.file("a")))
        #expect(Files.realPath(dir.file("missing")) == nil)
    }
}

/// Replaces standard input for the duration of one test; the only test here that touches fd 0.
@Suite("standard input", .serialized)
struct StandardInputTests {
    @Test("standard input is read to its end through a pipe, past the pipe's buffer size")
    func readsPipe() throws {
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let pipe = try FileDescriptor.pipe()
        let saved = dup(0)
        #expect(saved >= 0)
        #expect(dup2(pipe.readEnd.rawValue, 0) == 0)
        try pipe.readEnd.close()
        defer {
            dup2(saved, 0)
            close(saved)
        }
        let writer = Thread {
            _ = try? pipe.writeEnd.writeAll(bytes)
            try? pipe.writeEnd.close()
        }
        writer.start()
        #expect(try Files.readStandardInput() == bytes)
    }
}
