import ModelIR

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What coding a quantized tensor's symbols produced.
public struct SymbolCodingStats: Hashable, Sendable {
    /// Element count.
    public var symbols: Int
    /// The whole block's size, header and tables included.
    public var codedBytes: Int
    /// Order-0 entropy of the symbols × count (zeros included), in bits.
    public var entropyBits: Double
    /// The mode chosen: `store`, `plain`, `pairs` (3-4 bits), `quads` (2 bits), `octets` (1 bit) or `runs`.
    public var mode: String
    /// The block size every mode tried would have had, by mode name.
    public var candidateBytes: [String: Int]

    public init(symbols: Int, codedBytes: Int, entropyBits: Double, mode: String, candidateBytes: [String: Int] = [:]) {
        self.symbols = symbols
        self.codedBytes = codedBytes
        self.entropyBits = entropyBits
        self.mode = mode
        self.candidateBytes = candidateBytes
    }
}

/// Entropy coding of quantized tensors' symbols: packed codes of 1...12 bits (`BitPacking`'s layout) in,
/// a self-describing block out (schemas/mpz-huffman.md §5).
///
/// Four modes are sized exactly and the smallest block is kept (ties go to the earlier mode):
/// - `store`: the packed codes as they are;
/// - `plain`: one Huffman code over the symbols;
/// - tuples (`pairs` at 3-4 bits, `quads` at 2, `octets` at 1): one Huffman code over groups of
///   `8 / bits` consecutive symbols, which removes most of Huffman's redundancy on small skewed alphabets;
/// - `runs` (for pruned tensors): the positions of the symbols other than the commonest one `z` as gaps
///   (Deep Compression), and those symbols as literals, each with its own Huffman code.
public enum SymbolCoder {
    /// The widest symbols coded: 12 bits (alphabets up to 4096).
    public static let maxSymbolBits = 12
    /// The gap alphabet `G` of `runs`: gaps 0...254 precede a literal; 255 is the escape, 255 z's and no literal.
    public static let gapAlphabet = 256
    static let escape = UInt8(255)

    /// The block's first byte.
    public enum Mode: UInt8, CaseIterable, Sendable {
        /// The packed codes as they are.
        case store = 0
        /// One Huffman code over the symbols.
        case plain = 1
        /// One Huffman code over tuples of `8 / bits` symbols (1...4 bits only).
        case tuples = 2
        /// Gaps between the symbols other than the commonest one, and those symbols (literals).
        case runs = 3
    }

    /// Symbols per tuple in the tuples mode: `8 / bits` for 1...4 bits (1 for wider symbols: no tuples).
    public static func tupleLength(bits: Int) -> Int { bits >= 1 && bits <= 4 ? 8 / bits : 1 }

    static func tupleName(bits: Int) -> String {
        switch tupleLength(bits: bits) {
        case 8: "octets"
        case 4: "quads"
        default: "pairs"
        }
    }

    // MARK: - Encoding

