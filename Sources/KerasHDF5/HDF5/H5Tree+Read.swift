internal import CHDF5
import FileSystem
import ModelIR
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The HDF5 entry points: read a whole file into an `H5Tree`, write one back.
///
/// Everything runs behind `HDF5Lock`; no libhdf5 identifier outlives a call.
enum HDF5 {
    /// Deepest group nesting read or written (the root is depth 0).
    static let maximumDepth = 64
    /// Most groups, datasets and attributes in one file.
    static let maximumObjects = 1_000_000
    /// How many times its stored size a filtered (compressed) dataset may declare; deflate's best is ~1032.
    static let maximumExpansion = 1100
    /// The 8-byte format signature, found at offset 0 or at 512, 1024, 2048, ... after a user block.
    static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Reads the whole HDF5 file at `path`: every group, dataset and attribute, with values.
    ///
    /// Checks the signature first (`.notHDF5`), and every size the file declares against the file's size
    /// before allocating (`.tooLarge`). O(file size).
    static func readTree(path: String) throws(KerasError) -> H5Tree {
        let fileSize = try probeFile(path)
        return try HDF5Lock.withLock { () throws(KerasError) -> H5Tree in
            try filling(path) { () throws(KerasError) -> H5Tree in
                let access = try H5.createPropertyList(CHDF5_H5P_FILE_ACCESS())
                let file = try H5.openFile(path, access: access)
                var reader = H5TreeReader(fileSize: fileSize)
                return try reader.read(file)
            }
        }
    }

    /// Reads an HDF5 file image held in memory (e.g. `model.weights.h5` inside a `.keras` zip), through the
    /// core driver; `name` stands for the file in error messages. O(image size); libhdf5 copies the image.
    static func readTree(image: [UInt8], name: String) throws(KerasError) -> H5Tree {
        guard hasSignature(size: image.count, bytesAt: { offset in Array(image[offset..<offset + 8]) }) else {
            throw KerasError(.notHDF5, path: name, "is not an HDF5 file (no HDF5 signature)")
        }
        return try HDF5Lock.withLock { () throws(KerasError) -> H5Tree in
            try filling(name) { () throws(KerasError) -> H5Tree in
                let access = try H5.createPropertyList(CHDF5_H5P_FILE_ACCESS())
                try H5.setCoreDriver(access, increment: 1 << 16)
                var failure: KerasError?
                image.withUnsafeBytes { bytes in
                    do throws(KerasError) { try H5.setFileImage(access, bytes) } catch { failure = error }
                }
                if let failure { throw failure }
                let file = try H5.openFile(uniqueImageName(), access: access)
                var reader = H5TreeReader(fileSize: image.count)
                return try reader.read(file)
            }
        }
    }

    /// Runs `body`, giving any error without a path the path `file`.
    static func filling<T>(_ file: String, _ body: () throws(KerasError) -> T) throws(KerasError) -> T {
        do {
            return try body()
        } catch {
            var located = error
            if located.path.isEmpty { located.path = file }
            throw located
        }
    }

    /// Runs `body`, giving any error without a location the location `object`.
    static func at<T>(_ object: String, _ body: () throws(KerasError) -> T) throws(KerasError) -> T {
        do {
            return try body()
        } catch {
            var located = error
            if located.location == nil { located.location = object }
            throw located
        }
    }

    /// A name for an in-memory file that no other open file has.
    static func uniqueImageName() -> String {
        "modelpress-image-\(imageCounter.add(1, ordering: .relaxed).newValue)"
    }

