// MARK: - ParameterLayout

/// Where each parameter lives in the model's single contiguous table of floats (`ParameterStorage`).
///
/// The table holds `2^bits + 1` slots of `stride` floats; slot `2^bits` is the bias. A slot is
/// `[w, linear state (S_l), v_0 … v_{k−1}, factor state (S_f·k, state-major: s_r of factor f at r·k + f)]`.
/// Interleaving keeps everything one feature's update touches in one or two cache lines.
@usableFromInline
struct ParameterLayout: Sendable, Equatable {
    /// Factors per feature.
    @usableFromInline let k: Int
    /// Floats per slot.
    @usableFromInline let stride: Int
    /// Offset of `v_0` within a slot.
    @usableFromInline let factorOffset: Int
    /// Offset of the factor state within a slot.
    let factorStateOffset: Int
    /// Number of hashed slots (`2^bits`); also the bias slot's index.
    @usableFromInline let slots: Int
    /// Linear-state floats per slot.
    let linearStateCount: Int
    /// Factor-state floats per factor.
    let factorStateCount: Int

    init(_ c: ModelConfiguration) {
        k = c.kind.factors
        linearStateCount = c.optimizer.linearStateCount
        factorStateCount = k == 0 ? 0 : c.effectiveFactorOptimizer.factorStateCount
        factorOffset = 1 + linearStateCount
        factorStateOffset = factorOffset + k
        stride = factorStateOffset + k * factorStateCount
        slots = 1 << c.bits
    }

    /// Total floats in the table (hashed slots + bias slot).
    var floatCount: Int { (slots + 1).multipliedReportingOverflow(by: stride).partialValue }

    /// Offset of the bias slot.
    @inlinable var biasBase: Int { slots &* stride }
}
