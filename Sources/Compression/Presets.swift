/// The named compression levels of `modelpress compress --preset`.
public enum Preset: String, CaseIterable, Sendable {
    /// Every weight bit-identical; tensors and graph only entropy-coded.
    case lossless
    /// 8-bit per-channel linear quantization + Huffman coding: about 4-5x, output cosine >= 0.999.
    case balanced
    /// Deep Compression without retraining: 50% magnitude pruning, 4-bit k-means, Huffman coding.
    case small

    /// The passes and selection of the preset; nil for `lossless` (no pass runs).
    public var recipe: Recipe? {
        var defaults = SelectionDefaults()
        // Constructed kernels (a filter bank's exact zeros) and already pruned weights stay exact.
        defaults.maxZeroFraction = 0.1
        switch self {
        case .lossless: return nil
        case .balanced:
            return Recipe(
                passes: [PassSpec(name: "linear", arguments: [.init("bits", "8")]), PassSpec(name: "huffman")],
                defaults: defaults)
        case .small:
            return Recipe(
                passes: [
                    PassSpec(name: "prune", arguments: [.init("sparsity", "0.5")]),
                    PassSpec(name: "kmeans", arguments: [.init("bits", "4")]), PassSpec(name: "huffman"),
                ], defaults: defaults)
        }
    }

    /// One line for `--help`.
    public var summary: String {
        switch self {
        case .lossless: "weights bit-identical; tensors byte-plane Huffman-coded, graph context-coded"
        case .balanced: "linear(bits=8) per channel + huffman: ~4x+, output cosine >= 0.999 on the shared models"
        case .small:
            "prune(sparsity=0.5),kmeans(bits=4),huffman: Deep Compression without retraining; can cost accuracy"
        }
    }
}
