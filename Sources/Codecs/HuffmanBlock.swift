import Dispatch
import ModelIR

/// Length-limited canonical Huffman coding of symbol sequences (schemas/mpz-huffman.md §2-§4).
///
/// A Huffman block is a code table, a directory of stream sizes and the streams. The sequence is cut into
/// segments of `segmentLength` symbols that decode independently (on several cores), each coded as a
/// group of four interleaved streams. Decoding validates every field and never reads or writes out of bounds.
public enum Huffman {
    /// Symbols per segment (2^18): the unit of parallel decoding. A multiple of 8, so a segment of codes of
    /// any width packs to whole bytes.
    public static let segmentLength = 1 << 18

    /// Optimal code lengths of at most `limit` bits (1...12) for `frequencies` (package-merge); 0 for unused
    /// symbols, and length 1 for a lone used symbol. At most `2^limit` symbols may be used.
    /// O(n log n + n × limit).
    public static func codeLengths(frequencies: [UInt64], limit: Int = HuffmanCode.lengthLimit) -> [UInt8] {
        precondition((1...HuffmanCode.maxLength).contains(limit), "code length limit \(limit)")
        return HuffmanCode.packageMerge(frequencies, limit: limit)
    }

    /// Codes `symbols`, each below `alphabetSize` (1...4096), as a Huffman block. Deterministic. O(n).
    public static func encode(_ symbols: [UInt16], alphabetSize: Int) -> TensorBuffer {
        precondition((1...HuffmanCode.maxAlphabetSize).contains(alphabetSize), "alphabet size \(alphabetSize)")
        return symbols.withUnsafeBufferPointer { s in
            let plan = HuffmanSequence.plan(s, alphabetSize: alphabetSize)
            return TensorBuffer(count: plan.size) { out in
                var w = HuffmanByteWriter(out)
                HuffmanSequence.write(s, plan: plan, into: &w)
            }
        }
    }

    /// Codes bytes (alphabet 256) as a Huffman block. Deterministic. O(n).
    public static func encode(bytes: UnsafeRawBufferPointer) -> TensorBuffer {
        let s = bytes.bindMemory(to: UInt8.self)
        let plan = HuffmanSequence.plan(s, alphabetSize: 256)
        return TensorBuffer(count: plan.size) { out in
            var w = HuffmanByteWriter(out)
            HuffmanSequence.write(s, plan: plan, into: &w)
        }
    }

    /// Decodes a block of `count` symbols of an alphabet of `alphabetSize`; segments run on up to `threads`
    /// cores. Throws `.corrupt` for any damaged or inconsistent block. O(n).
    public static func decode(
        _ block: UnsafeRawBufferPointer, count: Int, alphabetSize: Int, threads: Int = 1
    ) throws(CodecError) -> [UInt16] {
        guard (1...HuffmanCode.maxAlphabetSize).contains(alphabetSize), count >= 0 else {
            throw CodecError(.usage, "alphabet size \(alphabetSize) or count \(count) is out of range")
        }
        var r = HuffmanByteReader(block, location: "huffman block")
        let parsed = try HuffmanSequence.parse(&r, count: count, alphabetSize: alphabetSize)
        try r.expectEnd()
        var result = [UInt16](repeating: 0, count: count)
        try result.withUnsafeMutableBufferPointer { (out) throws(CodecError) in
            guard let o = out.baseAddress else { return }
            let decoder = HuffmanDecoder<UInt16>(parsed.code)
            try HuffmanParallel.forEach(parsed.groups.count, threads: threads) { (g) throws(CodecError) in
                try parsed.decode(group: g, block: block, decoder: decoder, into: o + g * segmentLength)
            }
        }
        return result
    }

    /// Decodes a block of `count` bytes (alphabet 256) on up to `threads` cores. O(n).
    public static func decodeBytes(
        _ block: UnsafeRawBufferPointer, count: Int, threads: Int = 1
    ) throws(CodecError) -> TensorBuffer {
        guard count >= 0 else { throw CodecError(.usage, "count \(count) is negative") }
        var r = HuffmanByteReader(block, location: "huffman block")
        let parsed = try HuffmanSequence.parse(&r, count: count, alphabetSize: 256)
        try r.expectEnd()
        return try TensorBuffer(count: count) { (out) throws(CodecError) in
            guard let o = out.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            let decoder = HuffmanDecoder<UInt8>(parsed.code)
            try HuffmanParallel.forEach(parsed.groups.count, threads: threads) { (g) throws(CodecError) in
                try parsed.decode(group: g, block: block, decoder: decoder, into: o + g * segmentLength)
            }
        }
    }
}

