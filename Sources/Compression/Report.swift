import ModelIR

/// The account of a compression run: per tensor what was done and what it cost, and totals.
///
/// Encoded as JSON it follows `schemas/compression-report.schema.json`.
public struct Report: Codable, Sendable {
    public static let schemaVersion = 1

    public struct TensorRow: Codable, Sendable {
        public var name: String
        /// Where the tensor is: `main`, `main/If_0.then_branch/Constant_3.value`.
        public var location: String
        public var dtype: String
        public var shape: [Int]
        public var elements: Int
        /// Consumers, e.g. `Conv`, `keras::Dense`.
        public var consumers: [String]
        /// Why the tensor was left alone (absent when passes ran on it).
        public var skipped: String?
        /// Fraction of elements that are exactly zero after the passes.
        public var sparsity: Double
        /// Bits per element of the stored encoding (without entropy coding).
        public var bits: Double
        public var encoding: String
        public var originalBytes: Int
        /// Bytes of the encoding: codes plus scales, zero points or codebooks; no entropy coding.
        public var estimatedBytes: Int
        /// Order-0 entropy of the encoded symbols, bits per element, when there are symbols.
        public var entropyBits: Double?
        /// Bytes after Huffman coding (coded symbols plus parameters), when `huffman` ran on the tensor.
        public var codedBytes: Int?
        /// Bytes the tensor takes in the written `.mpz` file (chunk header included), once written.
        public var fileBytes: Int?
        /// Error against the original values (absent for skipped tensors).
        public var sqnrDB: Double?
        public var relativeL2: Double?
        public var cosine: Double?
        public var maxAbsError: Double?
        public var steps: [PassStep]
    }

    public struct Totals: Codable, Sendable {
        public var tensors: Int
        public var processed: Int
        public var elements: Int
        public var processedElements: Int
        public var originalBytes: Int
        /// Untouched tensors at their original size plus the encodings' estimated bytes.
        public var estimatedBytes: Int
        /// originalBytes / estimatedBytes.
        public var ratio: Double
        /// With the entropy estimate for tensors that have symbols (what Huffman coding approaches).
        public var entropyEstimatedBytes: Int
        /// With the Huffman-coded size for tensors that were coded.
        public var codedBytes: Int
        /// The written `.mpz` file, once written (graph and every chunk).
        public var fileBytes: Int?
        /// Weighted by elements over processed tensors.
        public var relativeL2: Double?
        public var minSQNRdB: Double?
    }

    public var schemaVersion: Int
    public var pipeline: [String]
    public var tensors: [TensorRow]
    public var totals: Totals
    public var diagnostics: [String]

    // MARK: Formatting

    static func percent(_ x: Double) -> String {
        let v = (x * 1000).rounded() / 10
        return "\(v)%"
    }

    /// A number with about 4 significant digits: `0.0123`, `45.68`, `inf`.
    static func number(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        if x == 0 { return "0" }
        let a = abs(x)
        var digits = 4
        var scale = 1.0
        if a >= 1 {
            var t = a
            while t >= 10, digits > 0 {
                t /= 10
                digits -= 1
            }
            for _ in 0..<max(digits - 1, 0) { scale *= 10 }
        } else {
            var t = a
            digits = 3
            while t < 1, digits < 12 {
                t *= 10
                digits += 1
            }
            for _ in 0..<digits { scale *= 10 }
        }
        let r = (x * scale).rounded() / scale
        return "\(r)"
    }

    static func bytes(_ n: Int) -> String {
        let d = Double(n)
        if n < 10_000 { return "\(n) B" }
        if d < 10e6 { return number(d / 1e3) + " kB" }
        if d < 10e9 { return number(d / 1e6) + " MB" }
        return number(d / 1e9) + " GB"
    }

