//! Recordings: the `recordings` rows, the persisted queue of the work after a recorded
//! call (its MP3, then its transcript), and the events that announce the results.

use denwa_core::model::{
    CallRecordId, ChannelId, Recording, RecordingState, TranscriptLine, TranscriptState,
};
use denwa_core::{Event, EventKind};
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::{begin_write, insert_event, now_ms, to_dt};
use crate::{RecordingWork, Result, StoreError};

const COLUMNS: &str = "r.call_id, r.channel_id, r.chat_id, r.mp3, r.duration_ms, r.mp3_bytes, \
     r.transcript, r.tracks_done, r.tracks_total, r.attempts, r.language, r.error, r.lines";

fn state<T>(row: &SqliteRow, col: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    let s: String = row.get(col);
    parse(&s).ok_or_else(|| StoreError::Invalid(format!("recordings.{col}: unknown value {s:?}")))
}

fn recording_row(r: &SqliteRow) -> Result<Recording> {
    let lines: String = r.get("lines");
    Ok(Recording {
        call_id: r.get("call_id"),
        channel_id: r.get("channel_id"),
        chat_id: r.get("chat_id"),
        mp3: state(r, "mp3", RecordingState::parse)?,
        duration_ms: r
            .get::<Option<i64>, _>("duration_ms")
            .map(|v| v.max(0) as u64),
        mp3_bytes: r
            .get::<Option<i64>, _>("mp3_bytes")
            .map(|v| v.max(0) as u64),
        transcript: state(r, "transcript", TranscriptState::parse)?,
        tracks_done: r.get::<i64, _>("tracks_done").clamp(0, i64::from(u32::MAX)) as u32,
        tracks_total: r
            .get::<i64, _>("tracks_total")
            .clamp(0, i64::from(u32::MAX)) as u32,
        language: r.get("language"),
        error: r.get("error"),
        lines: serde_json::from_str(&lines)
            .map_err(|e| StoreError::Invalid(format!("recordings.lines: {e}")))?,
    })
}

/// Called in the transaction that notes where a call's tracks are: the call's row in
/// the queue (once; a second call is ignored).
pub(super) async fn enqueue(
    conn: &mut sqlx::SqliteConnection,
    channel: ChannelId,
    call: CallRecordId,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO recordings (call_id, channel_id, chat_id, updated_at)
         SELECT id, channel_id, chat_id, ? FROM calls WHERE id = ? AND channel_id = ?
         ON CONFLICT (call_id) DO NOTHING",
    )
    .bind(now_ms())
    .bind(call)
    .bind(channel)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn recording_work(pool: &SqlitePool, limit: u32) -> Result<Vec<RecordingWork>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, c.recording, c.ended_at, c.end_reason FROM recordings r
         JOIN calls c ON c.id = r.call_id
         WHERE (r.mp3 = 'pending' OR r.transcript IN ('pending', 'running'))
           AND c.ended_at IS NOT NULL AND c.recording IS NOT NULL
         ORDER BY c.ended_at, r.call_id LIMIT ?"
    ))
    .bind(i64::from(limit.clamp(1, 1000)))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RecordingWork {
                recording: recording_row(r)?,
                path: r.get("recording"),
                ended_at: to_dt(r.get("ended_at")),
                end_reason: r.get("end_reason"),
                attempts: r.get::<i64, _>("attempts").clamp(0, i64::from(u32::MAX)) as u32,
            })
        })
        .collect()
}

pub(super) async fn recording(
    pool: &SqlitePool,
    channel: ChannelId,
    call: CallRecordId,
) -> Result<Recording> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recordings r WHERE r.call_id = ? AND r.channel_id = ?"
    ))
    .bind(call)
    .bind(channel)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound("recording"))?;
    recording_row(&row)
}

/// The channel and chat of a queued recording.
async fn owner(
    conn: &mut sqlx::SqliteConnection,
    call: CallRecordId,
) -> Result<(ChannelId, denwa_core::model::ChatId)> {
    let row = sqlx::query("SELECT channel_id, chat_id FROM recordings WHERE call_id = ?")
        .bind(call)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("recording"))?;
    Ok((row.get("channel_id"), row.get("chat_id")))
}