/// A Huffman sequence: code table, one directory entry (4 × u32 stream sizes) per segment, then the streams
/// of every segment in order (schemas/mpz-huffman.md §3).
enum HuffmanSequence {
    /// What `write` will produce, computed first so the block is allocated once.
    struct Plan {
        var code: HuffmanCode
        var encoder: HuffmanEncoder
        var groups: [HuffmanGroupSizes]
        var payloadSize: Int
        var size: Int { code.serializedSize + 16 * groups.count + payloadSize }
    }

    /// The segments of `count` symbols: `ceil(count / segmentLength)`.
    static func segmentCount(_ count: Int) -> Int { (count + Huffman.segmentLength - 1) / Huffman.segmentLength }

    /// The symbols of segment `g`.
    static func segmentRange(_ g: Int, count: Int) -> Range<Int> {
        g * Huffman.segmentLength..<min(count, (g + 1) * Huffman.segmentLength)
    }

    static func histogram<S: FixedWidthInteger & UnsignedInteger>(
        _ symbols: UnsafeBufferPointer<S>, alphabetSize: Int
    ) -> [UInt64] {
        var h = [UInt64](repeating: 0, count: alphabetSize)
        h.withUnsafeMutableBufferPointer { hp in
            for s in symbols { hp[Int(s)] &+= 1 }
        }
        return h
    }

    /// Plans the optimal code for `symbols` (each below `alphabetSize`). O(n).
    static func plan<S: FixedWidthInteger & UnsignedInteger>(
        _ symbols: UnsafeBufferPointer<S>, alphabetSize: Int
    ) -> Plan {
        plan(symbols, code: HuffmanCode(frequencies: histogram(symbols, alphabetSize: alphabetSize)))
    }

    /// Plans `symbols` with a given code. O(n).
    static func plan<S: FixedWidthInteger & UnsignedInteger>(
        _ symbols: UnsafeBufferPointer<S>, code: HuffmanCode
    ) -> Plan {
        let encoder = HuffmanEncoder(code)
        var groups: [HuffmanGroupSizes] = []
        var payload = 0
        for g in 0..<segmentCount(symbols.count) {
            let sizes = encoder.groupSizes(
                UnsafeBufferPointer(rebasing: symbols[segmentRange(g, count: symbols.count)]))
            groups.append(sizes)
            payload += sizes.total
        }
        return Plan(code: code, encoder: encoder, groups: groups, payloadSize: payload)
    }

    /// Writes table, directory and streams. O(n).
    static func write<S: FixedWidthInteger & UnsignedInteger>(
        _ symbols: UnsafeBufferPointer<S>, plan: Plan, into w: inout HuffmanByteWriter
    ) {
        plan.code.serialize(into: &w)
        for sizes in plan.groups {
            for k in 0..<HuffmanGroup.streams { w.writeU32(UInt32(sizes[k])) }
        }
        for (g, sizes) in plan.groups.enumerated() {
            let at = w.skip(sizes.total)
            guard let base = w.buffer.baseAddress else { continue }
            plan.encoder.encodeGroup(
                UnsafeBufferPointer(rebasing: symbols[segmentRange(g, count: symbols.count)]), sizes: sizes,
                into: base + at)
        }
    }

    /// A parsed sequence: the code and where each segment's streams are in the block.
    struct Parsed: Sendable {
        var code: HuffmanCode
        var count: Int
        var groups: [(offset: Int, sizes: HuffmanGroupSizes)]
        var location: String

