import Compression
import Foundation

/// The named compression levels of `modelpress compress --preset`.
public enum CompressionPreset: String, Sendable, CaseIterable {
    /// Every weight bit-identical; tensors and graph only entropy-coded.
    case lossless
    /// 8-bit per-channel linear quantization + Huffman coding.
    case balanced
    /// Deep Compression without retraining: 50% magnitude pruning, 4-bit k-means, Huffman coding.
    case small

    var preset: Preset {
        switch self {
        case .lossless: .lossless
        case .balanced: .balanced
        case .small: .small
        }
    }

    /// One line for `--help`.
    public var summary: String { preset.summary }
}

/// Which passes a job runs: a preset, or a custom pipeline (`--passes`, `--recipe`, `--max-error`).
public struct PassSelection: Sendable, Hashable {
    public var preset: CompressionPreset?
    /// A pipeline such as `prune(sparsity=0.6),kmeans(bits=4),huffman`.
    public var passes: String?
    /// A JSON recipe file (passes, defaults, per-tensor overrides).
    public var recipePath: String?
    /// Per tensor, the fewest bits whose relative L2 error stays within this.
    public var maxError: Double?

    public init(
        preset: CompressionPreset? = nil, passes: String? = nil, recipePath: String? = nil, maxError: Double? = nil
    ) {
        self.preset = preset
        self.passes = passes
        self.recipePath = recipePath
        self.maxError = maxError
    }

    /// True when a pipeline, recipe or error bound was given (not a preset).
    public var isCustom: Bool { passes != nil || recipePath != nil || maxError != nil }

    /// Checks the options against each other (no file is read). Usage errors.
    public func validate() throws(ModelPressError) {
        if isCustom, let preset {
            throw ModelPressError(
                .usage, "--preset \(preset.rawValue) and --passes/--recipe/--max-error exclude each other")
        }
    }

    /// The custom recipe, or nil when none was given.
    func customRecipe() throws(ModelPressError) -> Recipe? {
        try RecipeFile.fromOptions(passes: passes, recipePath: recipePath, maxError: maxError)
    }

    /// The preset that applies (`balanced` when neither a preset nor a custom pipeline was named; nil for a
    /// custom pipeline) and the recipe to run (nil for `lossless`: no pass runs).
    func resolved() throws(ModelPressError) -> (preset: CompressionPreset?, recipe: Recipe?) {
        try validate()
        if let custom = try customRecipe() { return (nil, custom) }
        let preset = self.preset ?? .balanced
        return (preset, preset.preset.recipe)
    }

    /// The `.mpz` info section for a file these passes produced: producer, preset and pipeline when they apply.
    static func mpzInfo(preset: CompressionPreset?, recipe: Recipe?) -> [String: String] {
        var info = ["producer": "modelpress \(ModelPress.version)"]
        if let preset { info["preset"] = preset.rawValue }
        if let recipe { info["passes"] = recipe.passes.map(\.text).joined(separator: ",") }
        return info
    }

    /// Every pass and its parameters, for `--list-passes`.
    public static var passListText: String { PassRegistry.helpText }

    /// What the pipeline options do, for `--help`.
    public static let pipelineHelp = """
        Pipelines run value passes (prune, prune_channels, clip), then one encoding (linear, kmeans, fp16, \
        bf16, binary, ternary, auto), then huffman. By default tensors under 1024 elements, biases, \
        normalization parameters, integer and already-quantized tensors are left alone (a recipe can change \
        that per tensor). Weights in Constant nodes and in If/Loop subgraphs are compressed like \
        initializers. `modelpress compress --list-passes` lists every pass and parameter.
        """
}
