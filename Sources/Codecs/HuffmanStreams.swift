import ModelIR

/// Symbol types a Huffman decoder writes: `UInt8` for alphabets up to 256 symbols, `UInt16` up to 4096.
protocol HuffmanSymbol: FixedWidthInteger & UnsignedInteger & Sendable {
    /// A double-symbol decode entry: first symbol in bits `0..<W`, second in `W..<2W` (W = `bitWidth`),
    /// the bits both consume in the next 8 bits, and the symbol count (1 or 2) in the 8 bits above.
    associatedtype Entry: FixedWidthInteger & UnsignedInteger & Sendable
}

extension UInt8: HuffmanSymbol { typealias Entry = UInt32 }
extension UInt16: HuffmanSymbol { typealias Entry = UInt64 }

/// A group: `m` symbols coded as 4 independent streams of consecutive quarters (schemas/mpz-huffman.md §3).
enum HuffmanGroup {
    /// Streams per group; the decoder runs them interleaved for instruction-level parallelism.
    static let streams = 4

    /// The symbols of stream `k` of a group of `m` symbols: `[k q, (k + 1) q) ∩ [0, m)`, `q = ceil(m / 4)`.
    @inline(__always)
    static func range(_ k: Int, of m: Int) -> Range<Int> {
        let q = (m + 3) / 4
        return min(m, k * q)..<min(m, (k + 1) * q)
    }
}

/// The byte sizes of a group's four streams, in stream order.
struct HuffmanGroupSizes: Hashable, Sendable {
    var s: (Int, Int, Int, Int)

    init(_ s0: Int, _ s1: Int, _ s2: Int, _ s3: Int) { s = (s0, s1, s2, s3) }

    subscript(_ k: Int) -> Int {
        switch k {
        case 0: s.0
        case 1: s.1
        case 2: s.2
        default: s.3
        }
    }

    var total: Int { s.0 + s.1 + s.2 + s.3 }

    static func == (a: Self, b: Self) -> Bool { a.s == b.s }
    func hash(into h: inout Hasher) {
        h.combine(s.0)
        h.combine(s.1)
        h.combine(s.2)
        h.combine(s.3)
    }
}

/// Writes groups with a canonical code: LSB-first bit packing through a 64-bit accumulator.
struct HuffmanEncoder: Sendable {
    /// Reversed code | length << 16, per symbol; all zero for a single-symbol code.
    let table: [UInt32]

    init(_ code: HuffmanCode) { table = code.encoderTable }

    /// The stream sizes of a group coding `symbols`. O(m).
    func groupSizes<S: FixedWidthInteger & UnsignedInteger>(_ symbols: UnsafeBufferPointer<S>) -> HuffmanGroupSizes {
        table.withUnsafeBufferPointer { t in
            var sizes = [0, 0, 0, 0]
            for k in 0..<HuffmanGroup.streams {
                var bits = 0
                for i in HuffmanGroup.range(k, of: symbols.count) { bits &+= Int(t[Int(symbols[i])] &>> 16) }
                sizes[k] = (bits + 7) / 8
            }
            return HuffmanGroupSizes(sizes[0], sizes[1], sizes[2], sizes[3])
        }
    }

    /// Codes `symbols` as a group into `dst`, whose four streams have the sizes `groupSizes` gave.
    /// Writes exactly `sizes.total` bytes. O(m).
    func encodeGroup<S: FixedWidthInteger & UnsignedInteger>(
        _ symbols: UnsafeBufferPointer<S>, sizes: HuffmanGroupSizes, into dst: UnsafeMutableRawPointer
    ) {
        guard let src = symbols.baseAddress else { return }
        table.withUnsafeBufferPointer { t in
            guard let tp = t.baseAddress else { return }
            var offset = 0
            let end = dst.assumingMemoryBound(to: UInt8.self) + sizes.total
            for k in 0..<HuffmanGroup.streams {
                let r = HuffmanGroup.range(k, of: symbols.count)
                let out = dst.assumingMemoryBound(to: UInt8.self) + offset
                let written = Self.encodeStream(src + r.lowerBound, count: r.count, table: tp, into: out, end: end)
                precondition(written == sizes[k], "Huffman stream size \(written) differs from its plan \(sizes[k])")
                offset += sizes[k]
            }
        }
    }

