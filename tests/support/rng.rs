//! The tests' one random generator: small, seeded, reproducible.
//!
//! A test that draws random choices (which node to join through, which account to
//! pay, when to kill a server) takes them from an [`Rng`] with a fixed seed, so that a
//! failure can be replayed; change the seed to explore other cases. A test that wants
//! new cases on every run (the crash test) seeds it from the clock and prints the seed.

/// xorshift64* (Vigna, 2016): a few lines, fast, and good enough for tests; not for
/// keys or salts, which come from the operating system (`getrandom`).
pub struct Rng(u64);

impl Rng {
    /// A generator for this seed. The seed is mixed first (SplitMix64's step), so that
    /// small seeds such as 1, 2, 3 give unrelated sequences.
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)).max(1))
    }

    /// A generator seeded from the environment variable `var` if it is set, else from
    /// the clock; the seed is printed either way, so that `var=<seed>` replays a run.
    pub fn from_env_or_clock(var: &str) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("random seed: {var}={seed}");
        Rng::new(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `len` random bytes: file contents with no pattern a bug could hide behind.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < len {
            bytes.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        bytes.truncate(len);
        bytes
    }
}
