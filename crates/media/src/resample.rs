//! Resampling of one mono `i16` stream, frame by frame: 8 kHz ↔ 16 kHz (G.711 legs)
//! and 16 kHz ↔ 48 kHz (Opus legs, supplied files).
//!
//! Why not `rubato`: its API is built around `f32` channel buffers and
//! `process_into_buffer` calls with its own frame-size rules; our path is one
//! mono `i16` frame per 20 ms, so a short FIR with a fixed ratio, no allocation
//! per call, and a filter we test for passband/stopband here is simpler and at
//! least as fast.
//!
//! Two filters, the same specification: the −6 dB point at half the lower of the
//! two rates, a transition band of ±15 % around it (for 8 ↔ 16 kHz: pass to
//! 3.4 kHz, stop from 4.6 kHz, which covers the 300–3400 Hz telephone band) and
//! ≥ 60 dB stopband.
//!
//! - 8 ↔ 16 kHz (four per two-leg G.711 call every 20 ms, the media thread's
//!   busiest filter) uses a **half-band** FIR: a Kaiser-windowed sinc cut at a
//!   quarter of the 16 kHz rate has every second coefficient zero and the centre
//!   one ½: of its 51 taps only the centre and 13 pairs of equal ones are non-zero.
//!   Upsampling copies every second output sample straight from the input and
//!   computes the other with 13 multiplies; downsampling computes only the kept
//!   samples. The loops run over the frame's samples for each coefficient, so they
//!   vectorise without horizontal sums: 2.5–3.5× faster than the generic filter
//!   (`examples/bench.rs`).
//! - Any other ratio: a rational L/M polyphase Kaiser-windowed sinc.

use std::f64::consts::PI;

/// Resamples one mono stream between two fixed rates, frame by frame.
#[derive(Debug, Clone)]
pub struct Resampler {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// The same rate: a copy.
    Copy,
    /// 1:2 (8 → 16 kHz), half-band.
    Up2(HalfBandUp),
    /// 2:1 (16 → 8 kHz), half-band.
    Down2(HalfBandDown),
    /// Any other ratio.
    Polyphase(Polyphase),
}

/// Rational-ratio polyphase resampler (Kaiser-windowed sinc).
#[derive(Debug, Clone)]
struct Polyphase {
    up: usize,
    down: usize,
    taps: usize,
    /// `up` phases × `taps` coefficients, each phase stored reversed (oldest sample first).
    coeffs: Vec<f32>,
    /// History (`taps - 1` samples) followed by the current input.
    buf: Vec<f32>,
    /// Position of the next output in the upsampled domain, relative to the current input.
    pos: usize,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Zeroth-order modified Bessel function of the first kind (series), for the Kaiser window.
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..50 {
        term *= (half / f64::from(k)) * (half / f64::from(k));
        sum += term;
        if term < 1e-12 * sum {
            break;
        }
    }
    sum
}

impl Resampler {
    /// Creates a resampler from `from_hz` to `to_hz`. Call once per leg and
    /// direction when the leg is set up (a ratio other than 1:2 and 2:1 allocates
    /// its filter here, never later).
    ///
    /// # Panics
    /// Never for the rates this crate uses; rates of 0 are treated as 1.
    #[must_use]
    pub fn new(from_hz: u32, to_hz: u32) -> Self {
        let (from, to) = (from_hz.max(1) as usize, to_hz.max(1) as usize);
        let kind = if from == to {
            Kind::Copy
        } else if to == 2 * from {
            Kind::Up2(HalfBandUp::new())
        } else if from == 2 * to {
            Kind::Down2(HalfBandDown::new())
        } else {
            Kind::Polyphase(Polyphase::new(from, to))
        };
        Self { kind }
    }

    /// Output samples produced for `input_len` input samples (exact for 20 ms frames
    /// of the supported rates).
    #[must_use]
    pub fn output_len(&self, input_len: usize) -> usize {
        match &self.kind {
            Kind::Copy => input_len,
            Kind::Up2(_) => input_len * 2,
            Kind::Down2(_) => input_len / 2,
            Kind::Polyphase(p) => input_len * p.up / p.down,
        }
    }