    /// Codes `count` symbols of `bits` bits (1...12) packed as `BitPacking` packs them. Deterministic bytes.
    ///
    /// Padding bits of `packed` are ignored. Throws `.usage` for a negative count or bits below 1,
    /// `.unsupported` for bits above 12 and `.invalidInput` when `packed` is too short. O(n).
    ///
    /// `modes` limits the modes tried (tests use it to force one); `store` is the fallback when none applies.
    public static func encode(
        packed: TensorBuffer, bits: Int, count: Int, modes: [Mode] = Mode.allCases
    ) throws(CodecError) -> (block: TensorBuffer, stats: SymbolCodingStats) {
        let (needed, codes, histogram) = try unpacked(packed, bits: bits, count: count)
        let entropy = entropyBits(histogram: histogram, count: count)

        var candidates: [String: Int] = ["store": 1 + needed]
        var best = modes.contains(.store) ? 1 + needed : Int.max
        var chosen = Mode.store
        var plainPlan: HuffmanSequence.Plan?
        var tuplePlan: (symbols: [UInt16], plan: HuffmanSequence.Plan)?
        var runsPlan: RunsPlan?
        if count > 0, modes.contains(.plain) {
            let plan = codes.withUnsafeBufferPointer {
                HuffmanSequence.plan($0, code: HuffmanCode(frequencies: histogram))
            }
            candidates["plain"] = 1 + plan.size
            if 1 + plan.size < best {
                best = 1 + plan.size
                chosen = .plain
            }
            plainPlan = plan
        }
        if count > 0, tupleLength(bits: bits) > 1, modes.contains(.tuples) {
            let symbols = makeTuples(codes, bits: bits)
            let plan = symbols.withUnsafeBufferPointer {
                HuffmanSequence.plan($0, alphabetSize: 1 << (bits * tupleLength(bits: bits)))
            }
            candidates[tupleName(bits: bits)] = 1 + plan.size
            if 1 + plan.size < best {
                best = 1 + plan.size
                chosen = .tuples
            }
            tuplePlan = (symbols, plan)
        }
        // Runs can only win when one symbol is common: below a third Huffman's one-bit floor costs little.
        let (zFrequency, z) = histogram.enumerated().reduce((UInt64(0), 0)) {
            $1.element > $0.0 ? ($1.element, $1.offset) : $0
        }
        if count > 0, modes.contains(.runs), zFrequency * 3 >= UInt64(count) || !modes.contains(.plain) {
            let plan = codes.withUnsafeBufferPointer { RunsPlan($0, z: UInt16(z), bits: bits) }
            candidates["runs"] = plan.size
            if plan.size < best {
                best = plan.size
                chosen = .runs
            }
            runsPlan = plan
        }

        if best == Int.max { best = 1 + needed }
        let block = TensorBuffer(count: best) { out in
            var w = HuffmanByteWriter(out)
            w.writeU8(chosen.rawValue)
            switch chosen {
            case .store:
                packed.withUnsafeBytes { src in
                    w.writeBytes(UnsafeRawBufferPointer(rebasing: src[0..<needed]))
                    // Clear the padding bits of the last byte.
                    if (count * bits) % 8 != 0, let base = out.baseAddress {
                        let last = base.load(fromByteOffset: needed, as: UInt8.self)
                        base.storeBytes(
                            of: last & UInt8((1 << ((count * bits) % 8)) - 1), toByteOffset: needed, as: UInt8.self)
                    }
                }
            case .plain:
                if let plan = plainPlan {
                    codes.withUnsafeBufferPointer { HuffmanSequence.write($0, plan: plan, into: &w) }
                }
            case .tuples:
                if let t = tuplePlan {
                    t.symbols.withUnsafeBufferPointer { HuffmanSequence.write($0, plan: t.plan, into: &w) }
                }
            case .runs:
                runsPlan?.write(into: &w)
            }
            precondition(w.offset == best, "symbol block size \(w.offset) differs from its plan \(best)")
        }
        let mode =
            switch chosen {
            case .store: "store"
            case .plain: "plain"
            case .tuples: tupleName(bits: bits)
            case .runs: "runs"
            }
        return (
            block,
            SymbolCodingStats(
                symbols: count, codedBytes: best, entropyBits: entropy, mode: mode, candidateBytes: candidates)
        )
    }

    /// Order-0 entropy in bits of the whole symbol sequence (for reports). O(n).
    public static func entropyBits(packed: TensorBuffer, bits: Int, count: Int) throws(CodecError) -> Double {
        entropyBits(histogram: try unpacked(packed, bits: bits, count: count).histogram, count: count)
    }

    /// The packed size `count` codes of `bits` need, the codes, and their histogram; checks the arguments.
    private static func unpacked(_ packed: TensorBuffer, bits: Int, count: Int) throws(CodecError) -> (
        needed: Int, codes: [UInt16], histogram: [UInt64]
    ) {
        let needed = try checkArguments(bits: bits, count: count)
        guard packed.count >= needed else {
            throw CodecError(
                .invalidInput,
                "packed codes hold \(packed.count) bytes but \(count) codes of \(bits) bits need \(needed)")
        }
        let codes = packed.withUnsafeBytes { SymbolPacking.unpack($0, bits: bits, count: count) }
        let histogram = codes.withUnsafeBufferPointer { HuffmanSequence.histogram($0, alphabetSize: 1 << bits) }
        return (needed, codes, histogram)
    }

