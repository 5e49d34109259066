import Foundation
import ModelIR
import TestSupport
import Testing

@testable import KerasHDF5

/// How `KerasWriter` uses the file-system layer: libhdf5 writes a temporary file in the output's
/// folder, which is renamed into place only when complete.
@Suite struct KerasWriterFileTests {
    static let sample = Fixtures.repoRoot.appendingPathComponent("samples/digits_cnn.h5").path

    /// `model` with the creation properties of its first dataset replaced by bytes libhdf5 cannot decode,
    /// so that `H5Pdecode` fails in the middle of writing the file.
    static func breakingTheWrite(_ model: Model) throws -> Model {
        var doc = try ContainerDoc.decode(try #require(model.sourceContainer), path: "test")
        func breakFirstDataset(_ g: inout ContainerDoc.GroupDoc) -> Bool {
            for i in g.children.indices {
                if g.children[i].dataset != nil {
                    g.children[i].dataset?.creation = Data([0xde, 0xad, 0xbe, 0xef])
                    return true
                }
                if var sub = g.children[i].group, breakFirstDataset(&sub) {
                    g.children[i].group = sub
                    return true
                }
            }
            return false
        }
        #expect(breakFirstDataset(&doc.tree.root))
        var broken = model
        broken.sourceContainer = doc.encoded()
        return broken
    }

    @Test("an HDF5 write that fails midway names the output, keeps the old file and leaves no temporary file")
    func failedWriteNamesTheOutput() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.h5").path
        let old = Array("an older file".utf8)
        try Data(old).write(to: URL(fileURLWithPath: out))
        let model = try Self.breakingTheWrite(try KerasReader.read(path: Self.sample).model)
        var caught: KerasError?
        do {
            _ = try KerasWriter.write(model, to: out)
        } catch {
            caught = error
        }
        let error = try #require(caught)
        #expect(error.path == out)
        #expect(!error.description.contains(".tmp-"), "\(error)")
        #expect(try Fixtures.read(out) == old)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.h5"])
    }

    @Test("a write into a missing folder is .io with ENOENT as its cause, naming the output")
    func missingFolder() throws {
        let model = try KerasReader.read(path: Self.sample).model
        let out = NSTemporaryDirectory() + "/no-such-folder-\(UUID().uuidString)/out.h5"
        var caught: KerasError?
        do {
            _ = try KerasWriter.write(model, to: out)
        } catch {
            caught = error
        }
        let error = try #require(caught)
        #expect(error.code == .io)
        #expect(error.path == out)
        #expect(error.cause?.cause?.rawValue == ENOENT)
        #expect(error.cause?.operation == .open)
    }
}
