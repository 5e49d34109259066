import ModelIR

/// A canonical, length-limited prefix code over an alphabet of at most 4096 symbols (schemas/mpz-huffman.md §2).
///
/// The code is fully described by its code lengths: symbols are ordered by (length, symbol value) and take
/// consecutive code values, DEFLATE's canonical rule. A length of 0 means the symbol is unused. Exactly one
/// used symbol is the documented exception to the Kraft equality: it has length 1 and is coded with zero bits.
public struct HuffmanCode: Hashable, Sendable {
    /// The longest code the encoder builds (zstd's huff0 limit), unless more than `2^lengthLimit` symbols are used.
    public static let lengthLimit = 11
    /// The longest code a block may hold: 12 bits, used only when more than 2048 symbols occur.
    public static let maxLength = 12
    /// The largest alphabet: 12-bit symbols.
    public static let maxAlphabetSize = 4096

    /// The code length of every symbol of the alphabet, 0 for unused symbols.
    public let lengths: [UInt8]
    /// How many symbols have a nonzero length.
    public let usedSymbols: Int
    /// The longest code length in use (0 for an empty code).
    public let longest: Int

    /// The alphabet size (the number of lengths).
    public var alphabetSize: Int { lengths.count }

    /// The single used symbol, coded with zero bits, when exactly one symbol is used.
    public var singleSymbol: Int? {
        guard usedSymbols == 1 else { return nil }
        return lengths.firstIndex { $0 != 0 }
    }

    /// The optimal code with lengths at most `lengthLimit` (12 when more than 2048 symbols occur) for
    /// `frequencies`, one per symbol of the alphabet (at most 4096).
    ///
    /// Built by package-merge, so no other prefix code within the limit codes the frequencies in fewer
    /// bits. Ties are broken by symbol value, so the result is deterministic. O(n log n + n × limit).
    public init(frequencies: [UInt64]) {
        precondition(frequencies.count <= Self.maxAlphabetSize, "alphabet of \(frequencies.count) symbols")
        let used = frequencies.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
        let limit = used > 1 << Self.lengthLimit ? Self.maxLength : Self.lengthLimit
        let lengths = Self.packageMerge(frequencies, limit: limit)
        self.lengths = lengths
        self.usedSymbols = used
        self.longest = Int(lengths.max() ?? 0)
    }

    /// A code from stored lengths, validated: every length at most 12, and the Kraft sum exactly 1 (or a
    /// single used symbol of length 1). Throws `.corrupt` otherwise.
    public init(lengths: [UInt8]) throws(CodecError) {
        guard lengths.count <= Self.maxAlphabetSize else {
            throw CodecError(
                .corrupt, "code table has \(lengths.count) symbols, more than 4096", at: "huffman table")
        }
        var kraft = 0
        var used = 0
        var longest = 0
        for (s, l) in lengths.enumerated() where l != 0 {
            guard Int(l) <= Self.maxLength else {
                throw CodecError(
                    .corrupt, "symbol \(s) has code length \(l), longer than 12 bits", at: "huffman table")
            }
            used += 1
            longest = max(longest, Int(l))
            kraft += 1 << (Self.maxLength - Int(l))
        }
        if used == 1 {
            guard longest == 1 else {
                throw CodecError(
                    .corrupt, "the only used symbol has code length \(longest); it must be 1", at: "huffman table")
            }
        } else if used > 1, kraft != 1 << Self.maxLength {
            throw CodecError(
                .corrupt,
                "code lengths do not form a complete prefix code (Kraft sum \(kraft)/4096, must be exactly 1)",
                at: "huffman table")
        }
        self.lengths = lengths
        self.usedSymbols = used
        self.longest = longest
    }

    /// The number of bits this code spends on symbols with `frequencies` (0 for a single-symbol code).
    public func codedBits(frequencies: [UInt64]) -> UInt64 {
        guard usedSymbols > 1 else { return 0 }
        var total: UInt64 = 0
        for (s, f) in frequencies.enumerated() where f > 0 { total &+= f &* UInt64(lengths[s]) }
        return total
    }

    /// Canonical code values, MSB-first (the first transmitted bit is the value's highest of `lengths[s]` bits);
    /// 0 for unused symbols. O(n).
    public var canonicalCodes: [UInt16] {
        var countPerLength = [Int](repeating: 0, count: Self.maxLength + 2)
        for l in lengths where l != 0 { countPerLength[Int(l)] += 1 }
        var next = [Int](repeating: 0, count: Self.maxLength + 2)
        var code = 0
        for l in 1...Self.maxLength {
            code = (code + countPerLength[l - 1]) << 1
            next[l] = code
        }
        return lengths.map { l -> UInt16 in
            guard l != 0 else { return 0 }
            defer { next[Int(l)] += 1 }
            return UInt16(next[Int(l)])
        }
    }

