internal import CHDF5
import ModelIR

extension HDF5 {
    /// Writes `tree` as a new HDF5 file at `path` (truncating whatever is there), deterministically: the same
    /// tree gives the same bytes (no object timestamps).
    ///
    /// Writes straight to `path`: the caller writes to a temporary name and renames. Every group, dataset and
    /// attribute is created from its encoded type, space and creation properties, in the tree's order, and
    /// every value written with the file type as memory type. A value whose size disagrees with its type and
    /// space is `.inconsistent`. No libhdf5 identifier stays open on any path. O(total data size).
    static func writeTree(_ tree: H5Tree, to path: String) throws(KerasError) {
        try HDF5Lock.withLock { () throws(KerasError) in
            try filling(path) { () throws(KerasError) in
                let creation = try H5TreeWriter.propertyList(
                    tree.encodedFileCreationProperties, class: CHDF5_H5P_FILE_CREATE())
                let access = try H5.createPropertyList(CHDF5_H5P_FILE_ACCESS())
                let file = try H5.createFile(path, creation: creation, access: access)
                try H5TreeWriter.writeRoot(tree.root, into: file)
                try H5.flush(file)
                try file.close()
            }
        }
    }

    /// Writes `tree` as an HDF5 file image in memory (core driver, no backing file) and returns its bytes:
    /// the same bytes `writeTree` would put in a file.
    ///
    /// `H5Fget_file_image` leaves out the user block, so one the file creation properties ask for is put
    /// back in front (zeros, as `writeTree` leaves it). O(file size).
    static func writeTreeImage(_ tree: H5Tree) throws(KerasError) -> [UInt8] {
        try HDF5Lock.withLock { () throws(KerasError) -> [UInt8] in
            try filling("<HDF5 image>") { () throws(KerasError) -> [UInt8] in
                let creation = try H5TreeWriter.propertyList(
                    tree.encodedFileCreationProperties, class: CHDF5_H5P_FILE_CREATE())
                let access = try H5.createPropertyList(CHDF5_H5P_FILE_ACCESS())
                try H5.setCoreDriver(access, increment: 1 << 20)
                let file = try H5.createFile(uniqueImageName(), creation: creation, access: access)
                try H5TreeWriter.writeRoot(tree.root, into: file)
                try H5.flush(file)
                let bytes = try H5.fileImage(file)
                try file.close()
                let userBlock = try H5.userBlockSize(creation)
                return userBlock == 0 ? bytes : [UInt8](repeating: 0, count: userBlock) + bytes
            }
        }
    }
}

/// Re-creates groups, datasets and attributes from an `H5Tree`.
enum H5TreeWriter {
    /// A creation property list decoded from `encoded`, or a fresh one of class `cls` when `encoded` is empty,
    /// with object time tracking off.
    ///
    /// Timestamps are never written: libhdf5 cannot set them to the original's values (and reports tracking
    /// on even for objects stored without times, h5py's default), and without them the same tree always
    /// gives the same bytes.
    static func propertyList(_ encoded: [UInt8], class cls: hid_t) throws(KerasError) -> H5PropertyListID {
        let list = encoded.isEmpty ? try H5.createPropertyList(cls) : try H5.decodePropertyList(encoded)
        try H5.setTrackTimes(list, false)
        return list
    }

    /// Writes the root group's attributes and children into the file's root group.
    static func writeRoot(_ root: H5Group, into file: borrowing H5FileID) throws(KerasError) {
        let group = try H5.openGroup(file, "/")
        try writeContents(of: root, into: group, path: "/", depth: 0)
    }

    private static func childPath(_ parent: String, _ name: String) -> String {
        parent == "/" ? "/" + name : parent + "/" + name
    }

    /// A link or attribute creation list marking names UTF-8 or ASCII.
    private static func nameList(_ cls: hid_t, utf8: Bool) throws(KerasError) -> H5PropertyListID {
        let list = try H5.createPropertyList(cls)
        try H5.setCharacterEncoding(list, utf8: utf8)
        return list
    }

    /// Writes `group`'s attributes, then its children in order, into the open group `target`.
    private static func writeContents(
        of group: H5Group, into target: borrowing H5GroupID, path: String, depth: Int
    ) throws(KerasError) {
        guard depth <= HDF5.maximumDepth else {
            throw KerasError(.unsupported, path: "", "groups are nested more than \(HDF5.maximumDepth) deep")
        }
        try writeAttributes(group.attributes, on: target, path: path)
        for child in group.children {
            let childPath = childPath(path, child.name)
            try HDF5.at(childPath) { () throws(KerasError) in
                guard !child.name.isEmpty, child.name != ".", !child.name.contains("/") else {
                    throw KerasError(.inconsistent, path: "", "'\(child.name)' cannot be an HDF5 link name")
                }
                switch child {
                case .group(let subgroup):
                    let link = try nameList(CHDF5_H5P_LINK_CREATE(), utf8: subgroup.nameIsUTF8)
                    let creation = try propertyList(
                        subgroup.encodedCreationProperties, class: CHDF5_H5P_GROUP_CREATE())
                    let created = try H5.createGroup(
                        target, subgroup.name, linkCreation: link, groupCreation: creation)
                    try writeContents(of: subgroup, into: created, path: childPath, depth: depth + 1)
                case .dataset(let dataset):
                    try writeDataset(dataset, in: target, path: childPath)
                }
            }
        }
    }

