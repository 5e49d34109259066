import Dispatch
import ModelIR

/// The outcome of a compression run.
public struct CompressionResult: Sendable {
    /// The model with every compressed tensor in its encoded storage (linear, palettized, reduced
    /// precision) or, for value-only passes (prune, clip), in dense storage of its own type.
    public var model: Model
    public var report: Report
    public var diagnostics: [Diagnostic]

    /// The same model with every compressed tensor decoded back to dense values of its own type, for
    /// writers that store plain weights (ONNX, Keras). Built on demand, so a run that only reports
    /// never holds a second copy of the weights.
    public func dequantizedModel() throws(CompressionError) -> Model { try Dequantizer.dense(model) }
}

/// Runs a recipe's passes over a model's tensors and accounts for what each cost.
///
/// Stages, as swift-openapi-generator's pipeline does it: analyse the model (consumers, roles, channel
/// axes), select tensors (default exclusions and overrides), run each pass in order (tensors in
/// parallel, or all together for global passes), measure the error, put the tensors back.
public struct PassManager: Sendable {
    public var recipe: Recipe
    /// Run tensors on every core (true) or on one.
    public var parallel: Bool

    public init(recipe: Recipe, parallel: Bool = true) {
        self.recipe = recipe
        self.parallel = parallel
    }

    /// Checks the pipeline and every override's parameters without running anything.
    public func validate() throws(CompressionError) {
        var stage = PassStage.transform
        var encoders = 0
        for spec in recipe.passes {
            let p = try PassRegistry.make(spec)
            if p.stage < stage {
                throw CompressionError(
                    .usage,
                    "'\(spec.text)' cannot follow an encoding or entropy pass: put pruning and clipping first, then one "
                        + "quantization (linear, kmeans, fp16, bf16, binary, ternary, auto), then huffman")
            }
            if p.stage == .encode { encoders += 1 }
            stage = p.stage
        }
        if encoders > 1 {
            throw CompressionError(
                .usage, "the pipeline has \(encoders) quantization passes; a tensor is stored one way, so give one")
        }
        for o in recipe.overrides {
            for (name, args) in o.parameters {
                guard let spec = recipe.passes.first(where: { $0.name == name }) else {
                    throw CompressionError(
                        .usage, "an override sets parameters of '\(name)', which the pipeline does not run")
                }
                _ = try PassRegistry.make(spec.overriding(args))
            }
            for name in o.skip where !recipe.passes.contains(where: { $0.name == name }) {
                _ = try PassRegistry.definition(name)
            }
        }
    }

