//! Look-ahead true-peak limiter.
//!
//! ## How the gain is found
//! 1. **Detect.** Every input sample is interpolated with the polyphase filter the true-peak
//!    meter uses ([`super::oversample`], 4× below 96 kHz, 2× below 192 kHz, none above), so
//!    `p[s]` = the largest of `|x[s]|` and the interpolated points between `s` and `s + 1`,
//!    over all channels (the gain is linked).
//! 2. **Hold the neighbourhood.** An interpolated point between `s` and `s + 1` is a weighted
//!    sum of the 12 samples `s − 5 ..= s + 6`. If those 12 samples all get the *same* gain
//!    `g ≤ ceiling / p[s]`, that point of the output is `≤ ceiling` exactly. So the gain at
//!    frame `n` must be at most `ceiling / p[s]` for every `s` in `n − 6 ..= n + 5`.
//! 3. **Attack.** `a[k]` = `ceiling / max p` over `k − 6 − hold ..= k + W + 4` (a sliding
//!    maximum, `W` = look-ahead frames); the gain is the moving average of the released
//!    envelope (step 4) over the last `W` frames. Every term of that average is `≤` the bound
//!    of each `s` in `n − 6 ..= n + 5`, so the gain meets step 2, and it is a ramp of `W` frames
//!    — continuous, reaching the needed value at the first sample the peak touches, then
//!    flat across the whole interpolation window of the peak.
//! 4. **Hold and release.** The sliding maximum also looks `hold` = 10 ms back, so a steady tone
//!    down to ~35 Hz gets a constant gain (no ripple); then the envelope recovers
//!    exponentially in dB with the release time constant.
//!
//! The output is the input delayed by `W + 10` frames times the gain; the delay is compensated
//! (the first `W + 10` frames of output are held back, [`Stage::finish`] flushes them), so output
//! frame `k` is input frame `k` and there are as many output frames as input frames. Where no
//! reduction is needed the gain is exactly 1.0 and the output equals the input bit for bit.
//!
//! Where the gain is not flat (during an attack ramp or a release) an interpolated point of the
//! output is not exactly `gain × the input's point`, but such points are never the binding ones:
//! the gain there is already lower than they need. Measured with the loudness meter on hot
//! programme, white noise, level-jumping bursts and Tech 3341 case 15–19 shapes (pushed up to
//! 27 dB over), the output's true peak is at most 0.00003 dB over the ceiling (f32 rounding),
//! so no safety margin is applied ([`SAFETY_MARGIN_DB`] = 0).
//!
//! NaN and infinite input samples are replaced by 0 before anything else.

use std::collections::VecDeque;

use super::oversample::{PolyphaseInterpolator, TAPS};
use super::{Stage, check_planes};
use crate::error::{Error, Result};

/// Limiter settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LimiterOptions {
    /// Ceiling in dBTP that the oversampled (true) peak of the output must not exceed.
    pub ceiling_dbtp: f64,
    /// Look-ahead in milliseconds (also the attack time).
    pub lookahead_ms: f64,
    /// Release time constant in milliseconds.
    pub release_ms: f64,
}

impl Default for LimiterOptions {
    fn default() -> Self {
        LimiterOptions { ceiling_dbtp: -1.0, lookahead_ms: 5.0, release_ms: 200.0 }
    }
}

/// The limiter aims this far below the ceiling. Zero: the flat gain over each peak's
/// interpolation window makes a margin unnecessary (see the module documentation).
pub const SAFETY_MARGIN_DB: f64 = 0.0;
/// How long the gain is held after a peak before the release starts.
pub const HOLD_MS: f64 = 10.0;
/// Longest accepted look-ahead.
pub const MAX_LOOKAHEAD_MS: f64 = 1000.0;

/// Frames processed per inner pass.
const CHUNK: usize = 1024;
/// Interpolation window half-widths: the point between `s` and `s + 1` uses `s − BEFORE ..= s + AFTER`.
const BEFORE: usize = TAPS / 2 - 1;
const AFTER: usize = TAPS / 2;

/// A linked (same gain on every channel) look-ahead limiter on the true peak. Output frames
/// equal input frames, aligned with the input (the look-ahead delay is compensated).
#[derive(Debug)]
pub struct TruePeakLimiter {
    channels: usize,
    /// Linear ceiling the limiter aims at (ceiling minus the safety margin).
    ceiling: f32,
    /// Look-ahead (attack ramp) in frames, ≥ 1.
    lookahead: usize,
    /// Frames of delay: look-ahead + interpolation window.
    delay: usize,
    /// Sliding-maximum span in frames (`hold + 6 + lookahead + 5`).
    span: usize,
    /// Release: per-frame factor on the attenuation in nepers.
    release: f64,
    interpolator: PolyphaseInterpolator,
    /// Per channel: the last `TAPS − 1` input samples, then room for one chunk.
    detect: Vec<Vec<f32>>,
    /// Per channel: the input frames not yet output (`delay` of them between calls), then room
    /// for one chunk.
    pending: Vec<Vec<f32>>,
    /// Scratch: peak per position, then gain per output frame, for one chunk.
    peaks: Vec<f32>,
    gains: Vec<f32>,
    /// Sliding maximum of the peaks: (position, peak), decreasing peaks.
    window: VecDeque<(i64, f32)>,
    /// Index `s` of the next peak position.
    next_s: i64,
    /// The released envelope's attenuation, nepers (≥ 0), and its gain.
    atten: f64,
    env: f64,
    /// Last sliding-maximum value and its attenuation (cached: it changes rarely).
    last_peak: f32,
    last_peak_atten: f64,
    /// Ring of the last `lookahead` envelope deficits (1 − gain), their sum, and how many are
    /// non-zero (when none is, the gain is exactly 1).
    ring: Vec<f64>,
    ring_pos: usize,
    deficit_sum: f64,
    nonzero: usize,
    /// Input frames received in this stream.
    frames_in: u64,
    /// Smallest gain applied so far.
    min_gain: f32,
}