    /// Whether the signature is at offset 0, 512, 1024, 2048, ... of `size` bytes. O(log size) reads.
    static func hasSignature(size: Int, bytesAt: (Int) -> [UInt8]?) -> Bool {
        var offset = 0
        while offset <= size - signature.count {
            if bytesAt(offset) == signature { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }

    /// Opens `path` as a plain file to check it is readable, regular, and HDF5; returns its size.
    static func probeFile(_ path: String) throws(KerasError) -> Int {
        let file = try KerasFiles.open(path)
        let found = hasSignature(size: file.size) { offset in
            (try? file.read(at: offset, count: 8)).flatMap { $0.count == 8 ? $0 : nil }
        }
        guard found else { throw KerasError(.notHDF5, path: path, "is not an HDF5 file (no HDF5 signature)") }
        return file.size
    }
}

private let imageCounter = Atomic<Int>(0)

/// Walks an open file into an `H5Tree`, checking every declared size before allocating.
struct H5TreeReader {
    /// Bytes in the file or image: the bound for everything stored uncompressed.
    let fileSize: Int
    /// Groups, datasets and attributes seen so far.
    private var objectCount = 0
    /// Object header addresses seen so far: a second hard link to one is refused.
    private var visited: Set<haddr_t> = []

    init(fileSize: Int) {
        self.fileSize = fileSize
    }

    /// Reads the file creation properties and the whole tree from the root group.
    mutating func read(_ file: borrowing H5FileID) throws(KerasError) -> H5Tree {
        let creation = try H5.fileCreationProperties(file)
        let encoded = try H5.encode(creation)
        let root = try H5.openGroup(file, "/")
        let info = try H5.objectInfo(root)
        visited.insert(info.addr)
        let group = try HDF5.at("/") { () throws(KerasError) -> H5Group in
            try readGroup(root, name: "", path: "/", depth: 0, info: info, nameIsUTF8: false)
        }
        return H5Tree(root: group, encodedFileCreationProperties: encoded)
    }

    /// Counts `n` more objects, refusing more than `HDF5.maximumObjects` in all.
    private mutating func count(_ n: UInt64) throws(KerasError) {
        guard n <= UInt64(HDF5.maximumObjects - objectCount) else {
            throw KerasError(
                .unsupported, path: "",
                "the file holds more than \(HDF5.maximumObjects) groups, datasets and attributes")
        }
        objectCount += Int(n)
    }

    private static func childPath(_ parent: String, _ name: String) -> String {
        parent == "/" ? "/" + name : parent + "/" + name
    }

    /// Reads a group's attributes, then its children in index order (name, or creation order if tracked).
    private mutating func readGroup(
        _ group: borrowing H5GroupID, name: String, path: String, depth: Int, info: H5O_info_t, nameIsUTF8: Bool
    ) throws(KerasError) -> H5Group {
        guard depth <= HDF5.maximumDepth else {
            throw KerasError(.unsupported, path: "", "groups are nested more than \(HDF5.maximumDepth) deep")
        }
        let creation = try H5.groupCreationProperties(group)
        let encoded = try H5.encode(creation)
        let tracked = CHDF5_H5P_CRT_ORDER_TRACKED()
        let linksByCreation = try H5.linkCreationOrder(creation) & tracked != 0
        let attributesByCreation = try H5.attributeCreationOrder(creation) & tracked != 0
        let attributes = try readAttributes(
            of: group, count: info.num_attrs, byCreationOrder: attributesByCreation, path: path)
        let linkCount = try H5.linkCount(group)
        try count(linkCount)
        var children: [H5Node] = []
        children.reserveCapacity(Int(linkCount))
        for index in 0..<linkCount {
            let nameBytes = try H5.linkName(
                group, index: index, byCreationOrder: linksByCreation, maxLength: fileSize)
            guard let childName = String(validating: nameBytes, as: UTF8.self) else {
                throw KerasError(.unsupported, path: "", "a link name is not valid UTF-8")
            }
            guard !childName.isEmpty, childName != ".", !childName.contains("/") else {
                throw KerasError(.malformed, path: "", "a link has the impossible name '\(childName)'")
            }
            let childPath = Self.childPath(path, childName)
            let child = try HDF5.at(childPath) { () throws(KerasError) -> H5Node in
                try readChild(of: group, name: childName, path: childPath, depth: depth)
            }
            children.append(child)
        }
        return H5Group(
            name: name, attributes: attributes, children: children, encodedCreationProperties: encoded,
            linkOrder: linksByCreation ? .creation : .name, attributeOrder: attributesByCreation ? .creation : .name,
            nameIsUTF8: nameIsUTF8)
    }

    /// Reads the object a hard link in `group` points to; refuses soft and external links, objects with
    /// more than one link, and committed datatypes.
    private mutating func readChild(
        of group: borrowing H5GroupID, name: String, path: String, depth: Int
    ) throws(KerasError) -> H5Node {
        let link = try H5.linkInfo(group, name)
        switch link.type {
        case H5L_TYPE_HARD: break
        case H5L_TYPE_SOFT: throw KerasError(.unsupported, path: "", "soft links are not supported")
        case H5L_TYPE_EXTERNAL: throw KerasError(.unsupported, path: "", "external links are not supported")
        default: throw KerasError(.unsupported, path: "", "user-defined links are not supported")
        }
        let info = try H5.objectInfo(group, name)
        guard info.rc <= 1, visited.insert(info.addr).inserted else {
            throw KerasError(
                .unsupported, path: "", "the object has more than one hard link (shared objects are not supported)")
        }
        let utf8 = link.cset == H5T_CSET_UTF8
        switch info.type {
        case H5O_TYPE_GROUP:
            let child = try H5.openGroup(group, name)
            return .group(
                try readGroup(
                    child, name: name, path: path, depth: depth + 1, info: info, nameIsUTF8: utf8))
        case H5O_TYPE_DATASET:
            return .dataset(try readDataset(in: group, name: name, path: path, info: info, nameIsUTF8: utf8))
        case H5O_TYPE_NAMED_DATATYPE:
            throw KerasError(.unsupported, path: "", "committed (named) datatypes are not supported")
        default:
            throw KerasError(.malformed, path: "", "the link points to an object of unknown type")
        }
    }

    /// Reads a dataset: type, space, creation properties, data (after the size check), attributes.
    private mutating func readDataset(
        in group: borrowing H5GroupID, name: String, path: String, info: H5O_info_t, nameIsUTF8: Bool
    ) throws(KerasError) -> H5Dataset {
        let dataset = try H5.openDataset(group, name)
        let type = try H5.datasetType(dataset)
        let typeInfo = try Self.describe(type: type)
        let space = try H5.datasetSpace(dataset)
        let spaceInfo = try Self.describe(space: space)
        let creation = try H5.datasetCreationProperties(dataset)
        let encodedCreation = try H5.encode(creation)
        let layout = try Self.describe(layout: creation)
        let attributesByCreation = try H5.attributeCreationOrder(creation) & CHDF5_H5P_CRT_ORDER_TRACKED() != 0

        let byteCount = try Self.byteCount("dataset", path, spaceInfo, typeInfo, fileSize: fileSize)
        var limit = fileSize
        var bound = "the file is only \(fileSize) bytes"
        if case .chunked(_, let filters) = layout, !filters.isEmpty {
            let stored = Int(clamping: H5.storageSize(dataset))
            let base = max(fileSize, stored)
            limit = base.multipliedReportingOverflow(by: HDF5.maximumExpansion).partialValue
            if base > Int.max / HDF5.maximumExpansion { limit = Int.max }
            bound = "\(base) bytes of filtered storage expand to at most \(limit) bytes"
        }
        guard byteCount <= limit else {
            throw KerasError(
                .tooLarge, path: "",
                "dataset '\(path)' declares \(Self.describe(spaceInfo, typeInfo)) (\(byteCount) bytes) but \(bound);"
                    + " the file is damaged or not what it claims")
        }
        let value = try Self.readValue(type: type, typeInfo, space: space, spaceInfo, byteCount: byteCount) {
            (memoryType, buffer) throws(KerasError) in
            try H5.read(dataset, memoryType: memoryType, into: buffer)
        }
        let attributes = try readAttributes(
            of: dataset, count: info.num_attrs, byCreationOrder: attributesByCreation, path: path)
        return H5Dataset(
            name: name, attributes: attributes, type: typeInfo, space: spaceInfo,
            encodedCreationProperties: encodedCreation, layout: layout, value: value,
            attributeOrder: attributesByCreation ? .creation : .name, nameIsUTF8: nameIsUTF8)
    }

    /// Reads `count` attributes of `object` by name or creation order.
    private mutating func readAttributes<O: H5Handle & ~Copyable>(
        of object: borrowing O, count attributeCount: UInt64, byCreationOrder: Bool, path: String
    ) throws(KerasError) -> [H5Attribute] {
        try count(attributeCount)
        var attributes: [H5Attribute] = []
        for index in 0..<attributeCount {
            let attribute = try H5.openAttribute(object, index: index, byCreationOrder: byCreationOrder)
            let nameBytes = try H5.attributeName(attribute, maxLength: fileSize)
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw KerasError(.unsupported, path: "", "an attribute name is not valid UTF-8", at: path)
            }
            let read = try HDF5.at(path + " attribute '" + name + "'") { () throws(KerasError) -> H5Attribute in
                try readAttribute(attribute, name: name, path: path)
            }
            attributes.append(read)
        }
        return attributes
    }

    private func readAttribute(_ attribute: borrowing H5AttributeID, name: String, path: String) throws(KerasError)
        -> H5Attribute
    {
        let info = try H5.attributeInfo(attribute)
        let type = try H5.attributeType(attribute)
        let typeInfo = try Self.describe(type: type)
        let space = try H5.attributeSpace(attribute)
        let spaceInfo = try Self.describe(space: space)
        let what = "attribute '\(name)' of"
        let byteCount = try Self.byteCount(what, path, spaceInfo, typeInfo, fileSize: fileSize)
        guard byteCount <= fileSize, info.data_size <= UInt64(fileSize) else {
            throw KerasError(
                .tooLarge, path: "",
                "\(what) '\(path)' declares \(Self.describe(spaceInfo, typeInfo)) (\(byteCount) bytes) but the file"
                    + " is only \(fileSize) bytes; the file is damaged or not what it claims")
        }
        let value = try Self.readValue(type: type, typeInfo, space: space, spaceInfo, byteCount: byteCount) {
            (memoryType, buffer) throws(KerasError) in
            try H5.read(attribute, memoryType: memoryType, into: buffer)
        }
        return H5Attribute(
            name: name, type: typeInfo, space: spaceInfo, value: value, nameIsUTF8: info.cset == H5T_CSET_UTF8)
    }

    // MARK: Values

    /// Reads all elements with the file type as memory type: raw bytes, or strings for variable-length
    /// strings (whose libhdf5-allocated memory is reclaimed at once).
    private static func readValue(
        type: borrowing H5TypeID, _ typeInfo: H5TypeInfo, space: borrowing H5SpaceID, _ spaceInfo: H5Space,
        byteCount: Int, read: (borrowing H5TypeID, UnsafeMutableRawPointer?) throws(KerasError) -> Void
    ) throws(KerasError) -> H5Value {
        let elementCount = spaceInfo.elementCount
        if typeInfo.typeClass == .variableString {
            if elementCount == 0 { return .variableStrings([]) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: elementCount)
            var failure: KerasError?
            pointers.withUnsafeMutableBytes { raw in
                do throws(KerasError) { try read(type, raw.baseAddress) } catch { failure = error }
            }
            // After a failed read libhdf5 may have freed some strings already: leak rather than free twice.
            if let failure { throw failure }
            let strings = pointers.map { pointer -> [UInt8] in
                guard let pointer else { return [] }
                return Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
            }
            pointers.withUnsafeMutableBytes { raw in
                do throws(KerasError) {
                    try H5.reclaimVariableLength(type: type, space: space, buffer: raw.baseAddress)
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            return .variableStrings(strings)
        }
        if elementCount == 0 { return .raw(TensorBuffer(copying: [])) }
        let buffer = try TensorBuffer(count: byteCount) { (bytes) throws(KerasError) in
            try read(type, bytes.baseAddress)
        }
        return .raw(buffer)
    }

    // MARK: Describing types, spaces, layouts

    /// The class, size and byte order of a type, and its encoding; refuses references and vlen sequences.
    static func describe(type: borrowing H5TypeID) throws(KerasError) -> H5TypeInfo {
        let cls = try H5.typeClass(type)
        let size = try H5.typeSize(type)
        var littleEndian = true
        let typeClass: H5TypeInfo.Class
        switch cls {
        case H5T_INTEGER:
            typeClass = .integer(signed: try H5.isSigned(type))
            littleEndian = try H5.isLittleEndian(type)
        case H5T_FLOAT:
            typeClass = .float
            littleEndian = try H5.isLittleEndian(type)
        case H5T_STRING:
            typeClass = try H5.isVariableString(type) ? .variableString : .fixedString
        default:
            if let reason = try unsupportedPart(of: type, depth: 0) {
                throw KerasError(.unsupported, path: "", "the datatype holds \(reason), which is not supported")
            }
            typeClass = .other
        }
        return H5TypeInfo(typeClass: typeClass, size: size, littleEndian: littleEndian, encoded: try H5.encode(type))
    }

    /// What in a compound, array or other type cannot be read as fixed-size raw bytes, if anything.
    private static func unsupportedPart(of type: borrowing H5TypeID, depth: Int) throws(KerasError) -> String? {
        guard depth < 16 else { return "types nested too deep" }
        switch try H5.typeClass(type) {
        case H5T_REFERENCE: return "object or region references"
        case H5T_VLEN: return "variable-length sequences"
        case H5T_STRING: return try H5.isVariableString(type) ? "variable-length strings inside another type" : nil
        case H5T_ARRAY:
            let base = try H5.superType(type)
            return try unsupportedPart(of: base, depth: depth + 1)
        case H5T_COMPOUND:
            for index in 0..<(try H5.memberCount(type)) {
                let member = try H5.memberType(type, index)
                if let reason = try unsupportedPart(of: member, depth: depth + 1) { return reason }
            }
            return nil
        default: return nil
        }
    }

    /// Kind, dims and encoding of a dataspace; dims past `Int.max` and element counts that overflow are
    /// `.tooLarge`.
    static func describe(space: borrowing H5SpaceID) throws(KerasError) -> H5Space {
        let encoded = try H5.encode(space)
        switch try H5.spaceClass(space) {
        case H5S_SCALAR: return H5Space(kind: .scalar, dims: [], maxDims: [], encoded: encoded)
        case H5S_NULL: return H5Space(kind: .null, dims: [], maxDims: [], encoded: encoded)
        case H5S_SIMPLE:
            let (dims, maxDims) = try H5.extent(space)
            var elements = 1
            var intDims: [Int] = []
            for dim in dims {
                guard let d = Int(exactly: dim) else {
                    throw KerasError(.tooLarge, path: "", "a dataspace declares a dimension of \(dim)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    let text = dims.map(String.init).joined(separator: "x")
                    throw KerasError(.tooLarge, path: "", "a dataspace declares \(text) elements, more than 2^63")
                }
                elements = product
                intDims.append(d)
            }
            let unlimited = CHDF5_H5S_UNLIMITED()
            let intMaxDims = maxDims.map { $0 == unlimited ? -1 : Int(clamping: $0) }
            return H5Space(kind: .simple, dims: intDims, maxDims: intMaxDims, encoded: encoded)
        default:
            throw KerasError(.malformed, path: "", "a dataspace has no class")
        }
    }

    /// The layout of a dataset creation list; refuses virtual datasets, external storage, and filters this
    /// libhdf5 cannot run.
    static func describe(layout creation: borrowing H5PropertyListID) throws(KerasError) -> H5Dataset.Layout {
        guard try H5.externalFileCount(creation) == 0 else {
            throw KerasError(.unsupported, path: "", "the dataset keeps its data in external files")
        }
        switch try H5.layout(creation) {
        case H5D_COMPACT: return .compact
        case H5D_CONTIGUOUS: return .contiguous
        case H5D_CHUNKED:
            let chunk = try H5.chunkDims(creation).map { Int(clamping: $0) }
            var filters: [String] = []
            for index in 0..<(try H5.filterCount(creation)) {
                let (id, name) = try H5.filter(creation, index: index)
                guard H5.filterAvailable(id) else {
                    throw KerasError(
                        .unsupported, path: "",
                        "the dataset is compressed with HDF5 filter '\(name)' (id \(id)), which this libhdf5 lacks")
                }
                filters.append(name)
            }
            return .chunked(chunk: chunk, filters: filters)
        case H5D_VIRTUAL:
            throw KerasError(.unsupported, path: "", "virtual datasets are not supported")
        default:
            throw KerasError(.malformed, path: "", "the dataset has an unknown layout")
        }
    }

    /// Element count x type size, overflow-checked.
    static func byteCount(
        _ what: String, _ path: String, _ space: H5Space, _ type: H5TypeInfo, fileSize: Int
    ) throws(KerasError) -> Int {
        let (bytes, overflow) = space.elementCount.multipliedReportingOverflow(by: type.size)
        guard !overflow else {
            throw KerasError(
                .tooLarge, path: "",
                "\(what) '\(path)' declares \(describe(space, type)), more than 2^63 bytes, but the file is only"
                    + " \(fileSize) bytes")
        }
        return bytes
    }

    /// "3x4 float32", "scalar string(12)", "0 elements of variable-length string".
    static func describe(_ space: H5Space, _ type: H5TypeInfo) -> String {
        let element: String
        switch type.typeClass {
        case .integer(let signed): element = (signed ? "int" : "uint") + "\(type.size * 8)"
        case .float: element = "float\(type.size * 8)"
        case .fixedString: element = "string(\(type.size))"
        case .variableString: element = "variable-length string"
        case .other: element = "\(type.size)-byte element"
        }
        switch space.kind {
        case .scalar: return "scalar " + element
        case .null: return "empty " + element
        case .simple: return space.dims.map(String.init).joined(separator: "x") + " " + element
        }
    }
}
