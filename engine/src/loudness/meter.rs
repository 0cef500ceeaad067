//! The loudness meter: momentary, short-term, integrated, loudness range, sample and true peak.
//!
//! Everything is derived from 100 ms sub-blocks of K-weighted, channel-weighted mean square:
//! momentary is the mean of the last 4 (400 ms), short-term of the last 30 (3 s), both updated
//! every 100 ms; integrated gating uses the momentary blocks (400 ms, 75 % overlap) and loudness
//! range the short-term values at 10 Hz (Tech 3342 requires ≥ 10 Hz). A trailing partial
//! sub-block is not measured (as in libebur128). "100 ms" is `round(fs / 10)` frames.
//!
//! Asked for ([`MeterOptions::curve`]), the meter also records the momentary and short-term
//! loudness and the true peak of every 100 ms step into a bounded [`Curve`] (see [`super::curve`]).

use serde::Serialize;

use super::curve::{Curve, CurveSeries, PeakSteps};
use super::energy_to_lufs;
use super::histogram::GatingHistogram;
use super::kweight::KWeighting;
use super::true_peak::TruePeak;
use crate::channels::ChannelRole;
use crate::error::{Error, Result};

/// How a one-channel stream is weighted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MonoMode {
    /// BS.1770 as written: one channel, weight 1 (reads 3 LU below the same audio on two
    /// channels).
    #[default]
    Mono,
    /// The mono channel counts as two identical channels (left and right), weight 2: what a
    /// listener hears when mono is played on both speakers.
    DualMono,
}

/// The BS.1770 weight of each channel of `layout`, with `mono` deciding a one-channel layout.
pub fn channel_weights(layout: &[ChannelRole], mono: MonoMode) -> Vec<f64> {
    if layout.len() == 1 && mono == MonoMode::DualMono {
        return vec![2.0];
    }
    layout.iter().map(|r| r.weight()).collect()
}

/// Which measurements a meter performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeterOptions {
    /// Measure true peak (oversampled). Costs about as much as everything else together.
    pub true_peak: bool,
    /// Record the loudness curve ([`LoudnessReport::curve`]): a few values per 100 ms and at
    /// most [`super::curve::CURVE_MAX_POINTS`] points per series, whatever the length.
    pub curve: bool,
}

impl Default for MeterOptions {
    fn default() -> Self {
        MeterOptions { true_peak: true, curve: false }
    }
}

/// A finished measurement. Loudness values that are −∞ (silence, or too short to measure) are
/// `None`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LoudnessReport {
    /// Integrated (programme) loudness, LUFS.
    pub integrated_lufs: Option<f64>,
    /// Loudness range, LU (`None` when under 3 s or nothing passes the gates).
    pub loudness_range_lu: Option<f64>,
    /// True peak over all channels, dBTP (`None` when not measured or silent).
    pub true_peak_dbtp: Option<f64>,
    /// Sample peak over all channels, dBFS (`None` when silent).
    pub sample_peak_dbfs: Option<f64>,
    /// Largest momentary (400 ms) loudness, LUFS.
    pub momentary_max_lufs: Option<f64>,
    /// Largest short-term (3 s) loudness, LUFS.
    pub short_term_max_lufs: Option<f64>,
    /// Loudness over time, when the meter was asked for it ([`MeterOptions::curve`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<Curve>,
}

/// What a meter records for the curve.
#[derive(Clone, Debug)]
struct CurveRecorder {
    momentary: CurveSeries,
    short_term: CurveSeries,
    /// The true peak per step, when this meter measures the true peak.
    peaks: Option<PeakSteps>,
}

/// Length of the sub-block ring: short-term needs 30.
const RING: usize = 30;

/// A streaming BS.1770-4 / EBU R128 meter for one programme.
///
/// Feed planar blocks of any size with [`LoudnessMeter::process`]; the results do not depend on
/// how the input is split. Memory is constant in the programme length.
#[derive(Clone, Debug)]
pub struct LoudnessMeter {
    weights: Vec<f64>,
    filters: Vec<KWeighting>,
    true_peaks: Vec<TruePeak>,
    sample_peak: Vec<f32>,
    /// Frames per 100 ms sub-block.
    sub_block: usize,
    /// Frames already in the current sub-block.
    fill: usize,
    /// Weighted mean-square energy of the last `RING` sub-blocks.
    ring: [f64; RING],
    completed: u64,
    momentary: Option<f64>,
    short_term: Option<f64>,
    momentary_max: f64,
    short_term_max: f64,
    integrated: GatingHistogram,
    range: GatingHistogram,
    curve: Option<CurveRecorder>,
}

/// Frames in the meter's 100 ms sub-block at `sample_rate`.
pub(super) fn sub_block_frames(sample_rate: u32) -> usize {
    (sample_rate as usize + 5) / 10
}

