/// An immutable, contiguous run of bytes holding tensor data.
///
/// Reference-counted and never mutated after creation, so tensors share it freely across copies
/// and threads. It either owns memory it allocated itself, or adopts memory handed over by a reader
/// together with the closure that releases it (so a reader can pass on a buffer a C library
/// allocated, without copying a gigabyte of weights). The address is stable for the buffer's life.
public final class TensorBuffer: @unchecked Sendable {
    /// Start of the bytes; valid while this buffer is alive.
    public let baseAddress: UnsafeRawPointer?
    /// Number of bytes.
    public let count: Int
    /// nil: memory this buffer allocated itself; otherwise how to release adopted memory.
    private let release: (@Sendable (UnsafeMutableRawPointer) -> Void)?

    /// Copies `bytes` into a new buffer. O(n).
    public init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        let n = bytes.count
        count = n
        if n == 0 {
            baseAddress = nil
            release = nil
            return
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        UnsafeMutableRawBufferPointer(start: p, count: n).copyBytes(from: bytes)
        baseAddress = UnsafeRawPointer(p)
        release = nil
    }

    /// Allocates `count` bytes, lets `initialize` fill them, and owns the result.
    public init<E: Error>(
        count: Int, initializingWith initialize: (UnsafeMutableRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        self.count = count
        if count == 0 {
            baseAddress = nil
            release = nil
            try initialize(UnsafeMutableRawBufferPointer(start: nil, count: 0))
            return
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        do {
            try initialize(UnsafeMutableRawBufferPointer(start: p, count: count))
        } catch {
            p.deallocate()
            throw error
        }
        baseAddress = UnsafeRawPointer(p)
        release = nil
    }

    /// Adopts `count` bytes at `address`; `release(address)` is called exactly once when the buffer dies.
    ///
    /// The caller guarantees the bytes stay valid and unchanged until then.
    public init(
        adopting address: UnsafeMutableRawPointer, count: Int,
        release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void
    ) {
        self.baseAddress = UnsafeRawPointer(address)
        self.count = count
        self.release = release
    }

    /// A view of `range` of `parent`'s bytes, sharing its memory (no copy) and keeping it alive.
    public convenience init(slice range: Range<Int>, of parent: TensorBuffer) {
        precondition(range.lowerBound >= 0 && range.upperBound <= parent.count, "slice out of bounds")
        guard !range.isEmpty, let base = parent.baseAddress else {
            self.init(copying: [])
            return
        }
        self.init(
            adopting: UnsafeMutableRawPointer(mutating: base + range.lowerBound), count: range.count,
            release: { _ in withExtendedLifetime(parent) {} })
    }

    deinit {
        guard let p = baseAddress.map({ UnsafeMutableRawPointer(mutating: $0) }) else { return }
        if let release { release(p) } else { p.deallocate() }
    }

    /// Calls `body` with the bytes. The pointer must not escape `body`.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: baseAddress, count: count))
    }

    /// The bytes as an array (a copy). O(n).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

extension TensorBuffer: Equatable {
    /// Byte-wise equality. O(n).
    public static func == (a: TensorBuffer, b: TensorBuffer) -> Bool {
        if a === b { return true }
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }
}

extension TensorBuffer: Hashable {
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        withUnsafeBytes { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0.prefix(64))) }
    }
}
