import Foundation
import ModelIR
import TestSupport
import Testing

@testable import KerasHDF5

/// Every real `.h5`/`.hdf5` Keras file (the fixture manifest's list, so a missing fixture is a failing
/// case naming it, never a shorter list), sorted.
let h5FixtureFiles: [String] = Fixtures.realKerasModels.filter { $0.hasSuffix(".h5") || $0.hasSuffix(".hdf5") }

/// Output and exit status of a finished process.
struct H5ProcessResult {
    var status: Int32
    var output: String
    var errors: String
}

/// Runs `tool` with `arguments` and waits (stdout and stderr go to files, so large output cannot block it).
func h5Run(_ tool: String, _ arguments: [String]) throws -> H5ProcessResult {
    let dir = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("out")
    let errURL = dir.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    try process.run()
    process.waitUntilExit()
    return H5ProcessResult(
        status: process.terminationStatus,
        output: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
        errors: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// `h5dump` output without its first line (which names the file) and without the file offsets of
/// contiguous data (which depend on where the writer put it).
func h5dump(_ options: [String], _ path: String) throws -> String {
    let result = try h5Run("/usr/bin/h5dump", options + [path])
    return result.output.split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
        .filter { !$0.contains("OFFSET") }
        .joined(separator: "\n")
}

// MARK: Structural equality

/// Collects the differences between two trees, each as "path: what".
struct H5TreeComparison {
    var differences: [String] = []

    mutating func note(_ path: String, _ what: String) {
        if differences.count < 20 { differences.append(path + ": " + what) }
    }

    mutating func compare(_ a: H5Tree, _ b: H5Tree) {
        if a.encodedFileCreationProperties != b.encodedFileCreationProperties {
            note("/", "file creation properties differ")
        }
        compare(a.root, b.root, path: "/")
    }

    mutating func compare(_ a: H5Group, _ b: H5Group, path: String) {
        if a.name != b.name { note(path, "name \(a.name) != \(b.name)") }
        if a.linkOrder != b.linkOrder { note(path, "link order differs") }
        if a.attributeOrder != b.attributeOrder { note(path, "attribute order differs") }
        if a.nameIsUTF8 != b.nameIsUTF8 { note(path, "name encoding differs") }
        if path != "/", a.encodedCreationProperties != b.encodedCreationProperties {
            note(path, "group creation properties differ")
        }
        compare(a.attributes, b.attributes, path: path)
        if a.children.map(\.name) != b.children.map(\.name) {
            note(path, "children \(a.children.map(\.name)) != \(b.children.map(\.name))")
            return
        }
        for (x, y) in zip(a.children, b.children) {
            let child = path == "/" ? "/" + x.name : path + "/" + x.name
            switch (x, y) {
            case (.group(let g), .group(let h)): compare(g, h, path: child)
            case (.dataset(let d), .dataset(let e)): compare(d, e, path: child)
            default: note(child, "group vs dataset")
            }
        }
    }

    mutating func compare(_ a: H5Dataset, _ b: H5Dataset, path: String) {
        if a.name != b.name { note(path, "name differs") }
        if a.type != b.type { note(path, "type \(a.type) != \(b.type)") }
        if a.space != b.space { note(path, "space \(a.space) != \(b.space)") }
        if a.encodedCreationProperties != b.encodedCreationProperties { note(path, "creation properties differ") }
        if a.layout != b.layout { note(path, "layout \(a.layout) != \(b.layout)") }
        if a.attributeOrder != b.attributeOrder { note(path, "attribute order differs") }
        if a.nameIsUTF8 != b.nameIsUTF8 { note(path, "name encoding differs") }
        compare(a.value, b.value, path: path)
        compare(a.attributes, b.attributes, path: path)
    }

    mutating func compare(_ a: [H5Attribute], _ b: [H5Attribute], path: String) {
        if a.map(\.name) != b.map(\.name) {
            note(path, "attributes \(a.map(\.name)) != \(b.map(\.name))")
            return
        }
        for (x, y) in zip(a, b) {
            let at = path + " @" + x.name
            if x.type != y.type { note(at, "type differs") }
            if x.space != y.space { note(at, "space differs") }
            if x.nameIsUTF8 != y.nameIsUTF8 { note(at, "name encoding differs") }
            compare(x.value, y.value, path: at)
        }
    }

    mutating func compare(_ a: H5Value, _ b: H5Value, path: String) {
        switch (a, b) {
        case (.raw(let x), .raw(let y)): if x != y { note(path, "raw values differ") }
        case (.variableStrings(let x), .variableStrings(let y)): if x != y { note(path, "strings differ") }
        default: note(path, "value kinds differ")
        }
    }
}

/// Expects `a` and `b` to be the same tree.
func h5ExpectSameTree(_ a: H5Tree, _ b: H5Tree, sourceLocation: SourceLocation = #_sourceLocation) {
    var comparison = H5TreeComparison()
    comparison.compare(a, b)
    #expect(comparison.differences.isEmpty, "\(comparison.differences)", sourceLocation: sourceLocation)
}

/// Every dataset of a tree with its path, depth first.
func h5Datasets(_ group: H5Group, path: String = "") -> [(String, H5Dataset)] {
    var out: [(String, H5Dataset)] = []
    for child in group.children {
        switch child {
        case .group(let g): out += h5Datasets(g, path: path + "/" + g.name)
        case .dataset(let d): out.append((path + "/" + d.name, d))
        }
    }
    return out
}

// MARK: Tests

@Suite("HDF5 tree: lossless read and write")
struct HDF5TreeTests {
    @Test("real Keras files survive read -> write with no h5diff difference", arguments: h5FixtureFiles)
    func roundTrip(path: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let written = dir.appendingPathComponent("written.h5").path

        let tree = try HDF5.readTree(path: path)
        try HDF5.writeTree(tree, to: written)

        let diff = try h5Run("/usr/bin/h5diff", ["-c", path, written])
        #expect(diff.status == 0, "h5diff: \(diff.output) \(diff.errors)")
        #expect(diff.output.isEmpty, "h5diff printed: \(diff.output.prefix(2000))")

        let again = try HDF5.readTree(path: written)
        h5ExpectSameTree(tree, again)
        // Deterministic: no timestamps the original did not have, the same bytes through the core driver.
        #expect(try HDF5.writeTreeImage(tree) == Fixtures.read(written), "another write gave other bytes")

        // Same groups, datasets and attributes in the same order, same types, layouts, filters, fill values.
        let before = try h5dump(["-p", "-H"], path)
        let after = try h5dump(["-p", "-H"], written)
        #expect(before == after)
        #expect(before.contains("DATASET"))
    }
}

/// Seeded random bytes.
func h5RandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

/// `count` seeded random float32 values in [-1, 1], as little-endian bytes.
func h5RandomFloat32Bytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    var out: [UInt8] = []
    out.reserveCapacity(count * 4)
    for _ in 0..<count {
        let bits = Float.random(in: -1...1, using: &generator).bitPattern
        out += [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
    }
    return out
}

/// A tree built from scratch: a chunked shuffle+gzip float32 dataset, a float16 dataset, fixed-length and
/// variable-length string attributes, and a group that tracks creation order with children out of name order.
func h5SampleTree() throws -> H5Tree {
    let f32 = try HDF5.typeInfo(.float32)
    let f16 = try HDF5.typeInfo(.float16)
    let fixed = try HDF5.typeInfo(.fixedString(8))
    let variable = try HDF5.typeInfo(.variableString)
    let i64 = try HDF5.typeInfo(.int64)
    let chunked = try HDF5.datasetCreationProperties(chunk: [16, 11], shuffle: true, deflateLevel: 6)
    let names: [UInt8] = Array("dense\0\0\0conv1d\0\0kernel:0".utf8)
    let ordered = H5Group(
        name: "ordered",
        attributes: [
            H5Attribute(
                name: "zz", type: i64, space: try HDF5.space(dims: nil),
                value: .raw(TensorBuffer(copying: [7, 0, 0, 0, 0, 0, 0, 0]))),
            H5Attribute(
                name: "aa", type: variable, space: try HDF5.space(dims: [2]),
                value: .variableStrings([Array("first".utf8), Array("zwölf ✓".utf8)])),
        ],
        children: [
            .group(H5Group(name: "zeta", attributes: [], children: [], encodedCreationProperties: [])),
            .group(H5Group(name: "alpha", attributes: [], children: [], encodedCreationProperties: [])),
            .group(H5Group(name: "mid", attributes: [], children: [], encodedCreationProperties: [])),
        ],
        encodedCreationProperties: try HDF5.groupCreationProperties(trackOrder: true),
        linkOrder: .creation, attributeOrder: .creation)
    let weights = H5Group(
        name: "weights",
        attributes: [
            H5Attribute(
                name: "weight_names", type: fixed, space: try HDF5.space(dims: [3]),
                value: .raw(TensorBuffer(copying: names)))
        ],
        children: [
            .dataset(
                H5Dataset(
                    name: "kernel:0", attributes: [], type: f32, space: try HDF5.space(dims: [64, 33]),
                    encodedCreationProperties: chunked, layout: .chunked(chunk: [16, 11], filters: []),
                    value: .raw(TensorBuffer(copying: h5RandomFloat32Bytes(64 * 33, seed: 1))))),
            .dataset(
                H5Dataset(
                    name: "half", attributes: [], type: f16, space: try HDF5.space(dims: [5]),
                    encodedCreationProperties: [], layout: .contiguous,
                    value: .raw(TensorBuffer(copying: [0x00, 0x3C, 0x00, 0xBC, 0x00, 0x7C, 0x01, 0x00, 0xFF, 0x7B])))),
        ],
        encodedCreationProperties: [])
    let root = H5Group(
        name: "",
        attributes: [
            H5Attribute(
                name: "model_config", type: variable, space: try HDF5.space(dims: nil),
                value: .variableStrings([Array("{\"class_name\": \"Sequential\"}".utf8)]))
        ],
        children: [.group(ordered), .group(weights)], encodedCreationProperties: [])
    return H5Tree(root: root)
}

/// The dataset at `path` ("/a/b") in `tree`, if any.
func h5Dataset(_ path: String, in tree: H5Tree) -> H5Dataset? {
    h5Datasets(tree.root).first { $0.0 == path }?.1
}

/// The number of open libhdf5 identifiers, read under the lock (so never in the middle of another read).
func h5OpenObjects() throws -> Int {
    try HDF5Lock.withLock { () throws(KerasError) -> Int in H5.openObjectCount() }
}

@Suite("HDF5 tree: built trees, images, order")
struct HDF5BuiltTreeTests {
    @Test("chunked shuffle+gzip, float16 and string values written and read back")
    func chunkedGzipFloat16Strings() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("built.h5").path
        let tree = try h5SampleTree()
        try HDF5.writeTree(tree, to: path)

        let back = try HDF5.readTree(path: path)
        let kernel = try #require(h5Dataset("/weights/kernel:0", in: back))
        #expect(kernel.layout == .chunked(chunk: [16, 11], filters: ["shuffle", "deflate"]))
        #expect(kernel.space.dims == [64, 33])
        guard case .raw(let data) = kernel.value else { Issue.record("kernel not raw"); return }
        #expect(data.bytes == h5RandomFloat32Bytes(64 * 33, seed: 1))

        let half = try #require(h5Dataset("/weights/half", in: back))
        #expect(half.type.typeClass == .float && half.type.size == 2 && half.type.littleEndian)
        guard case .raw(let halfData) = half.value else { Issue.record("half not raw"); return }
        #expect(halfData.bytes == [0x00, 0x3C, 0x00, 0xBC, 0x00, 0x7C, 0x01, 0x00, 0xFF, 0x7B])

        guard case .group(let weights) = back.root.children[1] else { Issue.record("no weights"); return }
        #expect(weights.attributes[0].type.typeClass == .fixedString)
        guard case .raw(let names) = weights.attributes[0].value else { Issue.record("names not raw"); return }
        #expect(names.bytes == Array("dense\0\0\0conv1d\0\0kernel:0".utf8))

        guard case .variableStrings(let config) = back.root.attributes[0].value else {
            Issue.record("model_config not strings")
            return
        }
        #expect(config == [Array("{\"class_name\": \"Sequential\"}".utf8)])

        let dump = try h5dump(["-p", "-H"], path)
        #expect(dump.contains("CHUNKED ( 16, 11 )"))
        #expect(dump.contains("PREPROCESSING SHUFFLE"))
        #expect(dump.contains("COMPRESSION DEFLATE { LEVEL 6 }"))
        #expect(dump.contains("16-bit little-endian floating-point"))
        #expect(dump.contains("STRSIZE 8;"))
        #expect(dump.contains("STRSIZE H5T_VARIABLE;"))

        // Written again from what was read: the same file as far as h5diff and h5dump can tell.
        let again = dir.appendingPathComponent("again.h5").path
        try HDF5.writeTree(back, to: again)
        let diff = try h5Run("/usr/bin/h5diff", ["-c", path, again])
        #expect(diff.status == 0 && diff.output.isEmpty, "\(diff.output)")
        #expect(try h5dump(["-p", "-H"], again) == dump)
        h5ExpectSameTree(back, try HDF5.readTree(path: again))
    }

    @Test("creation order is tracked, kept and written back; name order otherwise")
    func order() throws {
        let image = try HDF5.writeTreeImage(try h5SampleTree())
        let back = try HDF5.readTree(image: image, name: "built")
        #expect(back.root.linkOrder == .name)
        #expect(back.root.children.map(\.name) == ["ordered", "weights"])
        guard case .group(let ordered) = back.root.children[0] else { Issue.record("no group"); return }
        #expect(ordered.linkOrder == .creation)
        #expect(ordered.attributeOrder == .creation)
        #expect(ordered.children.map(\.name) == ["zeta", "alpha", "mid"])
        #expect(ordered.attributes.map(\.name) == ["zz", "aa"])
        guard case .variableStrings(let strings) = ordered.attributes[1].value else {
            Issue.record("aa not strings")
            return
        }
        #expect(strings == [Array("first".utf8), Array("zwölf ✓".utf8)])
        h5ExpectSameTree(back, try HDF5.readTree(image: try HDF5.writeTreeImage(back), name: "again"))
    }

    @Test("the float16 type built here is the one h5py wrote")
    func float16MatchesH5py() throws {
        let tree = try HDF5.readTree(path: Fixtures.kerasModel("k3_fp16_mlp.h5"))
        let halves = h5Datasets(tree.root).filter { $0.1.type.size == 2 && $0.1.type.typeClass == .float }
        #expect(!halves.isEmpty)
        let built = try HDF5.typeInfo(.float16)
        for (_, d) in halves { #expect(d.type == built) }
    }

    @Test(
        "file images: read from memory equals read from disk; written images read back",
        arguments: [
            "k2_nested_submodel.h5", "k3_fp16_mlp.h5", "k3_transformer_mha.h5",
        ])
    func images(name: String) throws {
        let path = Fixtures.kerasModel(name)
        let fromDisk = try HDF5.readTree(path: path)
        let fromImage = try HDF5.readTree(image: try Fixtures.read(path), name: name)
        h5ExpectSameTree(fromDisk, fromImage)

        let image = try HDF5.writeTreeImage(fromDisk)
        h5ExpectSameTree(fromDisk, try HDF5.readTree(image: image, name: "written image"))

        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let written = dir.appendingPathComponent("image.h5")
        try Data(image).write(to: written)
        let diff = try h5Run("/usr/bin/h5diff", ["-c", path, written.path])
        #expect(diff.status == 0 && diff.output.isEmpty, "\(diff.output)")
    }

    @Test("a user block before the superblock is found")
    func userBlock() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let block = dir.appendingPathComponent("block")
        try Data(repeating: 0x55, count: 700).write(to: block)
        let jammed = dir.appendingPathComponent("jammed.h5").path
        let jam = try h5Run(
            "/usr/bin/h5jam", ["-i", Fixtures.kerasModel("k2_nested_submodel.h5"), "-u", block.path, "-o", jammed])
        #expect(jam.status == 0, "\(jam.errors)")
        let bytes = try Fixtures.read(jammed)
        #expect(Array(bytes[1024..<1032]) == HDF5.signature)
        let plain = try HDF5.readTree(path: Fixtures.kerasModel("k2_nested_submodel.h5"))
        var fromJammed = try HDF5.readTree(path: jammed)
        #expect(fromJammed.encodedFileCreationProperties != plain.encodedFileCreationProperties)
        h5ExpectSameTree(fromJammed, try HDF5.readTree(image: bytes, name: "jammed"))

        // The user block size is a file creation property: the writer keeps it (filled with zeros).
        let rewritten = dir.appendingPathComponent("rewritten.h5").path
        try HDF5.writeTree(fromJammed, to: rewritten)
        let image = try Fixtures.read(rewritten)
        #expect(try HDF5.writeTreeImage(fromJammed) == image)
        #expect(Array(image[0..<8]) != HDF5.signature)
        #expect(Array(image[1024..<1032]) == HDF5.signature)

        fromJammed.encodedFileCreationProperties = plain.encodedFileCreationProperties
        h5ExpectSameTree(plain, fromJammed)
    }

    @Test("concurrent reads serialise and agree")
    func concurrentReads() async throws {
        let path = Fixtures.kerasModel("k3_transformer_mha.h5")
        let reference = try HDF5.readTree(path: path)
        try await withThrowingTaskGroup(of: H5Tree.self) { group in
            for _ in 0..<6 { group.addTask { try HDF5.readTree(path: path) } }
            for try await tree in group { h5ExpectSameTree(reference, tree) }
        }
    }

    @Test("a changed value is written and h5diff sees it (the round-trip check can fail)")
    func negativeControl() throws {
        let path = Fixtures.kerasModel("k2_nested_submodel.h5")
        var tree = try HDF5.readTree(path: path)
        let (target, original) = try #require(h5Datasets(tree.root).first { $0.1.type.typeClass == .float })
        guard case .raw(let bytes) = original.value else { Issue.record("not raw"); return }
        var changed = bytes.bytes
        changed[0] ^= 0x40
        tree.root = h5Replacing(target, in: tree.root, with: .raw(TensorBuffer(copying: changed)))

        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let written = dir.appendingPathComponent("changed.h5").path
        try HDF5.writeTree(tree, to: written)
        let diff = try h5Run("/usr/bin/h5diff", ["-c", path, written])
        #expect(diff.status == 1)
        #expect(diff.output.contains("1 differences found"))
        guard case .raw(let back) = try #require(h5Dataset(target, in: try HDF5.readTree(path: written))).value else {
            Issue.record("not raw")
            return
        }
        #expect(back.bytes == changed)
    }
}

/// `group` with the dataset at `path` given `value`.
func h5Replacing(_ path: String, in group: H5Group, with value: H5Value, prefix: String = "") -> H5Group {
    var out = group
    out.children = group.children.map { child in
        switch child {
        case .group(let g): return .group(h5Replacing(path, in: g, with: value, prefix: prefix + "/" + g.name))
        case .dataset(var d):
            if prefix + "/" + d.name == path { d.value = value }
            return .dataset(d)
        }
    }
    return out
}
