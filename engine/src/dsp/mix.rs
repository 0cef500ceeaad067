//! Channel down-mix and up-mix by a fixed matrix.
//!
//! Down-mix to stereo follows ITU-R BS.775: `Lo = L + 0.7071·C + 0.7071·Ls`,
//! `Ro = R + 0.7071·C + 0.7071·Rs`, LFE dropped. Surround channels alternate left/right in plane
//! order (Ls Rs, or Lb Rb Ls Rs for 7.1); an unpaired surround or an `Other` channel goes to both
//! sides at 0.7071. Mono is the mean of the stereo down-mix, `(Lo + Ro) / 2`; mono to stereo
//! copies the channel to both sides (dual mono). The matrix is not normalised: the pipeline's
//! gain stage comes after it and sets the level.

use super::{Stage, check_planes};
use crate::channels::{ChannelRole, default_layout};
use crate::error::{Error, Result};

/// −3 dB.
const MINUS_3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// A channel-mixing stage: `output[o] = Σ matrix[o][i] · input[i]`, no latency.
#[derive(Clone, Debug)]
pub struct ChannelMixer {
    /// `matrix[out][in]`.
    matrix: Vec<Vec<f32>>,
    identity: bool,
    layout: Vec<ChannelRole>,
}

impl ChannelMixer {
    /// A mixer from `layout` to `out_channels` channels (1 or 2, or the input's own count).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for any other channel count.
    pub fn new(layout: &[ChannelRole], out_channels: usize) -> Result<Self> {
        let n = layout.len();
        if out_channels == n {
            let matrix = (0..n).map(|o| (0..n).map(|i| if i == o { 1.0 } else { 0.0 }).collect()).collect();
            return Ok(ChannelMixer { matrix, identity: true, layout: layout.to_vec() });
        }
        let stereo = stereo_matrix(layout);
        let matrix = match out_channels {
            2 => stereo,
            1 => vec![stereo[0].iter().zip(&stereo[1]).map(|(l, r)| 0.5 * (l + r)).collect()],
            _ => {
                return Err(Error::InvalidParameter(format!(
                    "cannot mix {n} channels to {out_channels}: the output can have 1 or 2 channels, or the input's {n}"
                )));
            }
        };
        Ok(ChannelMixer { matrix, identity: false, layout: default_layout(out_channels) })
    }

    /// Whether the mixer passes every channel through unchanged.
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    /// The output's channel layout.
    pub fn output_layout(&self) -> &[ChannelRole] {
        &self.layout
    }

    /// Coefficient from input channel `i` to output channel `o`.
    pub fn coefficient(&self, o: usize, i: usize) -> f32 {
        self.matrix.get(o).and_then(|row| row.get(i)).copied().unwrap_or(0.0)
    }
}

/// Rows for Lo and Ro.
fn stereo_matrix(layout: &[ChannelRole]) -> Vec<Vec<f32>> {
    let n = layout.len();
    let mut left = vec![0.0; n];
    let mut right = vec![0.0; n];
    let surrounds: Vec<usize> = (0..n).filter(|&i| layout[i] == ChannelRole::Surround).collect();
    let unpaired = (surrounds.len() % 2 == 1).then(|| surrounds[surrounds.len() - 1]);
    let mut surround_seen = 0;
    for (i, role) in layout.iter().enumerate() {
        let (l, r) = match role {
            ChannelRole::Mono => (1.0, 1.0),
            ChannelRole::Left => (1.0, 0.0),
            ChannelRole::Right => (0.0, 1.0),
            ChannelRole::Center | ChannelRole::Other => (MINUS_3DB, MINUS_3DB),
            ChannelRole::Lfe => (0.0, 0.0),
            ChannelRole::Surround if Some(i) == unpaired => (MINUS_3DB, MINUS_3DB),
            ChannelRole::Surround => {
                surround_seen += 1;
                if surround_seen % 2 == 1 { (MINUS_3DB, 0.0) } else { (0.0, MINUS_3DB) }
            }
        };
        left[i] = l;
        right[i] = r;
    }
    vec![left, right]
}

impl Stage for ChannelMixer {
    fn output_channels(&self) -> usize {
        self.matrix.len()
    }

    fn process(&mut self, input: &[Vec<f32>], output: &mut [Vec<f32>]) -> Result<()> {
        check_planes("mixer", self.matrix.first().map_or(0, Vec::len), input)?;
        let frames = input.first().map_or(0, Vec::len);
        if self.identity {
            for (o, i) in output.iter_mut().zip(input) {
                o.extend_from_slice(i);
            }
            return Ok(());
        }
        for (row, out) in self.matrix.iter().zip(output.iter_mut()) {
            let start = out.len();
            out.resize(start + frames, 0.0);
            let dst = &mut out[start..];
            for (&c, src) in row.iter().zip(input) {
                if c != 0.0 {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += c * s;
                    }
                }
            }
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

    fn run(mixer: &mut ChannelMixer, input: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let mut out = vec![Vec::new(); mixer.output_channels()];
        mixer.process(input, &mut out).expect("planes match the layout");
        out
    }

    #[test]
    fn five_one_to_stereo_follows_bs775_and_drops_lfe() {
        let layout = default_layout(6); // L R C LFE Ls Rs
        let mut m = ChannelMixer::new(&layout, 2).expect("mixer");
        let input: Vec<Vec<f32>> = [1.0, 2.0, 4.0, 100.0, 8.0, 16.0].iter().map(|&v| vec![v]).collect();
        let out = run(&mut m, &input);
        let k = MINUS_3DB;
        assert!((out[0][0] - (1.0 + k * 4.0 + k * 8.0)).abs() < 1e-5);
        assert!((out[1][0] - (2.0 + k * 4.0 + k * 16.0)).abs() < 1e-5);
    }

    #[test]
    fn mono_up_mix_is_dual_mono_and_stereo_down_mix_is_the_mean() {
        let mut up = ChannelMixer::new(&[ChannelRole::Mono], 2).expect("mixer");
        assert_eq!(run(&mut up, &[vec![0.5, -0.25]]), vec![vec![0.5, -0.25], vec![0.5, -0.25]]);
        let mut down = ChannelMixer::new(&default_layout(2), 1).expect("mixer");
        assert_eq!(run(&mut down, &[vec![1.0], vec![0.5]]), vec![vec![0.75]]);
    }

    #[test]
    fn identity_passes_through_and_other_counts_are_refused() {
        let mut id = ChannelMixer::new(&default_layout(6), 6).expect("mixer");
        assert!(id.is_identity());
        let input: Vec<Vec<f32>> = (0..6).map(|c| vec![c as f32; 3]).collect();
        assert_eq!(run(&mut id, &input), input);
        assert!(ChannelMixer::new(&default_layout(6), 4).is_err());
    }
}