    /// `Σ f log2(n / f)` over the nonzero frequencies.
    static func entropyBits(histogram: [UInt64], count: Int) -> Double {
        guard count > 0 else { return 0 }
        let n = Double(count)
        var h = 0.0
        for f in histogram where f > 0 {
            let x = Double(f)
            h += x * log2(n / x)
        }
        return h
    }

    /// The byte count of the packed codes, after checking the arguments.
    static func checkArguments(bits: Int, count: Int) throws(CodecError) -> Int {
        guard bits >= 1 else { throw CodecError(.usage, "symbol width \(bits) bits is below 1") }
        guard bits <= maxSymbolBits else {
            throw CodecError(
                .unsupported,
                "\(bits)-bit symbols are not Huffman-coded (at most \(maxSymbolBits) bits); store them packed")
        }
        guard count >= 0, let needed = BitPacking.byteCount(count: count, bits: bits) else {
            throw CodecError(.usage, "symbol count \(count) is negative or too large")
        }
        return needed
    }

    /// Consecutive groups of `8 / bits` codes, first code lowest (so at 1, 2 and 4 bits a tuple is a packed
    /// byte); a short last tuple is padded with zero codes.
    static func makeTuples(_ codes: [UInt16], bits: Int) -> [UInt16] {
        let t = tupleLength(bits: bits)
        let n = (codes.count + t - 1) / t
        return [UInt16](unsafeUninitializedCapacity: n) { out, initialized in
            codes.withUnsafeBufferPointer { c in
                for i in 0..<n {
                    var v: UInt16 = 0
                    for j in 0..<t where i * t + j < c.count { v |= c[i * t + j] << UInt16(j * bits) }
                    out[i] = v
                }
            }
            initialized = n
        }
    }

    // MARK: - Decoding

    /// The packed buffer exactly as given to `encode` (bit-identical, padding bits zero).
    ///
    /// Validates every field; a damaged block throws `.corrupt` saying what is wrong. Segments decode on up to
    /// `threads` cores. O(n).
    public static func decode(
        _ block: UnsafeRawBufferPointer, bits: Int, count: Int, threads: Int
    ) throws(CodecError) -> TensorBuffer {
        let outBytes = try checkArguments(bits: bits, count: count)
        var r = HuffmanByteReader(block, location: "huffman block")
        let rawMode = try r.readU8("mode")
        guard let mode = Mode(rawValue: rawMode) else {
            throw CodecError(.corrupt, "unknown symbol coding mode \(rawMode)", at: r.location)
        }
        switch mode {
        case .store:
            let at = try r.skip(outBytes, "stored codes")
            try r.expectEnd()
            let used = (count * bits) % 8
            if used != 0, block[at + outBytes - 1] >> UInt8(used) != 0 {
                throw CodecError(.corrupt, "the padding bits of the stored codes are not zero", at: r.location)
            }
            return TensorBuffer(copying: UnsafeRawBufferPointer(rebasing: block[at..<(at + outBytes)]))
        case .plain:
            let parsed = try HuffmanSequence.parse(&r, count: count, alphabetSize: 1 << bits)
            try r.expectEnd()
            return try decodeSequence(parsed, block: block, width: bits, outBytes: outBytes, threads: threads) {
                _, _ throws(CodecError) in
            }
        case .tuples:
            let t = tupleLength(bits: bits)
            guard t > 1 else {
                throw CodecError(.corrupt, "tuples mode is not defined for \(bits)-bit symbols", at: r.location)
            }
            let n = (count + t - 1) / t
            let parsed = try HuffmanSequence.parse(&r, count: n, alphabetSize: 1 << (t * bits))
            try r.expectEnd()
            let lastUsed = count % t
            return try decodeSequence(parsed, block: block, width: t * bits, outBytes: outBytes, threads: threads) {
                (last: UInt16, location: String) throws(CodecError) in
                if lastUsed != 0, last >> UInt16(lastUsed * bits) != 0 {
                    throw CodecError(.corrupt, "the padding symbols of the last tuple are not zero", at: location)
                }
            }
        case .runs:
            let parsed = try RunsParsed(&r, bits: bits, count: count)
            try r.expectEnd()
            return try parsed.decode(block: block, outBytes: outBytes, threads: threads)
        }
    }