    /// One stream: 4 symbols (at most 48 bits) are added to the accumulator, then its whole bytes are
    /// stored with one unaligned 8-byte write (byte by byte within 8 bytes of `end`). O(n).
    private static func encodeStream<S: FixedWidthInteger & UnsignedInteger>(
        _ src: UnsafePointer<S>, count: Int, table: UnsafePointer<UInt32>, into dst: UnsafeMutablePointer<UInt8>,
        end: UnsafeMutablePointer<UInt8>
    ) -> Int {
        var acc: UInt64 = 0
        var fill: UInt64 = 0
        var out = dst
        @inline(__always) func put(_ s: S) {
            let e = table[Int(truncatingIfNeeded: s)]
            acc |= UInt64(e & 0xFFFF) &<< fill
            fill &+= UInt64(e &>> 16)
        }
        @inline(__always) func flush() {
            let bytes = Int(truncatingIfNeeded: fill &>> 3)
            if end - out >= 8 {
                UnsafeMutableRawPointer(out).storeBytes(of: acc.littleEndian, as: UInt64.self)
            } else {
                for j in 0..<bytes { out[j] = UInt8(truncatingIfNeeded: acc &>> UInt64(8 * j)) }
            }
            out += bytes
            acc = bytes == 8 ? 0 : acc &>> UInt64(bytes &<< 3)
            fill &= 7
        }
        var i = 0
        let n4 = count & ~3
        while i < n4 {
            put(src[i])
            put(src[i &+ 1])
            put(src[i &+ 2])
            put(src[i &+ 3])
            flush()
            i &+= 4
        }
        while i < count {
            put(src[i])
            i &+= 1
        }
        flush()
        if fill > 0 {
            out.pointee = UInt8(truncatingIfNeeded: acc)
            out += 1
        }
        return out - dst
    }
}

/// Table-driven decoding of groups (schemas/mpz-huffman.md §3.3).
///
/// One lookup of `tableBits` (11, or 12 for 12-bit codes) bits resolves one code, or two when both fit in
/// those bits (huff0's X2 double-symbol table). Four streams are decoded in one loop, each refilled
/// branch-free from an unaligned 8-byte load that keeps at least 56 valid bits, so five lookups (four with
/// 12-bit codes) run per refill. Near a stream's end a checked byte-wise loop takes over, and every stream
/// must end exactly at its last byte with zero padding bits.
final class HuffmanDecoder<O: HuffmanSymbol>: @unchecked Sendable {
    let tableBits: Int
    /// Double-symbol entries indexed by the next `tableBits` bits (immutable after init).
    private let doubleTable: UnsafeMutablePointer<O.Entry>
    /// Single-symbol entries: symbol | length << 16 (immutable after init).
    private let singleTable: UnsafeMutablePointer<UInt32>
    /// The symbol of a single-symbol code (coded with zero bits); nil otherwise.
    let singleSymbol: O?
    /// False for an empty code, which only an empty sequence may use.
    let hasSymbols: Bool
    /// True when lookups resolve two symbols often enough (a quarter of the time, for data matching the code)
    /// to pay for the double-symbol loop; otherwise lanes run in lockstep, one symbol per lookup.
    let preferDouble: Bool

