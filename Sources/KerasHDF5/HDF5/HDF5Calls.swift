internal import CHDF5

// The checked call sites: one Swift function per libhdf5 function, each calling it exactly once and turning a
// negative status or an invalid identifier into a `KerasError` that carries the walked HDF5 error stack.
// New identifiers come back owned (`H5FileID`, `H5TypeID`, ...). Everything here must run under `HDF5Lock`.
//
// Errors thrown here have an empty `path` and no `location`: the tree reader and writer fill both in, since
// only they know which file and which object a call was about.

/// Reads and clears the calling thread's HDF5 error stack.
enum H5ErrorStack {
    /// One record of the stack, innermost first.
    struct Record {
        var function: String
        var description: String
        var minor: String
    }

    /// Walks the stack from the innermost record (where the error was detected) outwards, then clears it.
    static func take() -> [Record] {
        var records: [Record] = []
        withUnsafeMutablePointer(to: &records) { pointer in
            _ = H5Ewalk2(CHDF5_H5E_DEFAULT(), H5E_WALK_UPWARD, h5ErrorWalkRecord, UnsafeMutableRawPointer(pointer))
        }
        _ = H5Eclear2(CHDF5_H5E_DEFAULT())
        return records
    }

    /// The most specific lines of the stack: the innermost record's description and, when it says little on
    /// its own, the next one out; e.g. "truncated file: eof = 8000, ... stored_eof = 14104".
    static func summary(_ records: [Record]) -> String {
        var lines: [String] = []
        for record in records.prefix(3) {
            var text = record.description.isEmpty ? record.minor : record.description
            if !record.minor.isEmpty, record.minor != text, lines.isEmpty {
                text += " (" + record.minor + ")"
            }
            if !text.isEmpty, !lines.contains(text) { lines.append(text) }
            if lines.count == 2 { break }
        }
        return lines.joined(separator: "; ")
    }

    /// A `KerasError` for a failed call of `function`, with the stack's summary.
    static func error(_ code: KerasError.Code, _ function: String) -> KerasError {
        let detail = summary(take())
        return KerasError(code, path: "", function + " failed" + (detail.isEmpty ? "" : ": " + detail))
    }
}

/// `H5E_walk2_t` callback: appends one record to the `[H5ErrorStack.Record]` behind `clientData`.
private func h5ErrorWalkRecord(
    _ n: UInt32, _ record: UnsafePointer<H5E_error2_t>?, _ clientData: UnsafeMutableRawPointer?
) -> herr_t {
    guard let record, let clientData else { return 0 }
    let records = clientData.assumingMemoryBound(to: [H5ErrorStack.Record].self)
    let function = record.pointee.func_name.map { String(cString: $0) } ?? ""
    let description = record.pointee.desc.map { String(cString: $0) } ?? ""
    var minorBuffer = [CChar](repeating: 0, count: 256)
    let length = H5Eget_msg(record.pointee.min_num, nil, &minorBuffer, minorBuffer.count)
    let minor =
        length > 0
        ? String(
            decoding: minorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) },
            as: UTF8.self) : ""
    records.pointee.append(H5ErrorStack.Record(function: function, description: description, minor: minor))
    return 0
}

/// The checked libhdf5 calls.
enum H5 {
    // MARK: Status helpers

    @inline(__always)
    private static func check(_ status: herr_t, _ code: KerasError.Code, _ function: String) throws(KerasError) {
        if status < 0 { throw H5ErrorStack.error(code, function) }
    }

    @inline(__always)
    private static func checkID(_ id: hid_t, _ code: KerasError.Code, _ function: String) throws(KerasError) -> hid_t {
        if id < 0 { throw H5ErrorStack.error(code, function) }
        return id
    }

    // MARK: Files

    /// `H5Fopen` read-only. A failure is `.malformed` (the caller has checked the file is readable and
    /// HDF5), except that a file another process holds locked for writing is `.io`.
    static func openFile<P: H5Handle & ~Copyable>(_ name: String, access: borrowing P) throws(KerasError) -> H5FileID {
        let id = H5Fopen(name, CHDF5_H5F_ACC_RDONLY(), access.id)
        if id < 0 {
            var error = H5ErrorStack.error(.malformed, "H5Fopen")
            let text = error.message.lowercased()
            if text.contains("unable to lock file") || text.contains("unable to lock the file") { error.code = .io }
            throw error
        }
        return H5FileID(id: id)
    }

