//! A constant gain: every sample times one factor.

use super::{Stage, check_planes};
use crate::error::Result;

/// Multiplies every sample by a constant factor. No latency, nothing held back.
#[derive(Clone, Debug, PartialEq)]
pub struct Gain {
    channels: usize,
    factor: f32,
}

impl Gain {
    /// A gain of `gain_db` decibels on `channels` channels (0 dB multiplies by exactly 1).
    pub fn from_db(gain_db: f64, channels: usize) -> Self {
        Gain { channels, factor: 10f64.powf(gain_db / 20.0) as f32 }
    }

    /// The linear factor applied.
    pub fn factor(&self) -> f32 {
        self.factor
    }
}

impl Stage for Gain {
    fn output_channels(&self) -> usize {
        self.channels
    }

    fn process(&mut self, input: &[Vec<f32>], output: &mut [Vec<f32>]) -> Result<()> {
        check_planes("gain", self.channels, input)?;
        let factor = self.factor;
        for (o, i) in output.iter_mut().zip(input) {
            o.extend(i.iter().map(|s| s * factor));
        }
        Ok(())
    }

    fn finish(&mut self, _output: &mut [Vec<f32>]) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_db_is_exactly_unity_and_six_db_doubles() {
        assert_eq!(Gain::from_db(0.0, 1).factor(), 1.0);
        let mut g = Gain::from_db(20.0 * 2f64.log10(), 2);
        let mut out = vec![Vec::new(); 2];
        g.process(&[vec![0.25, -0.5], vec![0.0, 0.125]], &mut out).expect("two planes");
        assert_eq!(out, vec![vec![0.5, -1.0], vec![0.0, 0.25]]);
        assert!(g.process(&[vec![0.25]], &mut out).is_err());
    }
}
