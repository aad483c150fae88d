//! Whisper in-process through CTranslate2 (`ct2rs::sys::Whisper`), with this crate's
//! own front end ([`crate::mel`]) and decoder loop.
//!
//! The loop follows OpenAI's/faster-whisper's `transcribe` with timestamps: the track is
//! cut into 30 s windows starting where the voice-activity detector finds speech (silence
//! between regions is skipped, never decoded); each window is decoded with beam search
//! from the prompt `<|startoftranscript|>` (English-only models) or
//! `<|startoftranscript|><|lang|><|transcribe|>` (multilingual models, the language from
//! the hint or detected); the timestamp tokens in the output split it into segments and
//! say where the next window starts (after the last complete segment, or after the window
//! when it ended on a single timestamp). A window the model judges as no speech
//! (no-speech probability > 0.6 and average log-probability < −1) gives no segments.
//!
//! Not done (faster-whisper does them): conditioning on the previous window's text and
//! temperature fallback on repetitive output. Each window is decoded independently.

use std::path::{Path, PathBuf};

use ct2rs::sys::{ComputeType, Config, Device, StorageView, Whisper, WhisperOptions};

use crate::mel::{HOP, LogMel, N_FFT, WINDOW_FRAMES, WINDOW_SAMPLES};
use crate::tokens::Vocabulary;
use crate::{Audio, Error, SAMPLE_RATE, Segment, Transcriber};

/// Seconds per timestamp token step.
const TIME_PRECISION_MS: u64 = 20;
/// Samples per timestamp token step (two mel frames per encoder position).
const SAMPLES_PER_TIMESTAMP: usize = 2 * HOP;
const NO_SPEECH_THRESHOLD: f32 = 0.6;
const LOGPROB_THRESHOLD: f32 = -1.0;

/// How to run the embedded model.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperConfig {
    /// A faster-whisper (CTranslate2) model folder: `model.bin`, `config.json`,
    /// `vocabulary.txt`.
    pub model_dir: PathBuf,
    /// CPU threads for one transcription (0: CTranslate2 picks).
    pub threads: usize,
    /// Beam width (faster-whisper's default is 5; 1 is greedy and faster).
    pub beam_size: usize,
    /// Run the weights as 8-bit integers (faster-whisper's `compute_type="int8"`).
    pub int8: bool,
}

impl WhisperConfig {
    /// Defaults for a model folder: 4 threads, beam 5, int8.
    #[must_use]
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            threads: 4,
            beam_size: 5,
            int8: true,
        }
    }
}

/// The embedded Whisper transcriber. Loading takes a moment (tens of MB of weights);
/// build one per server and share it: it is `Send + Sync`, and concurrent calls queue
/// inside CTranslate2.
pub struct WhisperTranscriber {
    model: Whisper,
    vocab: Vocabulary,
    mel: LogMel,
    beam_size: usize,
    multilingual: bool,
}

impl std::fmt::Debug for WhisperTranscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperTranscriber")
            .field("model", &self.model)
            .field("beam_size", &self.beam_size)
            .finish_non_exhaustive()
    }
}

impl WhisperTranscriber {
    /// Loads the model folder.
    pub fn load(config: &WhisperConfig) -> Result<Self, Error> {
        let dir = &config.model_dir;
        if !dir.join("model.bin").is_file() {
            return Err(Error::Model(format!(
                "{} has no model.bin (a faster-whisper/CTranslate2 model folder)",
                dir.display()
            )));
        }
        let vocab = Vocabulary::load(dir)?;
        let ct2_config = Config {
            device: Device::CPU,
            compute_type: if config.int8 {
                ComputeType::INT8
            } else {
                ComputeType::DEFAULT
            },
            num_threads_per_replica: config.threads,
            ..Config::default()
        };
        let model =
            Whisper::new(dir, ct2_config).map_err(|e| Error::Model(format!("{dir:?}: {e}")))?;
        let mel = LogMel::new(model.n_mels());
        let multilingual = model.is_multilingual();
        Ok(Self {
            model,
            vocab,
            mel,
            beam_size: config.beam_size.max(1),
            multilingual,
        })
    }

