/// A lossless context-mixing byte compressor for the graph part of a model file (`schemas/mpz-context.md`).
///
/// A bitwise model in the style of lpaq1 (hashed order-0...6 and word contexts, a match model, gated mixers
/// and APMs) drives a 32-bit binary arithmetic coder. The stream carries no header: the container stores the
/// byte count. Integer arithmetic only, so the output is the same on every machine. Both directions take O(n)
/// time; memory grows with `count` up to about 47 MB (46.7 MB of tables past 2^18 bytes, plus the history).
public enum ContextCoder {
    /// The largest `count` `decompress` accepts.
    public static let maximumCount = 1 << 32

    /// Compresses `bytes`. Deterministic: same input, same output bytes, on every machine.
    public static func compress(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return [] }
        let history = base.assumingMemoryBound(to: UInt8.self)
        var model = ContextModel(count: count, history: history)
        var encoder = ContextEncoder(capacity: count / 2 + 16)
        for i in 0..<count {
            let c = Int(history[i])
            for k in stride(from: 7, through: 0, by: -1) {
                let bit = (c >> k) & 1
                encoder.encode(bit, probability: model.predict())
                model.update(bit)
            }
        }
        return encoder.finish()
    }

    /// Restores exactly `count` bytes from `data`.
    ///
    /// Damage is detected where the stream structure shows it (the stream ends too early or has bytes left
    /// over); other damage yields `count` wrong bytes, which the container's checksum catches.
    public static func decompress(_ data: UnsafeRawBufferPointer, count: Int) throws(CodecError) -> [UInt8] {
        guard count >= 0, count <= maximumCount else {
            throw CodecError(
                .corrupt, "declares \(count) bytes, outside 0...\(maximumCount)", at: "context-coded stream")
        }
        if count == 0 {
            guard data.isEmpty else {
                throw CodecError(
                    .corrupt, "holds \(data.count) bytes for an empty payload", at: "context-coded stream")
            }
            return []
        }
        var output = [UInt8](repeating: 0, count: count)
        let overrun = output.withUnsafeMutableBufferPointer { out -> Int in
            let history = out.baseAddress!
            var model = ContextModel(count: count, history: UnsafePointer(history))
            var decoder = ContextDecoder(data)
            for i in 0..<count {
                var c = 0
                for k in 0..<8 {
                    let bit = decoder.decode(probability: model.predict())
                    c = c << 1 | bit
                    if k == 7 { history[i] = UInt8(c) }  // the model reads the finished byte in its last update
                    model.update(bit)
                }
                if decoder.overrun > ContextDecoder.tailSlack { return decoder.overrun }
            }
            return decoder.overrun
        }
        guard overrun <= ContextDecoder.tailSlack else {
            throw CodecError(
                .corrupt, "ends early: \(data.count) bytes cannot hold \(count) coded bytes; the payload is truncated",
                at: "context-coded stream")
        }
        guard overrun >= ContextDecoder.tailSlack - 1 else {
            throw CodecError(
                .corrupt,
                "has \(ContextDecoder.tailSlack - 1 - overrun) bytes after the end of the coded data",
                at: "context-coded stream")
        }
        return output
    }
}

/// The binary arithmetic encoder: 32-bit interval, 12-bit probabilities, carry-less (lpaq1's coder).
struct ContextEncoder {
    private var low: UInt32 = 0
    private var high: UInt32 = 0xFFFF_FFFF
    private var out: [UInt8]

    init(capacity: Int) {
        out = []
        out.reserveCapacity(capacity)
    }

    /// Codes `bit` with P(bit = 1) = probability / 4096.
    @inline(__always)
    mutating func encode(_ bit: Int, probability p: Int) {
        let range = high &- low
        let mid = low &+ (range >> 12) &* UInt32(p) &+ (((range & 0xFFF) &* UInt32(p)) >> 12)
        if bit == 1 { high = mid } else { low = mid &+ 1 }
        while (low ^ high) & 0xFF00_0000 == 0 {
            out.append(UInt8(high >> 24))
            low <<= 8
            high = high << 8 | 0xFF
        }
    }

    /// Ends the stream with the shortest tail (0 or 1 byte) that, padded with zero bytes, lies in the interval.
    mutating func finish() -> [UInt8] {
        if low != 0 {
            out.append(UInt8(low >> 24) &+ (low & 0xFF_FFFF == 0 ? 0 : 1))
        }
        return out
    }
}

/// The decoder matching `ContextEncoder`; bytes past the end of the data read as zero.
struct ContextDecoder {
    /// How many zero bytes past the end a complete stream makes the decoder read: 4 when the tail is empty,
    /// 3 when it is one byte.
    static let tailSlack = 4

    private let data: UnsafeRawBufferPointer
    private var next = 0
    private var low: UInt32 = 0
    private var high: UInt32 = 0xFFFF_FFFF
    private var x: UInt32 = 0

    init(_ data: UnsafeRawBufferPointer) {
        self.data = data
        for _ in 0..<4 { x = x << 8 | UInt32(readByte()) }
    }

    /// Bytes read past the end of the data.
    var overrun: Int { max(next - data.count, 0) }

    @inline(__always)
    private mutating func readByte() -> UInt8 {
        let i = next
        next += 1
        return i < data.count ? data[i] : 0
    }

    /// Decodes one bit coded with P(bit = 1) = probability / 4096.
    @inline(__always)
    mutating func decode(probability p: Int) -> Int {
        let range = high &- low
        let mid = low &+ (range >> 12) &* UInt32(p) &+ (((range & 0xFFF) &* UInt32(p)) >> 12)
        let bit: Int
        if x <= mid {
            bit = 1
            high = mid
        } else {
            bit = 0
            low = mid &+ 1
        }
        while (low ^ high) & 0xFF00_0000 == 0 {
            low <<= 8
            high = high << 8 | 0xFF
            x = x << 8 | UInt32(readByte())
        }
        return bit
    }
}
