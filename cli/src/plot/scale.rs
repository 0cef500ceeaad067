//! The chart's axes: the level range that shows every series and reference line, the time
//! ticks at round minutes and seconds, and the `mm:ss` labels.

use super::Plot;

/// The lowest level drawn, dB: quieter readings sit on the bottom edge.
const FLOOR_DB: f64 = -70.0;
/// The highest level drawn, dB.
const TOP_DB: f64 = 12.0;
/// The least span of the level axis, dB (a steady tone would otherwise fill the chart).
const MIN_SPAN_DB: f64 = 12.0;

/// The level axis, dB: the loudness readings, the integrated levels, the target, the ceiling
/// and the true-peak overs, with a little room around them.
pub(super) fn level_range(plot: &Plot<'_>) -> (f64, f64) {
    let mut levels: Vec<f64> = Vec::new();
    for p in &plot.programmes {
        levels.extend(p.curve.momentary.iter().chain(&p.curve.short_term).flatten());
        levels.extend(p.integrated_lufs);
        levels.extend(overs(p.curve.true_peak.iter().copied(), plot.ceiling_dbtp).map(|(_, v)| v));
    }
    levels.extend(plot.target_lufs);
    levels.push(plot.ceiling_dbtp);
    let lo = levels.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let top = (hi + 2.0).ceil().min(TOP_DB);
    let bottom = (lo - 3.0).floor().max(FLOOR_DB).min(top - MIN_SPAN_DB);
    (bottom, top)
}

/// The points of a true-peak series over `ceiling`: (index, level).
pub(super) fn overs(true_peak: impl Iterator<Item = Option<f64>>, ceiling: f64) -> impl Iterator<Item = (usize, f64)> {
    true_peak.enumerate().filter_map(move |(i, v)| v.filter(|v| *v > ceiling).map(|v| (i, v)))
}

/// Round time ticks, seconds: a step of 1, 2, 5, 10, 15, 30 s or 1, 2, 5, 10, 15, 30 min or
/// 1, 2, … h, so that at most `most` ticks cover `0..=duration`.
pub(super) fn time_ticks(duration: f64, most: usize) -> Vec<f64> {
    const STEPS: [f64; 12] = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0];
    let fits = |step: f64| duration / step < most as f64;
    let step = STEPS.into_iter().find(|s| fits(*s)).unwrap_or_else(|| {
        let mut hours = 3600.0;
        while !fits(hours) {
            hours *= 2.0;
        }
        hours
    });
    (0..).map(|i| f64::from(i) * step).take_while(|t| *t <= duration + 1e-9).collect()
}

/// `mm:ss`, or `h:mm:ss` from an hour on.
pub(super) fn mm_ss(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m:02}:{s:02}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_minutes_and_seconds() {
        assert_eq!(mm_ss(0.0), "00:00");
        assert_eq!(mm_ss(65.4), "01:05");
        assert_eq!(mm_ss(3599.6), "1:00:00");
        assert_eq!(mm_ss(36_000.0), "10:00:00");
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(time_ticks(6.0, 10), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(time_ticks(215.0, 10), vec![0.0, 30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0]);
        let long = time_ticks(36_000.0, 10);
        assert!(long.len() <= 10 && long[1] == 7200.0, "{long:?}");
    }
}
