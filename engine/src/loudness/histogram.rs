//! Gating in constant memory.
//!
//! Block loudness values above the absolute gate (−70 LUFS) fall into bins 0.01 LU wide from
//! −70 to +30 LUFS. Each bin keeps the count of its blocks *and the sum of their energies*, so
//! the gated mean is exact except for blocks sharing the bin of the relative threshold itself
//! (which are all kept or all dropped by their mean), and percentiles are exact to within one
//! bin (0.01 LU). Memory is 160 KB whatever the programme length.

use super::{energy_to_lufs, lufs_to_energy};

/// Lowest loudness kept: the absolute gate, LUFS.
pub const ABSOLUTE_GATE_LUFS: f64 = -70.0;
const TOP_LUFS: f64 = 30.0;
const BINS_PER_LU: f64 = 100.0;
const BINS: usize = ((TOP_LUFS - ABSOLUTE_GATE_LUFS) * BINS_PER_LU) as usize;

/// A loudness histogram of gating blocks.
#[derive(Clone, Debug)]
pub struct GatingHistogram {
    counts: Vec<u64>,
    energies: Vec<f64>,
    absolute_gate_energy: f64,
}

impl Default for GatingHistogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bin_of(lufs: f64) -> usize {
    (((lufs - ABSOLUTE_GATE_LUFS) * BINS_PER_LU).floor().max(0.0) as usize).min(BINS - 1)
}

