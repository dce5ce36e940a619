//! Randomness that is no secret: the jitter of retries, the spread of
//! renewal times, the ids of lease holders. Here rather than in a flow, so
//! the adapters may use it too.

/// A uniformly random number in `[0, 1)`.
pub(crate) fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
