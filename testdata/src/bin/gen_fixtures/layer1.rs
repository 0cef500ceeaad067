//! A small MPEG-1 Layer I encoder (ISO/IEC 11172-3), written here because no packaged encoder
//! (LAME, TwoLAME, ffmpeg) writes Layer I.
//!
//! - Analysis: the standard 32-band cosine-modulated polyphase filterbank, but with a Kaiser-
//!   windowed-sinc prototype (cut-off tuned so the response is -3 dB at pi/64, which makes it
//!   nearly power-complementary) instead of the standard's tabulated window. Decoders use the
//!   standard synthesis window, so reconstruction is close but not the reference encoder's.
//! - Scalefactors: the smallest standard scalefactor at or above each subband's peak.
//! - Bit allocation: greedy, always to the subband with the highest estimated quantisation noise
//!   (no psychoacoustic model), within the frame's bit budget.
//! - Stereo mode (no joint stereo), no CRC, constant bit rate with padding slots.

#![allow(clippy::needless_range_loop)] // index loops read better in the DSP here

use audioproc_testdata::Signal;

const BITRATES_KBPS: [u32; 15] = [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448];

struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn new() -> Self {
        BitWriter { bytes: Vec::new(), acc: 0, n: 0 }
    }

    fn put(&mut self, value: u32, bits: u32) {
        debug_assert!(bits <= 32 && (bits == 32 || value < (1 << bits)));
        self.acc = (self.acc << bits) | u64::from(value);
        self.n += bits;
        while self.n >= 8 {
            self.n -= 8;
            self.bytes.push((self.acc >> self.n) as u8);
        }
        self.acc &= (1u64 << self.n) - 1;
    }

    fn bits(&self) -> usize {
        self.bytes.len() * 8 + self.n as usize
    }
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

fn windowed_sinc(wc: f64, beta: f64) -> Vec<f64> {
    (0..512)
        .map(|n| {
            let t = n as f64 - 256.0;
            let sinc = if t == 0.0 { wc / std::f64::consts::PI } else { (wc * t).sin() / (std::f64::consts::PI * t) };
            let r = t / 256.0;
            sinc * bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta)
        })
        .collect()
}

fn response(h: &[f64], w: f64) -> f64 {
    h.iter().enumerate().map(|(n, &v)| v * (w * (n as f64 - 256.0)).cos()).sum()
}

/// The 512-tap prototype lowpass, scaled so that a subband sample has the amplitude of the
/// band-centred sinusoid it comes from (the standard's convention).
fn prototype() -> Vec<f64> {
    let target = std::f64::consts::PI / 64.0;
    let beta = 9.0;
    let (mut lo, mut hi) = (target, 2.0 * target);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        let h = windowed_sinc(mid, beta);
        if response(&h, target) / response(&h, 0.0) < std::f64::consts::FRAC_1_SQRT_2 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let h = windowed_sinc(0.5 * (lo + hi), beta);
    let dc = response(&h, 0.0);
    h.iter().map(|v| v * 2.0 / dc).collect()
}

/// Standard Layer I/II scalefactor `i`: 2^(1 - i/3).
fn scalefactor(i: usize) -> f64 {
    2f64.powf(1.0 - i as f64 / 3.0)
}

