//! Hold music (SPEC HD-1): caller-supplied PCM or a built-in generated pattern.

use std::sync::{Arc, OnceLock};

use crate::resample::Resampler;
use crate::{Error, FRAME_SAMPLES, INTERNAL_RATE};

/// A looping hold-music source at the 16 kHz internal rate. The samples are shared:
/// every room playing the same file (or the built-in pattern) holds one `Arc`.
#[derive(Clone)]
pub struct HoldMusic {
    samples: Arc<[i16]>,
    position: usize,
}

impl std::fmt::Debug for HoldMusic {
    // The length, not minutes of samples in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoldMusic")
            .field("samples", &self.samples.len())
            .field("position", &self.position)
            .finish()
    }
}

impl Default for HoldMusic {
    fn default() -> Self {
        Self::builtin()
    }
}

impl HoldMusic {
    /// Music from caller-supplied mono PCM at 16 kHz, played in a loop.
    pub fn from_pcm(samples: Vec<i16>) -> Result<Self, Error> {
        Self::shared(samples.into())
    }

    /// Music from mono PCM at 16 kHz that other rooms share (a channel's hold-music file,
    /// decoded once). Cheap: the samples are not copied.
    pub fn shared(samples: Arc<[i16]>) -> Result<Self, Error> {
        if samples.is_empty() {
            return Err(Error::EmptyHoldMusic);
        }
        Ok(Self {
            samples,
            position: 0,
        })
    }

    /// Music from mono PCM at `sample_rate` Hz (8, 16, 24, 32, 44.1 or 48 kHz…),
    /// converted once to the 16 kHz internal rate. Call when loading a hold-music
    /// file; it allocates.
    pub fn from_pcm_at(samples: &[i16], sample_rate: u32) -> Result<Self, Error> {
        if samples.is_empty() || sample_rate == 0 {
            return Err(Error::EmptyHoldMusic);
        }
        Self::from_pcm(to_internal_rate(samples, sample_rate))
    }

    /// The built-in pattern: a soft arpeggio (C–Am–F–G, four notes per chord) of
    /// sine tones with a light second harmonic, each note with an attack/decay
    /// envelope, around −20 dBFS. Generated once per process, shared by all rooms.
    #[must_use]
    pub fn builtin() -> Self {
        static BUILTIN: OnceLock<Arc<[i16]>> = OnceLock::new();
        Self {
            samples: BUILTIN.get_or_init(|| generate_arpeggio().into()).clone(),
            position: 0,
        }
    }

    /// Fills `frame` with the next 20 ms of music. Call once per tick while the
    /// customer is on hold; the position only advances while someone listens.
    pub fn next_frame(&mut self, frame: &mut [i16; FRAME_SAMPLES]) {
        for s in frame.iter_mut() {
            *s = self.samples[self.position];
            self.position = (self.position + 1) % self.samples.len();
        }
    }
}

/// Converts mono PCM at `sample_rate` Hz to the 16 kHz internal rate (a copy when it
/// already is). Call when loading a file, never on the 20 ms path: it allocates.
#[must_use]
pub fn to_internal_rate(samples: &[i16], sample_rate: u32) -> Vec<i16> {
    if sample_rate == INTERNAL_RATE || samples.is_empty() || sample_rate == 0 {
        return samples.to_vec();
    }
    let mut resampler = Resampler::new(sample_rate, INTERNAL_RATE);
    let want = resampler.output_len(samples.len());
    let mut out = Vec::with_capacity(want + FRAME_SAMPLES);
    // In chunks (the resampler buffers its input as f32), then a little silence to
    // flush the filter's delay so the last sound is not cut off.
    let chunk = sample_rate as usize / 10 + 1;
    let flush = vec![0i16; chunk];
    let mut scratch = vec![0i16; resampler.output_len(chunk) + 2];
    for part in samples.chunks(chunk).chain(std::iter::once(&flush[..])) {
        let n = resampler.process(part, &mut scratch);
        out.extend_from_slice(&scratch[..n]);
    }
    // The filter delays its output by half its length: drop that lead-in.
    let delay = resampler.delay();
    out.drain(..delay.min(out.len()));
    out.truncate(want);
    out
}

fn generate_arpeggio() -> Vec<i16> {
    // MIDI note numbers: C major, A minor, F major, G major, each as root-third-fifth-octave.
    const CHORDS: [[u8; 4]; 4] = [
        [60, 64, 67, 72],
        [57, 60, 64, 69],
        [53, 57, 60, 65],
        [55, 59, 62, 67],
    ];
    let rate = f64::from(INTERNAL_RATE);
    let note_len = (0.3 * rate) as usize;
    let mut out = Vec::with_capacity(note_len * 16);
    for chord in CHORDS {
        for note in chord {
            let freq = 440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0);
            for i in 0..note_len {
                let t = i as f64 / rate;
                let attack = (t / 0.02).min(1.0);
                let decay = (-t * 6.0).exp();
                let phase = 2.0 * std::f64::consts::PI * freq * t;
                let tone = phase.sin() + 0.2 * (2.0 * phase).sin();
                out.push((3000.0 * attack * decay * tone) as i16);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn music_at_other_rates_is_converted_to_16_khz() {
        let rate = 48_000;
        let tone: Vec<i16> = (0..rate)
            .map(|i| {
                (5000.0
                    * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / f64::from(rate)).sin())
                    as i16
            })
            .collect();
        let mut music = HoldMusic::from_pcm_at(&tone, rate).unwrap();
        assert_eq!(music.samples.len(), 16_000);
        let mut frame = [0i16; FRAME_SAMPLES];
        for _ in 0..10 {
            music.next_frame(&mut frame);
        }
        // 440 Hz at 16 kHz: about 36.4 samples per period; the peak level is kept.
        let peak = frame.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((4700..=5100).contains(&peak), "peak {peak}");
        assert!(HoldMusic::from_pcm_at(&[], 8000).is_err());
        assert!(HoldMusic::from_pcm(Vec::new()).is_err());
    }

    #[test]
    fn converted_files_keep_their_length_and_timing() {
        for rate in [8_000u32, 22_050, 44_100, 48_000] {
            // A 1 s file with a short burst at 0.5 s.
            let mut file = vec![0i16; rate as usize];
            let at = rate as usize / 2;
            for (i, s) in file[at..at + rate as usize / 200].iter_mut().enumerate() {
                *s = if i % 2 == 0 { 8000 } else { -8000 } / 4 + 6000;
            }
            let out = to_internal_rate(&file, rate);
            assert_eq!(out.len(), 16_000, "{rate} Hz");
            let peak = out
                .iter()
                .enumerate()
                .max_by_key(|(_, s)| s.unsigned_abs())
                .map(|(i, _)| i)
                .unwrap();
            assert!((8000..8100).contains(&peak), "{rate} Hz: burst at {peak}");
        }
        assert_eq!(to_internal_rate(&[1, 2, 3], 16_000), vec![1, 2, 3]);
    }

    #[test]
    fn builtin_music_loops_and_is_not_silent() {
        let mut music = HoldMusic::builtin();
        let len = music.samples.len();
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut energy = 0u64;
        for _ in 0..(len / FRAME_SAMPLES + 5) {
            music.next_frame(&mut frame);
            energy += frame
                .iter()
                .map(|&s| u64::from(s.unsigned_abs()))
                .sum::<u64>();
        }
        assert!(energy > 0);
        assert!(music.position < len);
    }
}
