import ModelIR

/// An HDF5 file as a tree of groups and datasets with their attributes, complete enough to write the
/// file again so that `h5diff` finds no difference: every datatype, dataspace and creation property list
/// is kept in HDF5's own encoded form (`H5Tencode`, `H5Sencode`, `H5Pencode`), every value as raw bytes.
///
/// Children appear in the order HDF5 iterates them (by name, or by creation order when the group tracks
/// it), and are written back in that order.
struct H5Tree: Sendable {
    var root: H5Group
    /// The file creation property list, `H5Pencode`d (user block, sizes, root-group link order); empty for
    /// libhdf5's defaults.
    var encodedFileCreationProperties: [UInt8] = []
}

/// The order in which HDF5 listed a group's links or an object's attributes, and so the order they are
/// written back in.
enum H5IterationOrder: Hashable, Sendable {
    /// Increasing name (HDF5's default index).
    case name
    /// Creation order: the object tracks it (`H5P_CRT_ORDER_TRACKED`), as h5py's `track_order=True` sets.
    case creation
}

/// A group: attributes, then children.
struct H5Group: Sendable {
    /// The link name in the parent ("" for the root).
    var name: String
    var attributes: [H5Attribute]
    var children: [H5Node]
    /// The group creation property list, `H5Pencode`d (link creation-order tracking and such); empty for
    /// libhdf5's defaults. Ignored for the root group, whose properties are part of the file's.
    var encodedCreationProperties: [UInt8]
    /// The order `children` were listed in.
    var linkOrder: H5IterationOrder = .name
    /// The order `attributes` were listed in.
    var attributeOrder: H5IterationOrder = .name
    /// Whether the link to this group has a UTF-8 name (else ASCII), as h5py marks its links.
    var nameIsUTF8: Bool = false
}

/// A child of a group.
indirect enum H5Node: Sendable {
    case group(H5Group)
    case dataset(H5Dataset)

    var name: String {
        switch self {
        case .group(let g): g.name
        case .dataset(let d): d.name
        }
    }
}

/// What a datatype is, decoded far enough for Swift code to interpret values.
struct H5TypeInfo: Hashable, Sendable {
    enum Class: Hashable, Sendable {
        case integer(signed: Bool)
        case float
        /// Fixed-length strings (`size` bytes each, null-padded or null-terminated or space-padded).
        case fixedString
        /// Variable-length strings (values are `.variableStrings`).
        case variableString
        /// Anything else (compound, enum, array, opaque, reference, vlen sequence): kept as raw bytes when
        /// the size is fixed, refused otherwise.
        case other
    }
    var typeClass: Class
    /// Bytes per element (for variable-length strings, the size of the in-memory pointer).
    var size: Int
    /// Byte order of integer and float types; `true` for every other class.
    var littleEndian: Bool
    /// The `H5Tencode` bytes: the exact type, written back as it was.
    var encoded: [UInt8]
}

/// Element values of an attribute or dataset.
enum H5Value: Sendable {
    /// Elements in the file type's own byte layout (no conversion), `count x type.size` bytes.
    case raw(TensorBuffer)
    /// One byte string per element, for variable-length string types.
    case variableStrings([[UInt8]])
}

/// A dataspace: scalar, simple with dims (and max dims), or null.
struct H5Space: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        case scalar
        case simple
        case null
    }
    var kind: Kind
    var dims: [Int]
    /// Max dims as stored; -1 for unlimited.
    var maxDims: [Int]
    /// The `H5Sencode` bytes.
    var encoded: [UInt8]

    /// Number of elements: 1 for scalar, 0 for null, the product of dims for simple.
    var elementCount: Int {
        switch kind {
        case .scalar: 1
        case .null: 0
        case .simple: dims.reduce(1, *)
        }
    }
}

/// An attribute on a group or dataset.
struct H5Attribute: Sendable {
    var name: String
    var type: H5TypeInfo
    var space: H5Space
    var value: H5Value
    /// Whether the attribute's name is marked UTF-8 (else ASCII).
    var nameIsUTF8: Bool = false
}

/// A dataset: its type, space, creation properties (layout, chunking, filters, fill value) and data.
struct H5Dataset: Sendable {
    var name: String
    var attributes: [H5Attribute]
    var type: H5TypeInfo
    var space: H5Space
    /// The dataset creation property list, `H5Pencode`d: contiguous/chunked/compact, chunk dims,
    /// gzip and other filters, fill value. Written back as it was, so chunked gzip stays chunked gzip.
    var encodedCreationProperties: [UInt8]
    /// Layout read from the creation properties, for reports.
    var layout: Layout
    /// The data. To replace it, set a new `.raw` buffer of exactly `space.elementCount x type.size` bytes (or
    /// one string per element for variable-length strings); the writer checks this against the decoded type
    /// and space and throws `.inconsistent` otherwise.
    var value: H5Value
    /// The order `attributes` were listed in.
    var attributeOrder: H5IterationOrder = .name
    /// Whether the link to this dataset has a UTF-8 name (else ASCII).
    var nameIsUTF8: Bool = false

    enum Layout: Hashable, Sendable {
        case compact
        case contiguous
        /// Chunked with chunk dims and the filters' names (e.g. `deflate`, `shuffle`).
        case chunked(chunk: [Int], filters: [String])
        case virtual
    }
}