    /// How many output samples the filter delays the signal by (half its length): the
    /// output sample `k + delay()` belongs to the input instant of output sample `k`.
    #[must_use]
    pub fn delay(&self) -> usize {
        match &self.kind {
            Kind::Copy => 0,
            // The centre of the 4K − 1 taps at the output rate.
            Kind::Up2(_) => HB_CENTRE,
            // The same centre at the input rate, halved (rounded down).
            Kind::Down2(_) => HB_CENTRE / 2,
            Kind::Polyphase(p) => (p.taps * p.up).saturating_sub(1) / 2 / p.down,
        }
    }

    /// Resamples one frame. Call once per frame in stream order; state carries over
    /// between calls. Writes at most `output.len()` samples and returns how many.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        match &mut self.kind {
            Kind::Copy => {
                let n = input.len().min(output.len());
                output[..n].copy_from_slice(&input[..n]);
                n
            }
            Kind::Up2(r) => r.process(input, output),
            Kind::Down2(r) => r.process(input, output),
            Kind::Polyphase(r) => r.process(input, output),
        }
    }
}

/// Rounds half away from zero; `as` saturates to the `i16` range. (`f32::round` is a
/// library call on baseline x86-64 and cost more than the filter.)
#[inline]
fn to_i16(acc: f32) -> i16 {
    (acc + 0.5f32.copysign(acc)) as i16
}

/// Non-zero coefficient pairs of the half-band filter (K): 4K − 1 = 51 taps.
const HB_PAIRS: usize = 13;
/// Index of the centre tap (2K − 1), also the filter's delay at 16 kHz.
const HB_CENTRE: usize = 2 * HB_PAIRS - 1;
/// Input samples of history the 1:2 filter keeps (its taps span 2K input samples).
const HB_UP_HISTORY: usize = 2 * HB_PAIRS - 1;
/// Input samples of history the 2:1 filter keeps (its taps span 4K − 1 input samples).
const HB_DOWN_HISTORY: usize = 4 * HB_PAIRS - 2;
/// Input samples filtered per pass (a 20 ms frame at 16 kHz); longer input runs in
/// several passes over stack buffers.
const HB_CHUNK: usize = 320;

/// The half-band low-pass at a quarter of the 16 kHz rate, as the coefficients `h[i]`
/// of the tap pairs at ±(2i + 1) from the centre (the centre is ½, the taps at even
/// distances are 0). Kaiser window for 60 dB (β = 5.65) over the 51 taps; the pairs are
/// scaled so that the gain at 0 Hz is exactly 1 (½ + 2 Σ h = 1), which keeps the filter
/// half-band: H(f) + H(8 kHz − f) = 1. Pass to 3.4 kHz within 0.01 dB, stop from 4.6 kHz
/// at ≥ 60 dB (the tests check the response of these numbers).
fn half_band() -> [f32; HB_PAIRS] {
    let attenuation = 60.0;
    let beta = 0.1102 * (attenuation - 8.7);
    let half_length = HB_CENTRE as f64;
    let i0_beta = bessel_i0(beta);
    let mut h = [0.0f64; HB_PAIRS];
    for (i, c) in h.iter_mut().enumerate() {
        let t = (2 * i + 1) as f64;
        let sinc = (PI * t / 2.0).sin() / (PI * t);
        let r = t / half_length;
        *c = sinc * bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
    }
    let sum: f64 = h.iter().sum();
    h.map(|c| (c * 0.25 / sum) as f32)
}

/// 8 → 16 kHz with the half-band filter. Output sample 2n + 1 is input sample
/// n − (K − 1) itself (the centre tap, ×2 for the zeros stuffed in between); output 2n
/// is Σ 2h[i] (x[n − K + 1 + i] + x[n − K − i]).
#[derive(Debug, Clone)]
struct HalfBandUp {
    /// 2h[i]: the upsampler's gain of 2 folded in.
    gains: [f32; HB_PAIRS],
    /// The last input samples (oldest first).
    history: [f32; HB_UP_HISTORY],
}

