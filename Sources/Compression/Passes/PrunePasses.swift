import ModelIR

/// `prune(sparsity=0.6 | threshold=0.01 | sigma=1.0, scope=tensor|global, iterate=true)`.
struct PrunePass: Pass {
    enum Rule: Sendable {
        case sparsity(Double)
        case threshold(Float)
        case sigma(Double, iterate: Bool)
    }
    let description: String
    let stage = PassStage.transform
    let rule: Rule
    let global: Bool
    var isGlobal: Bool { global }

    static let definition = PassDefinition(
        name: "prune", summary: "Magnitude pruning: set the smallest weights to zero.",
        parameters: [
            .init("sparsity", "0..1 or N%", default: nil, "fraction of zeros to reach (exact, ties by position)"),
            .init("threshold", ">= 0", default: nil, "prune |w| below this absolute value"),
            .init("sigma", ">= 0", default: nil, "prune |w| < sigma x std of the nonzero weights (Han et al.)"),
            .init("scope", "tensor|global", default: "tensor", "sparsity per tensor, or one threshold for the model"),
            .init("iterate", "true|false", default: "true", "sigma rule: repeat until nothing more falls below it"),
        ],
        make: { a throws(CompressionError) in
            let given = ["sparsity", "threshold", "sigma"].filter { a.has($0) }
            guard given.count == 1 else {
                throw CompressionError(
                    .usage, "give exactly one of sparsity=, threshold= or sigma= (got \(given.count))",
                    at: "pass 'prune'")
            }
            let scope = try a.choice("scope", ["tensor", "global"]) ?? "tensor"
            let rule: Rule
            if let s = try a.double("sparsity", in: 0...1) {
                rule = .sparsity(s)
            } else if let t = try a.double("threshold", in: 0...Double(Float.greatestFiniteMagnitude)) {
                rule = .threshold(Float(t))
            } else {
                rule = .sigma(try a.double("sigma", in: 0...1000) ?? 1, iterate: try a.bool("iterate") ?? true)
            }
            if scope == "global", case .sparsity = rule {
            } else if scope == "global" {
                throw CompressionError(.usage, "scope=global needs sparsity=", at: "pass 'prune'")
            }
            return PrunePass(description: a.text, rule: rule, global: scope == "global")
        })

    func run(_ t: inout WorkingTensor) throws(CompressionError) {
        let r: PruneResult
        do {
            switch rule {
            case .sparsity(let s): r = try Pruner.sparsity(&t.values, sparsity: s)
            case .threshold(let th): r = try Pruner.magnitude(&t.values, threshold: th)
            case .sigma(let k, let it): r = try Pruner.sigma(&t.values, k: k, iterate: it)
            }
        } catch {
            throw error.located(t.label)
        }
        record(r, &t)
    }

    func runGlobal(_ tensors: inout [WorkingTensor]) throws(CompressionError) {
        guard case .sparsity(let s) = rule, global else {
            for i in tensors.indices { try run(&tensors[i]) }
            return
        }
        var values = tensors.map(\.values)
        let results: [PruneResult]
        do {
            results = try Pruner.globalSparsity(&values, sparsity: s)
        } catch {
            throw error.located("pass '\(description)'")
        }
        for i in tensors.indices {
            tensors[i].values = values[i]
            record(results[i], &tensors[i])
        }
    }

    private func record(_ r: PruneResult, _ t: inout WorkingTensor) {
        let n = max(t.values.count, 1)
        var d = "pruned \(r.prunedCount), sparsity \(Report.percent(Double(r.zeroCount) / Double(n)))"
        d += ", threshold \(r.threshold)"
        if r.iterations > 1 { d += ", \(r.iterations) iterations" }
        t.steps.append(PassStep(pass: description, detail: d))
    }
}

/// `prune_channels(sparsity=0.25)`: zero whole output channels (filters) with the smallest L1 norm.
struct ChannelPrunePass: Pass {
    let description: String
    let stage = PassStage.transform
    let sparsity: Double

    static let definition = PassDefinition(
        name: "prune_channels",
        summary: "Structured pruning: zero whole output channels (filters) by L1 norm; shapes stay as they are.",
        parameters: [.init("sparsity", "0..1 or N%", default: "0.25", "fraction of output channels to zero")],
        make: { a throws(CompressionError) in
            ChannelPrunePass(description: a.text, sparsity: try a.double("sparsity", in: 0...1) ?? 0.25)
        })

    func run(_ t: inout WorkingTensor) throws(CompressionError) {
        guard let axis = t.site.channelAxis else {
            t.note("\(description): skipped, since \(t.site.axisReason)")
            return
        }
        if t.site.consumers.contains(where: { $0.opType == "Gather" || $0.opType == "Embedding" }) {
            t.note("\(description): skipped, since its rows are embedding entries, not filters")
            return
        }
        let out: (channels: [Int], result: PruneResult)
        do {
            out = try Pruner.channels(&t.values, dims: t.site.dims, axis: axis, sparsity: sparsity)
        } catch {
            throw error.located(t.label)
        }
        let list =
            out.channels.prefix(20).map(String.init).joined(separator: ", ") + (out.channels.count > 20 ? ", ..." : "")
        t.steps.append(
            PassStep(
                pass: description,
                detail: "zeroed \(out.channels.count) of \(t.site.dims[axis]) channels on axis \(axis)"))
        if !out.channels.isEmpty {
            let consumer = t.site.consumers.first.map { "'\($0.nodeName ?? $0.opType)'" } ?? "its consumer"
            t.note(
                "output channels [\(list)] of \(consumer) are now zero (bias only): the matching input channels of the "
                    + "layers that read its output are dead; shapes are unchanged, so the model still runs")
        }
    }
}

/// `clip(threshold=T | percentile=99.9)`: clamp outliers to ±T.
struct ClipPass: Pass {
    let description: String
    let stage = PassStage.transform
    let threshold: ClipThreshold

    static let definition = PassDefinition(
        name: "clip", summary: "Clamp outliers: |w| > T becomes ±T.",
        parameters: [
            .init("threshold", "> 0", default: nil, "absolute T"),
            .init("percentile", "0..100", default: nil, "T = this percentile of |w|, e.g. 99.99"),
        ],
        make: { a throws(CompressionError) in
            if let t = try a.double("threshold", in: 0...Double(Float.greatestFiniteMagnitude)), !a.has("percentile") {
                return ClipPass(description: a.text, threshold: .absolute(Float(t)))
            }
            guard let p = try a.double("percentile", in: 0...100), !a.has("threshold") else {
                throw CompressionError(.usage, "give exactly one of threshold= or percentile=", at: "pass 'clip'")
            }
            return ClipPass(description: a.text, threshold: .percentile(p))
        })

    func run(_ t: inout WorkingTensor) throws(CompressionError) {
        let r: ClipResult
        do {
            r = try Clipper.clip(&t.values, threshold: threshold)
        } catch {
            throw error.located(t.label)
        }
        t.steps.append(PassStep(pass: description, detail: "clipped \(r.clippedCount) values to ±\(r.threshold)"))
    }
}