/// Encodes `sig` (stereo or mono, 32/44.1/48 kHz) at `kbps` (a Layer I bit rate).
///
/// # Panics
/// On an unsupported rate, bit rate or channel count.
pub fn encode(sig: &Signal, kbps: u32) -> Vec<u8> {
    let channels = sig.channels();
    assert!(channels == 1 || channels == 2, "Layer I holds 1 or 2 channels");
    let rate_index = match sig.rate {
        44_100 => 0,
        48_000 => 1,
        32_000 => 2,
        r => panic!("rate {r} not an MPEG-1 rate"),
    };
    let br_index = BITRATES_KBPS.iter().position(|&b| b == kbps).filter(|&i| i > 0).expect("not a Layer I bit rate");
    let h = prototype();
    // Analysis matrix: S[k] = sum_n h[n] cos((2k+1)(n-16)pi/64) X[n], X[0] the newest sample.
    let matrix: Vec<f64> = (0..32)
        .flat_map(|k| {
            let h = &h;
            (0..512).map(move |n| h[n] * ((2 * k + 1) as f64 * (n as f64 - 16.0) * std::f64::consts::PI / 64.0).cos())
        })
        .collect();

    let frames = sig.frames().div_ceil(384);
    // Subband samples per channel: [frame][slot][band].
    let mut sub: Vec<Vec<[[f64; 32]; 12]>> = vec![vec![[[0.0; 32]; 12]; frames]; channels];
    for (ch, plane) in sig.planes.iter().enumerate() {
        let mut x = [0.0f64; 512];
        for (slot_no, slot) in sub[ch].iter_mut().flat_map(|f| f.iter_mut()).enumerate() {
            x.copy_within(0..480, 32);
            for i in 0..32 {
                let t = slot_no * 32 + i;
                x[31 - i] = plane.get(t).map_or(0.0, |&v| f64::from(v));
            }
            for (k, s) in slot.iter_mut().enumerate() {
                let row = &matrix[k * 512..(k + 1) * 512];
                *s = row.iter().zip(&x).map(|(a, b)| a * b).sum();
            }
        }
    }

    let slot_bits = 12 * u64::from(kbps) * 1000;
    let mut out = BitWriter::new();
    for f in 0..frames {
        // CBR: frame f holds floor((f+1)*12*br/fs) - floor(f*12*br/fs) four-byte slots.
        let slots =
            ((f as u64 + 1) * slot_bits / u64::from(sig.rate) - f as u64 * slot_bits / u64::from(sig.rate)) as usize;
        let base_slots = (slot_bits / u64::from(sig.rate)) as usize;
        let padding = slots - base_slots;
        let frame_bits = slots * 32;

        // Scalefactors.
        let mut scf = [[0usize; 32]; 2];
        let mut peak = [[0.0f64; 32]; 2];
        for ch in 0..channels {
            for sb in 0..32 {
                let p = sub[ch][f].iter().map(|s| s[sb].abs()).fold(0.0, f64::max);
                peak[ch][sb] = p;
                scf[ch][sb] = (0..63).rev().find(|&i| scalefactor(i) >= p).unwrap_or(0);
            }
        }

        // Greedy bit allocation.
        let mut nb = [[0u32; 32]; 2];
        let mut budget = frame_bits as i64 - 32 - 4 * 32 * channels as i64;
        loop {
            let mut best: Option<(usize, usize, f64)> = None;
            for ch in 0..channels {
                for sb in 0..32 {
                    if peak[ch][sb] < 1e-7 || nb[ch][sb] >= 15 {
                        continue;
                    }
                    let cost = if nb[ch][sb] == 0 { 6 + 12 * 2 } else { 12 };
                    if cost > budget {
                        continue;
                    }
                    let noise = 20.0 * scalefactor(scf[ch][sb]).log10() - 6.02 * f64::from(nb[ch][sb]);
                    if best.is_none_or(|(_, _, n)| noise > n) {
                        best = Some((ch, sb, noise));
                    }
                }
            }
            let Some((ch, sb, _)) = best else { break };
            budget -= if nb[ch][sb] == 0 { 6 + 12 * 2 } else { 12 };
            nb[ch][sb] = if nb[ch][sb] == 0 { 2 } else { nb[ch][sb] + 1 };
        }

        let start = out.bits();
        // Header: sync, MPEG-1, Layer I, no CRC.
        out.put(0xFFF, 12);
        out.put(1, 1); // ID: MPEG-1
        out.put(0b11, 2); // layer I
        out.put(1, 1); // protection_bit: no CRC
        out.put(br_index as u32, 4);
        out.put(rate_index, 2);
        out.put(padding as u32, 1);
        out.put(0, 1); // private
        out.put(if channels == 2 { 0b00 } else { 0b11 }, 2); // stereo / single channel
        out.put(0, 2); // mode extension
        out.put(0, 1); // copyright
        out.put(1, 1); // original
        out.put(0, 2); // emphasis
        for sb in 0..32 {
            for band in nb.iter().take(channels) {
                out.put(if band[sb] == 0 { 0 } else { band[sb] - 1 }, 4);
            }
        }
        for sb in 0..32 {
            for ch in 0..channels {
                if nb[ch][sb] != 0 {
                    out.put(scf[ch][sb] as u32, 6);
                }
            }
        }
        for s in 0..12 {
            for sb in 0..32 {
                for ch in 0..channels {
                    let bits = nb[ch][sb];
                    if bits == 0 {
                        continue;
                    }
                    let levels = f64::from((1u32 << bits) - 1);
                    let limit = (1i64 << (bits - 1)) - 1;
                    let x = sub[ch][f][s][sb] / scalefactor(scf[ch][sb]);
                    let u = ((x * levels / 2.0).round() as i64).clamp(-limit, limit);
                    let code = ((u - 1) as u32 & ((1u32 << bits) - 1)) ^ (1u32 << (bits - 1));
                    out.put(code, bits);
                }
            }
        }
        // Fill the rest of the frame (ancillary data) with zeros.
        let used = out.bits() - start;
        let mut rest = frame_bits - used;
        while rest > 0 {
            let n = rest.min(32);
            out.put(0, n as u32);
            rest -= n;
        }
    }
    debug_assert_eq!(out.n, 0);
    out.bytes
}
