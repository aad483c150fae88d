//! Adaptive jitter buffer for 20 ms audio packets.
//!
//! Packets are keyed by extended sequence number (RFC 3550 A.1) in a fixed ring
//! of slots whose payload buffers are allocated once. Playout starts when the
//! first packet has waited the target delay; after that one frame leaves per
//! 20 ms tick. The target follows the RFC 3550 A.8 jitter estimate (4 × jitter,
//! rounded up to whole frames) between [`JitterBuffer::MIN_TARGET`] (40 ms) and
//! [`JitterBuffer::MAX_DELAY`] (200 ms), grows by a frame on each late packet,
//! and the buffer drops frames to shrink back when it holds more than needed.

use std::time::{Duration, Instant};

const SLOTS: usize = 16;
const FRAME: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
struct Slot {
    seq: Option<u64>,
    timestamp: u32,
    arrival: Instant,
    data: Vec<u8>,
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Stored,
    /// Already buffered or already played: dropped.
    Duplicate,
    /// Arrived after its playout time: dropped (and counted).
    Late,
    /// So far ahead of playout that the stream was resynchronised on it.
    Resynced,
}

/// One tick's output of the jitter buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout<'a> {
    /// The next frame's payload and RTP timestamp.
    Frame {
        /// Encoded payload.
        payload: &'a [u8],
        /// RTP timestamp of the packet.
        timestamp: u32,
    },
    /// The frame is missing (lost, late or underrun): conceal it.
    Lost,
    /// Not playing (nothing received yet, or re-buffering after a long gap): silence.
    Idle,
}

/// Per-leg jitter-buffer counters (SPEC: the server exports them as metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Packets dropped as duplicates.
    pub duplicates: u64,
    /// Packets that arrived after their playout time.
    pub late: u64,
    /// Frames played out from packets.
    pub played: u64,
    /// Frames concealed because their packet was missing at playout time.
    pub concealed: u64,
    /// Frames dropped to shrink the delay back to target.
    pub dropped: u64,
    /// Times playout restarted (long gap, or the stream jumped).
    pub resyncs: u64,
    /// Current playout delay target.
    pub target: Duration,
    /// Audio buffered now (contiguous span from the next frame to the newest packet).
    pub buffered: Duration,
}

