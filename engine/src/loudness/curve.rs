//! The loudness curve: momentary and short-term loudness and the true peak over time, in
//! memory bounded by a point cap whatever the programme's length.
//!
//! The meter takes one reading of each series per 100 ms step (the BS.1770 update rate). A
//! [`CurveSeries`] keeps them at full resolution until it holds [`CURVE_MAX_POINTS`] points;
//! then it merges neighbouring pairs (keeping the larger, so no peak or loud passage ever
//! disappears from the curve) and goes on with points twice as long. A series therefore spans
//! `0.1 × 2^k` seconds per point and never holds more than the cap: a 24-hour file has a curve
//! of the same size as a 4-minute one.
//!
//! The finished [`Curve`] is the `audioproc.curve/1` document: point `i` covers the audio from
//! `i × interval_s` to `(i + 1) × interval_s` seconds (the last point may cover less), and holds
//! the largest reading taken at the end of a 100 ms step inside it. −∞ (silence, or a window
//! not yet filled: the first 300 ms of momentary and 2.9 s of short-term loudness) is `None`,
//! `null` in JSON.

use serde::Serialize;

use super::true_peak::TruePeak;

/// The `schema` value of a [`Curve`].
pub const CURVE_SCHEMA: &str = "audioproc.curve/1";

/// Most points a curve series holds (an even number: full pairs are merged).
pub const CURVE_MAX_POINTS: usize = 2000;

/// Seconds between two readings of the meter (one 100 ms step).
pub const CURVE_STEP_S: f64 = 0.1;

/// A programme's loudness over time: the `audioproc.curve/1` document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Curve {
    /// Always [`CURVE_SCHEMA`].
    pub schema: &'static str,
    /// Seconds covered by each point: 0.1 × 2^k.
    pub interval_s: f64,
    /// Largest momentary (400 ms) loudness in each interval, LUFS.
    pub momentary: Vec<Option<f64>>,
    /// Largest short-term (3 s) loudness in each interval, LUFS.
    pub short_term: Vec<Option<f64>>,
    /// True peak of the audio in each interval over all channels, dBTP (`None` everywhere when
    /// the true peak was not measured).
    pub true_peak: Vec<Option<f64>>,
}

impl Curve {
    /// The number of points (the same in every series).
    pub fn len(&self) -> usize {
        self.momentary.len()
    }

    /// Whether the curve has no point (audio shorter than 100 ms).
    pub fn is_empty(&self) -> bool {
        self.momentary.is_empty()
    }

    /// The time at the end of point `i`, seconds: where a plot puts its reading.
    pub fn time_s(&self, i: usize) -> f64 {
        (i + 1) as f64 * self.interval_s
    }

    /// Assembles the three series (they have had the same number of readings, so the same
    /// resolution); a shorter series is padded with `None`. Values are rounded to 0.01.
    pub(crate) fn from_series(momentary: &CurveSeries, short_term: &CurveSeries, true_peak: Option<Vec<f64>>) -> Self {
        let steps = momentary.steps_per_point.max(short_term.steps_per_point);
        let mut series = [momentary.values(), short_term.values(), true_peak.unwrap_or_default()];
        let len = series.iter().map(Vec::len).max().unwrap_or(0);
        let [m, s, tp] = series.each_mut().map(|v| {
            v.resize(len, f64::NEG_INFINITY);
            v.iter().map(|&x| x.is_finite().then(|| (x * 100.0).round() / 100.0)).collect()
        });
        Curve {
            schema: CURVE_SCHEMA,
            interval_s: CURVE_STEP_S * steps as f64,
            momentary: m,
            short_term: s,
            true_peak: tp,
        }
    }
}

/// One series of a curve, decimated as it grows: at most [`CURVE_MAX_POINTS`] points, each the
/// largest of `steps_per_point` consecutive readings. −∞ stands for "no reading".
#[derive(Clone, Debug)]
pub(crate) struct CurveSeries {
    points: Vec<f64>,
    /// Readings per point: 2^k.
    steps_per_point: u64,
    /// The largest reading of the point being filled.
    pending: f64,
    /// Readings in the point being filled.
    pending_steps: u64,
}

impl CurveSeries {
    /// An empty series at full resolution.
    pub(crate) fn new() -> Self {
        CurveSeries {
            points: Vec::with_capacity(CURVE_MAX_POINTS),
            steps_per_point: 1,
            pending: f64::NEG_INFINITY,
            pending_steps: 0,
        }
    }

    /// Adds the reading of the next 100 ms step.
    pub(crate) fn push(&mut self, value: f64) {
        self.pending = self.pending.max(value);
        self.pending_steps += 1;
        if self.pending_steps < self.steps_per_point {
            return;
        }
        self.points.push(self.pending);
        self.pending = f64::NEG_INFINITY;
        self.pending_steps = 0;
        if self.points.len() == CURVE_MAX_POINTS {
            for i in 0..CURVE_MAX_POINTS / 2 {
                self.points[i] = self.points[2 * i].max(self.points[2 * i + 1]);
            }
            self.points.truncate(CURVE_MAX_POINTS / 2);
            self.steps_per_point *= 2;
        }
    }

    /// The points so far, the one being filled included.
    pub(crate) fn values(&self) -> Vec<f64> {
        let mut v = self.points.clone();
        if self.pending_steps > 0 {
            v.push(self.pending);
        }
        v
    }
}

/// The true peak of every 100 ms step, for a curve: feeds the per-channel [`TruePeak`]
/// detectors itself, cut at step boundaries, and records the largest true (or sample) peak of
/// each step. The audio after the last whole step raises the last point.
#[derive(Clone, Debug)]
pub(crate) struct PeakSteps {
    /// Frames per step.
    step: usize,
    /// Frames already in the current step.
    fill: usize,
    /// Largest magnitude of the current step.
    current: f32,
    series: CurveSeries,
}

