/// Builds a copy of an ONNX file with its large `raw_data` payloads cut out, so that protobuf-c
/// parses only the structure and the weights stay where they are (in the mapped input file).
///
/// Each extracted `raw_data` field is replaced, in place, by a varint field numbered
/// `placeholderField` holding the payload's index; protobuf-c keeps it as an unknown field, and the
/// decoder turns it back into the payload, a zero-copy slice of the input. Every enclosing message
/// gets its new length. Only messages that contain an extracted payload are rewritten; everything
/// else is copied byte for byte. The input must have passed `WireScan.scan`, which validated every
/// tag and length this walk relies on and bounded the nesting it recurses through.
/// O(size of the structure that encloses the payloads).
enum WireSkeleton {
    /// The largest valid field number; no ONNX message uses it.
    static let placeholderField: UInt64 = 536_870_911

    static func build(_ bytes: UnsafeRawBufferPointer, payloads: [Range<Int>]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count - payloads.reduce(0) { $0 + $1.count } + payloads.count * 8)
        rewrite(bytes, 0..<bytes.count, .model, payloads, &out)
        return out
    }

    private static func rewrite(
        _ b: UnsafeRawBufferPointer, _ range: Range<Int>, _ message: WireScan.Message, _ payloads: [Range<Int>],
        _ out: inout [UInt8]
    ) {
        var at = range.lowerBound
        while at < range.upperBound {
            let fieldStart = at
            let key = varint(b, &at)
            let number = key >> 3
            switch key & 7 {
            case 0: _ = varint(b, &at)
            case 1: at += 8
            case 5: at += 4
            default:  // 2: length-delimited (the scan allowed nothing else)
                let length = Int(varint(b, &at))
                let payload = at..<(at + length)
                at = payload.upperBound
                if message == .tensor, number == 9,
                    let index = firstIndex(in: payloads, startingAt: payload.lowerBound),
                    payloads[index] == payload
                {
                    append(varint: placeholderField << 3, to: &out)
                    append(varint: UInt64(index), to: &out)
                    continue
                }
                if let child = message.child(number), contains(payloads, within: payload) {
                    var inner: [UInt8] = []
                    rewrite(b, payload, child, payloads, &inner)
                    append(varint: key, to: &out)
                    append(varint: UInt64(inner.count), to: &out)
                    out += inner
                    continue
                }
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[fieldStart..<at]))
        }
    }

    /// Index of the first payload starting at or after `offset` (binary search).
    private static func lowerBound(_ payloads: [Range<Int>], _ offset: Int) -> Int {
        var lo = 0
        var hi = payloads.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if payloads[mid].lowerBound < offset { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    private static func firstIndex(in payloads: [Range<Int>], startingAt offset: Int) -> Int? {
        let i = lowerBound(payloads, offset)
        return i < payloads.count && payloads[i].lowerBound == offset ? i : nil
    }

    private static func contains(_ payloads: [Range<Int>], within range: Range<Int>) -> Bool {
        let i = lowerBound(payloads, range.lowerBound)
        return i < payloads.count && payloads[i].upperBound <= range.upperBound
    }

    private static func varint(_ b: UnsafeRawBufferPointer, _ at: inout Int) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while at < b.count {
            let byte = b[at]
            at += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 || shift >= 63 { break }
            shift += 7
        }
        return result
    }

    private static func append(varint v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}
