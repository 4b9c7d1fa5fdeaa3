// MARK: - OptimizerKind

/// A per-coordinate online optimizer. Every update uses the per-example loss gradient `g` (after importance weighting
/// and clipping) times the coordinate's partial derivative of the margin.
public enum OptimizerKind: Sendable, Equatable, Hashable {
    /// Plain SGD: `w ← w − η_t·g`, with `η_t = learningRate / (1 + decay·t)` and `t` the number of updates applied
    /// before this one (`Model.version`).
    case sgd(learningRate: Double, decay: Double)
    /// AdaGrad (Duchi, Hazan & Singer 2011), per coordinate: `G ← G + g²`, `w ← w − η·g / (√G + ε)`.
    case adagrad(learningRate: Double, epsilon: Double)
    /// FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD 2013, Algorithm 1),
    /// per coordinate, with L1 (sparsity) and L2. On factor vectors it runs without L1 and without the proximal
    /// re-centring (see `ModelConfiguration.factorOptimizer`).
    case ftrl(alpha: Double, beta: Double, l1: Double, l2: Double)

    /// Float slots of optimizer state per linear coordinate.
    var linearStateCount: Int {
        switch self {
        case .sgd: return 0
        case .adagrad: return 1
        case .ftrl: return 2  // z, n
        }
    }

    /// Float slots of optimizer state per factor coordinate.
    var factorStateCount: Int {
        switch self {
        case .sgd: return 0
        case .adagrad: return 1
        case .ftrl: return 1  // n
        }
    }
}
