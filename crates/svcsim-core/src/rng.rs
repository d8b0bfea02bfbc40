//! The run's randomness: one seed, split into independent named streams.
//!
//! Each component draws from its own stream (`rng.stream("client/laptop")`), so adding a
//! health probe or a second client does not change which pod an existing client's requests
//! pick. The generator is SplitMix64: tiny, fast, and identical on every platform.

/// A deterministic pseudo-random stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// The root generator of a run.
    pub fn new(seed: u64) -> SimRng {
        SimRng { state: seed ^ 0x5356_4353_494D_0001 }
    }

    /// An independent stream derived from this generator's seed and `label`; it does not
    /// advance `self`, so streams can be created in any order.
    pub fn stream(&self, label: &str) -> SimRng {
        SimRng { state: mix(self.state ^ fnv1a(label.as_bytes())) }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A uniform integer in `0..n`.
    ///
    /// # Panics
    /// If `n` is zero.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        // Lemire's multiply-shift: unbiased enough for n far below 2^64 and branch-free.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `1/n`: the `-m statistic --mode random --probability 1/n` match.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, for stable labels and hashes (never `std`'s randomly keyed hasher).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_of_creation_order() {
        let root = SimRng::new(1);
        let a1 = root.stream("client/a").next_u64();
        let _ = root.stream("lb/probes").next_u64();
        assert_eq!(root.stream("client/a").next_u64(), a1);
        assert_ne!(root.stream("client/b").next_u64(), a1);
        assert_ne!(SimRng::new(2).stream("client/a").next_u64(), a1);
    }

    #[test]
    fn one_in_n_is_roughly_fair() {
        let mut rng = SimRng::new(7).stream("t");
        let hits = (0..30_000).filter(|_| rng.one_in(3)).count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
    }
}
