//! The decode budget: how many times one job may decode audio, in one place.
//!
//! Every pass of a job decodes a whole file, so the passes are what a job costs:
//! - **measure**: 1 decode of the input;
//! - **calibrate_limiter** (`limit` mode): up to [`LIMIT_CALIBRATION_RUNS`] dry runs, each a
//!   decode of the input;
//! - **encode_and_verify**: up to [`MAX_ENCODE_ATTEMPTS`] encodes, each a decode of the input;
//!   a lossy output is decoded again after each encode to measure what was written.
//!
//! So a lossless job reads the input 2 to 7 times and a lossy one 3 to 14 times; the count
//! actually done is reported as [`ProcessReport::passes`](super::ProcessReport::passes). A
//! compressed input is decoded only by the first: the later passes over the input read the
//! copy of the audio pass 1 kept (`replay.rs`) when it fits, and
//! [`ProcessReport::decodes`](super::ProcessReport::decodes) says how many passes decoded.

/// Most dry runs that calibrate the gain in `limit` mode.
pub const LIMIT_CALIBRATION_RUNS: usize = 5;
/// Most encodes of one lossy output (loudness correction and `strict_peak`).
pub const MAX_ENCODE_ATTEMPTS: u32 = 4;

/// The most decodes each phase of a job may do. [`DECODE_BUDGET`] is the one the job keeps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeBudget {
    /// Decodes of the input to measure it.
    pub measure: u32,
    /// Dry runs (decodes of the input, nothing encoded) calibrating the limiter's gain.
    pub limiter_calibrations: u32,
    /// Encodes, each a decode of the input (and, for lossy outputs, a decode of the output).
    pub encodes: u32,
}

/// The budget every job keeps to.
pub const DECODE_BUDGET: DecodeBudget =
    DecodeBudget { measure: 1, limiter_calibrations: LIMIT_CALIBRATION_RUNS as u32, encodes: MAX_ENCODE_ATTEMPTS };

impl DecodeBudget {
    /// The most decodes a job may do in all: measure, calibrations, and two per encode (the
    /// input, and the lossy output to verify it).
    pub const fn max_passes(&self) -> u32 {
        self.measure + self.limiter_calibrations + 2 * self.encodes
    }
}

/// The passes a running job has done, and how many of them decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Passes {
    passes: u32,
    decodes: u32,
}

impl Passes {
    /// Counts one pass that decodes the input or the encoded output.
    pub(super) fn count(&mut self) {
        self.count_replay();
        self.decodes += 1;
    }

    /// Counts one pass over the input that reads pass 1's kept audio instead of decoding
    /// (see `replay.rs`).
    pub(super) fn count_replay(&mut self) {
        self.passes += 1;
        debug_assert!(self.passes <= DECODE_BUDGET.max_passes(), "over the decode budget");
    }

    /// The passes done so far.
    pub(super) fn done(self) -> u32 {
        self.passes
    }

    /// The decodes done so far.
    pub(super) fn decodes(self) -> u32 {
        self.decodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_one_measure_five_calibrations_and_four_verified_encodes() {
        assert_eq!(DECODE_BUDGET.max_passes(), 1 + 5 + 2 * 4);
    }
}
