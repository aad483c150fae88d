//! Whisper's log-mel spectrogram, computed here so the model folder needs no
//! `preprocessor_config.json` and the audio is never copied into Python-shaped arrays.
//!
//! Same numbers as OpenAI's `whisper.audio.log_mel_spectrogram`: 25 ms periodic Hann
//! window (400 samples) every 10 ms (160 samples), centred frames with reflect padding,
//! power spectrum, Slaney-style mel filter bank (librosa's `mel(sr=16000, n_fft=400)`,
//! area-normalised) up to 8 kHz, `log10(max(x, 1e-10))`, clamped to 8 (80 dB) below the
//! window's maximum, then `(x + 4) / 4`.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::SAMPLE_RATE;

/// FFT size (25 ms).
pub const N_FFT: usize = 400;
/// Hop between frames (10 ms).
pub const HOP: usize = 160;
/// Samples in one Whisper window (30 s).
pub const WINDOW_SAMPLES: usize = 30 * SAMPLE_RATE as usize;
/// Frames in one Whisper window.
pub const WINDOW_FRAMES: usize = WINDOW_SAMPLES / HOP;

const BINS: usize = N_FFT / 2 + 1;

/// Computes log-mel features for 30-second windows. Build once per model (it plans the
/// FFT and the filter bank), then call [`LogMel::window`] per window.
pub struct LogMel {
    n_mels: usize,
    /// `n_mels` × `BINS`, row-major.
    filters: Vec<f32>,
    hann: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("n_mels", &self.n_mels)
            .finish()
    }
}

impl LogMel {
    /// A front end with `n_mels` mel bands (80 for Whisper up to large-v2, 128 for large-v3).
    #[must_use]
    pub fn new(n_mels: usize) -> Self {
        let hann = (0..N_FFT)
            .map(|i| {
                let x = 2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64;
                (0.5 - 0.5 * x.cos()) as f32
            })
            .collect();
        Self {
            n_mels,
            filters: mel_filters(n_mels),
            hann,
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
        }
    }

    /// Mel bands per frame.
    #[must_use]
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Features of one window: `audio` (30 s of 16 kHz samples, plus up to `N_FFT / 2`
    /// more as context for the last frames; shorter is padded with silence, as Whisper
    /// does) → `n_mels` × [`WINDOW_FRAMES`] values, row-major
    /// (band by band), the layout CTranslate2 takes as `[1, n_mels, 3000]`.
    #[must_use]
    pub fn window(&self, audio: &[f32]) -> Vec<f32> {
        let audio = &audio[..audio.len().min(WINDOW_SAMPLES + N_FFT / 2)];
        let at = |i: isize| -> f32 {
            // Reflect padding of N_FFT/2 at the start (centred frames); the end of the
            // window is zero padding (the 30 s of silence Whisper appends), so beyond
            // the audio every sample is 0.
            let i = if i < 0 { -i } else { i } as usize;
            audio.get(i).copied().unwrap_or(0.0)
        };
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = [0f32; BINS];
        let mut out = vec![0f32; self.n_mels * WINDOW_FRAMES];
        let half = (N_FFT / 2) as isize;
        for frame in 0..WINDOW_FRAMES {
            let start = (frame * HOP) as isize - half;
            for (k, slot) in input.iter_mut().enumerate() {
                *slot = at(start + k as isize) * self.hann[k];
            }
            // Lengths come from the planner itself, so this cannot fail.
            if self
                .fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for m in 0..self.n_mels {
                let row = &self.filters[m * BINS..(m + 1) * BINS];
                let e: f32 = row.iter().zip(&power).map(|(w, p)| w * p).sum();
                out[m * WINDOW_FRAMES + frame] = e.max(1e-10).log10();
            }
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for v in &mut out {
            *v = (v.max(max - 8.0) + 4.0) / 4.0;
        }
        out
    }
}

fn hz_to_mel(f: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= MIN_LOG_HZ {
        min_log_mel + (f / MIN_LOG_HZ).ln() / logstep
    } else {
        f / F_SP
    }
}

fn mel_to_hz(m: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        MIN_LOG_HZ * (logstep * (m - min_log_mel)).exp()
    } else {
        m * F_SP
    }
}

/// librosa.filters.mel(sr=16000, n_fft=400, n_mels, fmin=0, fmax=8000, htk=False,
/// norm="slaney").
fn mel_filters(n_mels: usize) -> Vec<f32> {
    let sr = f64::from(SAMPLE_RATE);
    let fft_freqs: Vec<f64> = (0..BINS).map(|i| i as f64 * sr / N_FFT as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut filters = vec![0f32; n_mels * BINS];
    for m in 0..n_mels {
        let (left, centre, right) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (right - left);
        for (b, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - left) / (centre - left);
            let upper = (right - f) / (right - centre);
            filters[m * BINS + b] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_bank_matches_librosa_shape() {
        let f = mel_filters(80);
        // Every band has weight, the bands tile 0..8 kHz in order of their peaks.
        let peaks: Vec<usize> = (0..80)
            .map(|m| {
                let row = &f[m * BINS..(m + 1) * BINS];
                row.iter()
                    .enumerate()
                    .fold((0, 0f32), |a, (i, &v)| if v > a.1 { (i, v) } else { a })
                    .0
            })
            .collect();
        assert!(peaks.windows(2).all(|w| w[0] <= w[1]));
        // librosa: filters[0, 1] = 0.02486259 (slaney norm), filters[79, 200] = 0.
        assert!((f[1] - 0.024_862_59).abs() < 1e-5, "{}", f[1]);
        assert_eq!(f[79 * BINS + 200], 0.0);
    }

    #[test]
    fn tone_lands_in_its_band_and_silence_is_floor() {
        let mel = LogMel::new(80);
        // 1 s of 1 kHz, then the rest of the window is padding.
        let tone: Vec<f32> = (0..16_000)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
            .collect();
        let x = mel.window(&tone);
        assert_eq!(x.len(), 80 * WINDOW_FRAMES);
        let frame = 50;
        let band = (0..80)
            .max_by(|&a, &b| x[a * WINDOW_FRAMES + frame].total_cmp(&x[b * WINDOW_FRAMES + frame]))
            .unwrap_or(0);
        let centre = mel_to_hz(hz_to_mel(0.0) + (hz_to_mel(8000.0)) * (band + 1) as f64 / 81.0);
        assert!(
            (900.0..1100.0).contains(&centre),
            "band {band} at {centre} Hz"
        );
        // The padded tail sits at the floor: (max - 8 + 4) / 4.
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let tail = x[10 * WINDOW_FRAMES + 2000];
        assert!((tail - (max - 2.0)).abs() < 1e-4, "tail {tail}, max {max}");
    }
}
