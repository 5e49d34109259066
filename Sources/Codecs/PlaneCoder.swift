import ModelIR

/// What coding a dense tensor's bytes produced.
public struct PlaneCodingStats: Hashable, Sendable {
    /// Input bytes.
    public var byteCount: Int
    /// The whole block's size.
    public var codedBytes: Int
    /// `identity` or `rotate` (each element rotated left one bit: the float sign moves to bit 0 and the exponent
    /// fills the top byte), with `+zero-mask` when all-zero elements were coded as a mask.
    public var transform: String
    /// Per byte plane, low byte first: `huffman` or `raw`.
    public var planes: [String]
    /// Per byte plane, the bytes it takes in the block (table and directory included).
    public var planeBytes: [Int]

    public init(byteCount: Int, codedBytes: Int, transform: String, planes: [String], planeBytes: [Int]) {
        self.byteCount = byteCount
        self.codedBytes = codedBytes
        self.transform = transform
        self.planes = planes
        self.planeBytes = planeBytes
    }
}

/// Lossless coding of dense tensor bytes by byte planes (schemas/mpz-huffman.md §6).
///
/// Elements (little-endian, 1, 2, 4 or 8 bytes) are optionally rotated left by one bit, so a float's top
/// byte is its exponent alone (float32, bfloat16) and the sign sits with the noisy low mantissa bits. Byte
/// `j` of every element forms plane `j`; each plane is Huffman-coded (segmented like `Huffman`, so planes
/// decode on several cores) when that is smaller, and stored raw otherwise: the skewed exponent planes
/// shrink, the near-random mantissa planes cost nothing extra.
public enum PlaneCoder {
    enum Transform: UInt8 {
        case identity = 0
        case rotate = 1

        var name: String { self == .identity ? "identity" : "rotate" }
    }

    enum Method: UInt8 {
        case raw = 0
        case huffman = 1
    }