    init(_ code: HuffmanCode) {
        hasSymbols = code.usedSymbols > 0
        singleSymbol = code.singleSymbol.map { O(truncatingIfNeeded: $0) }
        let bits = code.usedSymbols > 1 ? max(code.longest, HuffmanCode.lengthLimit) : 0
        tableBits = bits
        let size = 1 << bits
        singleTable = .allocate(capacity: size)
        singleTable.initialize(repeating: 0, count: size)
        doubleTable = .allocate(capacity: size)
        doubleTable.initialize(repeating: 0, count: size)
        guard code.usedSymbols > 1 else {
            preferDouble = false
            return
        }
        let encoder = code.encoderTable
        for s in 0..<code.alphabetSize where code.lengths[s] != 0 {
            let l = Int(code.lengths[s])
            let r = Int(encoder[s] & 0xFFFF)
            for index in stride(from: r, to: size, by: 1 << l) { singleTable[index] = UInt32(s) | UInt32(l) << 16 }
        }
        let w = O.bitWidth
        var doubles = 0
        for index in 0..<size {
            let e1 = singleTable[index]
            let l1 = Int(e1 >> 16)
            let e2 = singleTable[index >> l1]
            let l2 = Int(e2 >> 16)
            let s1 = O.Entry(e1 & 0xFFFF)
            if l1 + l2 <= bits {
                let s2 = O.Entry(e2 & 0xFFFF)
                doubleTable[index] = s1 | s2 << w | O.Entry(l1 + l2) << (2 * w) | O.Entry(2) << (2 * w + 8)
                doubles += 1
            } else {
                doubleTable[index] = s1 | O.Entry(l1) << (2 * w) | O.Entry(1) << (2 * w + 8)
            }
        }
        // Table entries are hit with the probabilities the code implies, so `doubles / size` is the share of
        // lookups that yield two symbols.
        preferDouble = doubles * 4 >= size
    }

    deinit {
        doubleTable.deallocate()
        singleTable.deallocate()
    }

    /// Decodes a group of `m` symbols from its four streams, which start at `streams` and have `sizes`,
    /// into `out[0..<m]`. Throws `.corrupt` when a stream does not end exactly at its last byte. O(m).
    func decodeGroup(
        _ streams: UnsafeRawPointer, sizes: HuffmanGroupSizes, count m: Int, into out: UnsafeMutablePointer<O>,
        location: String
    ) throws(CodecError) {
        if m == 0 || singleSymbol != nil || !hasSymbols {
            guard sizes.total == 0 else {
                throw CodecError(
                    .corrupt, "a group of \(m) symbols with a zero-bit code has \(sizes.total) stream bytes",
                    at: location)
            }
            guard m == 0 || hasSymbols else {
                throw CodecError(.corrupt, "\(m) symbols are coded with an empty code table", at: location)
            }
            if let s = singleSymbol { out.update(repeating: s, count: m) }
            return
        }
        let base = streams.assumingMemoryBound(to: UInt8.self)
        let r0 = HuffmanGroup.range(0, of: m)
        let r1 = HuffmanGroup.range(1, of: m)
        let r2 = HuffmanGroup.range(2, of: m)
        let r3 = HuffmanGroup.range(3, of: m)
        var l0 = HuffmanLane(start: base, size: sizes[0], out: out + r0.lowerBound, count: r0.count)
        var l1 = HuffmanLane(start: base + sizes[0], size: sizes[1], out: out + r1.lowerBound, count: r1.count)
        var l2 = HuffmanLane(
            start: base + sizes[0] + sizes[1], size: sizes[2], out: out + r2.lowerBound, count: r2.count)
        var l3 = HuffmanLane(
            start: base + sizes[0] + sizes[1] + sizes[2], size: sizes[3], out: out + r3.lowerBound, count: r3.count)
        let table = UnsafePointer(doubleTable)
        let mask = UInt64((1 << tableBits) - 1)
        let five = tableBits <= 11
        let steps = five ? 5 : 4
        // Constant masks and step counts let the compiler use immediates in the hot loops.
        switch (tableBits, preferDouble) {
        case (11, true): Self.doubleLoop(&l0, &l1, &l2, &l3, table, mask: 0x7FF, five: true)
        case (11, false): Self.lockstepLoop(&l0, &l1, &l2, &l3, singleTable, mask: 0x7FF, five: true)
        case (_, true): Self.doubleLoop(&l0, &l1, &l2, &l3, table, mask: 0xFFF, five: false)
        default: Self.lockstepLoop(&l0, &l1, &l2, &l3, singleTable, mask: 0xFFF, five: false)
        }
        // Then each lane alone, then each lane's checked tail.
        l0.fastLoop(table, mask, steps: steps)
        l1.fastLoop(table, mask, steps: steps)
        l2.fastLoop(table, mask, steps: steps)
        l3.fastLoop(table, mask, steps: steps)
        let single = UnsafePointer(singleTable)
        try l0.finish(single, mask, stream: 0, location: location)
        try l1.finish(single, mask, stream: 1, location: location)
        try l2.finish(single, mask, stream: 2, location: location)
        try l3.finish(single, mask, stream: 3, location: location)
    }