impl PeakSteps {
    /// Steps of `step` frames (the meter's 100 ms sub-block).
    pub(crate) fn new(step: usize) -> Self {
        PeakSteps { step, fill: 0, current: 0.0, series: CurveSeries::new() }
    }

    /// Feeds one block to `peaks` (one detector per plane), recording each finished step.
    pub(crate) fn process<P: AsRef<[f32]>>(&mut self, peaks: &mut [TruePeak], planes: &[P]) {
        let frames = planes.first().map_or(0, |p| p.as_ref().len());
        let mut start = 0;
        while start < frames {
            let n = (self.step - self.fill).min(frames - start);
            for (tp, plane) in peaks.iter_mut().zip(planes) {
                let part = &plane.as_ref()[start..start + n];
                tp.process(part);
                let sample = part.iter().fold(0f32, |m, &x| m.max(x.abs()));
                self.current = self.current.max(sample).max(tp.take_recent_peak());
            }
            self.fill += n;
            start += n;
            if self.fill == self.step {
                self.series.push(amplitude_db(self.current));
                self.current = 0.0;
                self.fill = 0;
            }
        }
    }

    /// The finished series, dBTP (−∞ for silence).
    pub(crate) fn values(&self) -> Vec<f64> {
        let mut v = self.series.values();
        if self.fill > 0 {
            raise_last(&mut v, amplitude_db(self.current));
        }
        v
    }
}

/// Raises the latest point (with a trailing partial step's peak); with no point yet, the value
/// becomes the first one.
fn raise_last(values: &mut Vec<f64>, value: f64) {
    match values.last_mut() {
        Some(last) => *last = last.max(value),
        None => values.push(value),
    }
}

/// An amplitude in dB (−∞ for 0).
fn amplitude_db(x: f32) -> f64 {
    20.0 * f64::from(x).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_keeps_full_resolution_up_to_the_cap_then_halves_it() {
        let mut s = CurveSeries::new();
        for i in 0..CURVE_MAX_POINTS - 1 {
            s.push(i as f64);
        }
        assert_eq!((s.values().len(), s.steps_per_point), (CURVE_MAX_POINTS - 1, 1));
        s.push(-1.0);
        assert_eq!((s.values().len(), s.steps_per_point), (CURVE_MAX_POINTS / 2, 2));
        // Pairs keep their larger value.
        assert_eq!(s.values()[0], 1.0);
        assert_eq!(s.values()[CURVE_MAX_POINTS / 2 - 1], (CURVE_MAX_POINTS - 2) as f64);
        s.push(5.0);
        assert_eq!(s.values().len(), CURVE_MAX_POINTS / 2 + 1, "a half-filled point is shown");
    }

    #[test]
    fn a_series_never_exceeds_the_cap() {
        let mut s = CurveSeries::new();
        for i in 0..1_000_000u32 {
            s.push(f64::from(i % 7));
            assert!(s.points.len() < CURVE_MAX_POINTS);
        }
        assert!(s.values().len() <= CURVE_MAX_POINTS);
        // 1 000 000 readings at 2^9 per point: 1953 points and a partial one.
        assert_eq!((s.steps_per_point, s.values().len()), (512, 1954));
    }

    #[test]
    fn a_single_peak_survives_decimation() {
        let mut s = CurveSeries::new();
        for i in 0..100_000 {
            s.push(if i == 54_321 { 3.0 } else { f64::NEG_INFINITY });
        }
        let v = s.values();
        assert_eq!(v.iter().filter(|x| **x == 3.0).count(), 1);
        let at = v.iter().position(|x| *x == 3.0).expect("kept");
        assert_eq!(at as u64, 54_321 / s.steps_per_point);
    }

    #[test]
    fn minus_infinity_is_null_and_values_are_rounded() {
        let mut m = CurveSeries::new();
        let mut s = CurveSeries::new();
        m.push(f64::NEG_INFINITY);
        m.push(-23.004_9);
        s.push(f64::NEG_INFINITY);
        s.push(f64::NEG_INFINITY);
        let c = Curve::from_series(&m, &s, None);
        assert_eq!(c.momentary, vec![None, Some(-23.0)]);
        assert_eq!(c.short_term, vec![None, None]);
        assert_eq!(c.true_peak, vec![None, None], "not measured: padded");
        let json = serde_json::to_string(&c).expect("serializes");
        assert!(
            json.starts_with(r#"{"schema":"audioproc.curve/1","interval_s":0.1,"momentary":[null,-23.0]"#),
            "{json}"
        );
    }

    #[test]
    fn peak_steps_record_each_step_and_the_tail_raises_the_last_one() {
        let rate = 48_000;
        let step = 4_800;
        let mut peaks = vec![TruePeak::new(rate)];
        let mut p = PeakSteps::new(step);
        let mut x = vec![0.01f32; step * 3 + 100];
        x[step + 10] = 0.5; // step 2
        x[step * 3 + 50] = 0.25; // the tail
        for chunk in x.chunks(1000) {
            p.process(&mut peaks, &[chunk]);
        }
        let v = p.values();
        assert_eq!(v.len(), 3);
        assert!((v[0] - amplitude_db(0.01)).abs() < 0.5, "{v:?}");
        assert!(v[1] >= amplitude_db(0.5) - 1e-9, "{v:?}");
        assert!((v[2] - amplitude_db(0.25)).abs() < 0.5, "{v:?}");
    }
}
