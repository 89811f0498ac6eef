//! Weight initialisation for layers whose weights the scenario does not give.
//! Each layer draws from its own ChaCha8 stream (seed, stream = layer index), so giving
//! the weights of one layer does not change the random weights of another.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Normal(0, √(2 / fan_in)), for ReLU networks.
    #[default]
    He,
    /// Uniform(−a, a) with a = √(6 / (fan_in + fan_out)).
    Xavier,
    Zeros,
}

pub struct LayerRng(ChaCha8Rng);

impl LayerRng {
    pub fn new(seed: u64, layer_index: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(layer_index as u64);
        LayerRng(rng)
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box–Muller (written out so the numbers never depend on a
    /// distribution crate's version).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    pub fn sample(&mut self, init: Init, fan_in: usize, fan_out: usize) -> f64 {
        match init {
            Init::He => self.normal() * (2.0 / fan_in as f64).sqrt(),
            Init::Xavier => {
                let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
                (2.0 * self.uniform() - 1.0) * a
            }
            Init::Zeros => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<f64> = (0..4)
            .map(|_| LayerRng::new(7, 0).sample(Init::He, 9, 18))
            .collect();
        let mut r = LayerRng::new(7, 0);
        let first = r.sample(Init::He, 9, 18);
        assert_eq!(a[0], first);
        let mut other = LayerRng::new(7, 1);
        assert_ne!(first, other.sample(Init::He, 9, 18));
    }

    #[test]
    fn xavier_stays_in_its_bounds() {
        let mut r = LayerRng::new(1, 2);
        let a = (6.0f64 / 20.0).sqrt();
        for _ in 0..1000 {
            let v = r.sample(Init::Xavier, 10, 10);
            assert!(v.abs() <= a);
        }
    }
}