impl GatingHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        GatingHistogram {
            counts: vec![0; BINS],
            energies: vec![0.0; BINS],
            absolute_gate_energy: lufs_to_energy(ABSOLUTE_GATE_LUFS),
        }
    }

    /// Adds one block's energy; blocks at or below the absolute gate are dropped.
    pub fn add(&mut self, energy: f64) {
        if energy.partial_cmp(&self.absolute_gate_energy) != Some(std::cmp::Ordering::Greater) {
            return;
        }
        let b = bin_of(energy_to_lufs(energy));
        self.counts[b] += 1;
        self.energies[b] += energy;
    }

    /// Adds every block of `other`, as if its blocks had been added here: the union of two
    /// programmes' blocks, which is how BS.1770 and ReplayGain 2.0 gate an album.
    pub fn merge(&mut self, other: &GatingHistogram) {
        self.counts.iter_mut().zip(&other.counts).for_each(|(a, b)| *a += b);
        self.energies.iter_mut().zip(&other.energies).for_each(|(a, b)| *a += b);
    }

    /// Number of blocks above the absolute gate.
    pub fn len(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// True when no block passed the absolute gate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// First bin at or above the relative gate `relative_lu` below the absolute-gated mean, or
    /// `None` when empty.
    fn relative_gate_bin(&self, relative_lu: f64) -> Option<usize> {
        let (n, e) = self.sum_from(0);
        if n == 0 {
            return None;
        }
        let threshold = energy_to_lufs(e / n as f64) + relative_lu;
        if threshold < ABSOLUTE_GATE_LUFS {
            return Some(0);
        }
        let b = bin_of(threshold);
        // Blocks must be strictly above the threshold; judge the threshold's own bin by its mean.
        let keep_bin = self.counts[b] > 0 && energy_to_lufs(self.energies[b] / self.counts[b] as f64) > threshold;
        Some(if keep_bin { b } else { b + 1 })
    }

    fn sum_from(&self, first: usize) -> (u64, f64) {
        let n = self.counts[first.min(BINS)..].iter().sum();
        let e = self.energies[first.min(BINS)..].iter().sum();
        (n, e)
    }

    /// Gated mean loudness (LUFS): mean energy of the blocks above the relative gate
    /// `relative_lu` (−10 for BS.1770 integrated loudness). `None` if no block passes.
    pub fn gated_mean_lufs(&self, relative_lu: f64) -> Option<f64> {
        let first = self.relative_gate_bin(relative_lu)?;
        let (n, e) = self.sum_from(first);
        (n > 0).then(|| energy_to_lufs(e / n as f64))
    }

    /// Loudness range (EBU Tech 3342): the spread between the 10th and 95th percentiles of the
    /// blocks above the relative gate `relative_lu` (−20). `None` if no block passes.
    ///
    /// Percentiles are nearest-rank, `round((n − 1)·p)` over the sorted gated values, as in
    /// libebur128.
    pub fn range_lu(&self, relative_lu: f64, low: f64, high: f64) -> Option<f64> {
        let first = self.relative_gate_bin(relative_lu)?;
        let (n, _) = self.sum_from(first);
        if n == 0 {
            return None;
        }
        let rank = |p: f64| ((n - 1) as f64 * p + 0.5).floor() as u64;
        let lo = self.value_at_rank(first, rank(low))?;
        let hi = self.value_at_rank(first, rank(high))?;
        Some(hi - lo)
    }

    /// Loudness of the block at `rank` (0-based, ascending) counting from bin `first`: the mean
    /// of its bin.
    fn value_at_rank(&self, first: usize, rank: u64) -> Option<f64> {
        let mut seen = 0u64;
        for b in first..BINS {
            seen += self.counts[b];
            if seen > rank {
                return Some(energy_to_lufs(self.energies[b] / self.counts[b] as f64));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, on a plain list of block energies.
    fn exact_gated_mean(blocks: &[f64], rel: f64) -> Option<f64> {
        let abs: Vec<f64> = blocks.iter().copied().filter(|&e| energy_to_lufs(e) > ABSOLUTE_GATE_LUFS).collect();
        if abs.is_empty() {
            return None;
        }
        let thr = energy_to_lufs(abs.iter().sum::<f64>() / abs.len() as f64) + rel;
        let rel: Vec<f64> = abs.into_iter().filter(|&e| energy_to_lufs(e) > thr).collect();
        (!rel.is_empty()).then(|| energy_to_lufs(rel.iter().sum::<f64>() / rel.len() as f64))
    }

    #[test]
    fn gated_mean_agrees_with_the_definition() {
        let mut rng = 12345u64;
        let mut blocks = Vec::new();
        let mut h = GatingHistogram::new();
        for i in 0..20_000 {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let lufs = -80.0 + 70.0 * ((rng >> 11) as f64 / (1u64 << 53) as f64) + if i % 7 == 0 { 20.0 } else { 0.0 };
            let e = lufs_to_energy(lufs);
            blocks.push(e);
            h.add(e);
        }
        let exact = exact_gated_mean(&blocks, -10.0).expect("blocks pass");
        let ours = h.gated_mean_lufs(-10.0).expect("blocks pass");
        assert!((exact - ours).abs() < 0.005, "{exact} vs {ours}");
    }

    #[test]
    fn merging_equals_adding_every_block_to_one_histogram() {
        let (mut a, mut b, mut both) = (GatingHistogram::new(), GatingHistogram::new(), GatingHistogram::new());
        for i in 0..3_000 {
            let e = lufs_to_energy(-60.0 + (i % 97) as f64 * 0.5);
            if i % 3 == 0 { &mut a } else { &mut b }.add(e);
            both.add(e);
        }
        a.merge(&b);
        assert_eq!(a.len(), both.len());
        assert_eq!(a.gated_mean_lufs(-10.0), both.gated_mean_lufs(-10.0));
        assert_eq!(a.range_lu(-20.0, 0.1, 0.95), both.range_lu(-20.0, 0.1, 0.95));
    }

    #[test]
    fn empty_and_silent_give_none() {
        let mut h = GatingHistogram::new();
        assert_eq!(h.gated_mean_lufs(-10.0), None);
        h.add(0.0);
        h.add(lufs_to_energy(-75.0));
        assert_eq!(h.gated_mean_lufs(-10.0), None);
        assert_eq!(h.range_lu(-20.0, 0.1, 0.95), None);
    }

    #[test]
    fn range_of_two_levels_is_their_difference() {
        let mut h = GatingHistogram::new();
        for _ in 0..100 {
            h.add(lufs_to_energy(-20.0));
            h.add(lufs_to_energy(-30.0));
        }
        let lra = h.range_lu(-20.0, 0.1, 0.95).expect("values");
        assert!((lra - 10.0).abs() < 0.011, "{lra}");
    }
}
