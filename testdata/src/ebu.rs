//! The synthesizable EBU Tech 3341 and Tech 3342 compliance signals, with their expectations.
//!
//! All are 1 kHz sines unless stated otherwise; "−23 dBFS" means a sine of peak amplitude
//! `10^(−23/20)` in each channel.

use crate::signal::{Signal, db_to_amp, sine};
use std::f64::consts::PI;

/// What a compliance case expects of a meter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expect {
    /// Integrated loudness (LUFS) within ±tolerance.
    Integrated(f64),
    /// Integrated, and momentary and short-term maxima, all at this value (3341-1).
    IntegratedMomentaryShortTerm(f64),
    /// Every short-term value from 3 s on at this value.
    ShortTermAfter3s(f64),
    /// Every momentary value from 0.4 s on at this value.
    MomentaryAfter400ms(f64),
    /// True peak (dBTP), tolerance +0.2 / −0.4 dB.
    TruePeak(f64),
    /// Loudness range (LU), tolerance ±1 LU.
    LoudnessRange(f64),
}

/// One compliance case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Its name in the standard, e.g. `"3341-1"`.
    pub name: &'static str,
    /// The signal.
    pub signal: Signal,
    /// What a compliant meter reads on it.
    pub expect: Expect,
    /// Channel layout for multichannel cases: WAVE_FORMAT_EXTENSIBLE channel mask, if any.
    pub channel_mask: Option<u32>,
}

/// Stereo 1 kHz sine segments at the given (dBFS, seconds) levels, concatenated.
pub fn stereo_steps(rate: u32, steps: &[(f64, f64)]) -> Signal {
    let mut out = Signal::silence(rate, 2, 0);
    for &(db, secs) in steps {
        out.append(&sine(rate, 2, 1000.0, db_to_amp(db), secs, 0.0));
    }
    out
}

/// Alternating stereo segments `a` dBFS for `ta` s and `b` dBFS for `tb` s, for `total` seconds.
fn alternating(rate: u32, a: f64, ta: f64, b: f64, tb: f64, total: f64) -> Signal {
    let mut out = Signal::silence(rate, 2, 0);
    let mut t = 0.0;
    let mut first = true;
    while t < total - 1e-9 {
        let (db, len) = if first { (a, ta) } else { (b, tb) };
        out.append(&sine(rate, 2, 1000.0, db_to_amp(db), len, 0.0));
        t += len;
        first = !first;
    }
    out
}

fn case(name: &'static str, signal: Signal, expect: Expect) -> Case {
    Case { name, signal, expect, channel_mask: None }
}

/// The Tech 3341 loudness cases (1–6, 9, 12) and Tech 3342 cases (1–4) at `rate`.
pub fn loudness_cases(rate: u32) -> Vec<Case> {
    let mut v = vec![
        case("3341-1", stereo_steps(rate, &[(-23.0, 20.0)]), Expect::IntegratedMomentaryShortTerm(-23.0)),
        case("3341-2", stereo_steps(rate, &[(-33.0, 20.0)]), Expect::Integrated(-33.0)),
        case("3341-3", stereo_steps(rate, &[(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)]), Expect::Integrated(-23.0)),
        case(
            "3341-4",
            stereo_steps(rate, &[(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)]),
            Expect::Integrated(-23.0),
        ),
        case("3341-5", stereo_steps(rate, &[(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)]), Expect::Integrated(-23.0)),
        case("3341-9", alternating(rate, -20.0, 1.34, -30.0, 1.66, 60.0), Expect::ShortTermAfter3s(-23.0)),
        case("3341-12", alternating(rate, -20.0, 0.18, -30.0, 0.22, 20.0), Expect::MomentaryAfter400ms(-23.0)),
        case("3342-1", stereo_steps(rate, &[(-20.0, 20.0), (-30.0, 20.0)]), Expect::LoudnessRange(10.0)),
        case("3342-2", stereo_steps(rate, &[(-20.0, 20.0), (-15.0, 20.0)]), Expect::LoudnessRange(5.0)),
        case("3342-3", stereo_steps(rate, &[(-40.0, 20.0), (-20.0, 20.0)]), Expect::LoudnessRange(20.0)),
        case(
            "3342-4",
            stereo_steps(rate, &[(-50.0, 20.0), (-35.0, 20.0), (-20.0, 20.0), (-35.0, 20.0), (-50.0, 20.0)]),
            Expect::LoudnessRange(15.0),
        ),
    ];
    // 3341-6: 5.0 — L, R at −28 dBFS; C at −24; Ls, Rs at −30. Channel order L R C Ls Rs.
    let levels = [-28.0, -28.0, -24.0, -30.0, -30.0];
    let planes = levels.iter().map(|&db| sine(rate, 1, 1000.0, db_to_amp(db), 20.0, 0.0).planes.remove(0)).collect();
    v.push(Case {
        name: "3341-6",
        signal: Signal { rate, planes },
        expect: Expect::Integrated(-23.0),
        // FL | FR | FC | BL | BR
        channel_mask: Some(0x1 | 0x2 | 0x4 | 0x10 | 0x20),
    });
    v
}

/// The Tech 3341 true-peak cases 15–19 (defined at 48 kHz; at other rates the frequencies scale
/// with the rate, as in the standard's definition relative to fs).
pub fn true_peak_cases(rate: u32) -> Vec<Case> {
    let fs = f64::from(rate);
    let tp = |name, freq: f64, amp: f64, phase_deg: f64, expect| {
        case(name, sine(rate, 2, freq, amp, 3.0, phase_deg * PI / 180.0), Expect::TruePeak(expect))
    };
    vec![
        tp("3341-15", fs / 4.0, 0.5, 0.0, -6.0),
        tp("3341-16", fs / 4.0, 0.5, 45.0, -6.0),
        tp("3341-17", fs / 6.0, 0.5, 60.0, -6.0),
        tp("3341-18", fs / 8.0, 0.5, 67.5, -6.0),
        tp("3341-19", fs / 4.0, 1.41, 45.0, 3.0),
    ]
}