    /// Decodes a Huffman sequence of `width`-bit symbols and packs them into `outBytes` bytes; `checkLast` sees
    /// the final symbol. Byte-wide symbols are decoded in place. O(n).
    private static func decodeSequence(
        _ parsed: HuffmanSequence.Parsed, block: UnsafeRawBufferPointer, width: Int, outBytes: Int, threads: Int,
        checkLast: (UInt16, String) throws(CodecError) -> Void
    ) throws(CodecError) -> TensorBuffer {
        let n = parsed.count
        let segmentBytes = Huffman.segmentLength / 8 * width
        return try TensorBuffer(count: outBytes) { (out) throws(CodecError) in
            guard let o = out.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            if width == 8 {
                let decoder = HuffmanDecoder<UInt8>(parsed.code)
                try HuffmanParallel.forEach(parsed.groups.count, threads: threads) { (g) throws(CodecError) in
                    try parsed.decode(group: g, block: block, decoder: decoder, into: o + g * Huffman.segmentLength)
                }
                try checkLast(UInt16(o[n - 1]), parsed.location)
            } else if width < 8 {
                let decoder = HuffmanDecoder<UInt8>(parsed.code)
                try HuffmanParallel.forEach(parsed.groups.count, threads: threads) { (g) throws(CodecError) in
                    let m = HuffmanSequence.segmentRange(g, count: n).count
                    let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: m)
                    defer { scratch.deallocate() }
                    try parsed.decode(group: g, block: block, decoder: decoder, into: scratch)
                    if g == parsed.groups.count - 1 { try checkLast(UInt16(scratch[m - 1]), parsed.location) }
                    let at = g * segmentBytes
                    SymbolPacking.pack(scratch, count: m, bits: width, into: o + at, byteLimit: outBytes - at)
                }
            } else {
                let decoder = HuffmanDecoder<UInt16>(parsed.code)
                try HuffmanParallel.forEach(parsed.groups.count, threads: threads) { (g) throws(CodecError) in
                    let m = HuffmanSequence.segmentRange(g, count: n).count
                    let scratch = UnsafeMutablePointer<UInt16>.allocate(capacity: m)
                    defer { scratch.deallocate() }
                    try parsed.decode(group: g, block: block, decoder: decoder, into: scratch)
                    let at = g * segmentBytes
                    SymbolPacking.pack(scratch, count: m, bits: width, into: o + at, byteLimit: outBytes - at)
                }
            }
        }
    }
}

// MARK: - Runs

/// The `runs` mode's plan: per segment of elements, the gaps before each literal and the literals.
struct RunsPlan {
    var z: UInt16
    var gaps: [UInt8]
    /// Literal symbols: the literals themselves, or pairs of them (first lowest) when `bits <= 4`.
    var literals: [UInt16]
    /// Where each segment's gaps and literal symbols start, plus the ends.
    var gapStarts: [Int]
    var literalStarts: [Int]
    /// Literals (elements, not pair symbols) per segment.
    var literalCounts: [Int]
    var gapPlan: [HuffmanGroupSizes]
    var literalPlan: [HuffmanGroupSizes]
    var gapCode: HuffmanCode
    var literalCode: HuffmanCode
    var size: Int

