//! The work after a recorded call (SPEC RC-1, RC-2): its mixed track encoded to MP3 into
//! the blob store, then every leg's track transcribed and labelled with its speaker.
//!
//! The queue is the store's `recordings` table: a row is added when recording starts,
//! and the worker takes rows whose call has ended. A row that was running when the
//! process died is simply taken again at the next start, so nothing is lost to a crash
//! or a restart. Results are stored events on the call's chat (`recording_ready`,
//! `transcript_ready`, `transcript_failed`); the search indexer adds the transcript's
//! lines from `transcript_ready`.
//!
//! Transcription runs on one dedicated thread, one job at a time, with at most half the
//! cores by default (`--whisper-threads`), so the media threads keep the rest; the
//! models are loaded on first use and kept.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use denwa_api::Bus;
use denwa_api::recordings::RecordingFiles;
use denwa_core::model::{CallRecordId, ChannelId, RecordingState, TranscriptLine, TranscriptState};
use denwa_core::{Event, EventKind};
use denwa_store::{RecordingWork, Store};
use denwa_transcribe::job::{Job, JobTrack, Progress};
use denwa_transcribe::mp3::{Mp3Options, encode_wav_file};
use denwa_transcribe::{
    BlobStore, HttpTranscriber, LocalBlobStore, Transcriber, WhisperConfig, WhisperTranscriber,
};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, watch};

/// Transcription attempts before a recording's transcript is given up as failed.
const MAX_ATTEMPTS: u32 = 3;
/// How long after its call ended a recording waits for its writer to finish the files
/// (the writer marks `tracks.json` complete); after that the files are read as they are.
const FINISH_GRACE: Duration = Duration::from_secs(20);
/// The worker looks at the queue at least this often (a missed bus event costs no more).
const POLL: Duration = Duration::from_secs(5);

/// Which speech-to-text backend the server uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TranscriberConfig {
    /// No transcripts (recordings still get their MP3).
    Off,
    /// Embedded Whisper: faster-whisper model folders under `models`.
    Whisper {
        models: PathBuf,
        /// Folder name of the model for English channels (`tiny.en`); the multilingual
        /// model is used when it is missing.
        english: String,
        /// Folder name of the multilingual model (`base`), for every other language.
        multilingual: String,
        threads: usize,
        beam_size: usize,
    },
    /// An OpenAI-compatible `POST /v1/audio/transcriptions` server.
    Http {
        url: String,
        model: String,
        api_key: Option<String>,
    },
}

/// Where recordings are and how they are transcribed.
#[derive(Debug, Clone)]
pub(crate) struct RecordingsConfig {
    /// The call tracks the media engine writes (`<data>/recordings`).
    pub(crate) tracks: PathBuf,
    /// The blob store's folder (`<data>/blobs`): the MP3s.
    pub(crate) blobs: PathBuf,
    pub(crate) transcriber: TranscriberConfig,
}

fn mp3_key(channel: ChannelId, call: CallRecordId) -> String {
    format!("channels/{channel}/calls/{call}/mixed.mp3")
}

/// The API's view of the MP3s: the blob store.
struct Mp3Files(Arc<dyn BlobStore>);

fn io_error(e: denwa_transcribe::Error) -> std::io::Error {
    match e {
        denwa_transcribe::Error::NotFound(key) => {
            std::io::Error::new(std::io::ErrorKind::NotFound, key)
        }
        other => std::io::Error::other(other.to_string()),
    }
}

impl RecordingFiles for Mp3Files {
    fn mp3_len(&self, channel: ChannelId, call: CallRecordId) -> std::io::Result<u64> {
        self.0
            .head(&mp3_key(channel, call))
            .map(|m| m.size)
            .map_err(io_error)
    }

    fn mp3_range(
        &self,
        channel: ChannelId,
        call: CallRecordId,
        range: Range<u64>,
    ) -> std::io::Result<Vec<u8>> {
        self.0
            .get_range(&mp3_key(channel, call), range)
            .map_err(io_error)
    }
}

