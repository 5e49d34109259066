func huffmanBench(_ arguments: [String]) { print("huffman: not yet") }