    /// `H5Fcreate`, truncating any existing file.
    static func createFile<C: H5Handle & ~Copyable, A: H5Handle & ~Copyable>(
        _ name: String, creation: borrowing C, access: borrowing A
    ) throws(KerasError) -> H5FileID {
        H5FileID(id: try checkID(H5Fcreate(name, CHDF5_H5F_ACC_TRUNC(), creation.id, access.id), .io, "H5Fcreate"))
    }

    /// `H5Fget_create_plist`: the file creation property list.
    static func fileCreationProperties(_ file: borrowing H5FileID) throws(KerasError) -> H5PropertyListID {
        H5PropertyListID(id: try checkID(H5Fget_create_plist(file.id), .malformed, "H5Fget_create_plist"))
    }

    /// `H5Fget_file_image`, twice: the size, then the bytes. O(file size).
    static func fileImage(_ file: borrowing H5FileID) throws(KerasError) -> [UInt8] {
        let size = H5Fget_file_image(file.id, nil, 0)
        if size < 0 { throw H5ErrorStack.error(.io, "H5Fget_file_image") }
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            let written = H5Fget_file_image(file.id, buffer.baseAddress, size)
            if written != size {
                failed = true
                count = 0
            } else {
                count = size
            }
        }
        if failed { throw H5ErrorStack.error(.io, "H5Fget_file_image") }
        return bytes
    }

    /// `H5Fget_obj_count` over all files: how many identifiers of any kind are open (for tests).
    static func openObjectCount() -> Int {
        Int(H5Fget_obj_count(CHDF5_H5F_OBJ_ALL_FILES(), CHDF5_H5F_OBJ_ALL()))
    }

    // MARK: Property lists

    /// `H5Pcreate` of the class `cls` (e.g. `CHDF5_H5P_FILE_ACCESS()`).
    static func createPropertyList(_ cls: hid_t) throws(KerasError) -> H5PropertyListID {
        H5PropertyListID(id: try checkID(H5Pcreate(cls), .io, "H5Pcreate"))
    }

    /// `H5Pset_fapl_core`: the in-memory driver, without a backing file.
    static func setCoreDriver(_ fapl: borrowing H5PropertyListID, increment: Int) throws(KerasError) {
        try check(H5Pset_fapl_core(fapl.id, increment, false), .io, "H5Pset_fapl_core")
    }

    /// `H5Pset_file_image`: libhdf5 copies `bytes` into the property list.
    static func setFileImage(_ fapl: borrowing H5PropertyListID, _ bytes: UnsafeRawBufferPointer) throws(KerasError) {
        try check(
            H5Pset_file_image(fapl.id, UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count), .io,
            "H5Pset_file_image")
    }

    /// `H5Pencode`, twice: the size, then the bytes.
    static func encode(_ plist: borrowing H5PropertyListID) throws(KerasError) -> [UInt8] {
        var size = 0
        try check(H5Pencode(plist.id, nil, &size), .malformed, "H5Pencode")
        var bytes = [UInt8](repeating: 0, count: size)
        var status: herr_t = 0
        bytes.withUnsafeMutableBytes { status = H5Pencode(plist.id, $0.baseAddress, &size) }
        try check(status, .malformed, "H5Pencode")
        return Array(bytes.prefix(size))
    }

    /// `H5Pdecode` of bytes that `encode` made (libhdf5 trusts the encoded lengths: never feed it file bytes).
    static func decodePropertyList(_ bytes: [UInt8]) throws(KerasError) -> H5PropertyListID {
        let id = bytes.withUnsafeBytes { H5Pdecode($0.baseAddress) }
        return H5PropertyListID(id: try checkID(id, .inconsistent, "H5Pdecode"))
    }

    /// `H5Pget_link_creation_order`: `H5P_CRT_ORDER_TRACKED`/`INDEXED` flags of a group or file creation list.
    static func linkCreationOrder(_ plist: borrowing H5PropertyListID) throws(KerasError) -> UInt32 {
        var flags: UInt32 = 0
        try check(H5Pget_link_creation_order(plist.id, &flags), .malformed, "H5Pget_link_creation_order")
        return flags
    }

    /// `H5Pget_attr_creation_order`: the attribute creation-order flags of an object creation list.
    static func attributeCreationOrder(_ plist: borrowing H5PropertyListID) throws(KerasError) -> UInt32 {
        var flags: UInt32 = 0
        try check(H5Pget_attr_creation_order(plist.id, &flags), .malformed, "H5Pget_attr_creation_order")
        return flags
    }

    /// `H5Pset_obj_track_times`: whether objects created with this list store access/modification times.
    static func setTrackTimes(_ plist: borrowing H5PropertyListID, _ track: Bool) throws(KerasError) {
        try check(H5Pset_obj_track_times(plist.id, track), .malformed, "H5Pset_obj_track_times")
    }

    /// `H5Pset_char_encoding`: UTF-8 or ASCII names for links and attributes created with this list.
    static func setCharacterEncoding(_ plist: borrowing H5PropertyListID, utf8: Bool) throws(KerasError) {
        try check(
            H5Pset_char_encoding(plist.id, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII), .io, "H5Pset_char_encoding")
    }

    /// `H5Pget_layout` of a dataset creation list.
    static func layout(_ dcpl: borrowing H5PropertyListID) throws(KerasError) -> H5D_layout_t {
        let layout = H5Pget_layout(dcpl.id)
        if layout.rawValue < 0 { throw H5ErrorStack.error(.malformed, "H5Pget_layout") }
        return layout
    }

    /// `H5Pget_chunk`: chunk dims of a chunked dataset creation list.
    static func chunkDims(_ dcpl: borrowing H5PropertyListID) throws(KerasError) -> [UInt64] {
        var dims = [hsize_t](repeating: 0, count: 32)
        let rank = H5Pget_chunk(dcpl.id, 32, &dims)
        if rank < 0 || rank > 32 { throw H5ErrorStack.error(.malformed, "H5Pget_chunk") }
        return Array(dims.prefix(Int(rank)))
    }

    /// `H5Pget_nfilters`.
    static func filterCount(_ dcpl: borrowing H5PropertyListID) throws(KerasError) -> Int {
        let n = H5Pget_nfilters(dcpl.id)
        if n < 0 { throw H5ErrorStack.error(.malformed, "H5Pget_nfilters") }
        return Int(n)
    }

    /// `H5Pget_filter2`: the id and name of filter `index` in the pipeline.
    static func filter(_ dcpl: borrowing H5PropertyListID, index: Int) throws(KerasError) -> (
        id: H5Z_filter_t, name: String
    ) {
        var flags: UInt32 = 0
        var valueCount = 32
        var values = [UInt32](repeating: 0, count: 32)
        var name = [CChar](repeating: 0, count: 257)
        var config: UInt32 = 0
        let id = H5Pget_filter2(dcpl.id, UInt32(index), &flags, &valueCount, &values, 256, &name, &config)
        if id < 0 { throw H5ErrorStack.error(.malformed, "H5Pget_filter2") }
        let text = String(decoding: name.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (id, text)
    }

    /// `H5Pget_external_count`: how many external raw-data files a dataset creation list names.
    static func externalFileCount(_ dcpl: borrowing H5PropertyListID) throws(KerasError) -> Int {
        let n = H5Pget_external_count(dcpl.id)
        if n < 0 { throw H5ErrorStack.error(.malformed, "H5Pget_external_count") }
        return Int(n)
    }

    /// `H5Zfilter_avail`: whether this libhdf5 can run filter `id`.
    static func filterAvailable(_ id: H5Z_filter_t) -> Bool {
        H5Zfilter_avail(id) > 0
    }

    // MARK: Groups and links

    /// `H5Gopen2`.
    static func openGroup<L: H5Handle & ~Copyable>(_ loc: borrowing L, _ name: String) throws(KerasError)
        -> H5GroupID
    {
        H5GroupID(id: try checkID(H5Gopen2(loc.id, name, CHDF5_H5P_DEFAULT()), .malformed, "H5Gopen2"))
    }

    /// `H5Gcreate2`.
    static func createGroup<L: H5Handle & ~Copyable>(
        _ loc: borrowing L, _ name: String, linkCreation: borrowing H5PropertyListID,
        groupCreation: borrowing H5PropertyListID
    ) throws(KerasError) -> H5GroupID {
        let id = H5Gcreate2(loc.id, name, linkCreation.id, groupCreation.id, CHDF5_H5P_DEFAULT())
        return H5GroupID(id: try checkID(id, .io, "H5Gcreate2"))
    }

    /// `H5Gget_info`: the number of links in the group.
    static func linkCount(_ group: borrowing H5GroupID) throws(KerasError) -> UInt64 {
        var info = H5G_info_t()
        try check(H5Gget_info(group.id, &info), .malformed, "H5Gget_info")
        return info.nlinks
    }

    /// `H5Gget_create_plist`.
    static func groupCreationProperties(_ group: borrowing H5GroupID) throws(KerasError) -> H5PropertyListID {
        H5PropertyListID(id: try checkID(H5Gget_create_plist(group.id), .malformed, "H5Gget_create_plist"))
    }

    /// `H5Lget_name_by_idx`, twice: the length, then the name of link `index` in the group.
    static func linkName(
        _ group: borrowing H5GroupID, index: UInt64, byCreationOrder: Bool, maxLength: Int
    ) throws(KerasError) -> [UInt8] {
        let indexType = byCreationOrder ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME
        let length = H5Lget_name_by_idx(group.id, ".", indexType, H5_ITER_INC, index, nil, 0, CHDF5_H5P_DEFAULT())
        if length < 0 { throw H5ErrorStack.error(.malformed, "H5Lget_name_by_idx") }
        if length > maxLength {
            throw KerasError(.malformed, path: "", "a link name of \(length) bytes is longer than the file")
        }
        var buffer = [CChar](repeating: 0, count: length + 1)
        let again = H5Lget_name_by_idx(
            group.id, ".", indexType, H5_ITER_INC, index, &buffer, length + 1, CHDF5_H5P_DEFAULT())
        if again != length { throw H5ErrorStack.error(.malformed, "H5Lget_name_by_idx") }
        return buffer.prefix(length).map { UInt8(bitPattern: $0) }
    }

    /// `H5Lget_info`: the link's type (hard, soft, external) and the character set of its name.
    static func linkInfo(_ group: borrowing H5GroupID, _ name: String) throws(KerasError) -> H5L_info_t {
        var info = H5L_info_t()
        try check(H5Lget_info(group.id, name, &info, CHDF5_H5P_DEFAULT()), .malformed, "H5Lget_info")
        return info
    }

    // MARK: Objects

    /// `H5Oget_info_by_name2` with the basic fields and the attribute count.
    static func objectInfo(_ group: borrowing H5GroupID, _ name: String) throws(KerasError) -> H5O_info_t {
        var info = H5O_info_t()
        let fields = CHDF5_H5O_INFO_BASIC() | CHDF5_H5O_INFO_NUM_ATTRS()
        try check(
            H5Oget_info_by_name2(group.id, name, &info, fields, CHDF5_H5P_DEFAULT()), .malformed,
            "H5Oget_info_by_name2")
        return info
    }

    /// `H5Oget_info2` with the basic fields and the attribute count.
    static func objectInfo<L: H5Handle & ~Copyable>(_ object: borrowing L) throws(KerasError) -> H5O_info_t {
        var info = H5O_info_t()
        let fields = CHDF5_H5O_INFO_BASIC() | CHDF5_H5O_INFO_NUM_ATTRS()
        try check(H5Oget_info2(object.id, &info, fields), .malformed, "H5Oget_info2")
        return info
    }

    // MARK: Datasets

    /// `H5Dopen2`.
    static func openDataset(_ group: borrowing H5GroupID, _ name: String) throws(KerasError) -> H5DatasetID {
        H5DatasetID(id: try checkID(H5Dopen2(group.id, name, CHDF5_H5P_DEFAULT()), .malformed, "H5Dopen2"))
    }

    /// `H5Dcreate2`.
    static func createDataset<L: H5Handle & ~Copyable>(
        _ loc: borrowing L, _ name: String, type: borrowing H5TypeID, space: borrowing H5SpaceID,
        linkCreation: borrowing H5PropertyListID, creation: borrowing H5PropertyListID
    ) throws(KerasError) -> H5DatasetID {
        let id = H5Dcreate2(loc.id, name, type.id, space.id, linkCreation.id, creation.id, CHDF5_H5P_DEFAULT())
        return H5DatasetID(id: try checkID(id, .io, "H5Dcreate2"))
    }

    /// `H5Dget_type`: a copy of the dataset's file type.
    static func datasetType(_ dataset: borrowing H5DatasetID) throws(KerasError) -> H5TypeID {
        H5TypeID(id: try checkID(H5Dget_type(dataset.id), .malformed, "H5Dget_type"))
    }

    /// `H5Dget_space`.
    static func datasetSpace(_ dataset: borrowing H5DatasetID) throws(KerasError) -> H5SpaceID {
        H5SpaceID(id: try checkID(H5Dget_space(dataset.id), .malformed, "H5Dget_space"))
    }

    /// `H5Dget_create_plist`.
    static func datasetCreationProperties(_ dataset: borrowing H5DatasetID) throws(KerasError)
        -> H5PropertyListID
    {
        H5PropertyListID(id: try checkID(H5Dget_create_plist(dataset.id), .malformed, "H5Dget_create_plist"))
    }

    /// `H5Dget_storage_size`: bytes allocated for the data in the file (0 if none, or on error).
    static func storageSize(_ dataset: borrowing H5DatasetID) -> UInt64 {
        H5Dget_storage_size(dataset.id)
    }

    /// `H5Dread` of the whole dataset with `memoryType`, into `buffer`.
    static func read(
        _ dataset: borrowing H5DatasetID, memoryType: borrowing H5TypeID, into buffer: UnsafeMutableRawPointer?
    ) throws(KerasError) {
        try check(
            H5Dread(dataset.id, memoryType.id, CHDF5_H5S_ALL(), CHDF5_H5S_ALL(), CHDF5_H5P_DEFAULT(), buffer),
            .malformed, "H5Dread")
    }

    /// `H5Dwrite` of the whole dataset with `memoryType`, from `buffer`.
    static func write(
        _ dataset: borrowing H5DatasetID, memoryType: borrowing H5TypeID, from buffer: UnsafeRawPointer?
    ) throws(KerasError) {
        try check(
            H5Dwrite(dataset.id, memoryType.id, CHDF5_H5S_ALL(), CHDF5_H5S_ALL(), CHDF5_H5P_DEFAULT(), buffer),
            .io, "H5Dwrite")
    }

    /// `H5Dvlen_reclaim`: frees the variable-length data libhdf5 allocated into `buffer` by a read.
    static func reclaimVariableLength(
        type: borrowing H5TypeID, space: borrowing H5SpaceID, buffer: UnsafeMutableRawPointer?
    ) throws(KerasError) {
        try check(
            H5Dvlen_reclaim(type.id, space.id, CHDF5_H5P_DEFAULT(), buffer), .malformed, "H5Dvlen_reclaim")
    }

    // MARK: Attributes

    /// `H5Aopen_by_idx` on the object itself (".").
    static func openAttribute<L: H5Handle & ~Copyable>(
        _ object: borrowing L, index: UInt64, byCreationOrder: Bool
    ) throws(KerasError) -> H5AttributeID {
        let indexType = byCreationOrder ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME
        let id = H5Aopen_by_idx(
            object.id, ".", indexType, H5_ITER_INC, index, CHDF5_H5P_DEFAULT(), CHDF5_H5P_DEFAULT())
        return H5AttributeID(id: try checkID(id, .malformed, "H5Aopen_by_idx"))
    }

    /// `H5Acreate2`.
    static func createAttribute<L: H5Handle & ~Copyable>(
        _ object: borrowing L, _ name: String, type: borrowing H5TypeID, space: borrowing H5SpaceID,
        creation: borrowing H5PropertyListID
    ) throws(KerasError) -> H5AttributeID {
        let id = H5Acreate2(object.id, name, type.id, space.id, creation.id, CHDF5_H5P_DEFAULT())
        return H5AttributeID(id: try checkID(id, .io, "H5Acreate2"))
    }

    /// `H5Aget_name`, twice: the length, then the name.
    static func attributeName(_ attribute: borrowing H5AttributeID, maxLength: Int) throws(KerasError) -> [UInt8] {
        let length = H5Aget_name(attribute.id, 0, nil)
        if length < 0 { throw H5ErrorStack.error(.malformed, "H5Aget_name") }
        if length > maxLength {
            throw KerasError(.malformed, path: "", "an attribute name of \(length) bytes is longer than the file")
        }
        var buffer = [CChar](repeating: 0, count: length + 1)
        let again = H5Aget_name(attribute.id, length + 1, &buffer)
        if again != length { throw H5ErrorStack.error(.malformed, "H5Aget_name") }
        return buffer.prefix(length).map { UInt8(bitPattern: $0) }
    }

    /// `H5Aget_info`: name character set and stored data size.
    static func attributeInfo(_ attribute: borrowing H5AttributeID) throws(KerasError) -> H5A_info_t {
        var info = H5A_info_t()
        try check(H5Aget_info(attribute.id, &info), .malformed, "H5Aget_info")
        return info
    }

    /// `H5Aget_type`: a copy of the attribute's file type.
    static func attributeType(_ attribute: borrowing H5AttributeID) throws(KerasError) -> H5TypeID {
        H5TypeID(id: try checkID(H5Aget_type(attribute.id), .malformed, "H5Aget_type"))
    }

    /// `H5Aget_space`.
    static func attributeSpace(_ attribute: borrowing H5AttributeID) throws(KerasError) -> H5SpaceID {
        H5SpaceID(id: try checkID(H5Aget_space(attribute.id), .malformed, "H5Aget_space"))
    }

    /// `H5Aread` of the whole attribute with `memoryType`.
    static func read(
        _ attribute: borrowing H5AttributeID, memoryType: borrowing H5TypeID, into buffer: UnsafeMutableRawPointer?
    ) throws(KerasError) {
        try check(H5Aread(attribute.id, memoryType.id, buffer), .malformed, "H5Aread")
    }

    /// `H5Awrite` of the whole attribute with `memoryType`.
    static func write(
        _ attribute: borrowing H5AttributeID, memoryType: borrowing H5TypeID, from buffer: UnsafeRawPointer?
    ) throws(KerasError) {
        try check(H5Awrite(attribute.id, memoryType.id, buffer), .io, "H5Awrite")
    }

    // MARK: Datatypes

    /// `H5Tencode`, twice: the size, then the bytes.
    static func encode(_ type: borrowing H5TypeID) throws(KerasError) -> [UInt8] {
        var size = 0
        try check(H5Tencode(type.id, nil, &size), .malformed, "H5Tencode")
        var bytes = [UInt8](repeating: 0, count: size)
        var status: herr_t = 0
        bytes.withUnsafeMutableBytes { status = H5Tencode(type.id, $0.baseAddress, &size) }
        try check(status, .malformed, "H5Tencode")
        return Array(bytes.prefix(size))
    }

    /// `H5Tdecode` of bytes that `encode` made (libhdf5 trusts the encoded lengths: never feed it file bytes).
    static func decodeType(_ bytes: [UInt8]) throws(KerasError) -> H5TypeID {
        let id = bytes.withUnsafeBytes { H5Tdecode($0.baseAddress) }
        return H5TypeID(id: try checkID(id, .inconsistent, "H5Tdecode"))
    }

    /// `H5Tget_class`.
    static func typeClass(_ type: borrowing H5TypeID) throws(KerasError) -> H5T_class_t {
        let cls = H5Tget_class(type.id)
        if cls.rawValue < 0 { throw H5ErrorStack.error(.malformed, "H5Tget_class") }
        return cls
    }

    /// `H5Tget_size`: bytes per element (the pointer size for variable-length strings).
    static func typeSize(_ type: borrowing H5TypeID) throws(KerasError) -> Int {
        let size = H5Tget_size(type.id)
        if size == 0 { throw H5ErrorStack.error(.malformed, "H5Tget_size") }
        return size
    }

    /// `H5Tget_order`: whether an integer or float type is little-endian.
    static func isLittleEndian(_ type: borrowing H5TypeID) throws(KerasError) -> Bool {
        let order = H5Tget_order(type.id)
        if order.rawValue < 0 { throw H5ErrorStack.error(.malformed, "H5Tget_order") }
        return order != H5T_ORDER_BE
    }

    /// `H5Tget_sign`: whether an integer type is signed.
    static func isSigned(_ type: borrowing H5TypeID) throws(KerasError) -> Bool {
        let sign = H5Tget_sign(type.id)
        if sign.rawValue < 0 { throw H5ErrorStack.error(.malformed, "H5Tget_sign") }
        return sign != H5T_SGN_NONE
    }

    /// `H5Tis_variable_str`.
    static func isVariableString(_ type: borrowing H5TypeID) throws(KerasError) -> Bool {
        let answer = H5Tis_variable_str(type.id)
        if answer < 0 { throw H5ErrorStack.error(.malformed, "H5Tis_variable_str") }
        return answer > 0
    }

    /// `H5Tget_nmembers` of a compound or enum type.
    static func memberCount(_ type: borrowing H5TypeID) throws(KerasError) -> Int {
        let n = H5Tget_nmembers(type.id)
        if n < 0 { throw H5ErrorStack.error(.malformed, "H5Tget_nmembers") }
        return Int(n)
    }

    /// `H5Tget_member_type` of a compound type.
    static func memberType(_ type: borrowing H5TypeID, _ index: Int) throws(KerasError) -> H5TypeID {
        H5TypeID(id: try checkID(H5Tget_member_type(type.id, UInt32(index)), .malformed, "H5Tget_member_type"))
    }

    /// `H5Tget_super`: the base type of an array, enum or vlen type.
    static func superType(_ type: borrowing H5TypeID) throws(KerasError) -> H5TypeID {
        H5TypeID(id: try checkID(H5Tget_super(type.id), .malformed, "H5Tget_super"))
    }

    // MARK: Dataspaces

    /// `H5Sencode` (1.10: no file access list argument), twice: the size, then the bytes.
    static func encode(_ space: borrowing H5SpaceID) throws(KerasError) -> [UInt8] {
        var size = 0
        try check(H5Sencode(space.id, nil, &size), .malformed, "H5Sencode")
        var bytes = [UInt8](repeating: 0, count: size)
        var status: herr_t = 0
        bytes.withUnsafeMutableBytes { status = H5Sencode(space.id, $0.baseAddress, &size) }
        try check(status, .malformed, "H5Sencode")
        return Array(bytes.prefix(size))
    }

    /// `H5Sdecode` of bytes that `encode` made (libhdf5 trusts the encoded lengths: never feed it file bytes).
    static func decodeSpace(_ bytes: [UInt8]) throws(KerasError) -> H5SpaceID {
        let id = bytes.withUnsafeBytes { H5Sdecode($0.baseAddress) }
        return H5SpaceID(id: try checkID(id, .inconsistent, "H5Sdecode"))
    }

    /// `H5Sget_simple_extent_type`: scalar, simple or null.
    static func spaceClass(_ space: borrowing H5SpaceID) throws(KerasError) -> H5S_class_t {
        let cls = H5Sget_simple_extent_type(space.id)
        if cls.rawValue < 0 { throw H5ErrorStack.error(.malformed, "H5Sget_simple_extent_type") }
        return cls
    }

    /// `H5Sget_simple_extent_dims` (after `H5Sget_simple_extent_ndims`): dims and max dims.
    static func extent(_ space: borrowing H5SpaceID) throws(KerasError) -> (dims: [UInt64], maxDims: [UInt64]) {
        let rank = H5Sget_simple_extent_ndims(space.id)
        if rank < 0 || rank > 32 { throw H5ErrorStack.error(.malformed, "H5Sget_simple_extent_ndims") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        var maxDims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0, H5Sget_simple_extent_dims(space.id, &dims, &maxDims) != rank {
            throw H5ErrorStack.error(.malformed, "H5Sget_simple_extent_dims")
        }
        return (dims, maxDims)
    }

    /// `H5Sget_simple_extent_npoints`.
    static func pointCount(_ space: borrowing H5SpaceID) throws(KerasError) -> Int {
        let n = H5Sget_simple_extent_npoints(space.id)
        if n < 0 { throw H5ErrorStack.error(.malformed, "H5Sget_simple_extent_npoints") }
        return Int(n)
    }
}

extension H5 {
    /// `H5Fflush` of the whole file.
    static func flush(_ file: borrowing H5FileID) throws(KerasError) {
        try check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), .io, "H5Fflush")
    }
}

