//! A call's recording and transcript (SPEC RC-1..RC-3): its state and transcript lines,
//! and the MP3 of the mixed track with HTTP range requests (players seek with them).
//! Only staff of the call's channel may read them.
//!
//! The server makes the MP3s and keeps them behind a blob store; the API reads them
//! through [`RecordingFiles`], so this crate needs neither the encoder nor the store.

use std::ops::Range;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use denwa_core::model::{CallRecordId, ChannelId, Recording, RecordingState};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query, StaffSession};

/// Where the MP3s of recorded calls are read from (the server's blob store).
pub trait RecordingFiles: Send + Sync {
    /// Size in bytes of the call's MP3.
    fn mp3_len(&self, channel: ChannelId, call: CallRecordId) -> std::io::Result<u64>;
    /// Bytes `range` of the call's MP3 (`range` lies within its size).
    fn mp3_range(
        &self,
        channel: ChannelId,
        call: CallRecordId,
        range: Range<u64>,
    ) -> std::io::Result<Vec<u8>>;
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_recording))
        .routes(routes!(get_mp3))
}

/// A call's recording: whether its MP3 can be played, its length, and its transcript
/// (per speaker, with times) with the transcription's state and progress.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/calls/{id}/recording", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)),
    responses((status = 200, body = Recording), (status = 404, body = ErrorBody)))]
async fn get_recording(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(ChannelId, CallRecordId)>,
) -> Result<axum::Json<Recording>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(state.store.recording(cid, id).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
struct Mp3Query {
    /// `1`: sent as an attachment (`call-<id>.mp3`) for saving.
    download: Option<u8>,
}

/// The call's recording as MP3 (the mixed track: everyone but the hold music). Answers
/// `Range: bytes=…` with 206 and `Content-Range`; a range past the end gets 416.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/calls/{id}/recording.mp3", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path), Mp3Query),
    responses((status = 200, content_type = "audio/mpeg"), (status = 206, content_type = "audio/mpeg"),
        (status = 404, body = ErrorBody), (status = 416)))]
async fn get_mp3(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(ChannelId, CallRecordId)>,
    Query(q): Query<Mp3Query>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    session.member_of(&state, cid).await?;
    let recording = state.store.recording(cid, id).await?;
    if recording.mp3 != RecordingState::Ready {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_ready",
            match recording.mp3 {
                RecordingState::Failed => "the recording could not be made",
                _ => "the recording is not ready yet",
            },
        ));
    }
    let files = state.recordings.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_recordings",
            "this server keeps no recordings",
        )
    })?;
    let len = blocking(files.clone(), move |f| f.mp3_len(cid, id)).await?;
    let wanted = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, len));
    let (status, range) = match wanted {
        None | Some(RangeAnswer::Whole) => (StatusCode::OK, 0..len),
        Some(RangeAnswer::Part(r)) => (StatusCode::PARTIAL_CONTENT, r),
        Some(RangeAnswer::Unsatisfiable) => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response());
        }
    };
    let bytes = if range.is_empty() {
        Vec::new()
    } else {
        let r = range.clone();
        blocking(files, move |f| f.mp3_range(cid, id, r)).await?
    };
    let mut response = (status, bytes).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/mpeg"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{len}",
            range.start,
            range.end.saturating_sub(1)
        ))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if q.download == Some(1)
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"call-{id}.mp3\""))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

async fn blocking<T: Send + 'static>(
    files: Arc<dyn RecordingFiles>,
    f: impl FnOnce(&dyn RecordingFiles) -> std::io::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let failed = |e: String| {
        tracing::error!(error = %e, "cannot read a recording");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
            "the recording could not be read; it was logged",
        )
    };
    match tokio::task::spawn_blocking(move || f(files.as_ref())).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ApiError::not_found("the recording's file"))
        }
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(e) => Err(failed(e.to_string())),
    }
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RangeAnswer {
    /// No usable single byte range (another unit, several ranges, malformed): the whole
    /// body, as RFC 9110 allows a server to answer.
    Whole,
    /// One satisfiable range, clamped to the body.
    Part(Range<u64>),
    /// A single range that starts past the end: 416.
    Unsatisfiable,
}

/// Reads `bytes=a-b`, `bytes=a-` and `bytes=-n` (RFC 9110 §14.1.2).
fn parse_range(value: &str, len: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        // The last n bytes.
        (true, false) => match parse(b) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Part(len.saturating_sub(n)..len),
            None => RangeAnswer::Whole,
        },
        (false, _) => {
            let Some(start) = parse(a) else {
                return RangeAnswer::Whole;
            };
            let end = if b.is_empty() {
                Some(len)
            } else {
                parse(b).map(|e| e.saturating_add(1).min(len))
            };
            match end {
                None => RangeAnswer::Whole,
                Some(_) if start >= len => RangeAnswer::Unsatisfiable,
                Some(end) if end <= start => RangeAnswer::Whole,
                Some(end) => RangeAnswer::Part(start..end),
            }
        }
        (true, true) => RangeAnswer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), RangeAnswer::Part(0..100));
        assert_eq!(
            parse_range("bytes=900-", 1000),
            RangeAnswer::Part(900..1000)
        );
        assert_eq!(
            parse_range("bytes=-100", 1000),
            RangeAnswer::Part(900..1000)
        );
        assert_eq!(parse_range("bytes=-5000", 1000), RangeAnswer::Part(0..1000));
        assert_eq!(
            parse_range("bytes=990-2000", 1000),
            RangeAnswer::Part(990..1000)
        );
        assert_eq!(parse_range("bytes=1000-", 1000), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 1000), RangeAnswer::Whole);
        assert_eq!(parse_range("bytes=0-1,5-9", 1000), RangeAnswer::Whole);
        assert_eq!(parse_range("items=0-1", 1000), RangeAnswer::Whole);
        assert_eq!(parse_range("bytes=x-1", 1000), RangeAnswer::Whole);
        assert_eq!(parse_range("bytes=-", 1000), RangeAnswer::Whole);
    }
}
