-- SIP trunks per channel, the echo test number, staff SIP softphone accounts.

ALTER TABLE channels ADD COLUMN echo_number TEXT NOT NULL DEFAULT '9196';

CREATE TABLE trunks (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    allowed_sources TEXT NOT NULL DEFAULT '[]',   -- JSON [IP or CIDR]
    inbound_username TEXT,
    inbound_password TEXT,       -- a device secret the carrier's digest must match
    outbound_proxy TEXT,
    outbound_username TEXT,
    outbound_password TEXT,      -- needed in clear to answer the carrier's digest challenges
    caller_id TEXT,
    register INTEGER NOT NULL DEFAULT 0,
    transport TEXT NOT NULL DEFAULT 'udp' CHECK (transport IN ('udp', 'tcp')),
    created_at INTEGER NOT NULL,
    UNIQUE (channel_id, name)
);

-- A staff member's SIP softphone account (registrar, RFC 3261 §10). The secret is a
-- generated device password, separate from the console password, kept so that digest
-- responses can be checked (RFC 3261 §22.4 needs the secret or its HA1).
CREATE TABLE sip_accounts (
    staff_id INTEGER PRIMARY KEY REFERENCES staff(id) ON DELETE CASCADE,
    username TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
