import Foundation

/// One layer of a Keras model config, flattened: nested models' layers follow their parent.
struct KerasLayer: @unchecked Sendable {
    var name: String
    var className: String
    /// The enclosing model layer's name, nil at top level.
    var parent: String?
    /// Names of the layers whose outputs feed this one, in order (from `inbound_nodes`, or the previous
    /// layer in a Sequential).
    var inbound: [String]
    /// This layer's config entry re-serialised with sorted keys (`{"class_name": ..., "config": ...}`).
    var configJSON: String
    /// The `config` object of the entry (JSON values: immutable after parsing).
    var config: [String: Any]
    /// Keras 3's `module` of the class (`keras.layers`), when recorded.
    var module: String?
    /// Keras 3's `registered_name` of a custom class, when recorded.
    var registeredName: String?
    /// True for layers that hold other layers (Sequential, Functional, Model).
    var isModel: Bool
    /// Where Keras 3's weights files keep this layer: `layers/conv2d_1`, `layers/functional/layers/dense`
    /// (snake-cased class names numbered per container, in layer order, not the layer names).
    var savePath: String

    /// Int config value.
    func int(_ key: String) -> Int? { (config[key] as? NSNumber)?.intValue }
    /// Bool config value.
    func bool(_ key: String) -> Bool? { (config[key] as? NSNumber)?.boolValue }
    /// Int list config value (`kernel_size`).
    func ints(_ key: String) -> [Int]? {
        if let a = config[key] as? [Any] { return a.compactMap { ($0 as? NSNumber)?.intValue } }
        if let n = config[key] as? NSNumber { return [n.intValue] }
        return nil
    }
}

/// The parsed `model_config` (or `config.json`) of a Keras model.
struct KerasModelConfig: @unchecked Sendable {
    /// `Sequential`, `Functional`, `Model`, ...
    var className: String
    var name: String?
    /// Every layer at every depth, parents before their children.
    var layers: [KerasLayer]

    static let modelClasses: Set<String> = ["Sequential", "Functional", "Model"]

    /// Parses `json` (the `model_config` attribute or `config.json`); throws a one-line reason.
    static func parse(_ json: [UInt8]) throws(ConfigError) -> KerasModelConfig {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed])
        } catch {
            throw ConfigError("the model config is not valid JSON")
        }
        guard let root = object as? [String: Any], let cls = root["class_name"] as? String else {
            throw ConfigError("the model config has no class_name")
        }
        var layers: [KerasLayer] = []
        let name = (root["config"] as? [String: Any])?["name"] as? String
        try collect(modelEntry: root, parent: nil, savePrefix: "", into: &layers, depth: 0)
        return KerasModelConfig(className: cls, name: name, layers: layers)
    }

    struct ConfigError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    /// Appends the layers of the model `entry` (`{"class_name", "config": {"layers": [...]}}` or, in
    /// Keras 2.0 Sequential files, `config` being the list itself).
    private static func collect(
        modelEntry entry: [String: Any], parent: String?, savePrefix: String, into out: inout [KerasLayer], depth: Int
    ) throws(ConfigError) {
        var used: [String: Int] = [:]
        guard depth < 64 else { throw ConfigError("models nest more than 64 levels deep") }
        let cls = entry["class_name"] as? String ?? ""
        let list: [Any]
        if let c = entry["config"] as? [String: Any] {
            list = c["layers"] as? [Any] ?? []
        } else if let c = entry["config"] as? [Any] {
            list = c
        } else {
            list = []
        }
        var previous: String?
        for item in list {
            guard let layer = item as? [String: Any], let lcls = layer["class_name"] as? String else {
                throw ConfigError("a layer entry of '\(parent ?? "the model")' has no class_name")
            }
            let cfg = layer["config"] as? [String: Any] ?? [:]
            guard let lname = (layer["name"] as? String) ?? (cfg["name"] as? String) else {
                throw ConfigError("a \(lcls) layer of '\(parent ?? "the model")' has no name")
            }
            var inbound = inboundNames(layer["inbound_nodes"])
            if inbound.isEmpty, cls == "Sequential", let previous { inbound = [previous] }
            let json =
                (try? JSONSerialization.data(withJSONObject: layer, options: [.sortedKeys, .fragmentsAllowed]))
                .flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
            let isModel = modelClasses.contains(lcls) || (cfg["layers"] is [Any])
            var snake = snakeCase(lcls)
            if let k = used[snake] {
                used[snake] = k + 1
                snake += "_\(k + 1)"
            } else {
                used[snake] = 0
            }
            let savePath = savePrefix + "layers/" + snake
            out.append(
                KerasLayer(
                    name: lname, className: lcls, parent: parent, inbound: inbound, configJSON: json, config: cfg,
                    module: layer["module"] as? String, registeredName: layer["registered_name"] as? String,
                    isModel: isModel, savePath: savePath))
            if isModel {
                try collect(
                    modelEntry: layer, parent: lname, savePrefix: savePath + "/", into: &out, depth: depth + 1)
            }
            previous = lname
        }
    }

    /// Keras's `naming.to_snake_case`: `Conv2D` -> `conv2d`, `BatchNormalization` -> `batch_normalization`,
    /// `ReLU` -> `re_lu`.
    static func snakeCase(_ name: String) -> String {
        var s = name.replacingOccurrences(of: "\\W+", with: "", options: .regularExpression)
        s = s.replacingOccurrences(of: "(.)([A-Z][a-z]+)", with: "$1_$2", options: .regularExpression)
        return s.replacingOccurrences(of: "([a-z])([A-Z])", with: "$1_$2", options: .regularExpression).lowercased()
    }

    /// Layer names referenced by `inbound_nodes` in either the Keras 2 form (`[[["name", 0, 0, {}], ...]]`)
    /// or the Keras 3 form (`[{"args": [{"config": {"keras_history": ["name", 0, 0]}}], "kwargs": {}}]`).
    static func inboundNames(_ value: Any?) -> [String] {
        var names: [String] = []
        func walk(_ v: Any, depth: Int) {
            guard depth < 32 else { return }
            if let d = v as? [String: Any] {
                if let h = d["keras_history"] as? [Any], let n = h.first as? String {
                    if !names.contains(n) { names.append(n) }
                    return
                }
                for k in d.keys.sorted() { if let x = d[k] { walk(x, depth: depth + 1) } }
            } else if let a = v as? [Any] {
                if a.count >= 3, let n = a[0] as? String, a[1] is NSNumber, a[2] is NSNumber {
                    if !names.contains(n) { names.append(n) }
                    return
                }
                for x in a { walk(x, depth: depth + 1) }
            }
        }
        if let value { walk(value, depth: 0) }
        return names
    }
}