/// Fills a half-band filter's window: its history, then `chunk` as `f32` (anything past
/// the chunk stays as it was: zero).
fn load_window(window: &mut [f32], history: &[f32], chunk: &[i16]) {
    let (old, new) = window.split_at_mut(history.len());
    old.copy_from_slice(history);
    for (d, &s) in new.iter_mut().zip(chunk) {
        *d = f32::from(s);
    }
}

impl HalfBandUp {
    fn new() -> Self {
        Self {
            gains: half_band().map(|h| 2.0 * h),
            history: [0.0; HB_UP_HISTORY],
        }
    }

    fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        const K: usize = HB_PAIRS;
        let mut written = 0;
        for chunk in input.chunks(HB_CHUNK) {
            let n = chunk.len();
            // w[q + 2K − 1] is chunk[q]; w[..2K − 1] the history.
            let mut w = [0.0f32; HB_UP_HISTORY + HB_CHUNK];
            load_window(&mut w, &self.history, chunk);
            let mut acc = [0.0f32; HB_CHUNK];
            let acc = &mut acc[..n];
            for (i, &g) in self.gains.iter().enumerate() {
                let newer = &w[K + i..K + i + n];
                let older = &w[K - 1 - i..K - 1 - i + n];
                for ((a, &x), &y) in acc.iter_mut().zip(newer).zip(older) {
                    *a += g * (x + y);
                }
            }
            for (q, &a) in acc.iter().enumerate() {
                let Some(pair) = output.get_mut(written..written + 2) else {
                    break;
                };
                pair[0] = to_i16(a);
                // An input sample, exact in f32.
                pair[1] = w[q + K] as i16;
                written += 2;
            }
            self.history.copy_from_slice(&w[n..n + HB_UP_HISTORY]);
        }
        written
    }
}

/// 16 → 8 kHz with the half-band filter: output n is ½ x[2n − 2K + 1] +
/// Σ h[i] (x[2n − 2K + 2 + 2i] + x[2n − 2K − 2i]) (only the kept samples are computed).
#[derive(Debug, Clone)]
struct HalfBandDown {
    gains: [f32; HB_PAIRS],
    /// The last input samples (oldest first).
    history: [f32; HB_DOWN_HISTORY],
    /// Whether the next input sample is one an output sample is computed at (the
    /// stream's even samples); flips after an odd-length input.
    at_output: bool,
}

impl HalfBandDown {
    fn new() -> Self {
        Self {
            gains: half_band(),
            history: [0.0; HB_DOWN_HISTORY],
            at_output: true,
        }
    }

    fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        const K: usize = HB_PAIRS;
        let mut written = 0;
        for chunk in input.chunks(HB_CHUNK) {
            let n = chunk.len();
            let mut w = [0.0f32; HB_DOWN_HISTORY + HB_CHUNK];
            load_window(&mut w, &self.history, chunk);
            // Outputs at w[start + 4K − 2 + 2k]; each uses w[start + 2k ..= that].
            let start = usize::from(!self.at_output);
            let outputs = (n + 1 - start) / 2;
            // Split the window by parity: the pairs read `even`, the centre `odd`.
            const HALF: usize = (HB_DOWN_HISTORY + HB_CHUNK) / 2;
            let (mut even, mut odd) = ([0.0f32; HALF], [0.0f32; HALF]);
            for (m, pair) in w[start..HB_DOWN_HISTORY + n].chunks(2).enumerate() {
                even[m] = pair[0];
                if let Some(&x) = pair.get(1) {
                    odd[m] = x;
                }
            }
            let mut acc = [0.0f32; HB_CHUNK / 2];
            let acc = &mut acc[..outputs];
            for (a, &x) in acc.iter_mut().zip(&odd[K - 1..]) {
                *a = 0.5 * x;
            }
            for (i, &h) in self.gains.iter().enumerate() {
                let newer = &even[K + i..K + i + outputs];
                let older = &even[K - 1 - i..K - 1 - i + outputs];
                for ((a, &x), &y) in acc.iter_mut().zip(newer).zip(older) {
                    *a += h * (x + y);
                }
            }
            for &a in acc.iter() {
                let Some(slot) = output.get_mut(written) else {
                    break;
                };
                *slot = to_i16(a);
                written += 1;
            }
            self.history.copy_from_slice(&w[n..n + HB_DOWN_HISTORY]);
            self.at_output ^= n % 2 == 1;
        }
        written
    }
}