    /// Whether the model knows languages other than English.
    #[must_use]
    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// The decoder prompt for a window.
    fn prompt(&self, features: &StorageView, language: Option<&str>) -> Result<Vec<String>, Error> {
        let mut prompt = vec!["<|startoftranscript|>".to_owned()];
        if !self.multilingual {
            return match language {
                None | Some("en") => Ok(prompt),
                Some(other) => Err(Error::Language {
                    language: other.to_owned(),
                    why: "the model is English-only; use a multilingual model",
                }),
            };
        }
        let token = match language {
            Some(code) => {
                let token = format!("<|{code}|>");
                if !self.vocab.contains(&token) {
                    return Err(Error::Language {
                        language: code.to_owned(),
                        why: "not in the model's vocabulary",
                    });
                }
                token
            }
            None => self
                .model
                .detect_language(features)
                .map_err(|e| Error::Inference(e.to_string()))?
                .first()
                .and_then(|langs| langs.first())
                .map(|best| best.language.clone())
                .ok_or_else(|| Error::Inference("no language detected".into()))?,
        };
        prompt.push(token);
        prompt.push("<|transcribe|>".to_owned());
        Ok(prompt)
    }

    /// Decodes one window starting at sample `seek`; returns its segments (times from the
    /// start of the track) and how many samples of the track it consumed.
    fn decode_window(
        &self,
        samples: &[f32],
        seek: usize,
        language: Option<&str>,
        out: &mut Vec<Segment>,
    ) -> Result<usize, Error> {
        let window_len = (samples.len() - seek).min(WINDOW_SAMPLES);
        let context_end = (seek + WINDOW_SAMPLES + N_FFT / 2).min(samples.len());
        let mut features = self.mel.window(&samples[seek..context_end]);
        let view = StorageView::new(
            &[1, self.mel.n_mels(), WINDOW_FRAMES],
            &mut features,
            Device::CPU,
        )
        .map_err(|e| Error::Inference(e.to_string()))?;
        let prompt = self.prompt(&view, language)?;
        let options = WhisperOptions {
            beam_size: self.beam_size,
            return_scores: true,
            return_no_speech_prob: true,
            ..WhisperOptions::default()
        };
        let result = self
            .model
            .generate(&view, &[prompt], &options)
            .map_err(|e| Error::Inference(e.to_string()))?;
        let Some(result) = result.into_iter().next() else {
            return Ok(window_len);
        };
        let ids = result.sequences_ids.first().cloned().unwrap_or_default();
        // faster-whisper's average log-probability from CTranslate2's length-normalised score.
        let score = result.scores.first().copied().unwrap_or(0.0);
        let avg_logprob = score * ids.len() as f32 / (ids.len() + 1) as f32;
        if result.no_speech_prob > NO_SPEECH_THRESHOLD && avg_logprob < LOGPROB_THRESHOLD {
            return Ok(window_len);
        }
        let offset_ms = seek as u64 * 1000 / u64::from(SAMPLE_RATE);
        let window_ms = window_len as u64 * 1000 / u64::from(SAMPLE_RATE);
        let parsed = split_on_timestamps(&ids, self.vocab.timestamp_begin);
        for (start, end, text_ids) in parsed.segments {
            let text = self.vocab.decode(text_ids).trim().to_owned();
            if text.is_empty() {
                continue;
            }
            let start_ms = offset_ms + (start as u64 * TIME_PRECISION_MS).min(window_ms);
            let end_ms =
                offset_ms + (end.unwrap_or(u32::MAX) as u64 * TIME_PRECISION_MS).min(window_ms);
            out.push(Segment {
                start_ms,
                end_ms: end_ms.max(start_ms),
                text,
            });
        }
        Ok(match parsed.resume_at {
            Some(position) => (position as usize * SAMPLES_PER_TIMESTAMP).clamp(1, window_len),
            None => window_len,
        })
    }
}

impl Transcriber for WhisperTranscriber {
    fn transcribe(&self, audio: &Audio, language: Option<&str>) -> Result<Vec<Segment>, Error> {
        let samples = audio.samples();
        let language = language
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "auto");
        let mut segments = Vec::new();
        let mut seek = 0;
        for region in crate::vad::speech_regions(samples) {
            seek = seek.max(region.start);
            while seek < region.end {
                seek += self.decode_window(samples, seek, language, &mut segments)?;
            }
        }
        Ok(segments)
    }
}