    init(_ codes: UnsafeBufferPointer<UInt16>, z: UInt16, bits: Int) {
        var gaps: [UInt8] = []
        var literals: [UInt16] = []
        var gapStarts = [0]
        var literalStarts = [0]
        let segments = HuffmanSequence.segmentCount(codes.count)
        for g in 0..<segments {
            var run = 0
            for i in HuffmanSequence.segmentRange(g, count: codes.count) {
                let c = codes[i]
                if c == z {
                    run += 1
                } else {
                    while run >= Int(SymbolCoder.escape) {
                        gaps.append(SymbolCoder.escape)
                        run -= Int(SymbolCoder.escape)
                    }
                    gaps.append(UInt8(run))
                    literals.append(c)
                    run = 0
                }
            }
            gapStarts.append(gaps.count)
            literalStarts.append(literals.count)
        }
        // Small literals are coded in pairs, which removes most of Huffman's redundancy on their few values.
        var literalCounts: [Int] = []
        if RunsPlan.pairsLiterals(bits: bits) {
            var pairs: [UInt16] = []
            var pairStarts = [0]
            for g in 0..<segments {
                let seg = literals[literalStarts[g]..<literalStarts[g + 1]]
                literalCounts.append(seg.count)
                var i = seg.startIndex
                while i < seg.endIndex {
                    let high = i + 1 < seg.endIndex ? seg[i + 1] : 0
                    pairs.append(seg[i] | high << UInt16(bits))
                    i += 2
                }
                pairStarts.append(pairs.count)
            }
            literals = pairs
            literalStarts = pairStarts
        } else {
            for g in 0..<segments { literalCounts.append(literalStarts[g + 1] - literalStarts[g]) }
        }
        let gapCode = HuffmanCode(
            frequencies: gaps.withUnsafeBufferPointer {
                HuffmanSequence.histogram($0, alphabetSize: SymbolCoder.gapAlphabet)
            })
        let literalCode = HuffmanCode(
            frequencies: literals.withUnsafeBufferPointer {
                HuffmanSequence.histogram($0, alphabetSize: RunsPlan.literalAlphabet(bits: bits))
            })
        let gapEncoder = HuffmanEncoder(gapCode)
        let literalEncoder = HuffmanEncoder(literalCode)
        var gapPlan: [HuffmanGroupSizes] = []
        var literalPlan: [HuffmanGroupSizes] = []
        var payload = 0
        for g in 0..<segments {
            let gs = gaps.withUnsafeBufferPointer {
                gapEncoder.groupSizes(UnsafeBufferPointer(rebasing: $0[gapStarts[g]..<gapStarts[g + 1]]))
            }
            let ls = literals.withUnsafeBufferPointer {
                literalEncoder.groupSizes(UnsafeBufferPointer(rebasing: $0[literalStarts[g]..<literalStarts[g + 1]]))
            }
            gapPlan.append(gs)
            literalPlan.append(ls)
            payload += gs.total + ls.total
        }
        self.z = z
        self.gaps = gaps
        self.literals = literals
        self.gapStarts = gapStarts
        self.literalStarts = literalStarts
        self.literalCounts = literalCounts
        self.gapPlan = gapPlan
        self.literalPlan = literalPlan
        self.gapCode = gapCode
        self.literalCode = literalCode
        size = 1 + 2 + gapCode.serializedSize + literalCode.serializedSize + 40 * segments + payload
    }

    /// Whether literals are coded in pairs: for symbols of at most 4 bits.
    static func pairsLiterals(bits: Int) -> Bool { bits <= 4 }

    /// The literal code's alphabet: `2^bits`, or `2^(2 bits)` for pairs.
    static func literalAlphabet(bits: Int) -> Int { 1 << (pairsLiterals(bits: bits) ? 2 * bits : bits) }

    /// Literal symbols coding `literals` literals.
    static func literalSymbols(_ literals: Int, bits: Int) -> Int {
        pairsLiterals(bits: bits) ? (literals + 1) / 2 : literals
    }

    /// Writes everything after the mode byte.
    func write(into w: inout HuffmanByteWriter) {
        w.writeU16(z)
        gapCode.serialize(into: &w)
        literalCode.serialize(into: &w)
        for g in gapPlan.indices {
            w.writeU32(UInt32(gapStarts[g + 1] - gapStarts[g]))
            w.writeU32(UInt32(literalCounts[g]))
            for k in 0..<HuffmanGroup.streams { w.writeU32(UInt32(gapPlan[g][k])) }
            for k in 0..<HuffmanGroup.streams { w.writeU32(UInt32(literalPlan[g][k])) }
        }
        let gapEncoder = HuffmanEncoder(gapCode)
        let literalEncoder = HuffmanEncoder(literalCode)
        for g in gapPlan.indices {
            let at = w.skip(gapPlan[g].total + literalPlan[g].total)
            guard let base = w.buffer.baseAddress else { continue }
            gaps.withUnsafeBufferPointer {
                gapEncoder.encodeGroup(
                    UnsafeBufferPointer(rebasing: $0[gapStarts[g]..<gapStarts[g + 1]]), sizes: gapPlan[g],
                    into: base + at)
            }
            literals.withUnsafeBufferPointer {
                literalEncoder.encodeGroup(
                    UnsafeBufferPointer(rebasing: $0[literalStarts[g]..<literalStarts[g + 1]]), sizes: literalPlan[g],
                    into: base + at + gapPlan[g].total)
            }
        }
    }
}