// MARK: Building types, spaces and creation lists

extension H5 {
    /// `H5Tcopy` of a predefined or open type.
    static func copyType(_ type: hid_t) throws(KerasError) -> H5TypeID {
        H5TypeID(id: try checkID(H5Tcopy(type), .io, "H5Tcopy"))
    }

    /// `H5Tset_size` (`CHDF5_H5T_VARIABLE()` for variable-length strings).
    static func setSize(_ type: borrowing H5TypeID, _ size: Int) throws(KerasError) {
        try check(H5Tset_size(type.id, size), .io, "H5Tset_size")
    }

    /// `H5Tset_cset`.
    static func setCharacterSet(_ type: borrowing H5TypeID, utf8: Bool) throws(KerasError) {
        try check(H5Tset_cset(type.id, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII), .io, "H5Tset_cset")
    }

    /// `H5Tset_strpad`.
    static func setStringPadding(_ type: borrowing H5TypeID, _ padding: H5T_str_t) throws(KerasError) {
        try check(H5Tset_strpad(type.id, padding), .io, "H5Tset_strpad")
    }

    /// `H5Tset_fields`: sign, exponent and mantissa bit positions of a float type.
    static func setFloatFields(
        _ type: borrowing H5TypeID, sign: Int, exponent: Int, exponentSize: Int, mantissa: Int, mantissaSize: Int
    ) throws(KerasError) {
        try check(
            H5Tset_fields(type.id, sign, exponent, exponentSize, mantissa, mantissaSize), .io, "H5Tset_fields")
    }