/// Starts the worker; returns what the API reads MP3s through.
pub(crate) fn start(
    config: RecordingsConfig,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Arc<dyn RecordingFiles>> {
    let blobs: Arc<dyn BlobStore> = Arc::new(LocalBlobStore::new(&config.blobs)?);
    let transcriber = match &config.transcriber {
        TranscriberConfig::Off => None,
        other => Some(TranscribeThread::start(other.clone())?),
    };
    let worker = Worker {
        store,
        bus,
        blobs: blobs.clone(),
        tracks: config.tracks,
        transcriber,
        retry_at: HashMap::new(),
    };
    tokio::spawn(worker.run(stop));
    Ok(Arc::new(Mp3Files(blobs)))
}

struct Worker {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    blobs: Arc<dyn BlobStore>,
    tracks: PathBuf,
    transcriber: Option<TranscribeThread>,
    /// Recordings not to look at before then (files not finished, a failed attempt).
    retry_at: HashMap<CallRecordId, Instant>,
}

impl Worker {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut events = self.bus.subscribe();
        loop {
            let did = match self.store.recording_work(64).await {
                Ok(work) => {
                    let mut did = false;
                    for w in work {
                        if *stop.borrow() {
                            return;
                        }
                        if self
                            .retry_at
                            .get(&w.recording.call_id)
                            .is_some_and(|at| *at > Instant::now())
                        {
                            continue;
                        }
                        self.retry_at.remove(&w.recording.call_id);
                        did |= self.process(w).await;
                    }
                    did
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading the recordings queue");
                    false
                }
            };
            if did {
                continue;
            }
            let wait = self
                .retry_at
                .values()
                .min()
                .map_or(POLL, |at| at.saturating_duration_since(Instant::now()))
                .clamp(Duration::from_millis(200), POLL);
            tokio::select! {
                e = events.recv() => {
                    // A call that ended may have left a recording; anything else can wait.
                    if let Ok(e) = e && e.kind != EventKind::CallEnded {
                        continue;
                    }
                }
                () = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    fn publish(&self, event: Event) {
        self.bus.publish(event);
    }

    fn later(&mut self, call: CallRecordId, after: Duration) {
        self.retry_at.insert(call, Instant::now() + after);
    }

    /// Does the next step of one recording; `false` when it has to wait.
    async fn process(&mut self, w: RecordingWork) -> bool {
        let call = w.recording.call_id;
        let dir = self.tracks.join(&w.path);
        let index = read_index(&dir);
        let crashed = w.end_reason.as_deref() == Some("server_restarted");
        let waited = chrono::Utc::now() - w.ended_at;
        let finished = index.as_ref().is_some_and(|i| i.complete);
        if !finished
            && !crashed
            && waited < chrono::Duration::from_std(FINISH_GRACE).unwrap_or_default()
        {
            self.later(call, Duration::from_millis(250));
            return false;
        }
        if w.recording.mp3 == RecordingState::Pending {
            self.make_mp3(&w, &dir).await;
        }
        if matches!(
            w.recording.transcript,
            TranscriptState::Pending | TranscriptState::Running
        ) {
            self.transcribe(&w, &dir, index).await;
        }
        true
    }

    async fn make_mp3(&mut self, w: &RecordingWork, dir: &Path) {
        let (channel, call) = (w.recording.channel_id, w.recording.call_id);
        let mixed = dir.join("mixed.wav");
        let blobs = self.blobs.clone();
        let made = tokio::task::spawn_blocking(move || -> Result<(u64, u64), String> {
            let mut mp3 = Vec::new();
            let summary = encode_wav_file(&mixed, &mut mp3, Mp3Options::default())
                .map_err(|e| e.to_string())?;
            blobs
                .put(&mp3_key(channel, call), &mp3)
                .map_err(|e| e.to_string())?;
            let ms = summary.samples * 1000 / u64::from(summary.sample_rate.max(1));
            Ok((ms, summary.bytes))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the MP3 encoder panicked: {e}")));
        match made {
            Ok((ms, bytes)) => match self.store.recording_mp3_ready(call, ms, bytes).await {
                Ok(event) => {
                    tracing::info!(call, duration_ms = ms, bytes, "recording ready");
                    self.publish(event);
                }
                Err(e) => tracing::error!(call, error = %e, "cannot note the recording"),
            },
            Err(e) => {
                tracing::error!(call, error = %e, "cannot make the recording's MP3");
                if let Err(e) = self.store.recording_mp3_failed(call, &e).await {
                    tracing::error!(call, error = %e, "cannot note the failed recording");
                }
            }
        }
    }

    async fn transcribe(&mut self, w: &RecordingWork, dir: &Path, index: Option<TrackIndex>) {
        let call = w.recording.call_id;
        let Some(thread) = self.transcriber.clone() else {
            if let Err(e) = self.store.transcript_off(call).await {
                tracing::error!(call, error = %e, "cannot note the recording");
            }
            return;
        };
        let Some(index) = index else {
            self.fail(call, w.attempts + 1, "the recording has no tracks.json")
                .await;
            return;
        };
        // English channels get the English model with an English hint; every other
        // channel the multilingual model, which detects the language of each track (a
        // Japanese team also takes calls in English).
        let language = match self.store.channel(w.recording.channel_id).await {
            Ok(c) => (c.locale == "en").then_some(c.locale),
            Err(e) => {
                tracing::error!(call, error = %e, "cannot read the call's channel");
                self.later(call, POLL);
                return;
            }
        };
        let tracks: Vec<JobTrack> = index
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| JobTrack {
                speaker: i.to_string(),
                path: dir.join(&t.file),
            })
            .collect();
        let total = u32::try_from(tracks.len()).unwrap_or(u32::MAX);
        if let Err(e) = self.store.transcript_progress(call, 0, total, true).await {
            tracing::error!(call, error = %e, "cannot note the transcription");
        }
        let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
        let job = Job {
            call_id: call as u64,
            tracks,
            language: language.clone(),
        };
        let started = Instant::now();
        let answer = thread.submit(job, progress_tx);
        tokio::pin!(answer);
        let result = loop {
            tokio::select! {
                r = &mut answer => break r,
                Some(p) = progress_rx.recv() => {
                    let done = u32::try_from(p.tracks_done).unwrap_or(u32::MAX);
                    if let Err(e) = self.store.transcript_progress(call, done, total, false).await {
                        tracing::warn!(call, error = %e, "cannot note transcription progress");
                    }
                }
            }
        };
        match result {
            Ok(segments) => {
                let mut lines: Vec<TranscriptLine> = segments
                    .into_iter()
                    .filter_map(|s| {
                        let track = index.tracks.get(s.speaker.parse::<usize>().ok()?)?;
                        Some(TranscriptLine {
                            speaker: speaker_of(&track.speaker),
                            offset_ms: track.start_ms + s.start_ms,
                            end_ms: track.start_ms + s.end_ms,
                            text: s.text,
                        })
                    })
                    .filter(|l| !l.text.is_empty())
                    .collect();
                lines.sort_by_key(|l| l.offset_ms);
                match self
                    .store
                    .transcript_done(call, language.as_deref(), &lines)
                    .await
                {
                    Ok(event) => {
                        tracing::info!(
                            call,
                            lines = lines.len(),
                            seconds = started.elapsed().as_secs_f32(),
                            "transcript ready"
                        );
                        self.publish(event);
                    }
                    Err(e) => tracing::error!(call, error = %e, "cannot store the transcript"),
                }
            }
            Err(e) => self.fail(call, w.attempts + 1, &e).await,
        }
    }

    /// A failed attempt: retried later, given up after [`MAX_ATTEMPTS`].
    async fn fail(&mut self, call: CallRecordId, attempts: u32, error: &str) {
        let give_up = attempts >= MAX_ATTEMPTS;
        tracing::error!(call, attempts, give_up, error, "transcription failed");
        match self.store.transcript_failed(call, error, give_up).await {
            Ok(Some(event)) => self.publish(event),
            Ok(None) => self.later(call, Duration::from_secs(30) * attempts),
            Err(e) => tracing::error!(call, error = %e, "cannot note the failed transcription"),
        }
    }
}

/// `customer` stays; `staff-<id>` becomes the staff id; anything else is kept as it is.
fn speaker_of(label: &str) -> String {
    label.strip_prefix("staff-").unwrap_or(label).to_owned()
}

/// `tracks.json`, which the media engine's recorder keeps beside the tracks.
#[derive(Debug, Deserialize)]
struct TrackIndex {
    tracks: Vec<IndexedTrack>,
    /// Set when the recorder finished the files.
    #[serde(default)]
    complete: bool,
}

#[derive(Debug, Deserialize)]
struct IndexedTrack {
    file: String,
    speaker: String,
    start_ms: u64,
}

fn read_index(dir: &Path) -> Option<TrackIndex> {
    let text = std::fs::read_to_string(dir.join("tracks.json")).ok()?;
    match serde_json::from_str(&text) {
        Ok(index) => Some(index),
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "unreadable tracks.json");
            None
        }
    }
}

type Segments = Vec<denwa_transcribe::SpeakerSegment>;

struct Request {
    job: Job,
    progress: mpsc::UnboundedSender<Progress>,
    reply: oneshot::Sender<Result<Segments, String>>,
}

/// The transcription thread: owns the loaded models, runs one job at a time.
#[derive(Clone)]
struct TranscribeThread {
    tx: std::sync::mpsc::Sender<Request>,
}

impl TranscribeThread {
    fn start(config: TranscriberConfig) -> anyhow::Result<TranscribeThread> {
        let (tx, rx) = std::sync::mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("denwa-transcribe".into())
            .spawn(move || {
                let mut models: HashMap<String, Arc<dyn Transcriber>> = HashMap::new();
                while let Ok(req) = rx.recv() {
                    let result = transcriber_for(&config, &mut models, req.job.language.as_deref())
                        .and_then(|t| {
                            let progress = req.progress.clone();
                            denwa_transcribe::job::run(t.as_ref(), &req.job, |p| {
                                let _ = progress.send(p);
                            })
                            .map_err(|e| e.to_string())
                        });
                    let _ = req.reply.send(result);
                }
            })?;
        Ok(TranscribeThread { tx })
    }

    async fn submit(
        &self,
        job: Job,
        progress: mpsc::UnboundedSender<Progress>,
    ) -> Result<Segments, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request {
                job,
                progress,
                reply,
            })
            .map_err(|_| "the transcription thread stopped".to_owned())?;
        answer
            .await
            .unwrap_or_else(|_| Err("the transcription thread stopped".to_owned()))
    }
}

