//! Transcription by an OpenAI-compatible server: `POST {base}/v1/audio/transcriptions`
//! with a `multipart/form-data` body (`file` = the track as 16 kHz 16-bit WAV, `model`,
//! `language`, `response_format=verbose_json`), answered with `{"text", "segments":
//! [{"start", "end", "text"}…]}` (seconds). OpenAI, faster-whisper-server / speaches,
//! whisper.cpp's server and vLLM speak it, for teams that run a bigger model elsewhere.
//!
//! Only the speech regions are sent ([`crate::vad`]), in pieces of at most
//! [`HttpTranscriber::MAX_PIECE_SECONDS`] (servers cap uploads: OpenAI at 25 MB), cut in
//! the longest pause inside the last minute of each piece; the segments' times are moved
//! back to the track's timeline.

use std::time::Duration;

use serde::Deserialize;

use crate::{Audio, Error, SAMPLE_RATE, Segment, Transcriber};

/// A client for one server and model.
#[derive(Debug)]
pub struct HttpTranscriber {
    url: String,
    model: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

#[derive(Deserialize)]
struct VerboseJson {
    #[serde(default)]
    text: String,
    segments: Option<Vec<JsonSegment>>,
}

#[derive(Deserialize)]
struct JsonSegment {
    start: f64,
    end: f64,
    text: String,
}

impl HttpTranscriber {
    /// Longest piece sent in one request, in seconds (10 min of 16-bit 16 kHz ≈ 19 MB).
    pub const MAX_PIECE_SECONDS: usize = 600;

    /// A client for `base_url` (e.g. `https://api.openai.com` or `http://asr:8000`; the
    /// path `/v1/audio/transcriptions` is appended) asking for `model` (e.g. `whisper-1`),
    /// with an optional bearer token. Requests time out after `timeout`.
    #[must_use]
    pub fn new(base_url: &str, model: &str, api_key: Option<String>, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            url: format!("{}/v1/audio/transcriptions", base_url.trim_end_matches('/')),
            model: model.to_owned(),
            api_key,
            agent,
        }
    }

    fn request(&self, samples: &[f32], language: Option<&str>) -> Result<Vec<Segment>, Error> {
        let boundary = boundary();
        let mut body = Vec::with_capacity(samples.len() * 2 + 1024);
        let mut field = |name: &str, value: &str| {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        };
        field("model", &self.model);
        field("response_format", "verbose_json");
        if let Some(language) = language {
            field("language", language);
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"audio.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
            )
            .as_bytes(),
        );
        write_wav(samples, &mut body);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

        let mut request = self.agent.post(&self.url).header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let response = request
            .send(&body[..])
            .map_err(|e| Error::Http(format!("{}: {e}", self.url)))?;
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .read_to_string()
            .map_err(|e| Error::Http(format!("{}: reading the answer: {e}", self.url)))?;
        if status != 200 {
            let text: String = text.chars().take(300).collect();
            return Err(Error::Http(format!(
                "{} answered {status}: {text}",
                self.url
            )));
        }
        let answer: VerboseJson = serde_json::from_str(&text)
            .map_err(|e| Error::Http(format!("{}: not verbose_json ({e})", self.url)))?;
        let duration_ms = samples.len() as u64 * 1000 / u64::from(SAMPLE_RATE);
        let to_ms = |s: f64| ((s.max(0.0) * 1000.0).round() as u64).min(duration_ms);
        let segments = match answer.segments {
            Some(segments) => segments
                .into_iter()
                .map(|s| Segment {
                    start_ms: to_ms(s.start),
                    end_ms: to_ms(s.end.max(s.start)),
                    text: s.text.trim().to_owned(),
                })
                .collect(),
            // A server that ignores verbose_json: the whole piece is one segment.
            None => vec![Segment {
                start_ms: 0,
                end_ms: duration_ms,
                text: answer.text.trim().to_owned(),
            }],
        };
        Ok(segments
            .into_iter()
            .filter(|s| !s.text.is_empty())
            .collect())
    }
}

impl Transcriber for HttpTranscriber {
    fn transcribe(&self, audio: &Audio, language: Option<&str>) -> Result<Vec<Segment>, Error> {
        let samples = audio.samples();
        let language = language
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "auto");
        let max = Self::MAX_PIECE_SECONDS * SAMPLE_RATE as usize;
        let mut out = Vec::new();
        for region in crate::vad::speech_regions(samples) {
            let mut start = region.start;
            while start < region.end {
                let end = cut_point(samples, start, region.end, max);
                let offset_ms = start as u64 * 1000 / u64::from(SAMPLE_RATE);
                for s in self.request(&samples[start..end], language)? {
                    out.push(Segment {
                        start_ms: s.start_ms + offset_ms,
                        end_ms: s.end_ms + offset_ms,
                        text: s.text,
                    });
                }
                start = end;
            }
        }
        Ok(out)
    }
}

/// End of the piece starting at `start`: `end` if it fits in `max` samples, else the
/// quietest 100 ms in the last minute before `start + max`.
fn cut_point(samples: &[f32], start: usize, end: usize, max: usize) -> usize {
    if end - start <= max {
        return end;
    }
    let hard = start + max;
    let step = SAMPLE_RATE as usize / 10;
    let from = hard
        .saturating_sub(60 * SAMPLE_RATE as usize)
        .max(start + step);
    (from..hard.saturating_sub(step))
        .step_by(step)
        .min_by(|&a, &b| {
            let e = |i: usize| samples[i..i + step].iter().map(|s| s * s).sum::<f32>();
            e(a).total_cmp(&e(b))
        })
        .map_or(hard, |quiet| quiet + step / 2)
}

/// A multipart boundary: 32 random-looking hex digits (no dependency on a RNG crate;
/// the clock and the stack address differ per call).
fn boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let a = h.finish();
    h.write_u64(a);
    format!("denwa-{a:016x}{:016x}", h.finish())
}

/// 16-bit PCM mono WAV at 16 kHz.
pub(crate) fn write_wav(samples: &[f32], out: &mut Vec<u8>) {
    let data = (samples.len() * 2) as u32;
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
}
