internal import CONNXProto
import ModelIR

#if canImport(Glibc)
    import Glibc
#endif

/// Owns every C allocation made while building protobuf-c messages for one write, and frees all of
/// it at once when the write is over. Tensor buffers whose bytes the messages point at directly are
/// retained here too, so those pointers stay valid for exactly as long as the arena lives.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []
    private var unpacked: [UnsafeMutablePointer<ProtobufCMessage>] = []
    private var retained: [TensorBuffer] = []

    deinit {
        for m in unpacked { protobuf_c_message_free_unpacked(m, nil) }
        for b in blocks { b.deallocate() }
    }

    /// A zeroed, initialized message: `initialize` is the generated `*_init` function.
    func message<T>(_ initialize: (UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
        let raw = allocate(bytes: MemoryLayout<T>.stride, alignment: MemoryLayout<T>.alignment)
        let p = raw.bindMemory(to: T.self, capacity: 1)
        initialize(p)
        return p
    }

    /// A C array holding `values`, or nil for none.
    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let raw = allocate(bytes: MemoryLayout<T>.stride * values.count, alignment: MemoryLayout<T>.alignment)
        let p = raw.bindMemory(to: T.self, capacity: values.count)
        _ = UnsafeMutableBufferPointer(start: p, count: values.count).initialize(from: values)
        return p
    }

    /// An array of message pointers as protobuf-c's repeated message fields want them.
    func pointers<T>(_ values: [UnsafeMutablePointer<T>]) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?>? {
        array(values.map { Optional($0) })
    }

    /// A NUL-terminated copy of `s`, or NULL when absent.
    func cString(_ s: String?) -> UnsafeMutablePointer<CChar>? {
        guard let s else { return nil }
        var utf8 = Array(s.utf8)
        utf8.append(0)
        let raw = allocate(bytes: utf8.count, alignment: 1)
        raw.copyMemory(from: utf8, byteCount: utf8.count)
        return raw.bindMemory(to: CChar.self, capacity: utf8.count)
    }

    func cStrings(_ values: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        array(values.map { cString($0) })
    }

    /// A binary field holding a copy of `b`.
    func binary(_ b: [UInt8]) -> ProtobufCBinaryData {
        guard !b.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let raw = allocate(bytes: b.count, alignment: 1)
        raw.copyMemory(from: b, byteCount: b.count)
        return ProtobufCBinaryData(len: b.count, data: raw.bindMemory(to: UInt8.self, capacity: b.count))
    }

    /// A binary field pointing straight at `buffer`'s bytes (no copy); the buffer is retained.
    func binary(referencing buffer: TensorBuffer) -> ProtobufCBinaryData {
        retained.append(buffer)
        guard buffer.count > 0, let base = buffer.baseAddress else { return ProtobufCBinaryData(len: 0, data: nil) }
        return ProtobufCBinaryData(
            len: buffer.count, data: UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self)))
    }

    /// `buffer`'s bytes viewed as `count` values of `T`: no copy when they are suitably aligned (the
    /// buffer is then retained), an aligned copy otherwise (slices of a mapped file can sit anywhere).
    func view<T>(_ buffer: TensorBuffer, as type: T.Type, count: Int) -> UnsafeMutablePointer<T>? {
        guard count > 0, let base = buffer.baseAddress else { return nil }
        if Int(bitPattern: base) % MemoryLayout<T>.alignment == 0 {
            retained.append(buffer)
            return UnsafeMutablePointer(mutating: base.bindMemory(to: T.self, capacity: count))
        }
        let raw = allocate(bytes: MemoryLayout<T>.stride * count, alignment: MemoryLayout<T>.alignment)
        raw.copyMemory(from: base, byteCount: MemoryLayout<T>.stride * count)
        return raw.bindMemory(to: T.self, capacity: count)
    }

    /// Unpacks a verbatim-kept message with its generated `*_unpack`; freed with the arena.
    /// Nil if the bytes do not decode.
    func unpack<T>(_ bytes: [UInt8], with unpack: (Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<T>?)
        -> UnsafeMutablePointer<T>?
    {
        let m = bytes.withUnsafeBufferPointer { unpack($0.count, $0.baseAddress) }
        if let m { unpacked.append(UnsafeMutableRawPointer(m).assumingMemoryBound(to: ProtobufCMessage.self)) }
        return m
    }

    private func allocate(bytes: Int, alignment: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: max(alignment, 8))
        p.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 1))
        blocks.append(p)
        return p
    }
}