    /// `H5Tset_ebias`: a float type's exponent bias.
    static func setExponentBias(_ type: borrowing H5TypeID, _ bias: Int) throws(KerasError) {
        try check(H5Tset_ebias(type.id, bias), .io, "H5Tset_ebias")
    }

    /// `H5Screate_simple` with max dims equal to dims.
    static func createSimpleSpace(_ dims: [UInt64]) throws(KerasError) -> H5SpaceID {
        let id = H5Screate_simple(Int32(dims.count), dims, nil)
        return H5SpaceID(id: try checkID(id, .io, "H5Screate_simple"))
    }

    /// `H5Screate` of a scalar or null space.
    static func createSpace(_ cls: H5S_class_t) throws(KerasError) -> H5SpaceID {
        H5SpaceID(id: try checkID(H5Screate(cls), .io, "H5Screate"))
    }

    /// `H5Pset_chunk`.
    static func setChunk(_ dcpl: borrowing H5PropertyListID, _ dims: [UInt64]) throws(KerasError) {
        try check(H5Pset_chunk(dcpl.id, Int32(dims.count), dims), .io, "H5Pset_chunk")
    }

    /// `H5Pset_shuffle`.
    static func setShuffle(_ dcpl: borrowing H5PropertyListID) throws(KerasError) {
        try check(H5Pset_shuffle(dcpl.id), .io, "H5Pset_shuffle")
    }

