-- Calls: one row per call, a projection of its call_* events (kept in the same transaction
-- as each event), read by statistics, exports and the BI feed. Times are Unix ms.

CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    medium TEXT NOT NULL CHECK (medium IN ('phone', 'voice', 'video')),
    customer_id INTEGER REFERENCES customers(id) ON DELETE SET NULL,
    customer_number TEXT,                  -- E.164; NULL when withheld
    channel_number TEXT,                   -- E.164 of the channel's number
    team_id INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    staff_id INTEGER REFERENCES staff(id) ON DELETE SET NULL,  -- answered (in) / placed (out)
    started_at INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at INTEGER,                      -- NULL while live
    alive_at INTEGER,                      -- last heartbeat while live (crash recovery)
    hold_ms INTEGER NOT NULL DEFAULT 0,
    hold_started_at INTEGER,               -- set while the customer is on hold
    participants TEXT NOT NULL DEFAULT '[]',  -- JSON [staff id], in order of joining
    outcome TEXT CHECK (outcome IN ('answered', 'missed', 'busy', 'declined', 'no_answer', 'failed')),
    missed_reason TEXT CHECK (missed_reason IN ('notInOperation', 'noOperator', 'userLeft')),
    ended_by TEXT CHECK (ended_by IN ('customer', 'staff', 'system')),
    end_reason TEXT,
    recording TEXT
);
CREATE INDEX calls_channel_started ON calls(channel_id, started_at);
CREATE INDEX calls_chat ON calls(chat_id);
CREATE INDEX calls_live ON calls(id) WHERE ended_at IS NULL;

CREATE TABLE call_staff (
    call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    rung_at INTEGER,
    invited_by INTEGER,
    joined_at INTEGER,
    last_joined_at INTEGER,                -- set while in the call
    left_at INTEGER,
    talk_ms INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    PRIMARY KEY (call_id, staff_id)
);
CREATE INDEX call_staff_staff ON call_staff(staff_id);
