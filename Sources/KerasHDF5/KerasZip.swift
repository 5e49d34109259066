import FileSystem
import Foundation
import ModelIR
import ZIPFoundation

/// Keras 3 `.keras` archives: a zip of `metadata.json`, `config.json` and `model.weights.h5` (and
/// sometimes `assets/`). Read in memory; the weights file is opened as an HDF5 file image.
enum KerasZip {
    static let magic: [UInt8] = [0x50, 0x4b, 0x03, 0x04]
    static let weightsEntry = "model.weights.h5"
    /// Deflate cannot expand more than about 1032x; anything claiming more is hostile.
    static let maxExpansion: UInt64 = 1100

    static func isZip(path: String) -> Bool {
        (try? Files.readPrefix(path, count: magic.count).bytes) == magic
    }

    static func read(path: String) throws(KerasError) -> KerasReadResult {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw KerasError(.malformed, path: path, "is not a readable zip archive (\(error))")
        }
        return try read(archive: archive, size: UInt64(Files.size(ofFileAt: path) ?? 0), path: path)
    }

    static func read(bytes: [UInt8], path: String) throws(KerasError) -> KerasReadResult {
        let archive: Archive
        do {
            archive = try Archive(data: Data(bytes), accessMode: .read)
        } catch {
            throw KerasError(.malformed, path: path, "is not a readable zip archive (\(error))")
        }
        return try read(archive: archive, size: UInt64(bytes.count), path: path)
    }

    private static func read(archive: Archive, size: UInt64, path: String) throws(KerasError) -> KerasReadResult {
        var entries: [ContainerDoc.ZipEntryDoc] = []
        var weights: [UInt8]?
        var config: [UInt8]?
        var metadata: [UInt8]?
        var total: UInt64 = 0
        for entry in archive {
            guard entry.type == .file else { continue }
            let name = entry.path
            let claimed = entry.uncompressedSize
            total += claimed
            guard claimed <= max(size, 1) * maxExpansion, total <= max(size, 1) * maxExpansion else {
                throw KerasError(
                    .tooLarge, path: path,
                    "zip entry '\(name)' claims \(claimed) bytes, impossible for a \(size)-byte archive", at: name)
            }
            var data = Data()
            data.reserveCapacity(Int(claimed))
            do {
                _ = try archive.extract(entry) { chunk in
                    guard UInt64(data.count + chunk.count) <= claimed else {
                        throw KerasError(.malformed, path: path, "zip entry '\(name)' is longer than it claims")
                    }
                    data.append(chunk)
                }
            } catch let e as KerasError {
                throw e
            } catch {
                throw KerasError(.malformed, path: path, "cannot extract zip entry '\(name)': \(error)", at: name)
            }
            let bytes = [UInt8](data)
            let modified = (entry.fileAttributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            var doc = ContainerDoc.ZipEntryDoc(
                path: name, method: entry.isCompressed ? 8 : 0, modified: modified, data: nil)
            switch name {
            case weightsEntry: weights = bytes
            case "config.json":
                config = bytes
                doc.data = data
            case "metadata.json":
                metadata = bytes
                doc.data = data
            default: doc.data = data
            }
            entries.append(doc)
        }
        guard let weights else {
            throw KerasError(
                .notKeras, path: path,
                "is a zip archive without \(weightsEntry); it is not a Keras 3 .keras model")
        }
        let tree = try HDF5.readTree(image: weights, name: path + "!/" + weightsEntry)
        return try KerasModelBuilder.build(
            tree: tree, path: path,
            zip: .init(entries: entries, config: config, metadata: metadata))
    }

    /// The archive's bytes: the entries in their recorded order, with `weights` as `model.weights.h5`.
    /// Built in memory (`Archive(accessMode: .create)` over `Data`): the same bytes a file archive gets.
    static func archive(entries: [ContainerDoc.ZipEntryDoc], weights: [UInt8], path: String) throws(KerasError)
        -> [UInt8]
    {
        do {
            let archive = try Archive(accessMode: .create)
            for e in entries {
                let data = e.path == weightsEntry ? Data(weights) : (e.data ?? Data())
                try archive.addEntry(
                    with: e.path, type: .file, uncompressedSize: Int64(data.count),
                    modificationDate: Date(timeIntervalSince1970: e.modified),
                    compressionMethod: e.method == 8 ? .deflate : .none,
                    provider: { position, size in
                        let start = Int(position)
                        return data.subdata(in: start..<min(start + size, data.count))
                    })
            }
            guard let bytes = archive.data else {
                throw KerasError(.io, path: path, "cannot write the .keras archive: the archive holds no bytes")
            }
            return [UInt8](bytes)
        } catch let e as KerasError {
            throw e
        } catch {
            throw KerasError(.io, path: path, "cannot write the .keras archive: \(error)")
        }
    }
}
