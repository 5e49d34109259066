import ModelIR

/// Turns encoded tensors (linear, palettized, reduced precision) back into dense values of their own
/// type, for writers that store plain weights (ONNX, Keras).
public enum Dequantizer {
    /// `model` with every encoded tensor decoded to dense storage; other tensors are shared, not copied.
    /// O(encoded elements).
    public static func dense(_ model: Model) throws(CompressionError) -> Model {
        var m = model
        do {
            try m.forEachTensor { _, t in
                if let v = try values(of: t) { t.storage = .dense(FloatIO.buffer(v, as: t.dtype)) }
            }
        } catch let e as CompressionError {
            throw e
        } catch {
            throw CompressionError(.unsupported, "\(error)")
        }
        return m
    }

    /// The decoded values of an encoded tensor, or nil when it is not encoded.
    public static func values(of t: Tensor) throws(CompressionError) -> [Float]? {
        let dims = t.dims.map { Int($0) }
        let label = "tensor '\(t.name ?? "?")'"
        var storage = t.storage
        if case .entropyCoded(let e) = storage { storage = e.inner.value }
        do throws(CompressionError) {
            switch storage {
            case .linearQuantized(let q): return try LinearQuantizer.dequantize(q, dims: dims)
            case .palettized(let p): return try KMeansQuantizer.dequantize(p, dims: dims)
            case .reducedPrecision(let r):
                let n = r.data.count / 2
                let half = r.storedType == .float16
                return r.data.withUnsafeBytes { raw in
                    (0..<n).map { i in
                        let b = raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian
                        return half ? FloatCast.float(fromHalf: b) : FloatCast.float(fromBFloat16: b)
                    }
                }
            case .sparse, .entropyCoded:
                throw CompressionError(
                    .unsupported, "is stored \(t.storage.kind); decoding it is not supported by this version", at: label
                )
            case .dense, .strings:
                return nil
            }
        } catch {
            throw error.located(label)
        }
    }
}
