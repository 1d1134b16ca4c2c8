//! For fuzz-style tests: random edits of a valid input.

/// One of `seeds` with up to three random edits: a byte removed, a byte of `noise` inserted,
/// or the rest cut off.
pub fn mutated(rng: &mut fastrand::Rng, seeds: &[&[u8]], noise: &[u8]) -> Vec<u8> {
    let mut bytes = seeds[rng.usize(..seeds.len())].to_vec();
    for _ in 0..rng.usize(0..4) {
        let at = rng.usize(..=bytes.len());
        match rng.u8(..3) {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 => bytes.insert(at, noise[rng.usize(..noise.len())]),
            _ => bytes.truncate(at),
        }
    }
    bytes
}
