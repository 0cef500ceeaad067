//! Channel roles: what each channel of a stream is for, which decides its BS.1770 weight.

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