    /// `H5Pset_deflate` (gzip level 0-9).
    static func setDeflate(_ dcpl: borrowing H5PropertyListID, level: Int) throws(KerasError) {
        try check(H5Pset_deflate(dcpl.id, UInt32(clamping: level)), .io, "H5Pset_deflate")
    }

    /// `H5Pset_link_creation_order` of a group or file creation list.
    static func setLinkCreationOrder(_ plist: borrowing H5PropertyListID, _ flags: UInt32) throws(KerasError) {
        try check(H5Pset_link_creation_order(plist.id, flags), .io, "H5Pset_link_creation_order")
    }

    /// `H5Pset_attr_creation_order` of an object creation list.
    static func setAttributeCreationOrder(_ plist: borrowing H5PropertyListID, _ flags: UInt32) throws(KerasError) {
        try check(H5Pset_attr_creation_order(plist.id, flags), .io, "H5Pset_attr_creation_order")
    }
}

extension H5 {
    /// `H5Pget_userblock`: bytes reserved before the superblock by a file creation list.
    static func userBlockSize(_ fcpl: borrowing H5PropertyListID) throws(KerasError) -> Int {
        var size: hsize_t = 0
        try check(H5Pget_userblock(fcpl.id, &size), .malformed, "H5Pget_userblock")
        return Int(clamping: size)
    }
}

// MARK: Links (tests craft files with them; the writer never makes any)

extension H5 {
    /// `H5Fopen` read-write.
    static func openFileForWriting(_ name: String) throws(KerasError) -> H5FileID {
        H5FileID(id: try checkID(H5Fopen(name, CHDF5_H5F_ACC_RDWR(), CHDF5_H5P_DEFAULT()), .io, "H5Fopen"))
    }

    /// `H5Lcreate_soft`: a link `name` in `loc` to the path `target`.
    static func createSoftLink(_ loc: borrowing H5FileID, _ name: String, to target: String) throws(KerasError) {
        try check(
            H5Lcreate_soft(target, loc.id, name, CHDF5_H5P_DEFAULT(), CHDF5_H5P_DEFAULT()), .io, "H5Lcreate_soft")
    }

    /// `H5Lcreate_hard`: a second link `name` in `loc` to the object at `target`.
    static func createHardLink(_ loc: borrowing H5FileID, _ name: String, to target: String) throws(KerasError) {
        try check(
            H5Lcreate_hard(loc.id, target, loc.id, name, CHDF5_H5P_DEFAULT(), CHDF5_H5P_DEFAULT()), .io,
            "H5Lcreate_hard")
    }
}
