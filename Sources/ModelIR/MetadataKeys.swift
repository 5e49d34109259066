/// Metadata keys ModelPress puts on Keras tensors and layer nodes, in one place for every module that reads
/// them (the Keras reader writes them; the passes and the inspect report read them).
public enum KerasMetadata {
    /// On tensors: the layer that owns the weight (innermost layer named in its path).
    public static let layer = "keras.layer"
    /// On tensors: the tensor's `Role`.
    public static let role = "keras.role"
    /// On tensors: the weight's name as the file lists it (`dense/kernel:0`, `vars/0`).
    public static let weight = "keras.weight"
    /// On nodes: the enclosing model layer of a nested model's layer.
    public static let parent = "keras.parent"

    /// The values of `role`.
    public enum Role {
        /// A model weight.
        public static let weight = "weight"
        /// Optimizer state (only training needs it).
        public static let optimizer = "optimizer"
        /// Anything else the file stores as a dataset.
        public static let other = "other"
    }
}