/// The transcriber for a language, loaded on first use.
fn transcriber_for(
    config: &TranscriberConfig,
    models: &mut HashMap<String, Arc<dyn Transcriber>>,
    language: Option<&str>,
) -> Result<Arc<dyn Transcriber>, String> {
    let name = match config {
        TranscriberConfig::Off => return Err("transcription is off".to_owned()),
        TranscriberConfig::Http { model, .. } => model.clone(),
        TranscriberConfig::Whisper {
            models: root,
            english,
            multilingual,
            ..
        } => {
            if language == Some("en") && root.join(english).join("model.bin").is_file() {
                english.clone()
            } else {
                multilingual.clone()
            }
        }
    };
    if let Some(t) = models.get(&name) {
        return Ok(t.clone());
    }
    let loaded: Arc<dyn Transcriber> = match config {
        TranscriberConfig::Off => return Err("transcription is off".to_owned()),
        TranscriberConfig::Http {
            url,
            model,
            api_key,
        } => Arc::new(HttpTranscriber::new(
            url,
            model,
            api_key.clone(),
            Duration::from_secs(600),
        )),
        TranscriberConfig::Whisper {
            models: root,
            threads,
            beam_size,
            ..
        } => {
            let started = Instant::now();
            let mut c = WhisperConfig::new(root.join(&name));
            c.threads = *threads;
            c.beam_size = *beam_size;
            let t = WhisperTranscriber::load(&c).map_err(|e| e.to_string())?;
            tracing::info!(model = %name, seconds = started.elapsed().as_secs_f32(), "Whisper model loaded");
            Arc::new(t)
        }
    };
    models.insert(name, loaded.clone());
    Ok(loaded)
}

/// The models folder a newcomer's `scripts/run.sh` fills, if it holds a model.
pub(crate) fn default_models(data_dir: &Path) -> Option<PathBuf> {
    let dir = data_dir.join("whisper");
    let any = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .any(|e| e.path().join("model.bin").is_file());
    any.then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakers() {
        assert_eq!(speaker_of("customer"), "customer");
        assert_eq!(speaker_of("staff-12"), "12");
        assert_eq!(speaker_of("dialog-3"), "dialog-3");
    }

    #[test]
    fn keys_are_blob_keys() {
        assert_eq!(mp3_key(3, 42), "channels/3/calls/42/mixed.mp3");
    }
}