    /// Four lanes, double-symbol lookups, while every lane has room.
    @inline(__always)
    private static func doubleLoop(
        _ l0: inout HuffmanLane<O>, _ l1: inout HuffmanLane<O>, _ l2: inout HuffmanLane<O>,
        _ l3: inout HuffmanLane<O>, _ table: UnsafePointer<O.Entry>, mask: UInt64, five: Bool
    ) {
        let steps = five ? 5 : 4
        while true {
            let budget = min(
                min(l0.budget(steps: steps), l1.budget(steps: steps)),
                min(l2.budget(steps: steps), l3.budget(steps: steps)))
            if budget == 0 { return }
            for _ in 0..<budget {
                l0.refill()
                l1.refill()
                l2.refill()
                l3.refill()
                l0.step(table, mask)
                l1.step(table, mask)
                l2.step(table, mask)
                l3.step(table, mask)
                l0.step(table, mask)
                l1.step(table, mask)
                l2.step(table, mask)
                l3.step(table, mask)
                l0.step(table, mask)
                l1.step(table, mask)
                l2.step(table, mask)
                l3.step(table, mask)
                l0.step(table, mask)
                l1.step(table, mask)
                l2.step(table, mask)
                l3.step(table, mask)
                if five {
                    l0.step(table, mask)
                    l1.step(table, mask)
                    l2.step(table, mask)
                    l3.step(table, mask)
                }
            }
        }
    }

    /// Four lanes, single-symbol lookups: every lane writes one symbol per lookup, so all advance by one
    /// shared index and no output pointer is updated in the loop.
    @inline(__always)
    private static func lockstepLoop(
        _ l0: inout HuffmanLane<O>, _ l1: inout HuffmanLane<O>, _ l2: inout HuffmanLane<O>,
        _ l3: inout HuffmanLane<O>, _ table: UnsafeMutablePointer<UInt32>, mask: UInt64, five: Bool
    ) {
        let steps = five ? 5 : 4
        let n = min(min(l0.outEnd - l0.out, l1.outEnd - l1.out), min(l2.outEnd - l2.out, l3.outEnd - l3.out))
        let (o0, o1, o2, o3) = (l0.out, l1.out, l2.out, l3.out)
        var i = 0
        while true {
            let budget = min(
                min(min(l0.inputBudget, l1.inputBudget), min(l2.inputBudget, l3.inputBudget)), (n &- i) / steps)
            if budget <= 0 { break }
            for _ in 0..<budget {
                l0.refill()
                l1.refill()
                l2.refill()
                l3.refill()
                o0[i] = l0.single(table, mask)
                o1[i] = l1.single(table, mask)
                o2[i] = l2.single(table, mask)
                o3[i] = l3.single(table, mask)
                o0[i &+ 1] = l0.single(table, mask)
                o1[i &+ 1] = l1.single(table, mask)
                o2[i &+ 1] = l2.single(table, mask)
                o3[i &+ 1] = l3.single(table, mask)
                o0[i &+ 2] = l0.single(table, mask)
                o1[i &+ 2] = l1.single(table, mask)
                o2[i &+ 2] = l2.single(table, mask)
                o3[i &+ 2] = l3.single(table, mask)
                o0[i &+ 3] = l0.single(table, mask)
                o1[i &+ 3] = l1.single(table, mask)
                o2[i &+ 3] = l2.single(table, mask)
                o3[i &+ 3] = l3.single(table, mask)
                if five {
                    o0[i &+ 4] = l0.single(table, mask)
                    o1[i &+ 4] = l1.single(table, mask)
                    o2[i &+ 4] = l2.single(table, mask)
                    o3[i &+ 4] = l3.single(table, mask)
                }
                i &+= steps
            }
        }
        l0.out += i
        l1.out += i
        l2.out += i
        l3.out += i
    }
}

/// The state of one stream being decoded: the bit container (LSB-first), its valid bit count, the next
/// byte to load, and the output position.
struct HuffmanLane<O: HuffmanSymbol> {
    var bits: UInt64 = 0
    var avail: UInt64 = 0
    var p: UnsafePointer<UInt8>
    let start: UnsafePointer<UInt8>
    let size: Int
    var out: UnsafeMutablePointer<O>
    let outEnd: UnsafeMutablePointer<O>

