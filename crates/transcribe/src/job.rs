//! A call's transcription job: every leg's track, each labelled with who spoke on it.
//!
//! The media engine records each leg separately, so the speaker of every segment is
//! known exactly ("customer", a staff member) — no diarisation. The server persists
//! [`Job`]s (so they survive a restart), runs [`run`] on a worker thread, reports the
//! progress it is given, and stores the merged segments.

use std::path::PathBuf;

use crate::{Audio, Error, Transcriber};

/// One leg's recording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobTrack {
    /// Who spoke on this leg, as shown in the transcript ("customer", a staff id…).
    pub speaker: String,
    /// The leg's WAV track.
    pub path: PathBuf,
}

/// What to transcribe after a call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    /// The call this transcript belongs to.
    pub call_id: u64,
    /// One track per leg.
    pub tracks: Vec<JobTrack>,
    /// The channel's language (ISO 639-1), `None` to let the model detect it.
    pub language: Option<String>,
}

/// A segment and who said it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpeakerSegment {
    /// [`JobTrack::speaker`] of the leg it was heard on.
    pub speaker: String,
    /// Start, in milliseconds from the start of the recording.
    pub start_ms: u64,
    /// End, in milliseconds from the start of the recording.
    pub end_ms: u64,
    /// What was said.
    pub text: String,
}

/// How far a job is, reported after each track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Tracks done.
    pub tracks_done: usize,
    /// Tracks in the job.
    pub tracks_total: usize,
}

/// Transcribes every track of `job` with `transcriber` and returns all segments labelled
/// with their speaker, in time order (ties: in track order). `progress` is called after
/// each track. A track that cannot be read or transcribed fails the whole job, so the
/// server can retry it.
pub fn run(
    transcriber: &dyn Transcriber,
    job: &Job,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<SpeakerSegment>, Error> {
    let mut all = Vec::new();
    for (i, track) in job.tracks.iter().enumerate() {
        let audio = Audio::read_wav(&track.path)?;
        let segments = transcriber.transcribe(&audio, job.language.as_deref())?;
        all.extend(segments.into_iter().map(|s| SpeakerSegment {
            speaker: track.speaker.clone(),
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            text: s.text,
        }));
        progress(Progress {
            tracks_done: i + 1,
            tracks_total: job.tracks.len(),
        });
    }
    // Stable: equal start times keep track order.
    all.sort_by_key(|s| s.start_ms);
    Ok(all)
}
