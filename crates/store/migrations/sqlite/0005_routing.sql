-- A channel's call routing (SPEC IN-3, IN-4): JSON of denwa_core::routing::RoutingConfig
-- without hours and teams (those come from the channel's business hours and teams).
ALTER TABLE channels ADD COLUMN routing TEXT NOT NULL DEFAULT '{"mode":"ring_all"}';
