//! Planar multichannel signals and generators for them.

use std::f64::consts::PI;

/// A planar multichannel signal at one sample rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// Sample rate in Hz.
    pub rate: u32,
    /// One plane per channel, all of the same length.
    pub planes: Vec<Vec<f32>>,
}

impl Signal {
    /// A signal of `channels` silent channels, `frames` long.
    pub fn silence(rate: u32, channels: usize, frames: usize) -> Self {
        Signal { rate, planes: vec![vec![0.0; frames]; channels] }
    }

    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.planes.first().map_or(0, Vec::len)
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.planes.len()
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / f64::from(self.rate)
    }

    /// Appends `other` (same rate and channel count) after this signal.
    ///
    /// # Panics
    /// If rates or channel counts differ.
    pub fn append(&mut self, other: &Signal) {
        assert_eq!(self.rate, other.rate, "sample rates differ");
        assert_eq!(self.channels(), other.channels(), "channel counts differ");
        for (dst, src) in self.planes.iter_mut().zip(&other.planes) {
            dst.extend_from_slice(src);
        }
    }

    /// Multiplies every sample by `10^(db/20)`.
    pub fn gain_db(&mut self, db: f64) {
        let g = 10f64.powf(db / 20.0) as f32;
        self.planes.iter_mut().flatten().for_each(|s| *s *= g);
    }

    /// Interleaves the planes (frame by frame).
    pub fn interleaved(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.frames() * self.channels());
        for i in 0..self.frames() {
            out.extend(self.planes.iter().map(|p| p[i]));
        }
        out
    }
}

