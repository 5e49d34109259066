/// Wire-level fields of the source file that this version does not understand.
///
/// Kept, byte for byte, so that reading and writing a file loses nothing even when it was written by
/// a newer tool. Passes never look inside them.
public struct UnknownFields: Hashable, Sendable {
    /// One field: its number, wire type, and payload exactly as it followed the tag on the wire.
    public struct Field: Hashable, Sendable {
        public var number: UInt32
        public var wireType: UInt8
        public var payload: [UInt8]
        public init(number: UInt32, wireType: UInt8, payload: [UInt8]) {
            self.number = number
            self.wireType = wireType
            self.payload = payload
        }
    }

    public var fields: [Field]
    public init(_ fields: [Field] = []) { self.fields = fields }
    public var isEmpty: Bool { fields.isEmpty }
}

/// A message of the source format that ModelPress keeps verbatim, without modelling it
/// (e.g. ONNX device configurations for distributed execution).
public struct OpaqueMessage: Hashable, Sendable {
    /// The source format's message type name, e.g. `onnx.DeviceConfigurationProto`.
    public var typeName: String
    /// The message's serialized bytes.
    public var bytes: [UInt8]
    public init(typeName: String, bytes: [UInt8]) {
        self.typeName = typeName
        self.bytes = bytes
    }
}

/// A string key-value pair (metadata properties, bindings, external-data descriptors). Order is kept.
public struct MetadataEntry: Hashable, Sendable {
    public var key: String?
    public var value: String?
    public var unknownFields: UnknownFields
    public init(key: String?, value: String?, unknownFields: UnknownFields = .init()) {
        self.key = key
        self.value = value
        self.unknownFields = unknownFields
    }
}
