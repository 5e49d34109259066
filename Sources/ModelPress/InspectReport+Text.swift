import ModelIR

extension InspectReport {
    /// The report as aligned text for a terminal.
    public func renderText() -> String {
        var out: [String] = []
        out.append(
            "\(file): \(format.uppercased()) model, \(Format.bytes(fileBytes))"
                + (mpz.map { " as .mpz \($0.formatVersion)" } ?? ""))
        var header: [(String, String)] = []
        let prod = [producer.name, producer.version].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
        header.append(("producer", prod.isEmpty ? "(none)" : prod))
        if let k = keras {
            header.append(
                (
                    "keras",
                    [k.version.map { "Keras \($0)" }, k.backend.map { "backend \($0)" }, k.layout]
                        .compactMap { $0 }.joined(separator: ", ")
                ))
            if let c = k.modelClass { header.append(("model class", c)) }
            header.append(("training config", k.trainingConfig ? "present" : "none"))
            header.append(
                (
                    "optimizer weights",
                    k.optimizerWeights.tensors == 0
                        ? "none"
                        : "\(Format.bytes(k.optimizerWeights.bytes)) in \(Format.plural(k.optimizerWeights.tensors, "tensor"))"
                            + " (--strip-optimizer drops them)"
                ))
        } else {
            header.append(
                (
                    "IR version",
                    (irVersion.map(String.init) ?? "(none)") + (modelVersion.map { ", model version \($0)" } ?? "")
                ))
            header.append(
                (
                    "opsets",
                    opsets.isEmpty
                        ? "(none)"
                        : opsets.map { "\($0.domain) \($0.version.map(String.init) ?? "?")" }.joined(separator: ", ")
                ))
        }
        var g = "\(graph.nodes) nodes"
        if graph.totalNodes != graph.nodes { g += " (\(graph.totalNodes) in all graphs)" }
        g += ", \(graph.subgraphs) subgraph\(graph.subgraphs == 1 ? "" : "s")"
        if graph.subgraphs > 0 { g += " (max depth \(graph.maxSubgraphDepth))" }
        if graph.functions > 0 { g += ", \(graph.functions) functions" }
        if graph.trainingInfo > 0 { g += ", \(graph.trainingInfo) training graphs" }
        if let name = graph.name, !name.isEmpty { g = "'\(name)': " + g }
        header.append(("graph", g))
        if let d = docString, !d.isEmpty { header.append(("doc", Format.oneLine(d, limit: 100))) }
        for kv in metadata { header.append(("meta " + kv.key, Format.oneLine(kv.value, limit: 80))) }
        out += Format.table(header.map { ["  " + $0.0, $0.1] })

        if keras == nil {
            out.append("")
            out.append("Inputs")
            out += Format.table(inputs.map { ["  " + $0.name, $0.type] })
            out.append("Outputs")
            out += Format.table(outputs.map { ["  " + $0.name, $0.type] })
        }

        out.append("")
        out.append(
            keras != nil
                ? "Layers (\(graph.totalNodes), \(operators.count) classes)"
                : "Operators (\(graph.totalNodes) nodes, \(operators.count) kinds)")
        out += Format.table(
            operators.map { ["  " + ($0.domain == "ai.onnx" ? $0.op : "\($0.domain)::\($0.op)"), String($0.count)] },
            rightAligned: [1])

        out.append("")
        out.append(
            "Parameters: \(Format.count(parameters.elements)) elements in \(parameters.tensors) tensors, \(Format.bytes(parameters.bytes))"
                + (parameters.tensorsInNodeAttributes > 0
                    ? " (\(parameters.tensorsInNodeAttributes) tensors in node attributes, e.g. Constant)" : ""))
        out += Format.table(
            parameters.byType.map {
                [
                    "  " + $0.dtype, Format.plural($0.elements, "element"), Format.bytes($0.bytes),
                    Format.plural($0.tensors, "tensor"),
                ]
            }, rightAligned: [1, 2, 3])

        if !largestTensors.isEmpty {
            out.append("")
            out.append("Largest tensors")
            out += Format.table(
                largestTensors.map {
                    ["  " + $0.name, $0.dtype, Format.dims($0.shape), Format.bytes($0.bytes), $0.location]
                }, rightAligned: [3])
        }
        if !externalData.isEmpty {
            out.append("")
            out.append("External data")
            out += Format.table(
                externalData.map { ["  " + $0.location, Format.bytes($0.bytes), Format.plural($0.tensors, "tensor")] },
                rightAligned: [1, 2])
        }
        if let tensors {
            out.append("")
            out.append("Tensors (\(tensors.count))")
            var rows = [["  name", "type", "shape", "bytes", "min", "max", "mean", "std", "zeros"]]
            for t in tensors {
                let s = t.stats
                rows.append([
                    "  " + t.name, t.dtype, Format.dims(t.shape), Format.bytes(t.bytes), Format.number(s?.min),
                    Format.number(s?.max), Format.number(s?.mean), Format.number(s?.std),
                    s?.zeroFraction.map { Format.percent($0) } ?? "-",
                ])
            }
            out += Format.table(rows, rightAligned: [3, 4, 5, 6, 7, 8])
        }
        if let z = mpz {
            out.append("")
            var what = ["source \(z.sourceFormat)"]
            if let p = z.info["preset"] { what.append("preset \(p)") }
            if let p = z.info["passes"], !p.isEmpty { what.append("passes \(p)") }
            if let p = z.info["producer"] { what.append("by \(p)") }
            out.append("Stored as .mpz \(z.formatVersion) (" + what.joined(separator: ", ") + ")")
            var rows = [
                [
                    z.containerBytes == nil
                        ? "  graph and small tensors" : "  graph, Keras file structure, small tensors",
                    "context-coded", Format.bytes(z.graphBytes), Format.bytes(z.graphStoredBytes),
                    Format.ratio(z.graphBytes, z.graphStoredBytes),
                ]
            ]
            rows.insert(["  tensor", "encoding", "bytes", "stored", "ratio"], at: 0)
            for t in z.tensors {
                rows.append([
                    "  " + t.name, t.encoding, Format.bytes(t.denseBytes), Format.bytes(t.fileBytes),
                    Format.ratio(t.denseBytes, t.fileBytes),
                ])
            }
            out += Format.table(rows, rightAligned: [2, 3, 4])
        }
        if !warnings.isEmpty {
            out.append("")
            out.append("Warnings")
            out += warnings.map { "  " + $0 }
        }
        return out.joined(separator: "\n") + "\n"
    }
}