    /// Codes `bytes`: little-endian elements of `elementWidth` bytes (1, 2, 4 or 8). Deterministic. O(n).
    ///
    /// When enough elements are all-zero (pruned or padded weights), their positions are coded once as a
    /// 1-bit mask (a `SymbolCoder` block) and the planes hold only the other elements; the smaller layout wins.
    /// A byte count that is not a multiple of the width keeps its last `byteCount % elementWidth` bytes raw.
    /// Another width is a programming error and traps.
    public static func encode(
        _ bytes: UnsafeRawBufferPointer, elementWidth: Int
    ) -> (block: TensorBuffer, stats: PlaneCodingStats) {
        precondition([1, 2, 4, 8].contains(elementWidth), "PlaneCoder: element width \(elementWidth)")
        let w = elementWidth
        let n = bytes.count / w
        let tail = bytes.count - n * w
        let dense = PlanePlan(UnsafeRawBufferPointer(rebasing: bytes[0..<(n * w)]), width: w)
        var size = 2 + dense.size + tail
        var sparse: (mask: TensorBuffer, compact: [UInt8], plan: PlanePlan)?

        // All-zero elements: a mask costs about H(p) bits per element and saves their bytes in every plane.
        var nonzero = [UInt16](repeating: 0, count: n)
        var compact: [UInt8] = []
        if let base = bytes.baseAddress {
            for i in 0..<n where load(base, i, width: w) != 0 { nonzero[i] = 1 }
        }
        let zeros = n - nonzero.reduce(0) { $0 + Int($1) }
        if zeros * 32 >= n, zeros > 0 {
            compact.reserveCapacity((n - zeros) * w)
            let src = bytes.bindMemory(to: UInt8.self)
            for i in 0..<n where nonzero[i] != 0 { compact.append(contentsOf: src[(i * w)..<(i * w + w)]) }
            let packed = BitPacking.pack(nonzero, bits: 1)
            if let mask = try? SymbolCoder.encode(packed: packed, bits: 1, count: n).block {
                let plan = compact.withUnsafeBytes { PlanePlan($0, width: w) }
                let sparseSize = 2 + 4 + mask.count + plan.size + tail
                if sparseSize < size {
                    size = sparseSize
                    sparse = (mask, compact, plan)
                }
            }
        }

        let chosen = sparse?.plan ?? dense
        let block = TensorBuffer(count: size) { out in
            var wr = HuffmanByteWriter(out)
            wr.writeU8(chosen.transform.rawValue | (sparse == nil ? 0 : zeroMaskFlag))
            wr.writeU8(UInt8(w))
            if let sparse {
                wr.writeU32(UInt32(sparse.mask.count))
                sparse.mask.withUnsafeBytes { wr.writeBytes($0) }
                sparse.compact.withUnsafeBytes { sparse.plan.write($0, into: &wr) }
            } else {
                dense.write(UnsafeRawBufferPointer(rebasing: bytes[0..<(n * w)]), into: &wr)
            }
            wr.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[(n * w)...]))
            precondition(wr.offset == size, "plane block size \(wr.offset) differs from its plan \(size)")
        }
        let stats = PlaneCodingStats(
            byteCount: bytes.count, codedBytes: size,
            transform: chosen.transform.name + (sparse == nil ? "" : "+zero-mask"),
            planes: chosen.plans.map { $0 == nil ? "raw" : "huffman" }, planeBytes: chosen.planeBytes)
        return (block, stats)
    }

    /// The flag bit of the first byte saying all-zero elements were removed and a mask block follows.
    static let zeroMaskFlag: UInt8 = 2

    /// The planes of whole elements: transform, per-plane method and Huffman plans, sized exactly.
    struct PlanePlan {
        var transform: Transform
        var planes: [[UInt8]]
        var plans: [HuffmanSequence.Plan?]
        var planeBytes: [Int]
        /// Method bytes and planes.
        var size: Int

        init(_ bytes: UnsafeRawBufferPointer, width w: Int) {
            let n = bytes.count / w
            let segments = HuffmanSequence.segmentCount(n)
            // Pick the transform by the estimated size of its planes.
            let histograms = planeHistograms(bytes, width: w, count: n)
            var transform = Transform.identity
            var codes: [HuffmanCode] = histograms[0].map { HuffmanCode(frequencies: $0) }
            if w > 1 {
                let rotated = histograms[1].map { HuffmanCode(frequencies: $0) }
                let estimate = { (codes: [HuffmanCode], hist: [[UInt64]]) -> Int in
                    zip(codes, hist).reduce(0) { total, p in
                        total + min(n, Int(p.0.codedBits(frequencies: p.1) / 8) + p.0.serializedSize + 16 * segments)
                    }
                }
                if estimate(rotated, histograms[1]) < estimate(codes, histograms[0]) {
                    transform = .rotate
                    codes = rotated
                }
            }
            // Split into planes and size each exactly.
            planes = split(bytes, width: w, count: n, transform: transform)
            plans = []
            planeBytes = []
            size = w
            for j in 0..<w {
                let plan = planes[j].withUnsafeBufferPointer { HuffmanSequence.plan($0, code: codes[j]) }
                if plan.size < n {
                    plans.append(plan)
                    planeBytes.append(plan.size)
                } else {
                    plans.append(nil)
                    planeBytes.append(n)
                }
                size += planeBytes[j]
            }
            self.transform = transform
        }

        func write(_ bytes: UnsafeRawBufferPointer, into wr: inout HuffmanByteWriter) {
            for j in planes.indices { wr.writeU8(plans[j] == nil ? Method.raw.rawValue : Method.huffman.rawValue) }
            for j in planes.indices {
                planes[j].withUnsafeBufferPointer { p in
                    if let plan = plans[j] {
                        HuffmanSequence.write(p, plan: plan, into: &wr)
                    } else {
                        wr.writeBytes(UnsafeRawBufferPointer(p))
                    }
                }
            }
        }
    }

    /// Histograms of every plane, `[transform][plane][byte]`, identity and rotated. O(n).
    static func planeHistograms(_ bytes: UnsafeRawBufferPointer, width w: Int, count n: Int) -> [[[UInt64]]] {
        var identity = [UInt64](repeating: 0, count: 256 * w)
        var rotated = [UInt64](repeating: 0, count: 256 * w)
        identity.withUnsafeMutableBufferPointer { hi in
            rotated.withUnsafeMutableBufferPointer { hr in
                guard let base = bytes.baseAddress else { return }
                for i in 0..<n {
                    let v = load(base, i, width: w)
                    let r = rotateLeft(v, width: w)
                    for j in 0..<w {
                        hi[j &* 256 &+ Int(truncatingIfNeeded: (v &>> UInt64(8 &* j)) & 255)] &+= 1
                        hr[j &* 256 &+ Int(truncatingIfNeeded: (r &>> UInt64(8 &* j)) & 255)] &+= 1
                    }
                }
            }
        }
        return [identity, rotated].map { h in (0..<w).map { Array(h[($0 * 256)..<($0 * 256 + 256)]) } }
    }

    /// Planes of the transformed elements. O(n).
    static func split(
        _ bytes: UnsafeRawBufferPointer, width w: Int, count n: Int, transform: Transform
    ) -> [[UInt8]] {
        var planes = [[UInt8]](repeating: [], count: w)
        guard let base = bytes.baseAddress, n > 0 else { return planes }
        for j in 0..<w {
            planes[j] = [UInt8](unsafeUninitializedCapacity: n) { out, initialized in
                let shift = UInt64(8 * j)
                if transform == .identity {
                    let src = base.assumingMemoryBound(to: UInt8.self)
                    for i in 0..<n { out[i] = src[i &* w &+ j] }
                } else {
                    for i in 0..<n {
                        out[i] = UInt8(truncatingIfNeeded: rotateLeft(load(base, i, width: w), width: w) &>> shift)
                    }
                }
                initialized = n
            }
        }
        return planes
    }

    @inline(__always)
    static func load(_ base: UnsafeRawPointer, _ i: Int, width: Int) -> UInt64 {
        switch width {
        case 1: UInt64(base.load(fromByteOffset: i, as: UInt8.self))
        case 2: UInt64(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)))
        case 4: UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)))
        default: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self))
        }
    }

    @inline(__always)
    static func rotateLeft(_ v: UInt64, width: Int) -> UInt64 {
        let bits = UInt64(8 * width)
        let mask: UInt64 = width == 8 ? .max : (1 &<< bits) &- 1
        return ((v &<< 1) | (v &>> (bits &- 1))) & mask
    }

    // MARK: - Decoding

    /// The bytes given to `encode`, bit-identical. `byteCount` is the input's size; planes decode on up to
    /// `threads` cores. Throws `.corrupt` for any damaged block. O(n).
    public static func decode(
        _ block: UnsafeRawBufferPointer, elementWidth: Int, byteCount: Int, threads: Int
    ) throws(CodecError) -> TensorBuffer {
        let location = "plane block"
        guard [1, 2, 4, 8].contains(elementWidth), byteCount >= 0 else {
            throw CodecError(.usage, "element width \(elementWidth) or byte count \(byteCount) is not supported")
        }
        let w = elementWidth
        let n = byteCount / w
        let tail = byteCount - n * w
        var r = HuffmanByteReader(block, location: location)
        let flags = try r.readU8("transform")
        guard flags & ~(zeroMaskFlag | 1) == 0, let transform = Transform(rawValue: flags & 1),
            w > 1 || transform == .identity
        else {
            throw CodecError(.corrupt, "unknown plane transform \(flags) for width \(w)", at: location)
        }
        let storedWidth = Int(try r.readU8("element width"))
        guard storedWidth == w else {
            throw CodecError(
                .corrupt, "the block holds \(storedWidth)-byte elements but \(w)-byte elements were expected",
                at: location)
        }
        var mask: TensorBuffer?
        var m = n
        if flags & zeroMaskFlag != 0 {
            let size = Int(try r.readU32("zero mask size"))
            let at = try r.skip(size, "zero mask")
            let decoded = try SymbolCoder.decode(
                UnsafeRawBufferPointer(rebasing: block[at..<(at + size)]), bits: 1, count: n, threads: threads)
            m = decoded.withUnsafeBytes { b in b.reduce(0) { $0 + $1.nonzeroBitCount } }
            mask = decoded
        }
        var methods: [Method] = []
        for j in 0..<w {
            let code = try r.readU8("plane method")
            guard let method = Method(rawValue: code) else {
                throw CodecError(.corrupt, "plane \(j) has unknown method \(code)", at: location)
            }
            methods.append(method)
        }
        var planes: [Plane] = []
        for j in 0..<w {
            var pr = HuffmanByteReader(
                UnsafeRawBufferPointer(rebasing: block[r.offset...]), location: "\(location) plane \(j)")
            switch methods[j] {
            case .raw:
                let at = try pr.skip(m, "raw plane")
                planes.append(.raw(offset: r.offset + at))
            case .huffman:
                var parsed = try HuffmanSequence.parse(&pr, count: m, alphabetSize: 256)
                for g in parsed.groups.indices { parsed.groups[g].offset += r.offset }
                planes.append(.huffman(parsed, HuffmanDecoder<UInt8>(parsed.code)))
            }
            _ = try r.skip(pr.offset, "plane \(j)")
        }
        let tailAt = try r.skip(tail, "trailing bytes")
        try r.expectEnd()

        // Planes decode segment by segment into the output (or, with a mask, into the compacted elements).
        let decodePlanes = { (o: UnsafeMutableRawPointer) throws(CodecError) -> Void in
            guard let base = block.baseAddress else { return }
            try HuffmanParallel.forEach(HuffmanSequence.segmentCount(m), threads: threads) {
                (g) throws(CodecError) in
                let range = HuffmanSequence.segmentRange(g, count: m)
                let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: range.count * w)
                defer { scratch.deallocate() }
                var sources: [UnsafePointer<UInt8>] = []
                for j in 0..<w {
                    switch planes[j] {
                    case .raw(let offset):
                        sources.append((base + offset + range.lowerBound).assumingMemoryBound(to: UInt8.self))
                    case .huffman(let parsed, let decoder):
                        let dst = scratch + j * range.count
                        try parsed.decode(group: g, block: block, decoder: decoder, into: dst)
                        sources.append(UnsafePointer(dst))
                    }
                }
                interleave(sources, count: range.count, width: w, transform: transform, into: o + range.lowerBound * w)
            }
        }
        return try TensorBuffer(count: byteCount) { (out) throws(CodecError) in
            guard let o = out.baseAddress, let base = block.baseAddress else { return }
            if let mask {
                let compact = UnsafeMutableRawPointer.allocate(byteCount: max(m * w, 1), alignment: 8)
                defer { compact.deallocate() }
                try decodePlanes(compact)
                mask.withUnsafeBytes { bits in
                    var k = 0
                    for i in 0..<n {
                        if bits[i >> 3] >> UInt8(i & 7) & 1 != 0 {
                            (o + i * w).copyMemory(from: compact + k * w, byteCount: w)
                            k += 1
                        } else {
                            (o + i * w).initializeMemory(as: UInt8.self, repeating: 0, count: w)
                        }
                    }
                }
            } else {
                try decodePlanes(o)
            }
            if tail > 0 { (o + n * w).copyMemory(from: base + tailAt, byteCount: tail) }
        }
    }

    private enum Plane {
        case raw(offset: Int)
        case huffman(HuffmanSequence.Parsed, HuffmanDecoder<UInt8>)
    }

    /// Gathers byte `j` of each element from plane `j` and undoes the transform. O(n).
    private static func interleave(
        _ planes: [UnsafePointer<UInt8>], count: Int, width w: Int, transform: Transform,
        into dst: UnsafeMutableRawPointer
    ) {
        let rotate = transform == .rotate
        switch w {
        case 1:
            dst.copyMemory(from: planes[0], byteCount: count)
        case 2:
            let p0 = planes[0]
            let p1 = planes[1]
            for i in 0..<count {
                var v = UInt16(p0[i]) | UInt16(p1[i]) &<< 8
                if rotate { v = v &>> 1 | v &<< 15 }
                dst.storeBytes(of: v.littleEndian, toByteOffset: i &* 2, as: UInt16.self)
            }
        case 4:
            let p0 = planes[0]
            let p1 = planes[1]
            let p2 = planes[2]
            let p3 = planes[3]
            for i in 0..<count {
                var v = UInt32(p0[i]) | UInt32(p1[i]) &<< 8 | UInt32(p2[i]) &<< 16 | UInt32(p3[i]) &<< 24
                if rotate { v = v &>> 1 | v &<< 31 }
                dst.storeBytes(of: v.littleEndian, toByteOffset: i &* 4, as: UInt32.self)
            }
        default:
            for i in 0..<count {
                var v: UInt64 = 0
                for j in 0..<8 { v |= UInt64(planes[j][i]) &<< UInt64(8 &* j) }
                if rotate { v = v &>> 1 | v &<< 63 }
                dst.storeBytes(of: v.littleEndian, toByteOffset: i &* 8, as: UInt64.self)
            }
        }
    }
}