    /// Runs the recipe on `model`.
    public func run(_ model: Model) throws(CompressionError) -> CompressionResult {
        try validate()
        let sites = ModelAnalysis.sites(of: model)
        var diagnostics: [Diagnostic] = []

        // Select.
        var positionPick: [Int: Set<Int>] = [:]  // override index -> site indices it applies to
        for (k, o) in recipe.overrides.enumerated() where o.match.position != nil {
            let matching = sites.filter { o.match.matchesIgnoringPosition($0) }.map(\.index)
            let pick = o.match.position == .first ? matching.first : matching.last
            positionPick[k] = pick.map { [$0] } ?? []
        }
        func overrides(for s: TensorSite) -> [TensorOverride] {
            recipe.overrides.enumerated().compactMap { k, o in
                if let pick = positionPick[k] { return pick.contains(s.index) ? o : nil }
                return o.match.matchesIgnoringPosition(s) ? o : nil
            }
        }
        var skipReason: [Int: String] = [:]
        var chosen: [(TensorSite, [TensorOverride])] = []
        let d = recipe.defaults
        for s in sites {
            let os = overrides(for: s)
            if os.contains(where: \.exclude) {
                skipReason[s.index] = "excluded by the recipe"
                continue
            }
            let forced = os.contains(where: \.include)
            var why: String?
            if !FloatIO.isFloat(s.dtype) {
                why = s.role == .quantized ? "already quantized (\(s.dtype.name))" : "integer (\(s.dtype.name))"
                if s.role == .quantized, d.requantize { why = "already quantized; requantizing needs float values" }
            } else if s.role == .notAWeight {
                why = "not a model weight (optimizer state or other data)"
            } else if !forced {
                if s.role == .quantized, !d.requantize {
                    why = "quantization parameter"
                } else if s.count < d.minElements {
                    why = "small (\(s.count) < \(d.minElements) elements)"
                } else if s.role == .bias, d.skipBiases {
                    why = "bias"
                } else if s.role == .normalization, d.skipNormalization {
                    why = "normalization parameter"
                }
            }
            if let why {
                skipReason[s.index] = why
            } else {
                chosen.append((s, os))
            }
        }

        // Decode the chosen tensors.
        var tensorsByIndex: [Int: Tensor] = [:]
        var i = 0
        model.visitTensors { _, t in
            defer { i += 1 }
            tensorsByIndex[i] = t
        }
        var work: [WorkingTensor] = []
        work.reserveCapacity(chosen.count)
        var kept: [(TensorSite, [TensorOverride])] = []
        for (s, os) in chosen {
            guard let t = tensorsByIndex[s.index] else { continue }
            let values: [Float]
            do {
                values = try FloatIO.values(of: t)
            } catch {
                throw error.located("tensor '\(s.name)'")
            }
            if let limit = d.maxZeroFraction, !os.contains(where: \.include), !values.isEmpty {
                let zeros = values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
                let fraction = Double(zeros) / Double(values.count)
                if fraction > limit {
                    skipReason[s.index] =
                        "\(Report.percent(fraction)) of its elements are exactly zero: a constructed kernel "
                        + "(e.g. a DSP filter bank) or an already pruned weight; kept exact"
                    continue
                }
            }
            work.append(WorkingTensor(site: s, values: values))
            kept.append((s, os))
        }
        chosen = kept
        let overridesOf = chosen.map(\.1)

        // Run the passes.
        for spec in recipe.passes {
            // Group tensors by their effective spec (overrides may change parameters).
            var groups: [String: (PassSpec, [Int])] = [:]
            var order: [String] = []
            for (k, os) in overridesOf.enumerated() {
                if os.contains(where: { $0.skip.contains(spec.name) || $0.skip.contains("*") }) { continue }
                var eff = spec
                for o in os { if let args = o.parameters[spec.name] { eff = eff.overriding(args) } }
                let key = eff.text
                if groups[key] == nil {
                    groups[key] = (eff, [])
                    order.append(key)
                }
                groups[key]!.1.append(k)
            }
            for key in order {
                guard let (eff, members) = groups[key] else { continue }
                let pass = try PassRegistry.make(eff)
                if pass.isGlobal {
                    var subset = members.map { work[$0] }
                    try pass.runGlobal(&subset)
                    for (j, k) in members.enumerated() { work[k] = subset[j] }
                } else {
                    try forEachParallel(members, &work) { (t: inout WorkingTensor) throws(CompressionError) in
                        do throws(CompressionError) {
                            try pass.run(&t)
                        } catch {
                            throw error.located(t.label)
                        }
                    }
                }
            }
        }

        // Measure.
        var stats = [ErrorStats?](repeating: nil, count: work.count)
        let all = Array(work.indices)
        let snapshot = work
        try forEachParallelIndex(all) { k throws(CompressionError) in
            ErrorMetrics.compare(original: snapshot[k].original, approximation: snapshot[k].values)
        } store: { k, s in
            stats[k] = s
        }

        // Put tensors back, and build the report.
        var byIndex: [Int: Int] = [:]
        for (k, w) in work.enumerated() { byIndex[w.site.index] = k }
        var encoded = model
        var idx = 0
        encoded.forEachTensor { _, t in
            defer { idx += 1 }
            guard let k = byIndex[idx] else { return }
            let w = work[k]
            if let s = w.storage {
                t.storage = s
            } else if !w.steps.isEmpty {
                t.storage = .dense(FloatIO.buffer(w.values, as: t.dtype))
            }
        }

        var rows: [Report.TensorRow] = []
        var totals = Report.Totals(
            tensors: sites.count, processed: work.count, elements: 0, processedElements: 0, originalBytes: 0,
            estimatedBytes: 0, ratio: 1, entropyEstimatedBytes: 0, codedBytes: 0, fileBytes: nil, relativeL2: nil,
            minSQNRdB: nil)
        var errNum = 0.0
        var errDen = 0.0
        var minSQNR = Double.infinity
        for s in sites {
            let t = tensorsByIndex[s.index]
            let original = t?.denseByteCount ?? 0
            totals.elements += s.count
            totals.originalBytes += original
            var row = Report.TensorRow(
                name: s.name, location: s.location.description, dtype: s.dtype.name, shape: s.dims, elements: s.count,
                consumers: s.consumers.map(\.qualifiedOpType), skipped: nil, sparsity: 0,
                bits: Double(s.dtype.bitWidth ?? 0), encoding: s.dtype.name, originalBytes: original,
                estimatedBytes: original, entropyBits: nil, codedBytes: nil, fileBytes: nil, sqnrDB: nil,
                relativeL2: nil, cosine: nil, maxAbsError: nil,
                steps: [])
            if let k = byIndex[s.index], work[k].steps.isEmpty {
                // Chosen, but every pass left it alone (no channel axis, over an fp16 range, ...).
                row.skipped =
                    work[k].diagnostics.last.map { "no pass changed it: " + $0.message } ?? "no pass changed it"
                diagnostics += work[k].diagnostics
                totals.processed -= 1
                totals.entropyEstimatedBytes += original
            } else if let k = byIndex[s.index] {
                let w = work[k]
                let st = stats[k]
                let zeros = w.values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
                row.sparsity = w.values.isEmpty ? 0 : Double(zeros) / Double(w.values.count)
                row.bits = w.bitsPerElement
                row.encoding = w.encoding
                row.estimatedBytes = w.encodedBytes
                row.entropyBits = w.entropyBitsPerElement
                row.codedBytes = w.codedBytes
                row.sqnrDB = st.flatMap { $0.sqnrDB.isFinite ? $0.sqnrDB : nil }
                row.relativeL2 = st?.relativeL2
                row.cosine = st?.cosine
                row.maxAbsError = st?.maxAbsError
                row.steps = w.steps
                diagnostics += w.diagnostics
                totals.processedElements += s.count
                if let st {
                    errNum += st.relativeL2 * st.relativeL2 * Double(s.count)
                    errDen += Double(s.count)
                    minSQNR = min(minSQNR, st.sqnrDB)
                }
                let overhead = w.encodedBytes - (w.values.count * Int(w.bitsPerElement.rounded()) + 7) / 8
                if let h = w.entropyBitsPerElement {
                    totals.entropyEstimatedBytes +=
                        Int((h * Double(w.values.count) / 8).rounded(.up)) + max(overhead, 0)
                } else {
                    totals.entropyEstimatedBytes += w.encodedBytes
                }
            } else {
                row.skipped = skipReason[s.index] ?? "left alone"
                totals.entropyEstimatedBytes += original
            }
            totals.estimatedBytes += row.estimatedBytes
            totals.codedBytes += row.codedBytes ?? row.estimatedBytes
            rows.append(row)
        }
        totals.ratio = totals.estimatedBytes > 0 ? Double(totals.originalBytes) / Double(totals.estimatedBytes) : 1
        if errDen > 0 { totals.relativeL2 = (errNum / errDen).squareRoot() }
        if minSQNR.isFinite { totals.minSQNRdB = minSQNR }
        let report = Report(
            schemaVersion: Report.schemaVersion, pipeline: recipe.passes.map(\.text), tensors: rows, totals: totals,
            diagnostics: diagnostics.map(\.description))
        return CompressionResult(model: encoded, report: report, diagnostics: diagnostics)
    }