    /// Encoder entries: the code bit-reversed (first transmitted bit lowest) in bits 0..<16 and the length
    /// in bits 16..<24; length 0 for the single-symbol code.
    var encoderTable: [UInt32] {
        let codes = canonicalCodes
        let single = usedSymbols == 1
        return lengths.indices.map { s -> UInt32 in
            let l = Int(lengths[s])
            guard l != 0, !single else { return 0 }
            var reversed: UInt32 = 0
            for b in 0..<l where codes[s] & UInt16(1 << (l - 1 - b)) != 0 { reversed |= 1 << b }
            return reversed | UInt32(l) << 16
        }
    }

    // MARK: - Serialisation

    /// Bytes of the stored table (§2.3): a u16 count `K` of stored lengths, then the lengths delta-coded
    /// in `ceil(bits / 8)` bytes.
    public var serializedSize: Int { 2 + (tableBits + 7) / 8 }

    /// One past the highest used symbol (0 for an empty code).
    private var storedCount: Int { (lengths.lastIndex { $0 != 0 } ?? -1) + 1 }

    /// Bits of the delta-coded lengths: 1 for "same as the previous", 3 for ±1, 6 for any other length.
    private var tableBits: Int {
        var bits = 0
        var previous = 0
        for i in 0..<storedCount {
            let d = Int(lengths[i]) - previous
            bits += d == 0 ? 1 : (d == 1 || d == -1 ? 3 : 6)
            previous = Int(lengths[i])
        }
        return bits
    }

    /// Writes the table (§2.3). Lengths are coded against the previous one (0 before the first), bits
    /// low first: `0` same; `1 0 s` one more (s = 0) or one less (s = 1); `1 1 v v v v` the length v. O(n).
    func serialize(into w: inout HuffmanByteWriter) {
        let k = storedCount
        w.writeU16(UInt16(k))
        var acc: UInt64 = 0
        var used = 0
        func put(_ value: UInt64, _ n: Int) {
            acc |= value << UInt64(used)
            used += n
            while used >= 8 {
                w.writeU8(UInt8(truncatingIfNeeded: acc))
                acc >>= 8
                used -= 8
            }
        }
        var previous = 0
        for i in 0..<k {
            let l = Int(lengths[i])
            switch l - previous {
            case 0: put(0, 1)
            case 1: put(0b001, 3)
            case -1: put(0b101, 3)
            default: put(0b11 | UInt64(l) << 2, 6)
            }
            previous = l
        }
        if used > 0 { w.writeU8(UInt8(truncatingIfNeeded: acc)) }
    }

    /// Reads and validates a table for an alphabet of `alphabetSize` symbols (§2.3). O(n).
    static func parse(_ r: inout HuffmanByteReader, alphabetSize: Int) throws(CodecError) -> HuffmanCode {
        let k = Int(try r.readU16("code table size"))
        guard k <= alphabetSize else {
            throw CodecError(
                .corrupt, "code table stores \(k) lengths but the alphabet has \(alphabetSize) symbols",
                at: "huffman table")
        }
        var lengths = [UInt8](repeating: 0, count: alphabetSize)
        var acc: UInt32 = 0
        var available = 0
        func bits(_ n: Int) throws(CodecError) -> UInt32 {
            while available < n {
                acc |= UInt32(try r.readU8("code lengths")) << UInt32(available)
                available += 8
            }
            let v = acc & ((1 << UInt32(n)) - 1)
            acc >>= UInt32(n)
            available -= n
            return v
        }
        var previous = 0
        for i in 0..<k {
            var l = previous
            if try bits(1) == 1 {
                if try bits(1) == 0 {
                    l += try bits(1) == 0 ? 1 : -1
                } else {
                    l = Int(try bits(4))
                }
            }
            guard l >= 0, l <= maxLength else {
                throw CodecError(.corrupt, "code length \(l) of symbol \(i) is out of range", at: "huffman table")
            }
            lengths[i] = UInt8(l)
            previous = l
        }
        guard acc == 0 else {
            throw CodecError(.corrupt, "the padding bits of the code table are not zero", at: "huffman table")
        }
        if k > 0, lengths[k - 1] == 0 {
            throw CodecError(
                .corrupt, "code table stores \(k) lengths but its last symbol is unused (not canonical)",
                at: "huffman table")
        }
        return try HuffmanCode(lengths: lengths)
    }

    // MARK: - Package-merge