/// Segments of one window's output.
#[derive(Debug, PartialEq)]
struct Parsed<'a> {
    /// (start, end, text ids), times in timestamp steps from the window's start;
    /// `end` is `None` when the model gave no closing timestamp (to the window's end).
    segments: Vec<(u32, Option<u32>, &'a [usize])>,
    /// Where the next window starts, in timestamp steps; `None`: after this window.
    resume_at: Option<u32>,
}

/// Splits decoder output on timestamp tokens (ids from `ts_begin` up), the way OpenAI's
/// `transcribe` does: `<|a|> text <|b|><|b|> text <|c|>` → `[a, b) text`, `[b, c) text`.
fn split_on_timestamps(ids: &[usize], ts_begin: usize) -> Parsed<'_> {
    let is_ts = |id: usize| id >= ts_begin;
    let step = |id: usize| (id - ts_begin) as u32;
    let single_timestamp_ending =
        ids.len() >= 2 && !is_ts(ids[ids.len() - 2]) && is_ts(ids[ids.len() - 1]);
    let cuts: Vec<usize> = (1..ids.len())
        .filter(|&i| is_ts(ids[i]) && is_ts(ids[i - 1]))
        .collect();
    let mut segments = Vec::new();
    if cuts.is_empty() {
        // One segment; it ends at the last timestamp if there is one.
        let start = ids
            .first()
            .filter(|&&id| is_ts(id))
            .map_or(0, |&id| step(id));
        let end = ids.iter().rev().find(|&&id| is_ts(id)).map(|&id| step(id));
        let end = end.filter(|&e| e > start);
        segments.push((start, end, ids));
        return Parsed {
            segments,
            resume_at: None,
        };
    }
    let mut last = 0;
    let mut bounds = cuts.clone();
    if single_timestamp_ending {
        bounds.push(ids.len());
    }
    for cut in bounds {
        let slice = &ids[last..cut];
        if let (Some(&first), Some(&end)) = (slice.first(), slice.last()) {
            let start = if is_ts(first) { step(first) } else { 0 };
            let end = if is_ts(end) { Some(step(end)) } else { None };
            segments.push((start, end, slice));
        }
        last = cut;
    }
    let resume_at = if single_timestamp_ending {
        None
    } else {
        // Resume after the last complete segment; the rest is decoded again next window.
        Some(step(ids[last - 1]))
    };
    Parsed {
        segments,
        resume_at,
    }
}

/// The model folder in `$DENWA_WHISPER_MODELS/<name>`, if that variable is set.
#[must_use]
pub fn model_from_env(name: &str) -> Option<PathBuf> {
    let root = std::env::var_os("DENWA_WHISPER_MODELS")?;
    Some(Path::new(&root).join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: usize = 1000;

    #[test]
    fn splits_segments_and_resumes_after_the_last_complete_one() {
        // <|0.00|> a b <|1.00|><|1.00|> c <|2.00|><|2.00|> d (cut off)
        let ids = [TS, 1, 2, TS + 50, TS + 50, 3, TS + 100, TS + 100, 4];
        let p = split_on_timestamps(&ids, TS);
        assert_eq!(
            p.segments,
            vec![(0, Some(50), &ids[0..4]), (50, Some(100), &ids[4..7])]
        );
        assert_eq!(p.resume_at, Some(100));
    }

    #[test]
    fn single_timestamp_ending_consumes_the_window() {
        let ids = [TS, 1, TS + 50, TS + 50, 2, TS + 80];
        let p = split_on_timestamps(&ids, TS);
        assert_eq!(
            p.segments,
            vec![(0, Some(50), &ids[0..3]), (50, Some(80), &ids[3..6])]
        );
        assert_eq!(p.resume_at, None);
    }

    #[test]
    fn no_pairs_is_one_segment() {
        let ids = [TS + 10, 1, 2, TS + 60];
        let p = split_on_timestamps(&ids, TS);
        assert_eq!(p.segments, vec![(10, Some(60), &ids[..])]);
        let ids = [1, 2];
        assert_eq!(
            split_on_timestamps(&ids, TS).segments,
            vec![(0, None, &ids[..])]
        );
    }
}