/// Number and table formatting for terminal output.
enum Format {
    /// `1.5 MiB`, `912 B`.
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var u = 0
        while v >= 1024, u < units.count - 1 {
            v /= 1024
            u += 1
        }
        return u == 0 ? "\(n) B" : fixed(v, digits: v < 10 ? 2 : 1) + " " + units[u]
    }

    /// `1,234,567`.
    static func count(_ n: Int) -> String {
        let s = String(n.magnitude)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0, (s.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// `1 tensor`, `3 tensors`.
    static func plural(_ n: Int, _ noun: String) -> String { "\(count(n)) \(noun)" + (n == 1 ? "" : "s") }

    static func dims(_ d: [Int64]) -> String { d.isEmpty ? "scalar" : d.map(String.init).joined(separator: "x") }

    static func percent(_ x: Double) -> String { fixed(x * 100, digits: 1) + "%" }

    /// A compact number: `-`, `0`, `0.0123`, `1.5e-07`, `12345.7`.
    static func number(_ x: Double?) -> String {
        guard let x else { return "-" }
        if x == 0 { return "0" }
        let a = abs(x)
        if a >= 1e-3 && a < 1e6 { return fixed(x, digits: a >= 100 ? 1 : 4) }
        return scientific(x)
    }

    static func fixed(_ x: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (abs(x) * scale).rounded()
        let whole = Int(r / scale)
        let frac = Int(r - Double(whole) * scale)
        var f = String(frac)
        while f.count < digits { f = "0" + f }
        return (x < 0 && r != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
    }

    static func scientific(_ x: Double) -> String {
        var e = 0
        var m = abs(x)
        while m >= 10 {
            m /= 10
            e += 1
        }
        while m < 1 {
            m *= 10
            e -= 1
        }
        if m >= 9.995 {
            m /= 10
            e += 1
        }
        return (x < 0 ? "-" : "") + fixed(m, digits: 2) + "e" + (e < 0 ? "-" : "+") + (abs(e) < 10 ? "0" : "")
            + String(abs(e))
    }

    /// `3.85x`.
    static func ratio(_ a: Int, _ b: Int) -> String { b > 0 ? fixed(Double(a) / Double(b), digits: 2) + "x" : "-" }

    static func oneLine(_ s: String, limit: Int) -> String {
        let flat = s.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.count <= limit ? flat : String(flat.prefix(limit - 1)) + "…"
    }

    /// Rows padded into aligned columns (two spaces apart); columns in `rightAligned` pad on the left.
    static func table(_ rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
        guard let width = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: width)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            var line = ""
            for (i, c) in r.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - c.count)
                if i > 0 { line += "  " }
                line += rightAligned.contains(i) ? pad + c : (i == r.count - 1 ? c : c + pad)
            }
            return line
        }
    }
}
