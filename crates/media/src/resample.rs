//! Rational-ratio polyphase resampler (Kaiser-windowed sinc), for 8 kHz ↔ 16 kHz
//! (G.711 legs) and 16 kHz ↔ 48 kHz (Opus legs).
//!
//! Why not `rubato`: its API is built around `f32` channel buffers and
//! `process_into_buffer` calls with its own frame-size rules; our path is one
//! mono `i16` frame per 20 ms, so a 60-line polyphase FIR with a fixed ratio,
//! no allocation per call, and a filter we test for passband/stopband here is
//! simpler and at least as fast.
//!
//! The filter's −6 dB point is at half the lower of the two rates, with a
//! transition band of ±15 % around it (for 8 ↔ 16 kHz: pass to 3.4 kHz, stop from
//! 4.6 kHz, which covers the 300–3400 Hz telephone band) and ≥ 60 dB stopband.

use std::f64::consts::PI;

/// Resamples one mono stream between two fixed rates, frame by frame.
#[derive(Debug, Clone)]
pub struct Resampler {
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
    /// direction when the leg is set up (it allocates its filter here, never later).
    ///
    /// # Panics
    /// Never for the rates this crate uses; rates of 0 are treated as 1.
    #[must_use]
    pub fn new(from_hz: u32, to_hz: u32) -> Self {
        let (from, to) = (from_hz.max(1) as usize, to_hz.max(1) as usize);
        let g = gcd(from, to);
        let (up, down) = (to / g, from / g);
        if up == 1 && down == 1 {
            return Self {
                up,
                down,
                taps: 1,
                coeffs: vec![1.0],
                buf: Vec::new(),
                pos: 0,
            };
        }
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

    /// Output samples produced for `input_len` input samples (exact for 20 ms frames
    /// of the supported rates).
    #[must_use]
    pub fn output_len(&self, input_len: usize) -> usize {
        input_len * self.up / self.down
    }

    /// How many output samples the filter delays the signal by (half its length): the
    /// output sample `k + delay()` belongs to the input instant of output sample `k`.
    #[must_use]
    pub fn delay(&self) -> usize {
        (self.taps * self.up).saturating_sub(1) / 2 / self.down
    }

    /// Resamples one frame. Call once per frame in stream order; state carries over
    /// between calls. Writes at most `output.len()` samples and returns how many.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        if self.up == 1 && self.down == 1 {
            let n = input.len().min(output.len());
            output[..n].copy_from_slice(&input[..n]);
            return n;
        }
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
            let acc = dot(c, x);
            // Round half away from zero; `as` saturates to the i16 range. (`f32::round`
            // is a library call on baseline x86-64 and cost more than the filter.)
            output[written] = (acc + 0.5f32.copysign(acc)) as i16;
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
