//! What happens to a call's recording after the call (SPEC RC-1, RC-2).
//!
//! - [`Transcriber`]: one mono track in, timed text segments out. Two implementations:
//!   [`WhisperTranscriber`] runs Whisper in-process through CTranslate2 (`ct2rs`, models in
//!   the faster-whisper format) with this crate's own log-mel front end ([`mel`]) and an
//!   energy voice-activity detector ([`vad`]) that skips silence; [`HttpTranscriber`] sends
//!   the audio to an OpenAI-compatible `POST /v1/audio/transcriptions` server.
//! - [`job`]: a call's transcription job — every leg's track transcribed and labelled with
//!   its speaker (customer, each staff member), merged in time order. The server persists
//!   and drives the jobs; this crate does the work.
//! - [`mp3`]: the mixed track encoded to MP3 (LAME) for playback, streaming, in bounded memory.
//! - [`blob`]: the [`BlobStore`] recordings live in, with a local data-dir implementation.
//! - [`wav`]: reads the server's WAV tracks, including ones cut short by a crash.
//!
//! Everything here is blocking and CPU-bound: an async caller runs it on
//! `spawn_blocking` or a dedicated thread.

pub mod blob;
mod error;
pub mod http;
pub mod job;
pub mod mel;
pub mod mp3;
mod tokens;
pub mod vad;
pub mod wav;
pub mod whisper;

pub use blob::{BlobMeta, BlobStore, LocalBlobStore};
pub use error::Error;
pub use http::HttpTranscriber;
pub use job::{Job, JobTrack, SpeakerSegment};
pub use whisper::{WhisperConfig, WhisperTranscriber};

/// The sample rate every transcriber takes (Whisper's).
pub const SAMPLE_RATE: u32 = 16_000;

/// One mono track ready for transcription: 16 kHz samples in `[-1, 1]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audio {
    samples: Vec<f32>,
}

impl Audio {
    /// Audio from 16-bit PCM at `sample_rate` (resampled to 16 kHz if needed).
    #[must_use]
    pub fn from_i16(samples: &[i16], sample_rate: u32) -> Self {
        let samples = if sample_rate == SAMPLE_RATE {
            samples.to_vec()
        } else {
            resample(samples, sample_rate)
        };
        Self {
            samples: samples.iter().map(|&s| f32::from(s) / 32768.0).collect(),
        }
    }

    /// Audio from float samples in `[-1, 1]` at `sample_rate` (resampled to 16 kHz if needed).
    #[must_use]
    pub fn from_f32(samples: &[f32], sample_rate: u32) -> Self {
        if sample_rate == SAMPLE_RATE {
            return Self {
                samples: samples.iter().map(|s| s.clamp(-1.0, 1.0)).collect(),
            };
        }
        let pcm: Vec<i16> = samples
            .iter()
            .map(|s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .collect();
        Self::from_i16(&pcm, sample_rate)
    }

    /// Reads a WAV track (see [`wav::WavReader`]) and converts it to 16 kHz mono.
    pub fn read_wav(path: &std::path::Path) -> Result<Self, Error> {
        let mut reader = wav::WavReader::open(path)?;
        let rate = reader.sample_rate();
        let mut pcm = Vec::new();
        let mut block = vec![0i16; 16_384];
        loop {
            let n = reader.read_samples(&mut block)?;
            if n == 0 {
                break;
            }
            pcm.extend_from_slice(&block[..n]);
        }
        Ok(Self::from_i16(&pcm, rate))
    }

    /// The 16 kHz samples.
    #[must_use]
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Duration in milliseconds.
    #[must_use]
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / u64::from(SAMPLE_RATE)
    }
}

fn resample(samples: &[i16], from_hz: u32) -> Vec<i16> {
    let mut resampler = denwa_media::resample::Resampler::new(from_hz, SAMPLE_RATE);
    let mut out = Vec::with_capacity(resampler.output_len(samples.len()) + 16);
    // Frames of 20 ms at the input rate, the shape the resampler is built for.
    let frame = (from_hz as usize / 50).max(1);
    let mut buf = vec![0i16; resampler.output_len(frame) + 16];
    for chunk in samples.chunks(frame) {
        let n = resampler.process(chunk, &mut buf);
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// A stretch of speech and what was said in it, times from the start of the track.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// Start, in milliseconds from the start of the track.
    pub start_ms: u64,
    /// End, in milliseconds from the start of the track.
    pub end_ms: u64,
    /// The words, trimmed.
    pub text: String,
}

/// Speech to text for one mono track.
pub trait Transcriber: Send + Sync {
    /// Transcribes `audio`. `language` is an ISO 639-1 hint (`"en"`, `"ja"`) or `None` to
    /// let the model decide. Returns the segments in time order; silence gives none.
    fn transcribe(&self, audio: &Audio, language: Option<&str>) -> Result<Vec<Segment>, Error>;
}
