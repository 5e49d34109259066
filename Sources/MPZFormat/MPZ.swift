/// The `.mpz` container format (schemas/mpz.md).
public enum MPZ {
    /// Format version this build writes.
    public static let majorVersion: UInt16 = 1
}