/// Converts dBFS to linear amplitude.
pub fn db_to_amp(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// A sine of `amplitude` (linear peak) at `freq` Hz with start `phase` (radians), on `channels`
/// identical channels.
pub fn sine(rate: u32, channels: usize, freq: f64, amplitude: f64, seconds: f64, phase: f64) -> Signal {
    let frames = (seconds * f64::from(rate)).round() as usize;
    let w = 2.0 * PI * freq / f64::from(rate);
    let plane: Vec<f32> = (0..frames).map(|i| (amplitude * (w * i as f64 + phase).sin()) as f32).collect();
    Signal { rate, planes: vec![plane; channels] }
}

/// A small deterministic PRNG (SplitMix64), so signals never depend on an external crate's
/// algorithm staying the same.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Programme-like material: pink-ish noise, a tone sweep and a few chords under a level envelope
/// that changes every couple of seconds (so loudness range is not trivial), with transients that
/// make inter-sample peaks. Channels are decorrelated but share the envelope.
pub fn programme(rate: u32, channels: usize, seconds: f64, seed: u64) -> Signal {
    let frames = (seconds * f64::from(rate)).round() as usize;
    let fs = f64::from(rate);
    let mut rng = SplitMix64::new(seed);
    // Level envelope: a new target level (dB) every 1.5-4 s, smoothed.
    let mut segments = Vec::new();
    let mut t = 0.0;
    while t < seconds + 4.0 {
        let len = 1.5 + 2.5 * (rng.uniform() * 0.5 + 0.5);
        let level = -12.0 + 9.0 * rng.uniform();
        segments.push((t, level));
        t += len;
    }
    let nyquist_safe = (0.45 * fs).min(18_000.0);
    let mut planes = Vec::with_capacity(channels);
    for ch in 0..channels {
        let mut nrng = SplitMix64::new(seed.wrapping_mul(31).wrapping_add(ch as u64 + 1));
        // Paul Kellet's economy pink filter state.
        let (mut b0, mut b1, mut b2) = (0.0f64, 0.0f64, 0.0f64);
        let mut seg = 0;
        let mut smooth = segments[0].1;
        let smooth_coef = (-1.0 / (0.05 * fs)).exp();
        let mut plane = Vec::with_capacity(frames);
        let mut sweep_phase = 0.0f64;
        for i in 0..frames {
            let ts = i as f64 / fs;
            while seg + 1 < segments.len() && segments[seg + 1].0 <= ts {
                seg += 1;
            }
            smooth = smooth_coef * smooth + (1.0 - smooth_coef) * segments[seg].1;
            let white = nrng.uniform();
            b0 = 0.99765 * b0 + white * 0.099_046;
            b1 = 0.96300 * b1 + white * 0.296_516_4;
            b2 = 0.57000 * b2 + white * 1.052_691_3;
            let pink = (b0 + b1 + b2 + white * 0.1848) * 0.11;
            // Log sweep 40 Hz -> nyquist_safe every 8 s.
            let sweep_t = ts % 8.0;
            let f = 40.0 * (nyquist_safe / 40.0).powf(sweep_t / 8.0);
            sweep_phase += 2.0 * PI * f / fs;
            if sweep_phase > 2.0 * PI {
                sweep_phase -= 2.0 * PI;
            }
            let sweep = 0.25 * sweep_phase.sin();
            // A chord (A minor) with slow tremolo, slightly detuned per channel.
            let detune = 1.0 + 0.001 * ch as f64;
            let chord = [220.0, 261.63, 329.63].iter().map(|f| (2.0 * PI * f * detune * ts).sin()).sum::<f64>()
                * 0.12
                * (0.6 + 0.4 * (2.0 * PI * 0.5 * ts).sin());
            // Clicks: short bursts every ~0.7 s, they make inter-sample overs.
            let click =
                if (i % ((0.7 * fs) as usize).max(1)) < 3 { 0.9 * if i % 2 == 0 { 1.0 } else { -1.0 } } else { 0.0 };
            let env = 10f64.powf(smooth / 20.0);
            plane.push(((pink + sweep + chord) * env + click * env).clamp(-1.0, 1.0) as f32);
        }
        planes.push(plane);
    }
    Signal { rate, planes }
}

/// White noise, uniform in [-amplitude, amplitude), independent per channel.
pub fn white_noise(rate: u32, channels: usize, seconds: f64, amplitude: f64, seed: u64) -> Signal {
    let frames = (seconds * f64::from(rate)).round() as usize;
    let mut rng = SplitMix64::new(seed);
    let planes = (0..channels).map(|_| (0..frames).map(|_| (amplitude * rng.uniform()) as f32).collect()).collect();
    Signal { rate, planes }
}

/// A logarithmic sine sweep from `f0` to `f1` Hz at `amplitude` on identical channels.
pub fn log_sweep(rate: u32, channels: usize, f0: f64, f1: f64, amplitude: f64, seconds: f64) -> Signal {
    let frames = (seconds * f64::from(rate)).round() as usize;
    let fs = f64::from(rate);
    let k = (f1 / f0).ln();
    let plane: Vec<f32> = (0..frames)
        .map(|i| {
            let t = i as f64 / fs;
            let phase = 2.0 * PI * f0 * seconds / k * ((t / seconds * k).exp() - 1.0);
            (amplitude * phase.sin()) as f32
        })
        .collect();
    Signal { rate, planes: vec![plane; channels] }
}

/// Band-limited, music-like material with a modest crest factor: five tones from 110 Hz to
/// 8 kHz (slightly detuned per channel) under a slow level envelope, plus white noise of
/// amplitude `noise`. Integrated loudness is about −17 LUFS in stereo and the true peak about
/// −8 dBTP, so every loudness preset is reachable under its ceiling with one linear gain.
pub fn tonal(rate: u32, channels: usize, seconds: f64, noise: f64) -> Signal {
    let mut sig = Signal::silence(rate, channels, (seconds * f64::from(rate)).round() as usize);
    let noise = white_noise(rate, channels, seconds, noise, 3);
    let fs = f64::from(rate);
    for (c, plane) in sig.planes.iter_mut().enumerate() {
        let detune = 1.0 + 0.003 * c as f64;
        for (i, x) in plane.iter_mut().enumerate() {
            let t = i as f64 / fs;
            let env = 0.75 + 0.25 * (2.0 * PI * 0.2 * t).sin();
            let tones: f64 = [110.0, 440.0, 1000.0, 3150.0, 8000.0]
                .iter()
                .map(|f| 0.08 * (2.0 * PI * f * detune * t + c as f64).sin())
                .sum();
            *x = (env * tones) as f32 + noise.planes[c][i];
        }
    }
    sig
}