    /// The report as an aligned table for a terminal: processed tensors, then totals.
    public func renderText(showSkipped: Bool = false) -> String {
        var rows: [[String]] = [
            ["tensor", "elements", "sparsity", "bits", "encoding", "bytes", "SQNR dB", "rel L2", "cosine", "max |err|"]
        ]
        for t in tensors where t.skipped == nil || showSkipped {
            if let why = t.skipped {
                rows.append([
                    t.name, String(t.elements), "", "", "skipped: " + why, Report.bytes(t.originalBytes), "", "", "",
                    "",
                ])
                continue
            }
            rows.append([
                t.name, String(t.elements), Report.percent(t.sparsity), Report.number(t.bits), t.encoding,
                Report.bytes(t.fileBytes ?? t.codedBytes ?? t.estimatedBytes), t.sqnrDB.map(Report.number) ?? "",
                t.relativeL2.map(Report.number) ?? "",
                t.cosine.map(Report.number) ?? "", t.maxAbsError.map(Report.number) ?? "",
            ])
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        let right: Set<Int> = [1, 2, 3, 5, 6, 7, 8, 9]
        var out: [String] = []
        for r in rows {
            var line = ""
            for (i, c) in r.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - c.count)
                line += (i == 0 ? "" : "  ") + (right.contains(i) ? pad + c : c + pad)
            }
            while line.hasSuffix(" ") { line.removeLast() }
            out.append(line)
        }
        let skipped = totals.tensors - totals.processed
        out.append("")
        out.append(
            "\(totals.processed) of \(totals.tensors) tensors compressed (\(skipped) left as they are: small, biases, "
                + "normalization, integer or already quantized; see --report for each)")
        out.append(
            "size: \(Report.bytes(totals.originalBytes)) -> \(Report.bytes(totals.estimatedBytes)) "
                + "(\(Report.number(totals.ratio))x) before entropy coding; \(Report.bytes(totals.entropyEstimatedBytes)) "
                + "at the order-0 entropy"
                + (totals.codedBytes != totals.estimatedBytes
                    ? "; \(Report.bytes(totals.codedBytes)) Huffman-coded" : ""))
        if let e = totals.relativeL2, let s = totals.minSQNRdB {
            out.append(
                "error: relative L2 per tensor \(Report.number(e)) (RMS weighted by elements), worst tensor SQNR \(Report.number(s)) dB"
            )
        }
        return out.joined(separator: "\n")
    }
}

extension Report {
    /// The report of a model written without passes (the lossless preset): every tensor as it is.
    /// Rows are in tensor-ordinal order, like the pass manager's.
    public static func unchanged(_ model: Model) -> Report {
        var tensors: [Tensor] = []
        model.visitTensors { _, t in tensors.append(t) }
        var totals = Totals(
            tensors: tensors.count, processed: 0, elements: 0, processedElements: 0, originalBytes: 0,
            estimatedBytes: 0, ratio: 1, entropyEstimatedBytes: 0, codedBytes: 0, fileBytes: nil, relativeL2: nil,
            minSQNRdB: nil)
        var rows: [TensorRow] = []
        for (s, t) in zip(ModelAnalysis.sites(of: model), tensors) {
            let bytes = t.denseByteCount ?? 0
            totals.elements += s.count
            totals.originalBytes += bytes
            rows.append(
                TensorRow(
                    name: s.name, location: s.location.description, dtype: s.dtype.name, shape: s.dims,
                    elements: s.count, consumers: s.consumers.map(\.qualifiedOpType), skipped: "stored exactly",
                    sparsity: 0, bits: Double(s.dtype.bitWidth ?? 0), encoding: s.dtype.name, originalBytes: bytes,
                    estimatedBytes: bytes, entropyBits: nil, codedBytes: nil, fileBytes: nil, sqnrDB: nil,
                    relativeL2: nil, cosine: nil, maxAbsError: nil, steps: []))
        }
        totals.estimatedBytes = totals.originalBytes
        totals.entropyEstimatedBytes = totals.originalBytes
        totals.codedBytes = totals.originalBytes
        return Report(schemaVersion: schemaVersion, pipeline: [], tensors: rows, totals: totals, diagnostics: [])
    }

    /// Records what the written file takes: `chunks` maps tensor ordinals (row indices) to the bytes of
    /// their chunks; `encodings` to the chunk's encoding for tensors the passes left alone.
    public mutating func recordFile(bytes: Int, chunks: [Int: Int], encodings: [Int: String]) {
        totals.fileBytes = bytes
        for (ordinal, n) in chunks where ordinal < tensors.count {
            tensors[ordinal].fileBytes = n
            if tensors[ordinal].skipped != nil, let e = encodings[ordinal] { tensors[ordinal].encoding = e }
        }
    }
}
