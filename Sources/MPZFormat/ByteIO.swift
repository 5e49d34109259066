/// Little-endian field writer for headers, the index and chunk headers.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { append(v.littleEndian) }
    mutating func u32(_ v: UInt32) { append(v.littleEndian) }
    mutating func u64(_ v: UInt64) { append(v.littleEndian) }
    mutating func i32(_ v: Int32) { append(v.littleEndian) }
    mutating func i64(_ v: Int64) { append(v.littleEndian) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func zeros(_ n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    private mutating func append<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) }
    }
}

/// Bounds-checked little-endian field reader over a region of a mapped file. Every read past the end
/// throws `MPZError.corrupt` naming the section.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position = 0
    let file: String
    let section: String

    init(_ bytes: UnsafeRawBufferPointer, file: String, section: String) {
        self.bytes = bytes
        self.file = file
        self.section = section
    }

    var remaining: Int { bytes.count - position }

    func error(_ message: String) -> MPZError { MPZError(.corrupt, file: file, message, in: section) }

    private mutating func take<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(MPZError) -> T {
        let n = MemoryLayout<T>.size
        guard remaining >= n else { throw error("ends inside \(what) (truncated)") }
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += n
        return v
    }

    mutating func u8(_ what: String) throws(MPZError) -> UInt8 { try take(UInt8.self, what) }
    mutating func u16(_ what: String) throws(MPZError) -> UInt16 { try take(UInt16.self, what) }
    mutating func u32(_ what: String) throws(MPZError) -> UInt32 { try take(UInt32.self, what) }
    mutating func u64(_ what: String) throws(MPZError) -> UInt64 { try take(UInt64.self, what) }
    mutating func i32(_ what: String) throws(MPZError) -> Int32 { try take(Int32.self, what) }
    mutating func i64(_ what: String) throws(MPZError) -> Int64 { try take(Int64.self, what) }
    mutating func f32(_ what: String) throws(MPZError) -> Float { Float(bitPattern: try u32(what)) }

    /// A count read as u64 that must fit `maxCount` items of `itemBytes` each in what remains.
    mutating func count(_ what: String, itemBytes: Int) throws(MPZError) -> Int {
        let v = try u64(what)
        guard v <= UInt64(Int.max), itemBytes == 0 || Int(v) <= remaining / itemBytes else {
            throw error("\(what) \(v) does not fit in the \(remaining) bytes left")
        }
        return Int(v)
    }

    /// The next `n` bytes as a region of the input (no copy).
    mutating func region(_ n: Int, _ what: String) throws(MPZError) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw error("\(what) of \(n) bytes runs past the end") }
        let r = UnsafeRawBufferPointer(rebasing: bytes[position..<position + n])
        position += n
        return r
    }

    mutating func floats(_ n: Int, _ what: String) throws(MPZError) -> [Float] {
        guard n <= remaining / 4 else { throw error("\(what) of \(n) values runs past the end") }
        var out = [Float](repeating: 0, count: n)
        for i in 0..<n { out[i] = try f32(what) }
        return out
    }
}