extension KerasLayer {
    /// Whether this layer's class is one stock Keras (2 or 3) provides.
    var isStockClass: Bool {
        if let module {
            return module == "keras" || module.hasPrefix("keras.") || module.hasPrefix("tf_keras")
        }
        if let registeredName, !registeredName.isEmpty, registeredName != className { return false }
        return KerasLayer.stockClasses.contains(className)
    }

    /// Layer classes of stock Keras 2 (tf.keras / tf_keras) and Keras 3.
    static let stockClasses: Set<String> = [
        "Activation", "ActivityRegularization", "Add", "AdditiveAttention", "AlphaDropout", "Attention",
        "Average", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D",
        "AvgPool3D", "BatchNormalization", "Bidirectional", "CategoryEncoding", "CenterCrop", "Concatenate",
        "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "ConvLSTM1D",
        "ConvLSTM2D", "ConvLSTM3D", "Convolution1D", "Convolution2D", "Convolution3D", "Cropping1D",
        "Cropping2D", "Cropping3D", "Dense", "DepthwiseConv1D", "DepthwiseConv2D", "Discretization", "Dot",
        "Dropout", "ELU", "EinsumDense", "Embedding", "Flatten", "Functional", "GaussianDropout", "GaussianNoise",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D",
        "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
        "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GroupNormalization",
        "GroupQueryAttention", "GRU", "GRUCell", "Hashing", "Identity", "InputLayer", "InputSpec",
        "IntegerLookup", "Lambda", "Layer", "LayerNormalization", "LeakyReLU", "LocallyConnected1D",
        "LocallyConnected2D", "LSTM", "LSTMCell", "Masking", "Maximum", "MaxPool1D", "MaxPool2D", "MaxPool3D",
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "Minimum", "Model", "MultiHeadAttention", "Multiply",
        "Normalization", "Permute", "PReLU", "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip",
        "RandomHeight", "RandomRotation", "RandomTranslation", "RandomWidth", "RandomZoom", "ReLU",
        "RepeatVector", "Rescaling", "Reshape", "Resizing", "RNN", "SeparableConv1D", "SeparableConv2D",
        "SeparableConvolution1D", "SeparableConvolution2D", "Sequential", "SimpleRNN", "SimpleRNNCell",
        "Softmax", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "SpectralNormalization",
        "StackedRNNCells", "StringLookup", "Subtract", "TextVectorization", "ThresholdedReLU",
        "TimeDistributed", "UnitNormalization", "UpSampling1D", "UpSampling2D", "UpSampling3D", "Wrapper",
        "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "TFOpLambda", "SlicingOpLambda", "Merge",
        "RMSNormalization", "Pipeline", "MelSpectrogram", "STFTSpectrogram", "AutoContrast", "Solarization",
        "RandomGrayscale", "RandomColorJitter", "RandomSaturation", "RandomHue", "RandomSharpness",
        "RandomPosterization", "RandomShear", "RandomPerspective", "RandomElasticTransform", "RandomGaussianBlur",
        "RandomErasing", "RandomInvert", "Equalization", "MixUp", "CutMix", "AugMix", "RandAugment",
        "MaxNumBoundingBoxes", "ReversibleEmbedding", "TorchModuleWrapper", "JaxLayer", "FlaxLayer",
    ]
}