impl Polyphase {
    fn new(from: usize, to: usize) -> Self {
        let g = gcd(from, to);
        let (up, down) = (to / g, from / g);
        let upsampled = (from * up) as f64;
        let cutoff = from.min(to) as f64 / 2.0;
        let transition = 2.0 * 0.15 * cutoff;
        let attenuation = 60.0;
        let beta = 0.1102 * (attenuation - 8.7);
        let delta_omega = 2.0 * PI * transition / upsampled;
        let length = ((attenuation - 8.0) / (2.285 * delta_omega)).ceil() as usize + 1;
        // Round the taps per phase up to a multiple of 8 so the dot product runs in
        // whole vector lanes; the longer filter only improves the stopband.
        let taps = length.div_ceil(up).div_ceil(8) * 8;
        let length = taps * up;
        let fc = cutoff / upsampled; // cycles per upsampled sample
        let centre = (length - 1) as f64 / 2.0;
        let i0_beta = bessel_i0(beta);
        let prototype: Vec<f64> = (0..length)
            .map(|n| {
                let t = n as f64 - centre;
                let sinc = if t == 0.0 {
                    2.0 * fc
                } else {
                    (2.0 * PI * fc * t).sin() / (PI * t)
                };
                let r = t / centre;
                let window = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
                sinc * window * up as f64
            })
            .collect();
        let mut coeffs = vec![0.0f32; up * taps];
        for phase in 0..up {
            for j in 0..taps {
                // Output at upsampled time n*up + phase uses x[n - j] with h[phase + j*up];
                // store reversed so a forward dot product runs oldest → newest.
                coeffs[phase * taps + (taps - 1 - j)] = prototype[phase + j * up] as f32;
            }
        }
        Self {
            up,
            down,
            taps,
            coeffs,
            buf: vec![0.0; taps - 1],
            pos: 0,
        }
    }

    fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        let history = self.taps - 1;
        self.buf.truncate(history);
        self.buf.extend(input.iter().map(|&s| f32::from(s)));
        let end = input.len() * self.up;
        let mut written = 0;
        while self.pos < end && written < output.len() {
            let n = self.pos / self.up;
            let phase = self.pos % self.up;
            let c = &self.coeffs[phase * self.taps..(phase + 1) * self.taps];
            let x = &self.buf[n..n + self.taps];
            output[written] = to_i16(dot(c, x));
            written += 1;
            self.pos += self.down;
        }
        self.pos = self.pos.saturating_sub(end);
        self.buf.drain(..input.len());
        written
    }
}

