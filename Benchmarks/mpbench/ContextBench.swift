func contextBench(_ arguments: [String]) { print("context: not yet") }
