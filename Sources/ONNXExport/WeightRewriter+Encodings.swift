import Codecs
import Compression
import ModelIR

extension WeightRewriter {
    /// Types a rewritten weight may have: the stored values are converted (or cast) to them.
    static let weightTypes: [DType] = [.float32, .float16, .float64, .bfloat16]

    /// The opset a `Cast` to or from `dtype` needs: 13 for bfloat16, else 6 (where `to` became an int).
    static func castOpset(_ dtype: DType) -> Int64 { dtype == .bfloat16 ? 13 : 6 }

    // MARK: - Linear: DequantizeLinear

    /// `<name>_quantized` (the codes, sign-extended to int8 or zero-extended to uint8; 16-bit types above 8
    /// bits), `<name>_scale`, `<name>_zero_point` and `DequantizeLinear`, plus a `Cast` when the weight is not
    /// float32. O(elements).
    mutating func linear(_ q: LinearQuantized, _ t: Tensor, _ site: WeightSite) throws(CompressionError)
        -> WeightReplacement?
    {
        let (dims, count) = try Self.shape(t, site)
        guard (1...16).contains(q.bits) else {
            throw CompressionError(.invalidTensor, "linear codes of \(q.bits) bits are outside 1...16", at: site.label)
        }
        let layout: GroupLayout
        do {
            layout = try GroupLayout(linear: q.granularity, dims: dims, count: count)
        } catch {
            throw CompressionError(.invalidTensor, error.message, at: site.label)
        }
        guard q.scales.count == layout.groupCount, q.zeroPoints.isEmpty || q.zeroPoints.count == layout.groupCount
        else {
            throw CompressionError(
                .invalidTensor,
                "linear quantization holds \(q.scales.count) scales and \(q.zeroPoints.count) zero points but shape "
                    + "\(dims) with \(q.granularity) needs \(layout.groupCount)", at: site.label)
        }
        guard Self.weightTypes.contains(t.dtype) else {
            note(site, "DequantizeLinear cannot produce \(t.dtype.name); written as float")
            return nil
        }
        let wide = q.bits > 8
        var needed: (Int64, String) = (10, "DequantizeLinear")
        var scaleDims: [Int64] = []
        var attributes: [Attribute] = []
        switch layout.granularity {
        case .perTensor:
            break
        case .perAxis(let axis):
            needed = (13, "per-axis (per-channel) DequantizeLinear")
            scaleDims = [t.dims[axis]]
            attributes = [Self.intAttribute("axis", Int64(axis))]
        case .perBlock(let axis, let blockSize):
            needed = (21, "per-block DequantizeLinear")
            scaleDims = t.dims
            scaleDims[axis] = Int64((dims[axis] + blockSize - 1) / blockSize)
            attributes = [Self.intAttribute("axis", Int64(axis)), Self.intAttribute("block_size", Int64(blockSize))]
        }
        if wide, needed.0 < 21 { needed = (21, "DequantizeLinear of \(q.bits)-bit (16-bit) codes") }
        if t.dtype == .bfloat16, needed.0 < 13 { needed = (13, "a Cast to bfloat16") }
        guard requireOpset(needed.0, for: needed.1, site) else { return nil }

        let codeType: DType = q.signed ? (wide ? .int16 : .int8) : (wide ? .uint16 : .uint8)
        let codeRange: ClosedRange<Int32> =
            q.signed ? (wide ? -32768...32767 : -128...127) : (wide ? 0...65535 : 0...255)
        if let bad = q.zeroPoints.first(where: { !codeRange.contains($0) }) {
            note(site, "zero point \(bad) does not fit \(codeType.name) codes; written as float")
            return nil
        }

        let width = wide ? 2 : 1
        let codes: TensorBuffer
        if q.bits == 8 || q.bits == 16 {
            // The packed layout already is little-endian two's complement (or unsigned) of the code type.
            guard q.codes.count >= count * width else {
                throw CompressionError(
                    .invalidTensor, "packed codes hold \(q.codes.count) bytes but \(count) codes need \(count * width)",
                    at: site.label)
            }
            codes = q.codes.count == count * width ? q.codes : TensorBuffer(slice: 0..<(count * width), of: q.codes)
        } else {
            let raw: [UInt16]
            do {
                raw = try BitPacking.unpack(q.codes, bits: q.bits, count: count)
            } catch {
                throw CompressionError(error).located(site.label)
            }
            let shift = UInt16(16 - q.bits)
            let signed = q.signed
            codes = TensorBuffer(count: count * width) { out in
                for i in 0..<count {
                    let c = signed ? UInt16(bitPattern: Int16(bitPattern: raw[i] << shift) >> Int16(shift)) : raw[i]
                    if wide {
                        out.storeBytes(of: c.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                    } else {
                        out[i] = UInt8(truncatingIfNeeded: c)
                    }
                }
            }
        }
        let groups = layout.groupCount
        let zeroPoints = TensorBuffer(count: groups * width) { out in
            for g in 0..<groups {
                let z = UInt16(truncatingIfNeeded: q.zeroPoints.isEmpty ? 0 : q.zeroPoints[g])
                if wide {
                    out.storeBytes(of: z.littleEndian, toByteOffset: 2 * g, as: UInt16.self)
                } else {
                    out[g] = UInt8(truncatingIfNeeded: z)
                }
            }
        }

        let name = site.name
        let quantized = Tensor(
            name: names.value(name + "_quantized"), dtype: codeType, dims: t.dims, storage: .dense(codes),
            docString: t.docString, metadata: t.metadata, layout: Self.layout(following: t))
        let scale = Tensor(
            name: names.value(name + "_scale"), dtype: .float32, dims: scaleDims,
            storage: .dense(FloatIO.buffer(q.scales, as: .float32)))
        let zeroPoint = Tensor(
            name: names.value(name + "_zero_point"), dtype: codeType, dims: scaleDims, storage: .dense(zeroPoints))
        let castNeeded = t.dtype != .float32
        let dequantized = castNeeded ? names.value(name + "_dequantized") : name
        var nodes = [
            Node(
                name: names.node(name + "_DequantizeLinear"), opType: "DequantizeLinear",
                inputs: [quantized.name!, scale.name!, zeroPoint.name!], outputs: [dequantized],
                attributes: attributes)
        ]
        if castNeeded { nodes.append(cast(dequantized, to: t.dtype, output: name)) }
        return WeightReplacement(tensors: [quantized, scale, zeroPoint], nodes: nodes)
    }

    // MARK: - Palettized: Gather from the codebook

    /// `<name>_codebook` (the 2^bits entries in the weight's type), `<name>_indices` (uint8, the weight's
    /// shape), a `Cast` of the indices to int32 (Gather takes int32/int64 indices) and `Gather(axis=0)`,
    /// whose output has the weight's shape and values exactly. Only one codebook per tensor. O(elements).
    mutating func palettized(_ p: Palettized, _ t: Tensor, _ site: WeightSite) throws(CompressionError)
        -> WeightReplacement?
    {
        let (_, count) = try Self.shape(t, site)
        guard case .perTensor = p.granularity else {
            note(
                site,
                "a Gather from one codebook needs a per-tensor palette, this one has a codebook per channel group; written as float"
            )
            return nil
        }
        guard (1...8).contains(p.bits) else {
            note(site, "a palette of 2^\(p.bits) entries does not fit uint8 indices; written as float")
            return nil
        }
        let k = 1 << p.bits
        guard p.codebook.count == k else {
            throw CompressionError(
                .invalidTensor, "the palette holds \(p.codebook.count) values but \(p.bits)-bit indices need \(k)",
                at: site.label)
        }
        guard Self.weightTypes.contains(t.dtype) else {
            note(site, "a \(t.dtype.name) weight cannot be gathered from a float codebook; written as float")
            return nil
        }
        guard requireOpset(Self.castOpset(t.dtype), for: "Gather with a Cast of its indices", site) else { return nil }

        let indices: TensorBuffer
        if p.bits == 8 {
            guard p.indices.count >= count else {
                throw CompressionError(
                    .invalidTensor, "packed indices hold \(p.indices.count) bytes but \(count) are needed",
                    at: site.label)
            }
            indices = p.indices.count == count ? p.indices : TensorBuffer(slice: 0..<count, of: p.indices)
        } else {
            let raw: [UInt16]
            do {
                raw = try BitPacking.unpack(p.indices, bits: p.bits, count: count)
            } catch {
                throw CompressionError(error).located(site.label)
            }
            indices = TensorBuffer(count: count) { out in
                for i in 0..<count { out[i] = UInt8(truncatingIfNeeded: raw[i]) }
            }
        }
        let name = site.name
        let codebook = Tensor(
            name: names.value(name + "_codebook"), dtype: t.dtype, dims: [Int64(k)],
            storage: .dense(FloatIO.buffer(p.codebook, as: t.dtype)))
        let packed = Tensor(
            name: names.value(name + "_indices"), dtype: .uint8, dims: t.dims, storage: .dense(indices),
            docString: t.docString, metadata: t.metadata, layout: Self.layout(following: t))
        let wideIndices = names.value(name + "_indices_int32")
        let gather = Node(
            name: names.node(name + "_Gather"), opType: "Gather", inputs: [codebook.name!, wideIndices],
            outputs: [name], attributes: [Self.intAttribute("axis", 0)])
        return WeightReplacement(
            tensors: [codebook, packed], nodes: [cast(packed.name!, to: .int32, output: wideIndices), gather])
    }

    // MARK: - Reduced precision and fp16 mode: Cast

    /// `<name>_fp16` (or `_bf16`) holding the stored narrow elements, and a `Cast` to the weight's type.
    mutating func reduced(_ r: ReducedPrecision, _ t: Tensor, _ site: WeightSite) throws(CompressionError)
        -> WeightReplacement?
    {
        let (_, count) = try Self.shape(t, site)
        guard r.storedType == .float16 || r.storedType == .bfloat16, r.data.count == count * 2 else {
            throw CompressionError(
                .invalidTensor,
                "reduced-precision storage of \(r.storedType.name) holds \(r.data.count) bytes for "
                    + "\(count) elements", at: site.label)
        }
        guard t.dtype != r.storedType else { return nil }  // already the narrow type: plain dense is the same
        guard Self.weightTypes.contains(t.dtype) else {
            note(site, "a Cast from \(r.storedType.name) to \(t.dtype.name) is not supported; written as float")
            return nil
        }
        let needed = max(Self.castOpset(t.dtype), Self.castOpset(r.storedType))
        guard requireOpset(needed, for: "a Cast from \(r.storedType.name)", site) else { return nil }
        return castReplacement(r.data, storedType: r.storedType, t, site)
    }

    /// fp16 mode: a float32 weight of at least `fp16MinimumElements` elements as float16 plus `Cast`; nil for
    /// other tensors, and (with a note) when a value overflows float16. O(elements).
    mutating func float16(_ t: Tensor, _ site: WeightSite) throws(CompressionError) -> WeightReplacement? {
        guard isCandidate(t) else { return nil }
        let (_, count) = try Self.shape(t, site)
        guard requireOpset(Self.castOpset(.float16), for: "a Cast from float16", site) else { return nil }
        if case .reducedPrecision(let r) = t.storage, r.storedType == .float16, r.data.count == count * 2 {
            return castReplacement(r.data, storedType: .float16, t, site)
        }
        let values: [Float]
        if let decoded = try Self.decoded(t, label: site.label) {
            values = decoded
        } else {
            do {
                values = try FloatIO.values(of: t)
            } catch {
                throw error.located(site.label)
            }
        }
        let overflowing = FloatCast.overflowCount(values, to: .float16)
        guard overflowing == 0 else {
            note(site, "\(overflowing) values overflow float16 (|x| >= 65520); kept float32")
            return nil
        }
        return castReplacement(FloatIO.buffer(values, as: .float16), storedType: .float16, t, site)
    }

    /// `<name>_fp16`/`_bf16` holding `data` and a `Cast` to `t`'s type under the weight's name.
    private mutating func castReplacement(_ data: TensorBuffer, storedType: DType, _ t: Tensor, _ site: WeightSite)
        -> WeightReplacement
    {
        let suffix = storedType == .float16 ? "_fp16" : "_bf16"
        let stored = Tensor(
            name: names.value(site.name + suffix), dtype: storedType, dims: t.dims, storage: .dense(data),
            docString: t.docString, metadata: t.metadata, layout: Self.layout(following: t))
        return WeightReplacement(tensors: [stored], nodes: [cast(stored.name!, to: t.dtype, output: site.name)])
    }

    // MARK: - Helpers

    /// A `Cast` node from `input` to `output` of type `to`.
    mutating func cast(_ input: String, to: DType, output: String) -> Node {
        Node(
            name: names.node(output + "_Cast"), opType: "Cast", inputs: [input], outputs: [output],
            attributes: [Self.intAttribute("to", Int64(to.rawValue))])
    }

    static func intAttribute(_ name: String, _ value: Int64) -> Attribute {
        var a = Attribute(name: name, kind: .int)
        a.int = value
        return a
    }

    /// A new tensor's layout: external data when the weight it replaces was external, else inline.
    static func layout(following t: Tensor) -> TensorLayout {
        t.layout.dataField == .external ? TensorLayout(dataField: .external) : TensorLayout()
    }

    /// The weight's dims as Int and its element count; throws `.invalidTensor` for negative or overflowing dims.
    static func shape(_ t: Tensor, _ site: WeightSite) throws(CompressionError) -> ([Int], Int) {
        guard let count = t.elementCount else {
            throw CompressionError(.invalidTensor, "has invalid dims \(t.dimsText)", at: site.label)
        }
        return (t.dims.map { Int($0) }, count)
    }
}