    /// Optimal code lengths of at most `limit` bits (Larmore and Hirschberg's package-merge).
    ///
    /// Level 1 is the used symbols sorted by (frequency, symbol); level j + 1 merges them with the pairs
    /// ("packages") of level j, symbols first on equal weight. The first `2n - 2` items of the last level are
    /// selected; each selected symbol gains one bit, and each selected package selects its two parts one level
    /// down. O(n log n + n × limit).
    static func packageMerge(_ frequencies: [UInt64], limit: Int) -> [UInt8] {
        var lengths = [UInt8](repeating: 0, count: frequencies.count)
        var leaves = frequencies.indices.filter { frequencies[$0] > 0 }
        let n = leaves.count
        if n == 0 { return lengths }
        if n == 1 {
            lengths[leaves[0]] = 1
            return lengths
        }
        precondition(n <= 1 << limit, "\(n) symbols cannot be coded in \(limit) bits")
        leaves.sort { (frequencies[$0], $0) < (frequencies[$1], $1) }
        let leafWeights = leaves.map { frequencies[$0] }
        // Each level: weights and item kinds (a leaf's index into `leaves`, or -1 for a package).
        var levelKinds: [[Int32]] = []
        var previousWeights = leafWeights
        levelKinds.append((0..<n).map { Int32($0) })
        for _ in 1..<limit {
            let packageCount = previousWeights.count / 2
            var weights: [UInt64] = []
            var kinds: [Int32] = []
            weights.reserveCapacity(n + packageCount)
            kinds.reserveCapacity(n + packageCount)
            var li = 0
            var pi = 0
            while li < n || pi < packageCount {
                let pw = pi < packageCount ? previousWeights[2 * pi] &+ previousWeights[2 * pi + 1] : UInt64.max
                if li < n, pi >= packageCount || leafWeights[li] <= pw {
                    weights.append(leafWeights[li])
                    kinds.append(Int32(li))
                    li += 1
                } else {
                    weights.append(pw)
                    kinds.append(-1)
                    pi += 1
                }
            }
            levelKinds.append(kinds)
            previousWeights = weights
        }
        var take = 2 * n - 2
        for kinds in levelKinds.reversed() {
            var packages = 0
            for i in 0..<take {
                let k = kinds[i]
                if k >= 0 { lengths[leaves[Int(k)]] += 1 } else { packages += 1 }
            }
            take = 2 * packages
        }
        return lengths
    }
}

/// Little-endian writes into memory sized in advance (schemas/mpz-huffman.md: little-endian throughout).
struct HuffmanByteWriter {
    let buffer: UnsafeMutableRawBufferPointer
    private(set) var offset: Int

    init(_ buffer: UnsafeMutableRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    mutating func writeU8(_ v: UInt8) {
        precondition(offset < buffer.count, "HuffmanByteWriter overflow")
        buffer.storeBytes(of: v, toByteOffset: offset, as: UInt8.self)
        offset += 1
    }

    mutating func writeU16(_ v: UInt16) {
        writeU8(UInt8(truncatingIfNeeded: v))
        writeU8(UInt8(truncatingIfNeeded: v >> 8))
    }

    mutating func writeU32(_ v: UInt32) {
        writeU16(UInt16(truncatingIfNeeded: v))
        writeU16(UInt16(truncatingIfNeeded: v >> 16))
    }

    mutating func writeBytes(_ src: UnsafeRawBufferPointer) {
        precondition(offset + src.count <= buffer.count, "HuffmanByteWriter overflow")
        if let s = src.baseAddress, let b = buffer.baseAddress, src.count > 0 {
            (b + offset).copyMemory(from: s, byteCount: src.count)
        }
        offset += src.count
    }

    /// Reserves `n` bytes and returns their offset.
    mutating func skip(_ n: Int) -> Int {
        precondition(n >= 0 && offset + n <= buffer.count, "HuffmanByteWriter overflow")
        defer { offset += n }
        return offset
    }
}

/// Checked little-endian reads of a block; running past the end throws `.corrupt` naming the field.
struct HuffmanByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int
    let location: String

    init(_ bytes: UnsafeRawBufferPointer, location: String) {
        self.bytes = bytes
        self.offset = 0
        self.location = location
    }

    var remaining: Int { bytes.count - offset }

    private func need(_ n: Int, _ what: String) throws(CodecError) {
        guard n <= remaining else {
            throw CodecError(
                .corrupt, "truncated: \(what) needs \(n) bytes at offset \(offset) but \(remaining) remain",
                at: location)
        }
    }

    mutating func readU8(_ what: String) throws(CodecError) -> UInt8 {
        try need(1, what)
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readU16(_ what: String) throws(CodecError) -> UInt16 {
        try need(2, what)
        defer { offset += 2 }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    mutating func readU32(_ what: String) throws(CodecError) -> UInt32 {
        try need(4, what)
        defer { offset += 4 }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[offset + i]) << (8 * i) }
        return v
    }

    /// Skips `n` bytes and returns their offset in the block.
    mutating func skip(_ n: Int, _ what: String) throws(CodecError) -> Int {
        try need(n, what)
        defer { offset += n }
        return offset
    }
}
