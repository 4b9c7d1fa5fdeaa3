// MARK: - ModelKind

/// The shape of a model's score (margin). Every kind has a bias and a linear term over all features.
public enum ModelKind: Sendable, Equatable, Hashable {
    /// Logistic regression: `margin = b + Σ_j w_j x_j`.
    case logistic
    /// Rendle's factorization machine (ICDM 2010) of order 2:
    /// `margin = b + Σ_j w_j x_j + Σ_{j<l} ⟨v_j, v_l⟩ x_j x_l`, computed in O(k·n) as
    /// `½ Σ_f [(Σ_j v_jf x_j)² − Σ_j v_jf² x_j²]`. Fields are ignored: every pair of features interacts.
    case factorizationMachine(factors: Int)
    /// Bilinear two-tower: linear term over all features + `(Σ_{f∈userFields} v_f x_f)·(Σ_{f∈itemFields} v_f x_f)`.
    /// Matrix factorization with biases = userFields {user id field}, itemFields {item id field}.
    /// `userFields` and `itemFields` are bitmasks over field ids (`1 << field`). A feature whose field is in neither
    /// mask contributes only its linear weight; one in both masks sits in both towers.
    case matrixFactorization(factors: Int, userFields: UInt64, itemFields: UInt64)

    /// Number of latent factors per feature (0 for `.logistic`).
    public var factors: Int {
        switch self {
        case .logistic: return 0
        case .factorizationMachine(let k): return k
        case .matrixFactorization(let k, _, _): return k
        }
    }
}