pub(super) async fn mp3_ready(
    pool: &SqlitePool,
    call: CallRecordId,
    duration_ms: u64,
    bytes: u64,
) -> Result<Event> {
    let mut tx = begin_write(pool).await?;
    let (channel, chat) = owner(&mut tx, call).await?;
    sqlx::query(
        "UPDATE recordings SET mp3 = ?, duration_ms = ?, mp3_bytes = ?, updated_at = ?
         WHERE call_id = ?",
    )
    .bind(RecordingState::Ready.as_str())
    .bind(i64::try_from(duration_ms).unwrap_or(i64::MAX))
    .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
    .bind(now_ms())
    .bind(call)
    .execute(&mut *tx)
    .await?;
    let event = insert_event(
        &mut tx,
        Some(channel),
        Some(chat),
        EventKind::RecordingReady,
        None,
        json!({ "call_id": call, "duration_ms": duration_ms, "mp3_bytes": bytes }),
    )
    .await?;
    tx.commit().await?;
    Ok(event)
}

pub(super) async fn mp3_failed(pool: &SqlitePool, call: CallRecordId, error: &str) -> Result<()> {
    sqlx::query("UPDATE recordings SET mp3 = ?, error = ?, updated_at = ? WHERE call_id = ?")
        .bind(RecordingState::Failed.as_str())
        .bind(error)
        .bind(now_ms())
        .bind(call)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn transcript_progress(
    pool: &SqlitePool,
    call: CallRecordId,
    done: u32,
    total: u32,
    starting: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE recordings SET transcript = ?, tracks_done = ?, tracks_total = ?,
             attempts = attempts + ?, updated_at = ?
         WHERE call_id = ?",
    )
    .bind(TranscriptState::Running.as_str())
    .bind(i64::from(done))
    .bind(i64::from(total))
    .bind(i64::from(starting))
    .bind(now_ms())
    .bind(call)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn transcript_done(
    pool: &SqlitePool,
    call: CallRecordId,
    language: Option<&str>,
    lines: &[TranscriptLine],
) -> Result<Event> {
    let mut tx = begin_write(pool).await?;
    let (channel, chat) = owner(&mut tx, call).await?;
    let body = serde_json::to_string(lines)
        .map_err(|e| StoreError::Invalid(format!("transcript lines: {e}")))?;
    sqlx::query(
        "UPDATE recordings SET transcript = ?, tracks_done = tracks_total, language = ?,
             lines = ?, error = NULL, updated_at = ?
         WHERE call_id = ?",
    )
    .bind(TranscriptState::Done.as_str())
    .bind(language)
    .bind(body)
    .bind(now_ms())
    .bind(call)
    .execute(&mut *tx)
    .await?;
    let event = insert_event(
        &mut tx,
        Some(channel),
        Some(chat),
        EventKind::TranscriptReady,
        None,
        json!({ "call_id": call, "language": language, "lines": lines }),
    )
    .await?;
    tx.commit().await?;
    Ok(event)
}

pub(super) async fn transcript_failed(
    pool: &SqlitePool,
    call: CallRecordId,
    error: &str,
    give_up: bool,
) -> Result<Option<Event>> {
    let mut tx = begin_write(pool).await?;
    let (channel, chat) = owner(&mut tx, call).await?;
    let state = if give_up {
        TranscriptState::Failed
    } else {
        TranscriptState::Pending
    };
    sqlx::query(
        "UPDATE recordings SET transcript = ?, error = ?, updated_at = ? WHERE call_id = ?",
    )
    .bind(state.as_str())
    .bind(error)
    .bind(now_ms())
    .bind(call)
    .execute(&mut *tx)
    .await?;
    let event = if give_up {
        Some(
            insert_event(
                &mut tx,
                Some(channel),
                Some(chat),
                EventKind::TranscriptFailed,
                None,
                json!({ "call_id": call, "error": error }),
            )
            .await?,
        )
    } else {
        None
    };
    tx.commit().await?;
    Ok(event)
}

pub(super) async fn transcript_off(pool: &SqlitePool, call: CallRecordId) -> Result<()> {
    sqlx::query("UPDATE recordings SET transcript = ?, updated_at = ? WHERE call_id = ?")
        .bind(TranscriptState::Off.as_str())
        .bind(now_ms())
        .bind(call)
        .execute(pool)
        .await?;
    Ok(())
}

/// A channel's finished transcripts with a call id above `after`, in call id order.
pub(super) async fn transcripts_after(
    pool: &SqlitePool,
    channel: ChannelId,
    after: CallRecordId,
    limit: u32,
) -> Result<Vec<(Recording, chrono::DateTime<chrono::Utc>)>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, r.updated_at FROM recordings r
         WHERE r.channel_id = ? AND r.call_id > ? AND r.transcript = 'done'
         ORDER BY r.call_id LIMIT ?"
    ))
    .bind(channel)
    .bind(after)
    .bind(i64::from(limit.clamp(1, 10_000)))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((recording_row(r)?, to_dt(r.get("updated_at")))))
        .collect()
}