/// Adaptive jitter buffer for one leg. See the module docs.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    slots: Vec<Slot>,
    /// Next sequence to play, once playing.
    next: Option<u64>,
    /// When buffering: arrival of the first packet.
    buffering_since: Option<Instant>,
    /// Highest sequence handed out (played, concealed or dropped); survives
    /// re-buffering so that a late packet never plays after a newer one.
    last_out: Option<u64>,
    played_mask: u64,
    empty_ticks: u32,
    target_frames: u32,
    jitter_frames: u32,
    late_boost: u32,
    last_boost: Option<Instant>,
    ticks_since_drop: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// The lowest playout delay (the target of ~40 ms).
    pub const MIN_TARGET: Duration = Duration::from_millis(40);
    /// The highest playout delay ever used (the ceiling of 200 ms).
    pub const MAX_DELAY: Duration = Duration::from_millis(200);
    const MIN_FRAMES: u32 = 2;
    const MAX_FRAMES: u32 = 10;

    /// Creates an empty buffer; `now` seeds the internal timers. Allocates its
    /// slots here, once; each slot's payload buffer is allocated by the first packet it
    /// holds, at that packet's size, and reused after.
    #[must_use]
    pub fn new(now: Instant) -> Self {
        let slot = Slot {
            seq: None,
            timestamp: 0,
            arrival: now,
            data: Vec::new(),
        };
        Self {
            slots: vec![slot; SLOTS],
            next: None,
            buffering_since: None,
            last_out: None,
            played_mask: 0,
            empty_ticks: 0,
            target_frames: Self::MIN_FRAMES,
            jitter_frames: Self::MIN_FRAMES,
            late_boost: 0,
            last_boost: None,
            ticks_since_drop: 0,
            stats: JitterStats {
                target: Self::MIN_TARGET,
                ..JitterStats::default()
            },
        }
    }

    /// Updates the delay target from the RFC 3550 A.8 interarrival jitter. Call
    /// after each received packet (the leg does), or whenever the estimate changes.
    pub fn set_jitter(&mut self, jitter: Duration) {
        let frames = (jitter.as_micros() * 4).div_ceil(FRAME.as_micros()) as u32;
        self.jitter_frames = frames.clamp(Self::MIN_FRAMES, Self::MAX_FRAMES);
        self.update_target();
    }

    fn update_target(&mut self) {
        self.target_frames =
            (self.jitter_frames + self.late_boost).clamp(Self::MIN_FRAMES, Self::MAX_FRAMES);
        self.stats.target = FRAME * self.target_frames;
    }

    /// Forgets everything, including the sequence position. Call when the
    /// sequence space changes: an SSRC change or a confirmed sender restart.
    pub fn reset(&mut self) {
        self.rebuffer();
        self.last_out = None;
    }

    /// Drops buffered packets and waits for new ones, keeping the position.
    fn rebuffer(&mut self) {
        for slot in &mut self.slots {
            slot.seq = None;
        }
        self.next = None;
        self.buffering_since = None;
        self.played_mask = 0;
        self.empty_ticks = 0;
    }

    /// Stores one received packet. Call for every audio RTP packet of the leg,
    /// with its extended sequence number, in arrival order.
    pub fn push(&mut self, now: Instant, seq: u64, timestamp: u32, payload: &[u8]) -> PushOutcome {
        let mut outcome = PushOutcome::Stored;
        if let Some(next) = self.next {
            if seq < next {
                let age = next - seq;
                if age <= 64 && self.played_mask & (1 << (age - 1)) != 0 {
                    self.stats.duplicates += 1;
                    return PushOutcome::Duplicate;
                }
                self.stats.late += 1;
                self.boost_on_late(now);
                return PushOutcome::Late;
            }
            if seq >= next + SLOTS as u64 {
                // The sender jumped far ahead (long pause): start over on this packet.
                self.rebuffer();
                self.stats.resyncs += 1;
                outcome = PushOutcome::Resynced;
            }
        } else {
            if self.last_out.is_some_and(|last| seq <= last) {
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            if let Some(lowest) = self.lowest() {
                if seq + SLOTS as u64 <= lowest || seq >= lowest + SLOTS as u64 {
                    self.rebuffer();
                    outcome = PushOutcome::Resynced;
                }
            }
        }
        let slot = &mut self.slots[(seq % SLOTS as u64) as usize];
        if slot.seq == Some(seq) {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        slot.seq = Some(seq);
        slot.timestamp = timestamp;
        slot.arrival = now;
        slot.data.clear();
        slot.data.extend_from_slice(payload);
        self.stats.received += 1;
        if self.next.is_none() && self.buffering_since.is_none() {
            self.buffering_since = Some(now);
        }
        outcome
    }

    fn boost_on_late(&mut self, now: Instant) {
        self.late_boost = (self.late_boost + 1).min(Self::MAX_FRAMES);
        self.last_boost = Some(now);
        self.update_target();
    }

    fn lowest(&self) -> Option<u64> {
        self.slots.iter().filter_map(|s| s.seq).min()
    }

    fn highest(&self) -> Option<u64> {
        self.slots.iter().filter_map(|s| s.seq).max()
    }

    /// The frame to play in this 20 ms tick. Call exactly once per tick.
    #[must_use]
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        // A late-packet boost decays one frame per 10 s without new late packets.
        if let Some(at) = self.last_boost {
            if self.late_boost > 0 && now.saturating_duration_since(at) >= Duration::from_secs(10) {
                self.late_boost -= 1;
                self.last_boost = Some(now);
                self.update_target();
            }
        }
        let next = match self.next {
            Some(next) => next,
            None => {
                let Some(since) = self.buffering_since else {
                    self.stats.buffered = Duration::ZERO;
                    return Playout::Idle;
                };
                let span = self.span_from(self.lowest().unwrap_or(0));
                if now.saturating_duration_since(since) + FRAME < self.stats.target
                    && span < self.target_frames
                {
                    self.stats.buffered = FRAME * span;
                    return Playout::Idle;
                }
                // `buffering_since` is only set once a packet is stored, so a lowest exists;
                // fall back to idle rather than unwrap.
                let Some(lowest) = self.lowest() else {
                    return Playout::Idle;
                };
                self.buffering_since = None;
                self.played_mask = 0;
                lowest
            }
        };
        let mut next = next;
        // Shrink: drop the oldest frame when holding clearly more than the target.
        self.ticks_since_drop = self.ticks_since_drop.saturating_add(1);
        let span = self.span_from(next);
        if span > self.target_frames + 2 && self.ticks_since_drop >= 5 || span > Self::MAX_FRAMES {
            let idx = (next % SLOTS as u64) as usize;
            if self.slots[idx].seq == Some(next) {
                self.slots[idx].seq = None;
                self.stats.dropped += 1;
            } else {
                self.stats.concealed += 1;
            }
            self.played_mask <<= 1;
            next += 1;
            self.ticks_since_drop = 0;
        }
        self.next = Some(next + 1);
        self.last_out = Some(next);
        self.played_mask <<= 1;
        self.stats.buffered = FRAME * self.span_from(next + 1);
        let idx = (next % SLOTS as u64) as usize;
        if self.slots[idx].seq == Some(next) {
            self.empty_ticks = 0;
            self.played_mask |= 1;
            self.stats.played += 1;
            let slot = &mut self.slots[idx];
            slot.seq = None;
            return Playout::Frame {
                payload: &slot.data,
                timestamp: slot.timestamp,
            };
        }
        if self.highest().is_none() {
            self.empty_ticks += 1;
            if self.empty_ticks >= 3 {
                // Nothing arriving: stop and re-buffer when packets come back. The
                // concealment fades out on its own before this.
                self.next = None;
                self.buffering_since = None;
                self.empty_ticks = 0;
                self.stats.resyncs += 1;
                return Playout::Idle;
            }
        }
        self.stats.concealed += 1;
        Playout::Lost
    }

    /// Frames buffered from `from` up to the newest packet.
    fn span_from(&self, from: u64) -> u32 {
        match self.highest() {
            Some(h) if h >= from => (h - from + 1) as u32,
            _ => 0,
        }
    }

    /// Counters and the current delay. Call whenever the server wants a snapshot.
    #[must_use]
    pub fn stats(&self) -> JitterStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(jb: &mut JitterBuffer, now: Instant) -> Option<u64> {
        match jb.pop(now) {
            Playout::Frame { payload, .. } => Some(u64::from(payload[0])),
            _ => None,
        }
    }

    #[test]
    fn reorders_and_waits_for_target() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(t);
        assert_eq!(jb.push(t, 1, 160, &[1]), PushOutcome::Stored);
        assert_eq!(jb.pop(t), Playout::Idle, "waits for the 40 ms target");
        assert_eq!(jb.push(t, 0, 0, &[0]), PushOutcome::Stored);
        assert_eq!(jb.push(t, 1, 160, &[1]), PushOutcome::Duplicate);
        // Two frames buffered = 40 ms: playout starts, in sequence order.
        assert_eq!(frames(&mut jb, t + FRAME), Some(0));
        assert_eq!(frames(&mut jb, t + FRAME * 2), Some(1));
        assert_eq!(jb.pop(t + FRAME * 3), Playout::Lost);
        // Packet 2 arrives after its slot was concealed: late.
        assert_eq!(jb.push(t + FRAME * 3, 2, 320, &[2]), PushOutcome::Late);
        assert_eq!(
            jb.push(t + FRAME * 3, 1, 160, &[1]),
            PushOutcome::Duplicate,
            "already played"
        );
        let s = jb.stats();
        assert_eq!((s.played, s.concealed, s.late, s.duplicates), (2, 1, 1, 2));
        assert!(
            s.target > JitterBuffer::MIN_TARGET,
            "a late packet raises the target"
        );
    }

    #[test]
    fn target_follows_jitter_within_bounds() {
        let mut jb = JitterBuffer::new(Instant::now());
        jb.set_jitter(Duration::from_millis(2));
        assert_eq!(jb.stats().target, JitterBuffer::MIN_TARGET);
        jb.set_jitter(Duration::from_millis(25));
        assert_eq!(jb.stats().target, Duration::from_millis(100));
        jb.set_jitter(Duration::from_secs(1));
        assert_eq!(jb.stats().target, JitterBuffer::MAX_DELAY);
    }

    #[test]
    fn shrinks_excess_delay() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(t);
        // A burst of 9 packets at once (180 ms) then steady flow.
        for s in 0..9u64 {
            jb.push(t, s, 0, &[s as u8]);
        }
        let mut now = t;
        for s in 9..60u64 {
            now += FRAME;
            jb.push(now, s, 0, &[s as u8]);
            let _ = jb.pop(now);
        }
        assert!(
            jb.stats().buffered <= Duration::from_millis(100),
            "{:?}",
            jb.stats()
        );
        assert!(jb.stats().dropped > 0);
    }
}
