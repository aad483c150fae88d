-- Recordings (SPEC RC-1, RC-2): one row per recorded call, the persisted job queue of the
-- work after the call (MP3 of the mixed track, then the transcript). A row is created when
-- recording starts; the worker takes rows whose call has ended and whose MP3 or transcript
-- is still pending (or was running when a previous process died). Times are Unix ms.
CREATE TABLE recordings (
    call_id INTEGER PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL,
    mp3 TEXT NOT NULL DEFAULT 'pending' CHECK (mp3 IN ('pending', 'ready', 'failed')),
    duration_ms INTEGER,
    mp3_bytes INTEGER,
    transcript TEXT NOT NULL DEFAULT 'pending'
        CHECK (transcript IN ('pending', 'running', 'done', 'failed', 'off')),
    tracks_done INTEGER NOT NULL DEFAULT 0,
    tracks_total INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,   -- transcription attempts started
    language TEXT,
    error TEXT,
    lines TEXT NOT NULL DEFAULT '[]',      -- JSON [TranscriptLine]
    updated_at INTEGER NOT NULL
);
CREATE INDEX recordings_work ON recordings(call_id)
    WHERE mp3 = 'pending' OR transcript IN ('pending', 'running');

-- Calls recorded before this table existed get their MP3 and transcript too.
INSERT INTO recordings (call_id, channel_id, chat_id, updated_at)
    SELECT id, channel_id, chat_id, COALESCE(ended_at, started_at) FROM calls
    WHERE recording IS NOT NULL;

-- A channel's language (`ja` / `en`): the console's default and the language its calls are
-- transcribed in. NULL: from the region (Japanese in Japan, English elsewhere).
ALTER TABLE channels ADD COLUMN locale TEXT CHECK (locale IN ('ja', 'en'));
