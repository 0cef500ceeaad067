//! Channel roles: what each channel of a stream is for, which decides its BS.1770 weight; the
//! conventional layouts; and the Vorbis channel order (Ogg Vorbis, Opus mapping family 1) against
//! the WAV/SMPTE order the engine's planes are in.

use serde::Serialize;

/// The role of one channel in a layout, as far as loudness weighting cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChannelRole {
    /// The only channel of a mono stream.
    Mono,
    /// Front left.
    Left,
    /// Front right.
    Right,
    /// Front centre.
    Center,
    /// Low-frequency effects; excluded from loudness.
    Lfe,
    /// A surround channel (side or rear, left or right); weighted +1.5 dB (×1.41).
    Surround,
    /// Any other channel (front wide, centre-of-front, height, discrete); weighted 1.0.
    Other,
}

impl ChannelRole {
    /// The BS.1770-4 channel weight G_i applied to this channel's mean square.
    pub fn weight(self) -> f64 {
        match self {
            ChannelRole::Lfe => 0.0,
            ChannelRole::Surround => 1.41,
            _ => 1.0,
        }
    }
}

/// The conventional layout for `count` channels with no positions given (WAV without a
/// channel mask, discrete channels): mono, stereo, then the SMPTE/WAV order
/// L R C LFE Ls Rs (Lb Rb) for 3–8 channels.
pub fn default_layout(count: usize) -> Vec<ChannelRole> {
    use ChannelRole::*;
    match count {
        1 => vec![Mono],
        2 => vec![Left, Right],
        3 => vec![Left, Right, Center],
        4 => vec![Left, Right, Surround, Surround],
        5 => vec![Left, Right, Center, Surround, Surround],
        6 => vec![Left, Right, Center, Lfe, Surround, Surround],
        7 => vec![Left, Right, Center, Lfe, Other, Surround, Surround],
        8 => vec![Left, Right, Center, Lfe, Surround, Surround, Surround, Surround],
        n => vec![Other; n],
    }
}

/// For each channel in Vorbis order, the index of the same speaker in WAV/SMPTE order
/// (ascending WAVE_FORMAT_EXTENSIBLE mask bits, which is also symphonia's plane order). The
/// Opus encoder takes its planes in this order and the Opus decoder puts them back.
pub(crate) fn vorbis_to_wav(channels: usize) -> &'static [usize] {
    match channels {
        3 => &[0, 2, 1],
        5 => &[0, 2, 1, 3, 4],
        6 => &[0, 2, 1, 4, 5, 3],
        7 => &[0, 2, 1, 5, 6, 4, 3],
        8 => &[0, 2, 1, 6, 7, 4, 5, 3],
        1 => &[0],
        2 => &[0, 1],
        _ => &[0, 1, 2, 3],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vorbis_order_is_a_permutation_for_every_layout() {
        for n in 1..=8 {
            let mut order = vorbis_to_wav(n).to_vec();
            order.sort_unstable();
            assert_eq!(order, (0..n).collect::<Vec<_>>(), "{n} channels");
        }
    }
}
