import Compression
import FileSystem
import Foundation

/// Reads compression recipes (JSON) and builds recipes from command-line options.
///
/// ```json
/// {
///   "passes": "prune(sparsity=0.5),kmeans(bits=4)",
///   "defaults": {"min_elements": 1024, "skip_biases": true, "skip_normalization": true, "requantize": false},
///   "overrides": [
///     {"match": {"op": "Conv", "position": "first"}, "params": {"kmeans": {"bits": 8}}},
///     {"match": {"op": "Gemm", "position": "last"}, "params": {"kmeans": {"bits": 8}}},
///     {"match": {"op": "Embedding"}, "skip": ["kmeans"]},
///     {"match": {"name": "head.weight"}, "exclude": true}
///   ]
/// }
/// ```
/// `passes` may also be a list of objects: `[{"pass": "kmeans", "bits": 4}]`.
enum RecipeFile {
    /// Reads the recipe at `path`.
    static func load(_ path: String) throws(ModelPressError) -> Recipe {
        let data: Data
        do {
            data = Data(try Files.readAll(path))
        } catch {
            throw ModelPressError(.usage, "\(path): cannot read the recipe file: \(error.detail)", cause: error)
        }
        do {
            return try parse(data, path: path)
        } catch let e as ModelPressError {
            throw e
        } catch let e as CompressionError {
            throw ModelPressError(.usage, "\(path): \(e.description)", cause: e)
        } catch {
            throw ModelPressError(.usage, "\(path): \(error)")
        }
    }

    static func parse(_ data: Data, path: String) throws -> Recipe {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ModelPressError(.usage, "\(path): the recipe is not valid JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any] else {
            throw ModelPressError(.usage, "\(path): the recipe must be a JSON object with \"passes\"")
        }
        try checkKeys(root, ["passes", "defaults", "overrides"], what: "the recipe", path: path)
        var recipe = Recipe(passes: [])
        switch root["passes"] {
        case let text as String:
            recipe.passes = try Pipeline.parse(text)
        case let list as [Any]:
            for item in list {
                guard let o = item as? [String: Any], let name = o["pass"] as? String else {
                    throw ModelPressError(.usage, "\(path): each entry of \"passes\" needs a \"pass\" name")
                }
                let args = o.keys.sorted().filter { $0 != "pass" }.map { PassSpec.Argument($0, text(o[$0])) }
                recipe.passes.append(PassSpec(name: name.lowercased(), arguments: args))
            }
        default:
            throw ModelPressError(.usage, "\(path): the recipe needs \"passes\": a pipeline string or a list")
        }
        if let d = root["defaults"] {
            guard let o = d as? [String: Any] else {
                throw ModelPressError(.usage, "\(path): \"defaults\" must be an object")
            }
            try checkKeys(
                o, ["min_elements", "skip_biases", "skip_normalization", "requantize", "max_zero_fraction"],
                what: "\"defaults\"", path: path
            )
            if let n = o["min_elements"] as? NSNumber { recipe.defaults.minElements = n.intValue }
            if let b = o["skip_biases"] as? Bool { recipe.defaults.skipBiases = b }
            if let b = o["skip_normalization"] as? Bool { recipe.defaults.skipNormalization = b }
            if let b = o["requantize"] as? Bool { recipe.defaults.requantize = b }
            if let f = o["max_zero_fraction"] as? NSNumber { recipe.defaults.maxZeroFraction = f.doubleValue }
        }
        if let list = root["overrides"] {
            guard let items = list as? [Any] else {
                throw ModelPressError(.usage, "\(path): \"overrides\" must be a list")
            }
            for (k, item) in items.enumerated() {
                guard let o = item as? [String: Any], let m = o["match"] as? [String: Any] else {
                    throw ModelPressError(.usage, "\(path): override \(k + 1) needs a \"match\" object")
                }
                try checkKeys(
                    o, ["match", "exclude", "include", "skip", "params"], what: "override \(k + 1)", path: path)
                try checkKeys(
                    m, ["name", "op", "layer", "position"], what: "the match of override \(k + 1)", path: path)
                var match = TensorMatch(name: m["name"] as? String, op: (m["op"] ?? m["layer"]) as? String)
                if let p = m["position"] as? String {
                    guard let pos = TensorMatch.Position(rawValue: p) else {
                        throw ModelPressError(
                            .usage, "\(path): override \(k + 1): position must be \"first\" or \"last\"")
                    }
                    match.position = pos
                }
                var ov = TensorOverride(match: match)
                ov.exclude = o["exclude"] as? Bool ?? false
                ov.include = o["include"] as? Bool ?? false
                if let s = o["skip"] as? [String] {
                    ov.skip = s.map { $0.lowercased() }
                } else if let s = o["skip"] as? Bool, s {
                    ov.skip = ["*"]
                }
                if let params = o["params"] as? [String: Any] {
                    for (pass, value) in params {
                        guard let args = value as? [String: Any] else {
                            throw ModelPressError(
                                .usage, "\(path): override \(k + 1): params of '\(pass)' must be an object")
                        }
                        ov.parameters[pass.lowercased()] = args.keys.sorted().map {
                            PassSpec.Argument($0, text(args[$0]))
                        }
                    }
                }
                recipe.overrides.append(ov)
            }
        }
        return recipe
    }