/// A parsed `runs` block: codes and, per segment, counts and stream positions.
struct RunsParsed: Sendable {
    struct Segment: Sendable {
        var gapCount: Int
        var literalCount: Int
        var gapOffset: Int
        var gapSizes: HuffmanGroupSizes
        var literalOffset: Int
        var literalSizes: HuffmanGroupSizes
    }

    var z: UInt16
    var bits: Int
    var count: Int
    var gapCode: HuffmanCode
    var literalCode: HuffmanCode
    var segments: [Segment] = []
    var location: String

    init(_ r: inout HuffmanByteReader, bits: Int, count: Int) throws(CodecError) {
        location = r.location
        self.bits = bits
        self.count = count
        z = try r.readU16("run symbol")
        guard Int(z) < 1 << bits else {
            throw CodecError(.corrupt, "run symbol \(z) does not fit in \(bits) bits", at: location)
        }
        gapCode = try HuffmanCode.parse(&r, alphabetSize: SymbolCoder.gapAlphabet)
        literalCode = try HuffmanCode.parse(&r, alphabetSize: RunsPlan.literalAlphabet(bits: bits))
        let n = HuffmanSequence.segmentCount(count)
        guard n <= r.remaining / 40 else {
            throw CodecError(
                .corrupt,
                "truncated: \(count) symbols need \(n) directory entries (\(n * 40) bytes) but \(r.remaining) remain",
                at: location)
        }
        var directory: [(Int, Int, HuffmanGroupSizes, HuffmanGroupSizes)] = []
        for g in 0..<n {
            let elements = HuffmanSequence.segmentRange(g, count: count).count
            let gapCount = Int(try r.readU32("gap count"))
            let literalCount = Int(try r.readU32("literal count"))
            guard gapCount <= elements, literalCount <= gapCount else {
                throw CodecError(
                    .corrupt,
                    "segment \(g) of \(elements) elements claims \(gapCount) gaps and \(literalCount) literals",
                    at: location)
            }
            var s = [0, 0, 0, 0, 0, 0, 0, 0]
            for k in 0..<8 { s[k] = Int(try r.readU32("stream size")) }
            let gs = HuffmanGroupSizes(s[0], s[1], s[2], s[3])
            let ls = HuffmanGroupSizes(s[4], s[5], s[6], s[7])
            try HuffmanSequence.checkGroup(gs, symbols: gapCount, code: gapCode, location: location)
            try HuffmanSequence.checkGroup(
                ls, symbols: RunsPlan.literalSymbols(literalCount, bits: bits), code: literalCode, location: location)
            directory.append((gapCount, literalCount, gs, ls))
        }
        for (g, d) in directory.enumerated() {
            let gapOffset = try r.skip(d.2.total, "gap streams of segment \(g)")
            let literalOffset = try r.skip(d.3.total, "literal streams of segment \(g)")
            segments.append(
                Segment(
                    gapCount: d.0, literalCount: d.1, gapOffset: gapOffset, gapSizes: d.2, literalOffset: literalOffset,
                    literalSizes: d.3))
        }
    }

