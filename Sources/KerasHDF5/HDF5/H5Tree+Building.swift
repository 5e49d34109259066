internal import CHDF5

extension HDF5 {
    /// Element types for datasets and attributes that the layers above create (rather than copy from a file).
    enum ElementType: Hashable, Sendable {
        /// IEEE half precision, little-endian, as h5py and Keras define it (HDF5 1.10 has no predefined one).
        case float16
        case float32
        case float64
        case int8
        case uint8
        case int16
        case uint16
        case int32
        case uint32
        case int64
        case uint64
        /// Null-padded ASCII strings of `n` bytes (numpy `S<n>`, old Keras `layer_names`).
        case fixedString(Int)
        /// Variable-length UTF-8 strings (h5py `str`, Keras 3 `model_config`).
        case variableString
    }

    /// A datatype for `element`, described and encoded as the reader would.
    static func typeInfo(_ element: ElementType) throws(KerasError) -> H5TypeInfo {
        try HDF5Lock.withLock { () throws(KerasError) -> H5TypeInfo in
            try filling("<new HDF5 type>") { () throws(KerasError) -> H5TypeInfo in
                let type = try makeType(element)
                return try H5TreeReader.describe(type: type)
            }
        }
    }

    /// A simple dataspace with `dims` (max dims the same), or a scalar one for `nil`.
    static func space(dims: [Int]?) throws(KerasError) -> H5Space {
        try HDF5Lock.withLock { () throws(KerasError) -> H5Space in
            try filling("<new HDF5 dataspace>") { () throws(KerasError) -> H5Space in
                guard let dims else { return try H5TreeReader.describe(space: H5.createSpace(H5S_SCALAR)) }
                guard dims.allSatisfy({ $0 >= 0 }) else {
                    throw KerasError(.inconsistent, path: "", "negative dimension in \(dims)")
                }
                return try H5TreeReader.describe(space: H5.createSimpleSpace(dims.map { UInt64($0) }))
            }
        }
    }

    /// An encoded dataset creation list: contiguous by default, or chunked with optional shuffle and gzip.
    static func datasetCreationProperties(
        chunk: [Int]? = nil, shuffle: Bool = false, deflateLevel: Int? = nil, trackAttributeOrder: Bool = false
    ) throws(KerasError) -> [UInt8] {
        try HDF5Lock.withLock { () throws(KerasError) -> [UInt8] in
            try filling("<new HDF5 dataset creation list>") { () throws(KerasError) -> [UInt8] in
                let list = try H5.createPropertyList(CHDF5_H5P_DATASET_CREATE())
                if let chunk {
                    guard chunk.allSatisfy({ $0 > 0 }) else {
                        throw KerasError(.inconsistent, path: "", "chunk dims must be positive: \(chunk)")
                    }
                    try H5.setChunk(list, chunk.map { UInt64($0) })
                }
                if shuffle { try H5.setShuffle(list) }
                if let deflateLevel { try H5.setDeflate(list, level: deflateLevel) }
                if trackAttributeOrder { try H5.setAttributeCreationOrder(list, trackedAndIndexed) }
                return try H5.encode(list)
            }
        }
    }

    /// An encoded group creation list, tracking link and attribute creation order or not (h5py `track_order`).
    static func groupCreationProperties(trackOrder: Bool) throws(KerasError) -> [UInt8] {
        try orderedCreationProperties(CHDF5_H5P_GROUP_CREATE(), trackOrder: trackOrder)
    }

    /// An encoded file creation list, whose root group tracks creation order or not.
    static func fileCreationProperties(trackOrder: Bool) throws(KerasError) -> [UInt8] {
        try orderedCreationProperties(CHDF5_H5P_FILE_CREATE(), trackOrder: trackOrder)
    }

    private static var trackedAndIndexed: UInt32 { CHDF5_H5P_CRT_ORDER_TRACKED() | CHDF5_H5P_CRT_ORDER_INDEXED() }

    private static func orderedCreationProperties(_ cls: hid_t, trackOrder: Bool) throws(KerasError) -> [UInt8] {
        try HDF5Lock.withLock { () throws(KerasError) -> [UInt8] in
            try filling("<new HDF5 creation list>") { () throws(KerasError) -> [UInt8] in
                let list = try H5.createPropertyList(cls)
                if trackOrder {
                    try H5.setLinkCreationOrder(list, trackedAndIndexed)
                    try H5.setAttributeCreationOrder(list, trackedAndIndexed)
                }
                return try H5.encode(list)
            }
        }
    }

    /// Builds the libhdf5 type for `element`; call with the lock held.
    private static func makeType(_ element: ElementType) throws(KerasError) -> H5TypeID {
        switch element {
        case .float16:
            // h5py's definition: IEEE_F32LE narrowed to 1 sign, 5 exponent and 10 mantissa bits, bias 15.
            let type = try H5.copyType(CHDF5_H5T_IEEE_F32LE())
            try H5.setFloatFields(type, sign: 15, exponent: 10, exponentSize: 5, mantissa: 0, mantissaSize: 10)
            try H5.setSize(type, 2)
            try H5.setExponentBias(type, 15)
            return type
        case .float32: return try H5.copyType(CHDF5_H5T_IEEE_F32LE())
        case .float64: return try H5.copyType(CHDF5_H5T_IEEE_F64LE())
        case .int8: return try H5.copyType(CHDF5_H5T_STD_I8LE())
        case .uint8: return try H5.copyType(CHDF5_H5T_STD_U8LE())
        case .int16: return try H5.copyType(CHDF5_H5T_STD_I16LE())
        case .uint16: return try H5.copyType(CHDF5_H5T_STD_U16LE())
        case .int32: return try H5.copyType(CHDF5_H5T_STD_I32LE())
        case .uint32: return try H5.copyType(CHDF5_H5T_STD_U32LE())
        case .int64: return try H5.copyType(CHDF5_H5T_STD_I64LE())
        case .uint64: return try H5.copyType(CHDF5_H5T_STD_U64LE())
        case .fixedString(let length):
            guard length > 0 else {
                throw KerasError(.inconsistent, path: "", "a fixed-length string type needs a length above 0")
            }
            let type = try H5.copyType(CHDF5_H5T_C_S1())
            try H5.setSize(type, length)
            try H5.setStringPadding(type, H5T_STR_NULLPAD)
            return type
        case .variableString:
            let type = try H5.copyType(CHDF5_H5T_C_S1())
            try H5.setSize(type, CHDF5_H5T_VARIABLE())
            try H5.setCharacterSet(type, utf8: true)
            return type
        }
    }
}