impl TruePeakLimiter {
    /// Builds a limiter for `channels` channels at `sample_rate`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a zero rate or channel count, a non-finite
    /// ceiling, or a look-ahead or release time that is negative, not finite, or (look-ahead)
    /// over [`MAX_LOOKAHEAD_MS`].
    pub fn new(sample_rate: u32, channels: usize, options: &LimiterOptions) -> Result<Self> {
        if sample_rate == 0 || channels == 0 {
            return Err(Error::InvalidParameter(format!("limiter at {sample_rate} Hz with {channels} channels")));
        }
        if !options.ceiling_dbtp.is_finite() {
            return Err(Error::InvalidParameter(format!("limiter ceiling {} dBTP", options.ceiling_dbtp)));
        }
        if !(0.0..=MAX_LOOKAHEAD_MS).contains(&options.lookahead_ms) {
            return Err(Error::InvalidParameter(format!("limiter look-ahead {} ms", options.lookahead_ms)));
        }
        if !(options.release_ms >= 0.0 && options.release_ms.is_finite()) {
            return Err(Error::InvalidParameter(format!("limiter release {} ms", options.release_ms)));
        }
        let fs = f64::from(sample_rate);
        let lookahead = ((options.lookahead_ms * fs / 1000.0).round() as usize).max(1);
        let hold = (HOLD_MS * fs / 1000.0).round() as usize;
        let release_frames = options.release_ms * fs / 1000.0;
        let release = if release_frames > 0.0 { (-1.0 / release_frames).exp() } else { 0.0 };
        let ceiling = 10f64.powf((options.ceiling_dbtp - SAFETY_MARGIN_DB) / 20.0) as f32;
        let delay = lookahead - 1 + BEFORE + AFTER;
        let span = hold + AFTER + lookahead + BEFORE;
        let mut limiter = TruePeakLimiter {
            channels,
            ceiling,
            lookahead,
            delay,
            span,
            release,
            interpolator: PolyphaseInterpolator::new(sample_rate),
            detect: vec![Vec::with_capacity(TAPS - 1 + CHUNK); channels],
            pending: vec![Vec::with_capacity(delay + CHUNK); channels],
            peaks: vec![0.0; CHUNK],
            gains: vec![1.0; CHUNK],
            window: VecDeque::with_capacity(span + 2),
            next_s: 0,
            atten: 0.0,
            env: 1.0,
            last_peak: 0.0,
            last_peak_atten: 0.0,
            ring: vec![0.0; lookahead],
            ring_pos: 0,
            deficit_sum: 0.0,
            nonzero: 0,
            frames_in: 0,
            min_gain: 1.0,
        };
        limiter.reset_stream();
        Ok(limiter)
    }

    /// Largest gain reduction applied so far, in dB (≥ 0).
    pub fn max_reduction_db(&self) -> f64 {
        if self.min_gain >= 1.0 { 0.0 } else { -20.0 * f64::from(self.min_gain).log10() }
    }

    /// The delay the limiter compensates internally, in frames (look-ahead plus the
    /// interpolation window).
    pub fn latency_frames(&self) -> usize {
        self.delay
    }

    /// Clears the signal state for a new stream (the reduction statistic is kept).
    fn reset_stream(&mut self) {
        for d in &mut self.detect {
            d.clear();
            d.resize(TAPS - 1, 0.0);
        }
        for p in &mut self.pending {
            p.clear();
            p.resize(self.delay, 0.0);
        }
        self.window.clear();
        // The first position whose interpolation window reaches the first input frame.
        self.next_s = -(AFTER as i64);
        self.atten = 0.0;
        self.env = 1.0;
        self.last_peak = 0.0;
        self.last_peak_atten = 0.0;
        self.ring.fill(0.0);
        self.ring_pos = 0;
        self.deficit_sum = 0.0;
        self.nonzero = 0;
        self.frames_in = 0;
    }