    func decode(block: UnsafeRawBufferPointer, outBytes: Int, threads: Int) throws(CodecError) -> TensorBuffer {
        let gapDecoder = HuffmanDecoder<UInt8>(gapCode)
        let segmentBytes = Huffman.segmentLength / 8 * bits
        return try TensorBuffer(count: outBytes) { (out) throws(CodecError) in
            guard let o = out.baseAddress?.assumingMemoryBound(to: UInt8.self), let base = block.baseAddress else {
                return
            }
            if bits <= 8 {
                let literalDecoder = HuffmanDecoder<UInt8>(literalCode)
                try HuffmanParallel.forEach(segments.count, threads: threads) { (g) throws(CodecError) in
                    let e = HuffmanSequence.segmentRange(g, count: count).count
                    let at = g * segmentBytes
                    if bits == 8 {
                        try decodeSegment(g, base: base, gapDecoder, literalDecoder, into: o + at, elements: e)
                    } else {
                        let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: e)
                        defer { scratch.deallocate() }
                        try decodeSegment(g, base: base, gapDecoder, literalDecoder, into: scratch, elements: e)
                        SymbolPacking.pack(scratch, count: e, bits: bits, into: o + at, byteLimit: outBytes - at)
                    }
                }
            } else {
                let literalDecoder = HuffmanDecoder<UInt16>(literalCode)
                try HuffmanParallel.forEach(segments.count, threads: threads) { (g) throws(CodecError) in
                    let e = HuffmanSequence.segmentRange(g, count: count).count
                    let at = g * segmentBytes
                    let scratch = UnsafeMutablePointer<UInt16>.allocate(capacity: e)
                    defer { scratch.deallocate() }
                    try decodeSegment(g, base: base, gapDecoder, literalDecoder, into: scratch, elements: e)
                    SymbolPacking.pack(scratch, count: e, bits: bits, into: o + at, byteLimit: outBytes - at)
                }
            }
        }
    }

    /// Decodes segment `g`'s gaps and literals and expands them into `out[0..<elements]`.
    private func decodeSegment<L: HuffmanSymbol>(
        _ g: Int, base: UnsafeRawPointer, _ gapDecoder: HuffmanDecoder<UInt8>, _ literalDecoder: HuffmanDecoder<L>,
        into out: UnsafeMutablePointer<L>, elements: Int
    ) throws(CodecError) {
        let s = segments[g]
        let place = "\(location) segment \(g)"
        let gaps = UnsafeMutablePointer<UInt8>.allocate(capacity: max(s.gapCount, 1))
        defer { gaps.deallocate() }
        let paired = RunsPlan.pairsLiterals(bits: bits)
        let symbols = RunsPlan.literalSymbols(s.literalCount, bits: bits)
        let literals = UnsafeMutablePointer<L>.allocate(capacity: max(symbols, 1))
        defer { literals.deallocate() }
        try gapDecoder.decodeGroup(
            base + s.gapOffset, sizes: s.gapSizes, count: s.gapCount, into: gaps, location: place + " gaps")
        try literalDecoder.decodeGroup(
            base + s.literalOffset, sizes: s.literalSizes, count: symbols, into: literals,
            location: place + " literals")
        let width = L(truncatingIfNeeded: bits)
        let mask = L(truncatingIfNeeded: (1 << bits) - 1)
        if paired, s.literalCount % 2 == 1, literals[symbols - 1] >> width != 0 {
            throw CodecError(.corrupt, "the padding literal of the last pair is not zero", at: place)
        }
        let zs = L(truncatingIfNeeded: z)
        out.update(repeating: zs, count: elements)
        var pos = 0
        var li = 0
        for i in 0..<s.gapCount {
            let gap = gaps[i]
            if gap == SymbolCoder.escape {
                pos &+= Int(SymbolCoder.escape)
                guard i != s.gapCount - 1 else {
                    throw CodecError(.corrupt, "the gaps end with an escape", at: place)
                }
                continue
            }
            pos &+= Int(gap)
            guard pos < elements, li < s.literalCount else {
                throw CodecError(.corrupt, "the gaps run past the segment's \(elements) elements", at: place)
            }
            let v = paired ? literals[li >> 1] >> (L(truncatingIfNeeded: li & 1) &* width) & mask : literals[li]
            guard v != zs else { throw CodecError(.corrupt, "a literal equals the run symbol", at: place) }
            out[pos] = v
            pos &+= 1
            li &+= 1
        }
        guard li == s.literalCount else {
            throw CodecError(
                .corrupt, "\(li) gaps precede literals but the segment holds \(s.literalCount) literals", at: place)
        }
    }
}