        /// Decodes segment `g` into `out[0..<segment length]`.
        func decode<O: HuffmanSymbol>(
            group g: Int, block: UnsafeRawBufferPointer, decoder: HuffmanDecoder<O>, into out: UnsafeMutablePointer<O>
        ) throws(CodecError) {
            guard let base = block.baseAddress else {
                if count > 0 { throw CodecError(.corrupt, "empty block for \(count) symbols", at: location) }
                return
            }
            let m = HuffmanSequence.segmentRange(g, count: count).count
            try decoder.decodeGroup(
                base + groups[g].offset, sizes: groups[g].sizes, count: m, into: out,
                location: "\(location) segment \(g)"
            )
        }
    }

    /// Reads the table and directory of a sequence of `count` symbols and skips its streams, checking that
    /// they lie within the block. O(segments + alphabet).
    static func parse(
        _ r: inout HuffmanByteReader, count: Int, alphabetSize: Int
    ) throws(CodecError) -> Parsed {
        let code = try HuffmanCode.parse(&r, alphabetSize: alphabetSize)
        let segments = segmentCount(count)
        // Check the directory fits before reading it, so a huge count fails fast.
        guard segments <= r.remaining / 16 else {
            throw CodecError(
                .corrupt,
                "truncated: \(count) symbols need \(segments) directory entries (\(segments * 16) bytes) but "
                    + "\(r.remaining) bytes remain", at: r.location)
        }
        var sizes: [HuffmanGroupSizes] = []
        sizes.reserveCapacity(segments)
        for _ in 0..<segments {
            let s0 = Int(try r.readU32("stream size"))
            let s1 = Int(try r.readU32("stream size"))
            let s2 = Int(try r.readU32("stream size"))
            let s3 = Int(try r.readU32("stream size"))
            sizes.append(HuffmanGroupSizes(s0, s1, s2, s3))
        }
        var groups: [(offset: Int, sizes: HuffmanGroupSizes)] = []
        groups.reserveCapacity(segments)
        for (g, s) in sizes.enumerated() {
            try checkGroup(s, symbols: segmentRange(g, count: count).count, code: code, location: r.location)
            let offset = try r.skip(s.total, "streams of segment \(g)")
            groups.append((offset, s))
        }
        return Parsed(code: code, count: count, groups: groups, location: r.location)
    }

    /// Rejects stream sizes no valid encoder writes: a stream holds at most 12 bits per symbol.
    static func checkGroup(
        _ s: HuffmanGroupSizes, symbols m: Int, code: HuffmanCode, location: String
    ) throws(CodecError) {
        for k in 0..<HuffmanGroup.streams {
            let n = HuffmanGroup.range(k, of: m).count
            let most = (n * max(code.longest, 1) + 7) / 8
            guard s[k] <= most else {
                throw CodecError(
                    .corrupt, "stream \(k) of \(n) symbols claims \(s[k]) bytes, more than \(most)", at: location)
            }
        }
    }
}

extension HuffmanByteReader {
    /// Throws `.corrupt` unless the whole block was read.
    func expectEnd() throws(CodecError) {
        guard remaining == 0 else {
            throw CodecError(.corrupt, "\(remaining) unexpected bytes after the end of the block", at: location)
        }
    }
}

/// Runs work items on several cores with `DispatchQueue.concurrentPerform`.
enum HuffmanParallel {
    /// Calls `body` for `0..<count`, spread over at most `threads` workers (each takes every `threads`-th item);
    /// rethrows the error of the lowest failing item.
    static func forEach(
        _ count: Int, threads: Int, _ body: (Int) throws(CodecError) -> Void
    ) throws(CodecError) {
        let workers = max(1, min(threads, count))
        if workers == 1 {
            for i in 0..<count { try body(i) }
            return
        }
        var errors = [(Int, CodecError)?](repeating: nil, count: workers)
        errors.withUnsafeMutableBufferPointer { e in
            let slots = HuffmanUnsafeSendable(e)
            withoutActuallyEscaping(body) { body in
                let work = HuffmanUnsafeSendable(body)
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    var i = w
                    while i < count {
                        do throws(CodecError) {
                            try work.value(i)
                        } catch {
                            slots.value[w] = (i, error)
                            return
                        }
                        i += workers
                    }
                }
            }
        }
        if let first = errors.compactMap({ $0 }).min(by: { $0.0 < $1.0 }) { throw first.1 }
    }
}

/// Hands a pointer or closure to concurrent workers that each touch distinct elements.
struct HuffmanUnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
