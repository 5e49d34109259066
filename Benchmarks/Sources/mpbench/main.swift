// Micro-benchmarks of ModelPress kernels, run by scripts/bench-mpz.sh.
//
//   mpbench huffman [...]   Huffman encode/decode throughput (HuffmanBench.swift)
//   mpbench context [...]   context-coder throughput (ContextBench.swift)
//   mpbench quantizers [...] linear and k-means quantizer times (QuantBench.swift)
let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "huffman": huffmanBench(Array(arguments.dropFirst()))
case "context": contextBench(Array(arguments.dropFirst()))
case "quantizers": quantizerBench(Array(arguments.dropFirst()))
default: print("usage: mpbench huffman|context|quantizers [options]")
}
