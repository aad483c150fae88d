-- Statistics rollup (SPEC ST-1..ST-5): per-hour sums of each channel's ended calls, so a
-- 90-day dashboard reads a few thousand rows instead of millions of calls. Keyed by the
-- local day (days since 1970-01-01 in the channel's time zone) and hour of the call's
-- start; team_id / staff_id 0 = none. The columns are denwa_core::stats::Tally and
-- StaffTally, added when a call ends (and its wrap-up when its chat closes).

CREATE TABLE call_rollup (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    team_id INTEGER NOT NULL,
    staff_id INTEGER NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    inbound INTEGER NOT NULL DEFAULT 0,
    outbound INTEGER NOT NULL DEFAULT 0,
    inbound_answered INTEGER NOT NULL DEFAULT 0,
    outbound_answered INTEGER NOT NULL DEFAULT 0,
    missed_not_in_operation INTEGER NOT NULL DEFAULT 0,
    missed_no_operator INTEGER NOT NULL DEFAULT 0,
    missed_user_left INTEGER NOT NULL DEFAULT 0,
    missed_unspecified INTEGER NOT NULL DEFAULT 0,
    talk_ms INTEGER NOT NULL DEFAULT 0,
    first_response_ms INTEGER NOT NULL DEFAULT 0,
    answered_within_sl INTEGER NOT NULL DEFAULT 0,
    queue_wait_ms INTEGER NOT NULL DEFAULT 0,
    wrap_up_ms INTEGER NOT NULL DEFAULT 0,
    wrap_ups INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, day, hour, team_id, staff_id)
) WITHOUT ROWID;

CREATE TABLE staff_rollup (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    staff_id INTEGER NOT NULL,
    team_id INTEGER NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    outbound INTEGER NOT NULL DEFAULT 0,
    answered INTEGER NOT NULL DEFAULT 0,
    talk_ms INTEGER NOT NULL DEFAULT 0,
    ring_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, day, staff_id, team_id)
) WITHOUT ROWID;

-- The first close of a call's chat after the call ended (its wrap-up end).
CREATE TABLE call_wrap_up (
    call_id INTEGER PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    closed_at INTEGER NOT NULL
);

-- The time zone a channel's rollup was keyed in; another zone in channels means rebuild.
CREATE TABLE stats_state (
    channel_id INTEGER PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
    time_zone TEXT NOT NULL
);
