//! A channel's messages and notes in id order, page by page: what `denwa admin reindex`
//! feeds the search index from.

use denwa_core::model::{ChannelId, Message, MessageId, MessageKind};
use sqlx::{Row, SqlitePool};

use super::to_dt;
use crate::Result;

pub(super) async fn messages_after(
    pool: &SqlitePool,
    channel: ChannelId,
    after: MessageId,
    limit: u32,
) -> Result<Vec<Message>> {
    let rows = sqlx::query(
        "SELECT id, chat_id, kind, author_staff_id, body, created_at FROM messages
         WHERE channel_id = ? AND id > ? ORDER BY id LIMIT ?",
    )
    .bind(channel)
    .bind(after)
    .bind(i64::from(limit.clamp(1, 10_000)))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Message {
            id: r.get("id"),
            chat_id: r.get("chat_id"),
            // The table's CHECK allows only the kinds `parse` reads.
            kind: MessageKind::parse(r.get::<String, _>("kind").as_str())
                .unwrap_or(MessageKind::Note),
            author_staff_id: r.get("author_staff_id"),
            body: r.get("body"),
            created_at: to_dt(r.get("created_at")),
        })
        .collect())
}

pub(super) async fn message_count(pool: &SqlitePool, channel: ChannelId) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE channel_id = ?")
        .bind(channel)
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
