//! A channel's own audio files (SPEC HD-1, IN-5): the announcement callers who are not
//! answered hear, and the hold music. Managers upload a WAV file; it is checked (RIFF/
//! WAVE, 16-bit PCM, mono or stereo, at most [`MAX_AUDIO_BYTES`] and
//! [`MAX_AUDIO_SECONDS`]) and kept as sent in `DATA_DIR/channels/<cid>/audio/<kind>.wav`,
//! where the call service reads it (decoded once per file version).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use denwa_core::model::ChannelId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, StaffSession};

/// The largest audio file accepted, in bytes (a 5-minute 16 kHz mono file is 9.6 MB).
pub const MAX_AUDIO_BYTES: usize = 10 * 1024 * 1024;
/// The longest audio file accepted.
pub const MAX_AUDIO_SECONDS: u64 = 300;

/// Which of a channel's audio files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AudioKind {
    /// Played to a caller who is not answered (closed, nobody available, nobody
    /// answered) before the call is refused.
    Announcement,
    /// Played to the customer on hold, instead of the built-in pattern.
    HoldMusic,
}

impl AudioKind {
    /// The name in paths and file names: `announcement`, `hold-music`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AudioKind::Announcement => "announcement",
            AudioKind::HoldMusic => "hold-music",
        }
    }
}

/// Where channels' audio files live: `<root>/<cid>/audio/<kind>.wav`.
#[derive(Debug, Clone)]
pub struct ChannelAudio {
    root: PathBuf,
}

impl ChannelAudio {
    /// Files under `root` (the server passes `DATA_DIR/channels`).
    pub fn new(root: impl Into<PathBuf>) -> ChannelAudio {
        ChannelAudio { root: root.into() }
    }

    /// The file of `kind` for `channel` (it may not exist).
    #[must_use]
    pub fn path(&self, channel: ChannelId, kind: AudioKind) -> PathBuf {
        self.root
            .join(channel.to_string())
            .join("audio")
            .join(format!("{}.wav", kind.as_str()))
    }
}

/// An audio file as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct AudioInfo {
    /// `announcement` or `hold-music`.
    pub kind: AudioKind,
    /// Samples per second of the file.
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo; calls hear both channels mixed).
    pub channels: u16,
    /// Length in milliseconds.
    pub duration_ms: u64,
    /// File size in bytes.
    pub bytes: usize,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_audio, put_audio, delete_audio))
        // Uploads are larger than the JSON routes' limit; one byte more than the
        // largest file, so a larger one is refused here and not read to the end.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_AUDIO_BYTES + 1))
}

fn storage(state: &AppState) -> Result<&ChannelAudio, ApiError> {
    state.audio.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_audio_storage",
            "this server keeps no audio files",
        )
    })
}

/// Checks an uploaded file: what [`denwa_media::read_wav`] accepts, within the limits.
fn check(kind: AudioKind, body: &[u8]) -> Result<AudioInfo, ApiError> {
    if body.len() > MAX_AUDIO_BYTES {
        return Err(too_large());
    }
    let audio = denwa_media::read_wav(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_audio",
            format!("{e} (upload a WAV file of 16-bit PCM, mono or stereo)"),
        )
    })?;
    let duration = audio.duration();
    if duration > Duration::from_secs(MAX_AUDIO_SECONDS) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "audio_too_long",
            format!(
                "the audio is {} s long; at most {MAX_AUDIO_SECONDS} s",
                duration.as_secs()
            ),
        ));
    }
    Ok(AudioInfo {
        kind,
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        duration_ms: duration.as_millis() as u64,
        bytes: body.len(),
    })
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "audio_too_large",
        format!(
            "the file is larger than {} MB",
            MAX_AUDIO_BYTES / 1024 / 1024
        ),
    )
}

/// Uploads the channel's announcement or hold music (managers): the body is the WAV
/// file. Replaces the previous one; calls from now on use it.
#[utoipa::path(put, path = "/api/v1/channels/{cid}/audio/{kind}", tag = "calls",
    security(("session" = [])),
    params(("cid" = i64, Path), ("kind" = AudioKind, Path)),
    request_body(content = Vec<u8>, content_type = "audio/wav"),
    responses((status = 200, body = AudioInfo),
        (status = 400, body = ErrorBody, description = "not a usable WAV file, or too long"),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn put_audio(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, kind)): Path<(ChannelId, AudioKind)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<AudioInfo>, ApiError> {
    session.manager_of(&state, cid).await?;
    let storage = storage(&state)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("cannot read the upload: {e}"))
        }
    })?;
    let info = check(kind, &body)?;
    let path = storage.path(cid, kind);
    // A temporary file renamed over the old one: a call never reads half a file. Each
    // upload has its own temporary name (two at once must not write into one file).
    static UPLOADS: AtomicU64 = AtomicU64::new(0);
    let upload = UPLOADS.fetch_add(1, Ordering::Relaxed);
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{}.{upload}.upload", std::process::id()));
        let stored = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut file, &body)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if stored.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        stored
    })
    .await;
    match written {
        Ok(Ok(())) => {
            tracing::info!(
                channel = cid,
                kind = kind.as_str(),
                bytes = info.bytes,
                "channel audio uploaded"
            );
            Ok(axum::Json(info))
        }
        Ok(Err(e)) => {
            tracing::error!(channel = cid, error = %e, "cannot store the channel's audio");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage",
                "the file could not be stored",
            ))
        }
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the upload task failed",
        )),
    }
}

/// Downloads the channel's announcement or hold music as uploaded (members).
#[utoipa::path(get, path = "/api/v1/channels/{cid}/audio/{kind}", tag = "calls",
    security(("session" = [])),
    params(("cid" = i64, Path), ("kind" = AudioKind, Path)),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_audio(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, kind)): Path<(ChannelId, AudioKind)>,
) -> Result<Response, ApiError> {
    session.member_of(&state, cid).await?;
    let path = storage(&state)?.path(cid, kind);
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ApiError::not_found(match kind {
                AudioKind::Announcement => "the channel's announcement",
                AudioKind::HoldMusic => "the channel's hold music",
            }))
        }
        Err(e) => {
            tracing::error!(channel = cid, error = %e, "cannot read the channel's audio");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage",
                "the file could not be read",
            ))
        }
    }
}

/// Removes the channel's announcement or hold music (managers): calls go back to the
/// routing's announcement (if any) or the built-in hold music.
#[utoipa::path(delete, path = "/api/v1/channels/{cid}/audio/{kind}", tag = "calls",
    security(("session" = [])),
    params(("cid" = i64, Path), ("kind" = AudioKind, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_audio(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, kind)): Path<(ChannelId, AudioKind)>,
) -> Result<StatusCode, ApiError> {
    session.manager_of(&state, cid).await?;
    let path = storage(&state)?.path(cid, kind);
    match tokio::fs::remove_file(&path).await {
        Ok(()) => {
            tracing::info!(channel = cid, kind = kind.as_str(), "channel audio removed");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ApiError::not_found("the channel's audio file"))
        }
        Err(e) => {
            tracing::error!(channel = cid, error = %e, "cannot remove the channel's audio");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage",
                "the file could not be removed",
            ))
        }
    }
}