    private static func checkKeys(_ o: [String: Any], _ valid: [String], what: String, path: String) throws {
        if let bad = o.keys.sorted().first(where: { !valid.contains($0) }) {
            throw ModelPressError(
                .usage, "\(path): \(what) has an unknown key \"\(bad)\"; valid keys: \(valid.joined(separator: ", "))")
        }
    }

    private static func text(_ v: Any?) -> String {
        switch v {
        case let s as String: return s
        case let b as Bool: return b ? "true" : "false"
        case let n as NSNumber: return n.stringValue
        default: return ""
        }
    }

    /// The recipe the command line describes: `--recipe`, `--passes` (replaces the recipe's pipeline) and
    /// `--max-error` (appends `auto(max_error=E)` as the encoding pass).
    static func fromOptions(passes: String?, recipePath: String?, maxError: Double?) throws(ModelPressError)
        -> Recipe?
    {
        var recipe = try recipePath.map { path throws(ModelPressError) in try load(path) }
        do {
            if let passes {
                let specs = try Pipeline.parse(passes)
                if recipe == nil { recipe = Recipe(passes: specs) } else { recipe?.passes = specs }
            }
            if let maxError {
                guard maxError > 0, maxError <= 1 else {
                    throw ModelPressError(.usage, "--max-error must be in (0, 1], e.g. 0.01 for 1% relative L2 error")
                }
                var r = recipe ?? Recipe(passes: [])
                let encoders: Set<String> = ["linear", "kmeans", "fp16", "bf16", "binary", "ternary", "auto"]
                if let e = r.passes.first(where: { encoders.contains($0.name) }) {
                    throw ModelPressError(
                        .usage, "--max-error chooses the quantization per tensor; remove '\(e.text)' from the passes")
                }
                let auto = PassSpec(name: "auto", arguments: [.init("max_error", String(maxError))])
                if let h = r.passes.firstIndex(where: { $0.name == "huffman" }) {
                    r.passes.insert(auto, at: h)
                } else {
                    r.passes.append(auto)
                }
                recipe = r
            }
            if let r = recipe {
                guard !r.passes.isEmpty else { throw ModelPressError(.usage, "the pipeline is empty") }
                try PassManager(recipe: r).validate()
            }
        } catch let e as ModelPressError {
            throw e
        } catch let e as CompressionError {
            throw ModelPressError(.usage, e.description, cause: e)
        } catch {
            throw ModelPressError(.usage, "\(error)")
        }
        return recipe
    }
}
