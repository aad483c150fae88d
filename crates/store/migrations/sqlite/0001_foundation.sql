-- Foundation schema. Times are INTEGER Unix milliseconds (sortable, portable to BIGINT).

CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    business_hours TEXT NOT NULL,          -- JSON BusinessHours
    ring_profile_fields TEXT NOT NULL DEFAULT '[]',  -- JSON [string], at most 3
    created_at INTEGER NOT NULL
);

CREATE TABLE channel_numbers (
    e164 TEXT PRIMARY KEY,                 -- a DID belongs to exactly one channel
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE
);

CREATE TABLE staff (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    unassigned_call_notification INTEGER NOT NULL DEFAULT 1,
    do_not_disturb INTEGER NOT NULL DEFAULT 0,
    auto_mute_on_join INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'operator')),
    operator_seat INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, staff_id)
);
CREATE INDEX memberships_staff ON memberships(staff_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,           -- SHA-256 of the bearer token
    staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (channel_id, name)
);

CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, staff_id)
);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('lead', 'member')),
    blocked INTEGER NOT NULL DEFAULT 0,
    profile TEXT NOT NULL DEFAULT '{}',    -- JSON {field: string}
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX customers_channel ON customers(channel_id, name);

CREATE TABLE customer_phones (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    e164 TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    mobile INTEGER NOT NULL DEFAULT 0,
    position INTEGER NOT NULL,
    PRIMARY KEY (channel_id, e164)         -- one customer per number in a channel
);
CREATE INDEX customer_phones_customer ON customer_phones(customer_id);

CREATE TABLE tags (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (channel_id, name)
);

CREATE TABLE chats (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE RESTRICT,
    state TEXT NOT NULL CHECK (state IN ('opened', 'snoozed', 'closed')),
    medium TEXT NOT NULL CHECK (medium IN ('chat', 'phone', 'voice', 'video')),
    source TEXT NOT NULL,
    assignee_id INTEGER REFERENCES staff(id) ON DELETE SET NULL,
    team_id INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    snoozed_until INTEGER,
    preview TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX chats_channel_activity ON chats(channel_id, updated_at DESC, id DESC);
CREATE INDEX chats_customer ON chats(customer_id);

CREATE TABLE chat_tags (
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (chat_id, tag)
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('note', 'customer', 'staff')),
    author_staff_id INTEGER REFERENCES staff(id) ON DELETE SET NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_chat ON messages(chat_id, id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER REFERENCES channels(id) ON DELETE CASCADE,  -- NULL: private to the actor
    chat_id INTEGER REFERENCES chats(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    actor_staff_id INTEGER REFERENCES staff(id) ON DELETE SET NULL,
    at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_chat ON events(chat_id, id);
CREATE INDEX events_channel ON events(channel_id, id);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    access_key TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,             -- SHA-256 of the 256-bit random secret
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