    /// Creates a dataset from its encoded type, space and creation list, writes its value and attributes.
    private static func writeDataset(
        _ dataset: H5Dataset, in target: borrowing H5GroupID, path: String
    ) throws(KerasError) {
        let type = try H5.decodeType(dataset.type.encoded)
        let space = try H5.decodeSpace(dataset.space.encoded)
        let creation = try propertyList(dataset.encodedCreationProperties, class: CHDF5_H5P_DATASET_CREATE())
        let link = try nameList(CHDF5_H5P_LINK_CREATE(), utf8: dataset.nameIsUTF8)
        try checkValue(dataset.value, type: type, space: space, what: "dataset '\(path)'")
        let created = try H5.createDataset(
            target, dataset.name, type: type, space: space, linkCreation: link, creation: creation)
        try withValueBytes(dataset.value) { (bytes) throws(KerasError) in
            try H5.write(created, memoryType: type, from: bytes)
        }
        try writeAttributes(dataset.attributes, on: created, path: path)
    }

    /// Creates and writes `attributes` on `object`, in order.
    private static func writeAttributes<O: H5Handle & ~Copyable>(
        _ attributes: [H5Attribute], on object: borrowing O, path: String
    ) throws(KerasError) {
        for attribute in attributes {
            try HDF5.at(path + " attribute '" + attribute.name + "'") { () throws(KerasError) in
                let type = try H5.decodeType(attribute.type.encoded)
                let space = try H5.decodeSpace(attribute.space.encoded)
                let creation = try nameList(CHDF5_H5P_ATTRIBUTE_CREATE(), utf8: attribute.nameIsUTF8)
                try checkValue(
                    attribute.value, type: type, space: space, what: "attribute '\(attribute.name)' of '\(path)'")
                let created = try H5.createAttribute(
                    object, attribute.name, type: type, space: space, creation: creation)
                try withValueBytes(attribute.value) { (bytes) throws(KerasError) in
                    try H5.write(created, memoryType: type, from: bytes)
                }
            }
        }
    }

    // MARK: Values

    /// Checks that `value` has exactly as many bytes (or strings) as the decoded `type` and `space` call for.
    private static func checkValue(
        _ value: H5Value, type: borrowing H5TypeID, space: borrowing H5SpaceID, what: String
    ) throws(KerasError) {
        let isNull = try H5.spaceClass(space) == H5S_NULL
        let elements = isNull ? 0 : try H5.pointCount(space)
        let size = try H5.typeSize(type)
        let isString = try H5.typeClass(type) == H5T_STRING
        let variable = isString ? try H5.isVariableString(type) : false
        let dims = isNull ? [] : try H5.extent(space).dims
        let shape = dims.isEmpty ? (isNull ? "empty" : "scalar") : dims.map(String.init).joined(separator: "x")
        switch value {
        case .raw(let buffer):
            guard !variable else {
                throw KerasError(
                    .inconsistent, path: "", "\(what) has a variable-length string type but a raw byte value")
            }
            let (expected, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow, buffer.count == expected else {
                throw KerasError(
                    .inconsistent, path: "",
                    "\(what) declares \(shape) elements of \(size) bytes (\(overflow ? "over 2^63" : "\(expected)")"
                        + " bytes) but its value holds \(buffer.count) bytes")
            }
        case .variableStrings(let strings):
            guard variable else {
                throw KerasError(
                    .inconsistent, path: "", "\(what) has a fixed-size type but a variable-length string value")
            }
            guard strings.count == elements else {
                throw KerasError(
                    .inconsistent, path: "",
                    "\(what) declares \(shape) (\(elements) strings) but its value holds \(strings.count) strings")
            }
            guard strings.allSatisfy({ !$0.contains(0) }) else {
                throw KerasError(
                    .unsupported, path: "", "\(what) has a string with a NUL byte, which HDF5 strings cannot hold")
            }
        }
    }

    /// Calls `body` with the value laid out as libhdf5 expects it in memory: the raw bytes, or an array of
    /// pointers to NUL-terminated strings. Skips `body` when there are no elements.
    private static func withValueBytes(
        _ value: H5Value, _ body: (UnsafeRawPointer) throws(KerasError) -> Void
    ) throws(KerasError) {
        switch value {
        case .raw(let buffer):
            guard buffer.count > 0, let base = buffer.baseAddress else { return }
            defer { withExtendedLifetime(buffer) {} }
            try body(base)
        case .variableStrings(let strings):
            guard !strings.isEmpty else { return }
            var storage: [CChar] = []
            storage.reserveCapacity(strings.reduce(0) { $0 + $1.count + 1 })
            var offsets: [Int] = []
            for string in strings {
                offsets.append(storage.count)
                storage.append(contentsOf: string.map { CChar(bitPattern: $0) })
                storage.append(0)
            }
            var failure: KerasError?
            storage.withUnsafeBufferPointer { characters in
                guard let base = characters.baseAddress else { return }
                let pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
                pointers.withUnsafeBytes { raw in
                    guard let address = raw.baseAddress else { return }
                    do throws(KerasError) { try body(address) } catch { failure = error }
                }
            }
            if let failure { throw failure }
        }
    }
}