    /// Runs one chunk (≤ CHUNK frames; `None` = that many frames of silence) and appends the
    /// output frames whose index is below `limit`.
    fn run_chunk(&mut self, input: Option<&[Vec<f32>]>, offset: usize, m: usize, output: &mut [Vec<f32>], limit: u64) {
        // 1. Take the samples (sanitised) into the detector and the delay line.
        for ch in 0..self.channels {
            let (det, pen) = (&mut self.detect[ch], &mut self.pending[ch]);
            match input {
                Some(planes) => {
                    let src = &planes[ch][offset..offset + m];
                    det.extend(src.iter().map(|&x| if x.is_finite() { x } else { 0.0 }));
                    pen.extend_from_slice(&det[TAPS - 1..]);
                }
                None => {
                    det.resize(TAPS - 1 + m, 0.0);
                    pen.resize(pen.len() + m, 0.0);
                }
            }
        }
        // 2. Peak per position: window n covers positions s = next_s + n.
        let peaks = &mut self.peaks[..m];
        peaks.fill(0.0);
        for det in &self.detect {
            for (p, &x) in peaks.iter_mut().zip(&det[BEFORE..BEFORE + m]) {
                let a = x.abs();
                *p = if a > *p { a } else { *p };
            }
            self.interpolator.peaks_into(det, peaks);
        }
        // 3. Gain per output frame k = s − (lookahead − 1 + BEFORE).
        let ceiling = self.ceiling;
        let span = self.span as i64;
        let w = self.lookahead as f64;
        for n in 0..m {
            let s = self.next_s + n as i64;
            let p = self.peaks[n];
            while self.window.back().is_some_and(|&(_, v)| v <= p) {
                self.window.pop_back();
            }
            self.window.push_back((s, p));
            while self.window.front().is_some_and(|&(i, _)| i <= s - span) {
                self.window.pop_front();
            }
            let peak = self.window.front().map_or(0.0, |&(_, v)| v);
            // Attenuation needed for the held peak, nepers.
            let needed = if peak > ceiling {
                if peak != self.last_peak {
                    self.last_peak = peak;
                    self.last_peak_atten = (f64::from(peak) / f64::from(ceiling)).ln();
                }
                self.last_peak_atten
            } else {
                0.0
            };
            let released = self.atten * self.release;
            if needed >= released {
                if needed != self.atten {
                    self.atten = needed;
                    self.env = (-needed).exp();
                }
            } else {
                self.atten = if released < 1e-9 { 0.0 } else { released };
                self.env = if self.atten == 0.0 { 1.0 } else { (-self.atten).exp() };
            }
            // Moving average of the envelope over the look-ahead.
            let deficit = 1.0 - self.env;
            let old = std::mem::replace(&mut self.ring[self.ring_pos], deficit);
            self.ring_pos = if self.ring_pos + 1 == self.ring.len() { 0 } else { self.ring_pos + 1 };
            self.nonzero = self.nonzero + usize::from(deficit != 0.0) - usize::from(old != 0.0);
            self.gains[n] = if self.nonzero == 0 {
                self.deficit_sum = 0.0;
                1.0
            } else {
                self.deficit_sum += deficit - old;
                (1.0 - self.deficit_sum / w) as f32
            };
        }
        // 4. Apply to the delayed frames; frame index of pending[0] is frames_in − delay.
        let first = self.frames_in as i64 - self.delay as i64;
        let start = usize::try_from(-first).unwrap_or(0).min(m);
        let end = usize::try_from((i128::from(limit) - i128::from(first)).min(m as i128)).unwrap_or(0).max(start);
        let gains = &self.gains[start..end];
        if let Some(g) = gains.iter().copied().reduce(f32::min) {
            self.min_gain = self.min_gain.min(g);
        }
        for (o, pen) in output.iter_mut().zip(&self.pending) {
            o.extend(pen[start..end].iter().zip(gains).map(|(&x, &g)| x * g));
        }
        // 5. Shift the histories.
        for det in &mut self.detect {
            det.copy_within(m..m + TAPS - 1, 0);
            det.truncate(TAPS - 1);
        }
        for pen in &mut self.pending {
            pen.copy_within(m..m + self.delay, 0);
            pen.truncate(self.delay);
        }
        self.next_s += m as i64;
        self.frames_in += m as u64;
    }
}

impl Stage for TruePeakLimiter {
    fn output_channels(&self) -> usize {
        self.channels
    }

    fn process(&mut self, input: &[Vec<f32>], output: &mut [Vec<f32>]) -> Result<()> {
        check_planes("limiter", self.channels, input)?;
        let frames = input.first().map_or(0, Vec::len);
        let mut pos = 0;
        while pos < frames {
            let m = (frames - pos).min(CHUNK);
            self.run_chunk(Some(input), pos, m, output, u64::MAX);
            pos += m;
        }
        Ok(())
    }

    fn finish(&mut self, output: &mut [Vec<f32>]) -> Result<()> {
        let limit = self.frames_in;
        let mut left = self.delay;
        while left > 0 {
            let m = left.min(CHUNK);
            self.run_chunk(None, 0, m, output, limit);
            left -= m;
        }
        self.reset_stream();
        Ok(())
    }
}
