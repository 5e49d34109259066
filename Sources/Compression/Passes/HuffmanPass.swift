import Codecs
import ModelIR

/// `huffman`: codes the stored symbols (linear codes, k-means indices) with canonical length-limited
/// Huffman codes (`SymbolCoder`); the storage becomes `.entropyCoded` and the report shows the coded
/// size next to the order-0 entropy.
struct HuffmanPass: Pass {
    let description: String
    let stage = PassStage.entropy

    static let definition = PassDefinition(
        name: "huffman",
        summary: "Entropy-code the quantized symbols (canonical Huffman; runs of the commonest symbol for pruned "
            + "tensors); the report shows coded bits next to the order-0 entropy.",
        parameters: [],
        make: { a throws(CompressionError) in HuffmanPass(description: a.text) })

    func run(_ t: inout WorkingTensor) throws(CompressionError) {
        let packed: TensorBuffer
        let bits: Int
        switch t.storage {
        case .linearQuantized(let q):
            packed = q.codes
            bits = q.bits
        case .palettized(let p):
            packed = p.indices
            bits = p.bits
        default:
            t.note("\(description): nothing to code (the tensor has no quantized symbols; add linear or kmeans first)")
            return
        }
        guard bits <= SymbolCoder.maxSymbolBits else {
            t.note(
                "\(description): \(bits)-bit symbols are stored packed (Huffman codes up to \(SymbolCoder.maxSymbolBits) bits)"
            )
            return
        }
        let count = t.values.count
        let (block, stats) = try codec { () throws(CodecError) in
            try SymbolCoder.encode(packed: packed, bits: bits, count: count)
        }
        let parameters = max(t.encodedBytes - packed.count, 0)
        t.storage = .entropyCoded(
            EntropyCoded(
                coder: .huffman, block: block, inner: t.storage!, entropyBits: stats.entropyBits, mode: stats.mode))
        t.codedBytes = block.count + parameters
        t.entropyBitsPerElement = count > 0 ? stats.entropyBits / Double(count) : 0
        let coded = count > 0 ? Double(block.count * 8) / Double(count) : 0
        let entropy = t.entropyBitsPerElement ?? 0
        let over = entropy > 0 ? "+" + Report.percent(coded / entropy - 1) : "n/a"
        t.encoding += " + huffman"
        t.steps.append(
            PassStep(
                pass: description,
                detail: "\(stats.mode): \(Report.number(coded)) bits per element (order-0 entropy "
                    + "\(Report.number(entropy)), \(over)); \(block.count) bytes"))
    }
}