/// Dot product with eight independent accumulators, so the compiler can vectorise it
/// (a plain `sum()` of floats must stay sequential).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let (rest_a, rest_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            lanes[i] += ca[i] * cb[i];
        }
    }
    let mut acc: f32 = lanes.iter().sum();
    for (x, y) in rest_a.iter().zip(rest_b) {
        acc += x * y;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: f64, freq: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * PI * freq * i as f64 / rate).sin()).round() as i16)
            .collect()
    }

    /// Amplitude of `freq` in `x` (single-bin DFT over a whole number of periods).
    fn amplitude(x: &[i16], rate: f64, freq: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            let w = 2.0 * PI * freq * i as f64 / rate;
            re += f64::from(s) * w.cos();
            im += f64::from(s) * w.sin();
        }
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    fn run(r: &mut Resampler, input: &[i16], frame: usize) -> Vec<i16> {
        let mut out = Vec::new();
        let mut buf = vec![0i16; r.output_len(frame)];
        for chunk in input.chunks(frame) {
            let n = r.process(chunk, &mut buf);
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    fn db(x: f64) -> f64 {
        20.0 * x.log10()
    }

    #[test]
    fn frame_sizes_are_exact() {
        for (from, to, inp, out) in [
            (8000, 16000, 160, 320),
            (16000, 8000, 320, 160),
            (16000, 48000, 320, 960),
            (48000, 16000, 960, 320),
        ] {
            let mut r = Resampler::new(from, to);
            let mut buf = vec![0i16; out];
            for _ in 0..5 {
                assert_eq!(r.process(&vec![0; inp], &mut buf), out, "{from}->{to}");
            }
        }
    }

    #[test]
    fn upsampling_passband_and_images() {
        for f in [300.0, 1000.0, 3000.0] {
            let mut r = Resampler::new(8000, 16000);
            let out = run(&mut r, &tone(8000.0, f, 8000, 10000.0), 160);
            let steady = &out[1600..];
            let gain = db(amplitude(steady, 16000.0, f) / 10000.0);
            assert!(gain.abs() < 0.3, "{f} Hz passband gain {gain:.2} dB");
            // The image of f sits at 8000 - f... mirrored around 4 kHz: 8 kHz − f.
            let image = db(amplitude(steady, 16000.0, 8000.0 - f) / 10000.0);
            assert!(
                image < -55.0,
                "{f} Hz image at {:.0} Hz: {image:.1} dB",
                8000.0 - f
            );
        }
    }

    #[test]
    fn downsampling_passband_and_stopband() {
        let mut r = Resampler::new(16000, 8000);
        let out = run(&mut r, &tone(16000.0, 1000.0, 16000, 10000.0), 320);
        let gain = db(amplitude(&out[800..], 8000.0, 1000.0) / 10000.0);
        assert!(gain.abs() < 0.3, "passband gain {gain:.2} dB");
        for f in [4800.0, 6000.0, 7500.0] {
            let mut r = Resampler::new(16000, 8000);
            let out = run(&mut r, &tone(16000.0, f, 16000, 10000.0), 320);
            // A tone above 4 kHz would alias to 8 kHz − f.
            let alias = db(amplitude(&out[800..], 8000.0, 8000.0 - f) / 10000.0);
            assert!(alias < -55.0, "{f} Hz aliases at {alias:.1} dB");
        }
    }

    /// |H(f)| of the half-band filter's own coefficients (as stored, in f32), f in Hz at 16 kHz.
    fn half_band_gain(f: f64) -> f64 {
        let w = 2.0 * PI * f / 16000.0;
        let sides: f64 = half_band()
            .iter()
            .enumerate()
            .map(|(i, &h)| 2.0 * f64::from(h) * (w * (2 * i + 1) as f64).cos())
            .sum();
        (0.5 + sides).abs()
    }

    #[test]
    fn half_band_response() {
        let passband = (0..=340)
            .map(|k| db(half_band_gain(f64::from(k) * 10.0)).abs())
            .fold(0.0, f64::max);
        assert!(passband < 0.02, "0–3400 Hz ripple {passband:.4} dB");
        let stopband = (460..=800)
            .map(|k| db(half_band_gain(f64::from(k) * 10.0)))
            .fold(f64::MIN, f64::max);
        assert!(stopband < -60.0, "4600–8000 Hz: {stopband:.1} dB");
        // Half-band: −6 dB at 4 kHz.
        assert!((db(half_band_gain(4000.0)) + 6.02).abs() < 0.01);
    }

    /// Pseudo-random full-scale noise (a fixed LCG, so failures reproduce).
    fn noise(n: usize) -> Vec<i16> {
        let mut x: u32 = 12345;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as i16
            })
            .collect()
    }

    /// The half-band filter's 51 taps at 16 kHz (unit gain at 0 Hz), as a plain array.
    fn half_band_taps() -> Vec<f64> {
        let mut taps = vec![0.0; 2 * HB_CENTRE + 1];
        taps[HB_CENTRE] = 0.5;
        for (i, &h) in half_band().iter().enumerate() {
            taps[HB_CENTRE - (2 * i + 1)] = f64::from(h);
            taps[HB_CENTRE + 2 * i + 1] = f64::from(h);
        }
        taps
    }

    /// Runs `r` over `input` in the given chunk sizes (cycled), collecting the output.
    fn run_chunks(r: &mut Resampler, input: &[i16], sizes: &[usize]) -> Vec<i16> {
        let mut out = Vec::new();
        let mut buf = vec![0i16; 2 * input.len() + 2];
        let mut rest = input;
        for &size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            let n = r.process(chunk, &mut buf);
            out.extend_from_slice(&buf[..n]);
            rest = tail;
        }
        out
    }

    fn round_sat(y: f64) -> i16 {
        y.round().clamp(-32768.0, 32767.0) as i16
    }

    #[test]
    fn half_band_is_the_plain_convolution_for_any_chunking() {
        let taps = half_band_taps();
        let input = noise(2000);
        let x = |k: i64| {
            usize::try_from(k)
                .ok()
                .and_then(|k| input.get(k))
                .map_or(0.0, |&s| f64::from(s))
        };
        // Zero-stuffed to 16 kHz, ×2, filtered.
        let up_ref: Vec<i16> = (0..2 * input.len() as i64)
            .map(|m| {
                let y: f64 = (0..taps.len() as i64)
                    .filter(|j| (m - j) % 2 == 0)
                    .map(|j| 2.0 * taps[j as usize] * x((m - j) / 2))
                    .sum();
                round_sat(y)
            })
            .collect();
        // Filtered at 16 kHz, every second sample kept.
        let down_ref: Vec<i16> = (0..input.len() as i64 / 2)
            .map(|n| {
                let y: f64 = (0..taps.len() as i64)
                    .map(|j| taps[j as usize] * x(2 * n - j))
                    .sum();
                round_sat(y)
            })
            .collect();
        for sizes in [
            &[160][..],
            &[320],
            &[1],
            &[3, 1, 2],
            &[7, 333, 5],
            &[700, 1],
        ] {
            let up = run_chunks(&mut Resampler::new(8000, 16000), &input, sizes);
            let down = run_chunks(&mut Resampler::new(16000, 8000), &input, sizes);
            assert_eq!(up.len(), up_ref.len(), "{sizes:?}");
            assert_eq!(down.len(), down_ref.len(), "{sizes:?}");
            for (got, want) in [(&up, &up_ref), (&down, &down_ref)] {
                let worst = got
                    .iter()
                    .zip(want.iter())
                    .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
                    .max();
                // f32 arithmetic: at most one step off the exact result.
                assert!(worst <= Some(1), "{sizes:?}: off by {worst:?}");
            }
        }
    }

    #[test]
    fn half_band_delay_is_where_an_impulse_comes_out() {
        let mut impulse = vec![0i16; 160];
        impulse[10] = 10000;
        let mut up = Resampler::new(8000, 16000);
        let out = run(&mut up, &impulse, 160);
        // The centre tap copies the input sample.
        assert_eq!(out[20 + up.delay()], 10000);
        let peak = (0..out.len()).max_by_key(|&i| out[i].unsigned_abs());
        assert_eq!(peak, Some(20 + up.delay()));
    }

    #[test]
    fn wideband_ratio_passband() {
        let mut up = Resampler::new(16000, 48000);
        let mut down = Resampler::new(48000, 16000);
        let input = tone(16000.0, 5000.0, 16000, 8000.0);
        let wide = run(&mut up, &input, 320);
        let back = run(&mut down, &wide, 960);
        let gain = db(amplitude(&back[3200..], 16000.0, 5000.0) / 8000.0);
        assert!(
            gain.abs() < 0.5,
            "5 kHz through 48 kHz and back: {gain:.2} dB"
        );
    }
}