impl LoudnessMeter {
    /// A meter for `sample_rate` Hz with one weight per channel (see [`channel_weights`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a sample rate outside 8–768 kHz, no channels, or a
    /// negative or non-finite weight.
    pub fn new(sample_rate: u32, weights: &[f64], options: MeterOptions) -> Result<Self> {
        if !(8_000..=768_000).contains(&sample_rate) {
            return Err(Error::InvalidParameter(format!("sample rate {sample_rate} Hz outside 8000..=768000")));
        }
        if weights.is_empty() || weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(Error::InvalidParameter(format!("channel weights {weights:?}")));
        }
        let n = weights.len();
        let sub_block = sub_block_frames(sample_rate);
        let curve = options.curve.then(|| CurveRecorder {
            momentary: CurveSeries::new(),
            short_term: CurveSeries::new(),
            peaks: options.true_peak.then(|| PeakSteps::new(sub_block)),
        });
        Ok(LoudnessMeter {
            weights: weights.to_vec(),
            filters: vec![KWeighting::new(sample_rate); n],
            true_peaks: if options.true_peak { vec![TruePeak::new(sample_rate); n] } else { Vec::new() },
            sample_peak: vec![0.0; n],
            sub_block,
            fill: 0,
            ring: [0.0; RING],
            completed: 0,
            momentary: None,
            short_term: None,
            momentary_max: 0.0,
            short_term_max: 0.0,
            integrated: GatingHistogram::new(),
            range: GatingHistogram::new(),
            curve,
        })
    }

    /// Number of channels the meter expects.
    pub fn channels(&self) -> usize {
        self.weights.len()
    }

    /// Feeds one block: one plane per channel, all the same length.
    ///
    /// # Panics
    /// If the number of planes differs from [`Self::channels`] or the planes differ in length.
    pub fn process<P: AsRef<[f32]>>(&mut self, planes: &[P]) {
        assert_eq!(planes.len(), self.channels(), "one plane per channel");
        let frames = planes[0].as_ref().len();
        assert!(planes.iter().all(|p| p.as_ref().len() == frames), "planes differ in length");

        for (c, p) in planes.iter().enumerate() {
            let peak = p.as_ref().iter().fold(0f32, |m, &x| m.max(x.abs()));
            self.sample_peak[c] = self.sample_peak[c].max(peak);
        }
        match self.curve.as_mut().and_then(|c| c.peaks.as_mut()) {
            Some(steps) => steps.process(&mut self.true_peaks, planes),
            None => self.true_peaks.iter_mut().zip(planes).for_each(|(tp, p)| tp.process(p.as_ref())),
        }

        let mut start = 0;
        while start < frames {
            let n = (self.sub_block - self.fill).min(frames - start);
            let range = start..start + n;
            // Channels go through the recursion in pairs (one vector register each).
            for (filters, planes) in self.filters.chunks_mut(2).zip(planes.chunks(2)) {
                match (filters, planes) {
                    ([l, r], [pl, pr]) => KWeighting::accumulate_squares_pair(
                        l,
                        r,
                        &pl.as_ref()[range.clone()],
                        &pr.as_ref()[range.clone()],
                    ),
                    (filters, planes) => filters
                        .iter_mut()
                        .zip(planes)
                        .for_each(|(f, p)| f.accumulate_squares(&p.as_ref()[range.clone()])),
                }
            }
            self.fill += n;
            start += n;
            if self.fill == self.sub_block {
                self.complete_sub_block();
            }
        }
    }

    /// Takes over the true-peak detectors (and the curve's true peak per step) that measured
    /// this meter's programme on another thread (see [`super::ThreadedMeter`]).
    pub(super) fn adopt_true_peaks(&mut self, peaks: Vec<TruePeak>, steps: Option<PeakSteps>) {
        self.true_peaks = peaks;
        if let Some(c) = &mut self.curve {
            c.peaks = steps;
        }
    }

    fn complete_sub_block(&mut self) {
        let energy: f64 =
            self.weights.iter().zip(&mut self.filters).map(|(w, f)| w * f.take_sum_of_squares()).sum::<f64>()
                / self.sub_block as f64;
        self.filters.iter_mut().for_each(KWeighting::flush_tiny);
        self.fill = 0;
        self.ring[(self.completed % RING as u64) as usize] = energy;
        self.completed += 1;

        if self.completed >= 4 {
            let m = self.mean_of_last(4);
            self.momentary = Some(m);
            self.momentary_max = self.momentary_max.max(m);
            self.integrated.add(m);
        }
        if self.completed >= RING as u64 {
            let s = self.mean_of_last(RING);
            self.short_term = Some(s);
            self.short_term_max = self.short_term_max.max(s);
            self.range.add(s);
        }
        if let Some(c) = &mut self.curve {
            // Not yet measurable (the window is not filled) reads as −∞, like silence.
            c.momentary.push(self.momentary.map_or(f64::NEG_INFINITY, energy_to_lufs));
            c.short_term.push(self.short_term.map_or(f64::NEG_INFINITY, energy_to_lufs));
        }
    }

    fn mean_of_last(&self, n: usize) -> f64 {
        let end = self.completed as usize;
        (end - n..end).map(|i| self.ring[i % RING]).sum::<f64>() / n as f64
    }

    /// The latest momentary loudness (LUFS), once 400 ms have been fed; −∞ for silence.
    pub fn momentary_lufs(&self) -> Option<f64> {
        self.momentary.map(energy_to_lufs)
    }

    /// The latest short-term loudness (LUFS), once 3 s have been fed; −∞ for silence.
    pub fn short_term_lufs(&self) -> Option<f64> {
        self.short_term.map(energy_to_lufs)
    }

    /// The gating blocks of the integrated loudness so far (merge several programmes' to gate
    /// them as one, e.g. an album).
    pub fn gating(&self) -> &GatingHistogram {
        &self.integrated
    }

    /// The measurement so far (the meter can go on being fed afterwards).
    pub fn report(&self) -> LoudnessReport {
        let finite = |x: f64| x.is_finite().then_some(x);
        let db = |x: f32| finite(20.0 * f64::from(x).log10());
        let sample_peak = self.sample_peak.iter().copied().fold(0f32, f32::max);
        let true_peak = (!self.true_peaks.is_empty())
            .then(|| self.true_peaks.iter().map(TruePeak::interpolated_peak).fold(sample_peak, f32::max));
        LoudnessReport {
            integrated_lufs: self.integrated.gated_mean_lufs(-10.0),
            loudness_range_lu: self.range.range_lu(-20.0, 0.10, 0.95),
            true_peak_dbtp: true_peak.and_then(db),
            sample_peak_dbfs: db(sample_peak),
            momentary_max_lufs: self.momentary.and_then(|_| finite(energy_to_lufs(self.momentary_max))),
            short_term_max_lufs: self.short_term.and_then(|_| finite(energy_to_lufs(self.short_term_max))),
            curve: self
                .curve
                .as_ref()
                .map(|c| Curve::from_series(&c.momentary, &c.short_term, c.peaks.as_ref().map(PeakSteps::values))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f64, amp: f64, secs: f64) -> Vec<f32> {
        (0..(secs * f64::from(rate)) as usize)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    #[test]
    fn stereo_sine_at_minus_23_dbfs_reads_minus_23_lufs() {
        let x = sine(48_000, 1000.0, 10f64.powf(-23.0 / 20.0), 10.0);
        let mut m = LoudnessMeter::new(48_000, &[1.0, 1.0], MeterOptions::default()).expect("valid");
        m.process(&[&x, &x]);
        let r = m.report();
        let i = r.integrated_lufs.expect("loud enough");
        assert!((i + 23.0).abs() < 0.05, "{i}");
        assert!((r.momentary_max_lufs.expect("measured") + 23.0).abs() < 0.05);
        assert!((r.short_term_max_lufs.expect("measured") + 23.0).abs() < 0.05);
    }

    #[test]
    fn silence_and_short_input_give_none_not_infinities() {
        let mut m = LoudnessMeter::new(44_100, &[1.0, 1.0], MeterOptions::default()).expect("valid");
        let z = vec![0f32; 44_100 * 5];
        m.process(&[&z, &z]);
        let r = m.report();
        assert_eq!(r, LoudnessReport::default());

        let mut m = LoudnessMeter::new(44_100, &[1.0], MeterOptions::default()).expect("valid");
        let x = sine(44_100, 1000.0, 0.5, 0.3);
        m.process(&[&x]);
        let r = m.report();
        assert_eq!(r.integrated_lufs, None);
        assert_eq!(r.momentary_max_lufs, None);
        assert!(r.sample_peak_dbfs.is_some() && r.true_peak_dbtp.is_some());
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(LoudnessMeter::new(0, &[1.0], MeterOptions::default()).is_err());
        assert!(LoudnessMeter::new(48_000, &[], MeterOptions::default()).is_err());
        assert!(LoudnessMeter::new(48_000, &[f64::NAN], MeterOptions::default()).is_err());
    }

    #[test]
    fn dual_mono_reads_3_lu_above_mono() {
        let x = sine(48_000, 1000.0, 0.1, 5.0);
        let measure = |mode| {
            let mut m =
                LoudnessMeter::new(48_000, &channel_weights(&[ChannelRole::Mono], mode), MeterOptions::default())
                    .expect("valid");
            m.process(&[&x]);
            m.report().integrated_lufs.expect("loud enough")
        };
        let d = measure(MonoMode::DualMono) - measure(MonoMode::Mono);
        assert!((d - 10.0 * 2f64.log10()).abs() < 0.001, "{d}");
    }
}