    init(start: UnsafePointer<UInt8>, size: Int, out: UnsafeMutablePointer<O>, count: Int) {
        self.p = start
        self.start = start
        self.size = size
        self.out = out
        self.outEnd = out + count
    }

    /// Iterations (one refill, `steps` lookups of up to two symbols each) that stay within both the stream's
    /// bytes (the 8-byte load) and the output.
    @inline(__always)
    func budget(steps: Int) -> Int {
        min(inputBudget, (outEnd - out) / (2 &* steps))
    }

    /// Refills that stay within the stream's bytes (each loads 8 bytes and advances at most 7).
    @inline(__always)
    var inputBudget: Int {
        let inRoom = size &- 8 &- (p - start)
        return inRoom < 0 ? 0 : inRoom / 7 &+ 1
    }

    /// One single-symbol lookup (symbol | length << 16), returning the symbol.
    @inline(__always)
    mutating func single(_ table: UnsafeMutablePointer<UInt32>, _ mask: UInt64) -> O {
        let e = table[Int(truncatingIfNeeded: bits & mask)]
        let n = UInt64(truncatingIfNeeded: e &>> 16)
        bits &>>= n
        avail &-= n
        return O(truncatingIfNeeded: e)
    }

    /// Tops the container up to 56...63 valid bits from an unaligned little-endian 8-byte load.
    @inline(__always)
    mutating func refill() {
        bits |= UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)) &<< avail
        p += Int(truncatingIfNeeded: (63 &- avail) &>> 3)
        avail |= 56
    }

    /// One double-table lookup: writes two symbols (the second is overwritten later when only one is valid).
    @inline(__always)
    mutating func step(_ table: UnsafePointer<O.Entry>, _ mask: UInt64) {
        let e = table[Int(truncatingIfNeeded: bits & mask)]
        let w = O.bitWidth
        out[0] = O(truncatingIfNeeded: e)
        out[1] = O(truncatingIfNeeded: e &>> w)
        let n = UInt64(truncatingIfNeeded: e &>> (2 &* w)) & 0xFF
        bits &>>= n
        avail &-= n
        out += Int(truncatingIfNeeded: e &>> (2 &* w &+ 8))
    }

    mutating func fastLoop(_ table: UnsafePointer<O.Entry>, _ mask: UInt64, steps: Int) {
        while true {
            let b = budget(steps: steps)
            if b == 0 { return }
            for _ in 0..<b {
                refill()
                step(table, mask)
                step(table, mask)
                step(table, mask)
                step(table, mask)
                if steps == 5 { step(table, mask) }
            }
        }
    }

    /// Decodes the remaining symbols one at a time with byte-wise refills (zeros past the end), then checks
    /// that the stream ends exactly at its last byte with zero padding bits.
    mutating func finish(
        _ single: UnsafePointer<UInt32>, _ mask: UInt64, stream: Int, location: String
    ) throws(CodecError) {
        var pos = p - start
        while out < outEnd {
            while avail <= 56 {
                let byte: UInt64 = pos < size ? UInt64(start[pos]) : 0
                bits |= byte &<< avail
                pos &+= 1
                avail &+= 8
            }
            let e = single[Int(truncatingIfNeeded: bits & mask)]
            out.pointee = O(truncatingIfNeeded: e & 0xFFFF)
            let n = UInt64(e &>> 16)
            bits &>>= n
            avail &-= n
            out += 1
        }
        let consumed = pos &* 8 &- Int(avail)
        guard consumed <= size &* 8 else {
            throw CodecError(
                .corrupt, "stream \(stream) runs \(consumed - size * 8) bits past its \(size) bytes", at: location)
        }
        guard (consumed + 7) / 8 == size else {
            throw CodecError(
                .corrupt, "stream \(stream) ends after \((consumed + 7) / 8) of its \(size) bytes", at: location)
        }
        if consumed % 8 != 0, start[size - 1] >> UInt8(consumed % 8) != 0 {
            throw CodecError(.corrupt, "stream \(stream) has nonzero padding bits", at: location)
        }
    }
}
