import Foundation
import ModelIR
import TestSupport
import Testing

@testable import KerasHDF5

/// The `KerasError` that `body` throws, recording an issue if it throws nothing or something else.
func h5Caught(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> KerasError? {
    do {
        try body()
        Issue.record("expected a KerasError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as KerasError {
        return error
    } catch {
        Issue.record("expected a KerasError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Replaces every 8-byte little-endian occurrence of `old` in `bytes` with `new`; returns how many.
func h5PatchUInt64(_ bytes: inout [UInt8], _ old: UInt64, _ new: UInt64) -> Int {
    let from = (0..<8).map { UInt8(truncatingIfNeeded: old >> (8 * $0)) }
    let to = (0..<8).map { UInt8(truncatingIfNeeded: new >> (8 * $0)) }
    var count = 0
    var i = 0
    while i + 8 <= bytes.count {
        if bytes[i..<i + 8].elementsEqual(from) {
            bytes.replaceSubrange(i..<i + 8, with: to)
            count += 1
            i += 8
        } else {
            i += 1
        }
    }
    return count
}

/// A file with one uint8 dataset `/big` of 777777 zeros (a distinctive dim to patch), laid out as asked.
func h5FileWithDistinctiveDims(chunked: Bool) throws -> [UInt8] {
    let creation = chunked ? try HDF5.datasetCreationProperties(chunk: [4096], deflateLevel: 9) : []
    let big = H5Dataset(
        name: "big", attributes: [], type: try HDF5.typeInfo(.uint8), space: try HDF5.space(dims: [777_777]),
        encodedCreationProperties: creation, layout: .contiguous,
        value: .raw(TensorBuffer(copying: [UInt8](repeating: 0, count: 777_777))))
    let tree = H5Tree(
        root: H5Group(name: "", attributes: [], children: [.dataset(big)], encodedCreationProperties: []))
    return try HDF5.writeTreeImage(tree)
}

@Suite("HDF5 tree: hostile and broken input")
struct HDF5MalformedTests {
    static let small = Fixtures.kerasModel("k2_nested_submodel.h5")

    @Test("bytes that are not HDF5 are .notHDF5", arguments: [0, 7, 8, 300, 511, 4096])
    func notHDF5(length: Int) throws {
        var bytes = h5RandomBytes(length, seed: UInt64(length))
        if length >= 308 { bytes.replaceSubrange(300..<308, with: HDF5.signature) }  // not at 0, 512, 1024...
        let error = h5Caught { _ = try HDF5.readTree(image: bytes, name: "junk") }
        #expect(error?.code == .notHDF5)
        #expect(error?.description == "junk: is not an HDF5 file (no HDF5 signature)")

        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("junk.h5").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(h5Caught { _ = try HDF5.readTree(path: path) }?.code == .notHDF5)
    }

    @Test("missing files and folders are .io")
    func io() throws {
        let missing = h5Caught { _ = try HDF5.readTree(path: "/nonexistent/model.h5") }
        #expect(missing?.code == .io)
        #expect(missing?.message.contains("No such file") == true)
        #expect(h5Caught { _ = try HDF5.readTree(path: NSTemporaryDirectory()) }?.code == .io)
        let tree = try HDF5.readTree(path: Self.small)
        #expect(h5Caught { try HDF5.writeTree(tree, to: "/nonexistent/out.h5") }?.code == .io)
        #expect(try h5OpenObjects() == 0)
    }

    @Test("a signature followed by junk is .malformed")
    func signatureThenJunk() throws {
        let bytes = HDF5.signature + h5RandomBytes(2000, seed: 9)
        let error = h5Caught { _ = try HDF5.readTree(image: bytes, name: "junk.h5") }
        #expect(error?.code == .malformed)
        #expect(error?.path == "junk.h5")
    }

    @Test("every truncation of a small file is an error, never a crash (in memory)")
    func truncatedImages() throws {
        let bytes = try Fixtures.read(Self.small)
        var codes: [KerasError.Code: Int] = [:]
        var truncatedMessages = 0
        for length in 0..<bytes.count {
            do {
                _ = try HDF5.readTree(image: Array(bytes[0..<length]), name: "prefix")
                Issue.record("prefix of \(length) bytes read without error")
            } catch {
                codes[error.code, default: 0] += 1
                if error.message.contains("truncated file: eof = \(length)") { truncatedMessages += 1 }
            }
        }
        #expect(codes[.notHDF5] == 8)
        #expect(codes[.malformed] == bytes.count - 8)
        #expect(truncatedMessages > bytes.count - 200)
        #expect(try h5OpenObjects() == 0)
    }

    @Test("truncated files on disk are errors with the walked HDF5 error stack")
    func truncatedFiles() throws {
        let bytes = try Fixtures.read(Self.small)
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("prefix.h5").path
        for length in stride(from: 0, to: bytes.count, by: 257) {
            try Data(bytes[0..<length]).write(to: URL(fileURLWithPath: path))
            let error = h5Caught { _ = try HDF5.readTree(path: path) }
            #expect(error?.code == (length < 8 ? .notHDF5 : .malformed))
            #expect(error?.path == path)
        }
        try Data(bytes[0..<8000]).write(to: URL(fileURLWithPath: path))
        let error = h5Caught { _ = try HDF5.readTree(path: path) }
        #expect(
            error?.message
                == "H5Fopen failed: truncated file: eof = 8000, sblock->base_addr = 0, stored_eof = 30240"
                + " (File has been truncated); unable to read superblock")
    }

    @Test("a chunked dataset whose dims were patched to 2^40 is .tooLarge before allocating")
    func patchedDimsChunked() throws {
        var bytes = try h5FileWithDistinctiveDims(chunked: true)
        #expect(bytes.count < 20_000)
        _ = try HDF5.readTree(image: bytes, name: "unpatched")
        #expect(h5PatchUInt64(&bytes, 777_777, 1 << 40) >= 1)
        let error = h5Caught { _ = try HDF5.readTree(image: bytes, name: "patched.h5") }
        #expect(error?.code == .tooLarge)
        #expect(error?.location == "/big")
        #expect(
            error?.message.hasPrefix("dataset '/big' declares 1099511627776 uint8 (1099511627776 bytes) but") == true)
        #expect(try h5OpenObjects() == 0)
    }

    @Test("a contiguous dataset whose dims were patched is .tooLarge (libhdf5 1.10.8 opens it)")
    func patchedDimsContiguous() throws {
        var bytes = try h5FileWithDistinctiveDims(chunked: false)
        #expect(h5PatchUInt64(&bytes, 777_777, 1 << 40) >= 1)
        let error = h5Caught { _ = try HDF5.readTree(image: bytes, name: "patched.h5") }
        #expect(error?.code == .tooLarge, "\(String(describing: error))")
        #expect(error?.message.contains("but the file is only \(bytes.count) bytes") == true)
    }

    @Test("dims whose product overflows are refused (by libhdf5 at open, or .tooLarge)")
    func overflowingDims() throws {
        var bytes = try h5FileWithDistinctiveDims(chunked: true)
        #expect(h5PatchUInt64(&bytes, 777_777, UInt64.max - 5) >= 1)
        let error = h5Caught { _ = try HDF5.readTree(image: bytes, name: "patched.h5") }
        #expect(error?.code == .tooLarge || error?.code == .malformed, "\(String(describing: error))")
    }

    @Test("a replaced value of the wrong size is .inconsistent, and no handle stays open")
    func wrongSizeOnWrite() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.h5").path
        var tree = try HDF5.readTree(path: Self.small)
        let (target, original) = try #require(h5Datasets(tree.root).first { $0.1.type.typeClass == .float })
        guard case .raw(let bytes) = original.value else { Issue.record("not raw"); return }

        tree.root = h5Replacing(target, in: tree.root, with: .raw(TensorBuffer(copying: bytes.bytes.dropLast(4))))
        let error = h5Caught { try HDF5.writeTree(tree, to: path) }
        #expect(error?.code == .inconsistent)
        #expect(error?.location == target)
        #expect(error?.path == path)
        #expect(error?.message.contains("but its value holds \(bytes.count - 4) bytes") == true)
        #expect(try h5OpenObjects() == 0)

        tree.root = h5Replacing(target, in: tree.root, with: .variableStrings([[65]]))
        #expect(h5Caught { _ = try HDF5.writeTreeImage(tree) }?.code == .inconsistent)
        #expect(try h5OpenObjects() == 0)

        // The same size with new bytes is fine.
        let halved = bytes.bytes.map { $0 / 2 }
        tree.root = h5Replacing(target, in: tree.root, with: .raw(TensorBuffer(copying: halved)))
        try HDF5.writeTree(tree, to: path)
        guard case .raw(let back) = try #require(h5Dataset(target, in: try HDF5.readTree(path: path))).value else {
            Issue.record("not raw")
            return
        }
        #expect(back.bytes == halved)
    }

    @Test("wrong string counts and raw values for string types are .inconsistent")
    func wrongStrings() throws {
        var tree = try h5SampleTree()
        tree.root.attributes[0].value = .variableStrings([[65], [66]])
        let error = h5Caught { _ = try HDF5.writeTreeImage(tree) }
        #expect(error?.code == .inconsistent)
        #expect(error?.location == "/ attribute 'model_config'")
        tree.root.attributes[0].value = .raw(TensorBuffer(copying: [1, 2, 3, 4, 5, 6, 7, 8]))
        #expect(h5Caught { _ = try HDF5.writeTreeImage(tree) }?.code == .inconsistent)
        tree.root.attributes[0].value = .variableStrings([[65, 0, 66]])
        #expect(h5Caught { _ = try HDF5.writeTreeImage(tree) }?.code == .unsupported)
        #expect(try h5OpenObjects() == 0)
    }
}

@Suite("HDF5 tree: what is refused")
struct HDF5RefusedTests {
    /// Writes the sample tree to a file and adds a link to it (soft, or a second hard link).
    func sampleWithLink(soft: Bool, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent(soft ? "soft.h5" : "hard.h5").path
        try HDF5.writeTree(try h5SampleTree(), to: path)
        try HDF5Lock.withLock { () throws(KerasError) in
            let file = try H5.openFileForWriting(path)
            if soft {
                try H5.createSoftLink(file, "/weights/alias", to: "/weights/kernel:0")
            } else {
                try H5.createHardLink(file, "/weights/alias", to: "/weights/kernel:0")
            }
            try file.close()
        }
        return path
    }

    @Test("soft links and second hard links are .unsupported, naming the object", arguments: [true, false])
    func links(soft: Bool) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try sampleWithLink(soft: soft, in: dir)
        let error = h5Caught { _ = try HDF5.readTree(path: path) }
        #expect(error?.code == .unsupported)
        // "alias" sorts first; an object with two hard links is refused at the first one seen.
        #expect(error?.location == "/weights/alias", "\(String(describing: error))")
        #expect(try h5OpenObjects() == 0)
    }

    @Test("groups nested deeper than the limit are .unsupported, in files and in trees")
    func depth() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("deep.h5").path
        let empty = H5Tree(root: H5Group(name: "", attributes: [], children: [], encodedCreationProperties: []))
        try HDF5.writeTree(empty, to: path)
        let deep = "/" + (0...HDF5.maximumDepth).map { "g\($0)" }.joined(separator: "/")
        let made = try h5Run("/usr/bin/h5mkgrp", ["-p", path, deep])
        #expect(made.status == 0, "\(made.errors)")
        let error = h5Caught { _ = try HDF5.readTree(path: path) }
        #expect(error?.code == .unsupported)
        #expect(error?.message.contains("nested more than 64 deep") == true)

        // One level less is fine, and the writer refuses the same depth.
        var group = H5Group(name: "leaf", attributes: [], children: [], encodedCreationProperties: [])
        for level in 0..<HDF5.maximumDepth {
            group = H5Group(name: "g\(level)", attributes: [], children: [.group(group)], encodedCreationProperties: [])
        }
        let ok = H5Tree(
            root: H5Group(name: "", attributes: [], children: [.group(group)], encodedCreationProperties: []))
        #expect(h5Caught { _ = try HDF5.writeTreeImage(ok) }?.code == .unsupported)
        guard case .group(let inner) = group.children[0] else { return }
        let fine = H5Tree(
            root: H5Group(name: "", attributes: [], children: [.group(inner)], encodedCreationProperties: []))
        let read = try HDF5.readTree(image: try HDF5.writeTreeImage(fine), name: "fine")
        h5ExpectSameTree(read, try HDF5.readTree(image: try HDF5.writeTreeImage(read), name: "again"))
    }
}