    // MARK: Parallel helpers

    /// Runs `body` on `work[k]` for every k in `members`, on every core when `parallel`. The first error in
    /// `members` order is thrown, so failures are deterministic.
    private func forEachParallel(
        _ members: [Int], _ work: inout [WorkingTensor],
        _ body: @escaping @Sendable (inout WorkingTensor) throws(CompressionError) -> Void
    ) throws(CompressionError) {
        var errors = [CompressionError?](repeating: nil, count: members.count)
        if !parallel || members.count < 2 {
            for (j, k) in members.enumerated() {
                do throws(CompressionError) { try body(&work[k]) } catch { errors[j] = error }
                if errors[j] != nil { break }
            }
        } else {
            work.withUnsafeMutableBufferPointer { w in
                errors.withUnsafeMutableBufferPointer { e in
                    let wb = UnsafeSendable(w)
                    let eb = UnsafeSendable(e)
                    DispatchQueue.concurrentPerform(iterations: members.count) { j in
                        do throws(CompressionError) { try body(&wb.value[members[j]]) } catch { eb.value[j] = error }
                    }
                }
            }
        }
        if let first = errors.compactMap({ $0 }).first { throw first }
    }

    private func forEachParallelIndex<R>(
        _ indices: [Int], _ compute: @escaping @Sendable (Int) throws(CompressionError) -> R, store: (Int, R) -> Void
    ) throws(CompressionError) {
        var results = [R?](repeating: nil, count: indices.count)
        if !parallel || indices.count < 2 {
            for (j, k) in indices.enumerated() { results[j] = try compute(k) }
        } else {
            var errors = [CompressionError?](repeating: nil, count: indices.count)
            results.withUnsafeMutableBufferPointer { r in
                errors.withUnsafeMutableBufferPointer { e in
                    let rb = UnsafeSendable(r)
                    let eb = UnsafeSendable(e)
                    DispatchQueue.concurrentPerform(iterations: indices.count) { j in
                        do throws(CompressionError) { rb.value[j] = try compute(indices[j]) } catch {
                            eb.value[j] = error
                        }
                    }
                }
            }
            if let first = errors.compactMap({ $0 }).first { throw first }
        }
        for (j, k) in indices.enumerated() { if let r = results[j] { store(k, r) } }
    }
}

/// Hands a buffer pointer to concurrent workers that each touch distinct elements.
private struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
