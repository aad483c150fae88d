//! RFC 4733 telephone events (DTMF): receiving digits and generating them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::Error;

/// One DTMF key: `0-9`, `*`, `#`, `A-D` (RFC 4733 §3.2, event codes 0–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DtmfDigit(u8);

impl DtmfDigit {
    /// The digit for a keypad character.
    pub fn from_char(c: char) -> Result<Self, Error> {
        let code = match c {
            '0'..='9' => c as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => c as u8 - b'A' + 12,
            'a'..='d' => c as u8 - b'a' + 12,
            _ => return Err(Error::NotADtmfDigit(c)),
        };
        Ok(Self(code))
    }

    /// The digit for an RFC 4733 event code, if it is one of the 16 DTMF events.
    #[must_use]
    pub fn from_event(code: u8) -> Option<Self> {
        (code <= 15).then_some(Self(code))
    }

    /// The RFC 4733 event code (0–15).
    #[must_use]
    pub fn event_code(self) -> u8 {
        self.0
    }

    /// The keypad character.
    #[must_use]
    pub fn as_char(self) -> char {
        match self.0 {
            0..=9 => char::from(b'0' + self.0),
            10 => '*',
            11 => '#',
            _ => char::from(b'A' + self.0 - 12),
        }
    }
}

/// A decoded RFC 4733 event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code.
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Volume in −dBm0 (0–63); ignored for non-tone events.
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl EventPayload {
    /// Parses the 4-byte event payload; a payload may carry several events
    /// (RFC 4733 §2.5.1.5 redundancy) of which the first is used.
    pub fn parse(payload: &[u8]) -> Result<Self, Error> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(Error::MalformedDtmf);
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4-byte wire form.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d0,
            d1,
        ]
    }
}

/// A digit received from the far end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedDigit {
    /// Which key.
    pub digit: DtmfDigit,
    /// How long it was held, in timestamp units (8000 Hz for a trunk).
    pub duration: u32,
    /// The RTP timestamp identifying the event.
    pub timestamp: u32,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    digit: DtmfDigit,
    duration: u32,
    ended: bool,
    last_seen: Instant,
}

/// Turns incoming RFC 4733 packets into digits, once each.
///
/// Packets with the same RTP timestamp are one event (RFC 4733 §2.5.2); the three
/// retransmitted end packets (§2.5.1.4) report the digit once. If the end packets
/// are all lost, the digit is reported when the next event starts or, via
/// [`DtmfReceiver::handle_timeout`], after [`DtmfReceiver::END_TIMEOUT`] without packets.
#[derive(Debug)]
pub struct DtmfReceiver {
    current: Option<Current>,
    /// Timestamps of recently finished events, to drop late retransmissions.
    recent: [Option<u32>; 4],
    recent_next: usize,
    out: VecDeque<ReceivedDigit>,
}

impl Default for DtmfReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfReceiver {
    /// How long an event without an end packet stays open.
    pub const END_TIMEOUT: Duration = Duration::from_millis(800);

    /// Creates a receiver with no event in progress.
    #[must_use]
    pub fn new() -> Self {
        Self {
            current: None,
            recent: [None; 4],
            recent_next: 0,
            // Allocated with the first digit: most legs never see one.
            out: VecDeque::new(),
        }
    }

    /// Feeds one telephone-event packet: call for every RTP packet whose payload
    /// type is the negotiated telephone-event type, in arrival order.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        rtp_timestamp: u32,
        payload: &[u8],
    ) -> Result<(), Error> {
        let event = EventPayload::parse(payload)?;
        let Some(digit) = DtmfDigit::from_event(event.event) else {
            // Non-DTMF events (flash, tones) are not digits.
            return Ok(());
        };
        if self.recent.contains(&Some(rtp_timestamp)) {
            return Ok(());
        }
        match &mut self.current {
            Some(current) if current.timestamp == rtp_timestamp => {
                current.last_seen = now;
                current.duration = current.duration.max(u32::from(event.duration));
                if event.end && !current.ended {
                    current.ended = true;
                    let done = *current;
                    self.finish(done);
                }
            }
            _ => {
                if let Some(previous) = self.current.take() {
                    if !previous.ended {
                        self.finish(previous);
                    }
                }
                let current = Current {
                    timestamp: rtp_timestamp,
                    digit,
                    duration: u32::from(event.duration),
                    ended: event.end,
                    last_seen: now,
                };
                self.current = Some(current);
                if event.end {
                    self.finish(current);
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, event: Current) {
        self.recent[self.recent_next] = Some(event.timestamp);
        self.recent_next = (self.recent_next + 1) % self.recent.len();
        if self.out.len() < 64 {
            self.out.push_back(ReceivedDigit {
                digit: event.digit,
                duration: event.duration,
                timestamp: event.timestamp,
            });
        }
    }

    /// Closes an event whose end packets never came. Call on every tick.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(current) = self.current {
            if !current.ended
                && now.saturating_duration_since(current.last_seen) >= Self::END_TIMEOUT
            {
                self.current = None;
                self.finish(current);
            }
        }
    }

    /// The next completed digit. Call after `handle_packet`/`handle_timeout` until `None`.
    #[must_use]
    pub fn poll_digit(&mut self) -> Option<ReceivedDigit> {
        self.out.pop_front()
    }
}

/// One telephone-event packet to send: the leg wraps it in RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingEvent {
    /// The 4-byte RFC 4733 payload.
    pub payload: [u8; 4],
    /// RTP marker bit: set on the first packet of an event (§2.5.1.3).
    pub marker: bool,
    /// RTP timestamp: the event's start, the same for all its packets (§2.5.1.2).
    pub timestamp: u32,
}

#[derive(Debug, Clone, Copy)]
struct Sending {
    digit: DtmfDigit,
    timestamp: u32,
    total: u32,
    sent: u32,
    ends_left: u8,
    started: bool,
}

/// Generates RFC 4733 packets for queued digits, one packet per 20 ms frame.
///
/// Each digit is sent as a first packet with the marker bit, updates every
/// packet interval with a growing duration, then three end packets with the
/// final duration (RFC 4733 §2.5.1.4), all with the event's start timestamp.
/// A gap of silence follows each digit before the next one starts.
#[derive(Debug)]
pub struct DtmfSender {
    queue: VecDeque<(DtmfDigit, Duration)>,
    sending: Option<Sending>,
    gap_frames_left: u32,
    samples_per_frame: u32,
    clock_rate: u32,
    volume: u8,
}

impl DtmfSender {
    /// Pause between two digits.
    pub const INTER_DIGIT_GAP: Duration = Duration::from_millis(60);

    /// A sender for a telephone-event stream clocked at `clock_rate` (8000 on a trunk)
    /// with 20 ms packets.
    #[must_use]
    pub fn new(clock_rate: u32) -> Self {
        Self {
            // Allocated with the first digit queued: most legs never send one (768 bytes a
            // leg with room for 32 held up front).
            queue: VecDeque::new(),
            sending: None,
            gap_frames_left: 0,
            samples_per_frame: clock_rate / 50,
            clock_rate,
            volume: 10,
        }
    }

    /// Queues a digit to be sent for `duration` (clamped to 40 ms–5 s).
    /// Call when the staff member presses a dialpad key (SPEC RG-2).
    pub fn queue(&mut self, digit: DtmfDigit, duration: Duration) {
        let duration = duration.clamp(Duration::from_millis(40), Duration::from_secs(5));
        self.queue.push_back((digit, duration));
    }

    /// Whether an event is being sent (audio must pause, RFC 4733 §2.5.1.2 recommends it).
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.sending.is_some()
    }

    /// The packet to send in this 20 ms frame, if any. Call once per tick with the
    /// RTP timestamp the audio frame of this tick would carry.
    #[must_use]
    pub fn poll_packet(&mut self, frame_timestamp: u32) -> Option<OutgoingEvent> {
        if self.sending.is_none() {
            if self.gap_frames_left > 0 {
                self.gap_frames_left -= 1;
                return None;
            }
            let (digit, duration) = self.queue.pop_front()?;
            let total = (duration.as_micros() * u128::from(self.clock_rate) / 1_000_000) as u32;
            // The 16-bit duration field limits one event to 65535 units (§2.5.1.3 long events
            // are not needed for keypad digits).
            self.sending = Some(Sending {
                digit,
                timestamp: frame_timestamp,
                total: total.min(u32::from(u16::MAX)),
                sent: 0,
                ends_left: 3,
                started: false,
            });
        }
        let s = self.sending.as_mut()?;
        let marker = !s.started;
        s.started = true;
        let end = s.sent >= s.total;
        if !end {
            s.sent = (s.sent + self.samples_per_frame).min(s.total);
        }
        let finished_now = s.sent >= s.total;
        let event = EventPayload {
            event: s.digit.event_code(),
            end: finished_now,
            volume: self.volume,
            duration: s.sent as u16,
        };
        let out = OutgoingEvent {
            payload: event.to_bytes(),
            marker,
            timestamp: s.timestamp,
        };
        if finished_now {
            s.ends_left -= 1;
            if s.ends_left == 0 {
                self.sending = None;
                let gap_ms = Self::INTER_DIGIT_GAP.as_millis() as u32;
                self.gap_frames_left = gap_ms.div_ceil(20);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_map_to_event_codes() {
        for (c, code) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('D', 15),
        ] {
            let d = DtmfDigit::from_char(c).unwrap();
            assert_eq!(d.event_code(), code);
            assert_eq!(d.as_char(), c);
        }
        assert!(DtmfDigit::from_char('x').is_err());
        assert_eq!(DtmfDigit::from_event(16), None);
    }

    #[test]
    fn sender_packet_sequence() {
        let mut tx = DtmfSender::new(8000);
        tx.queue(
            DtmfDigit::from_char('5').unwrap(),
            Duration::from_millis(100),
        );
        let mut packets = Vec::new();
        let mut ts = 1000u32;
        while let Some(p) = tx.poll_packet(ts) {
            packets.push(p);
            ts += 160;
        }
        // 100 ms = 800 units: 5 packets growing by 160, the 5th ends, plus 2 retransmissions.
        assert_eq!(packets.len(), 7);
        assert!(packets[0].marker);
        assert!(packets[1..].iter().all(|p| !p.marker));
        assert!(packets.iter().all(|p| p.timestamp == 1000));
        let parsed: Vec<_> = packets
            .iter()
            .map(|p| EventPayload::parse(&p.payload).unwrap())
            .collect();
        let durations: Vec<u16> = parsed.iter().map(|e| e.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        assert_eq!(parsed.iter().filter(|e| e.end).count(), 3);
        assert!(parsed.iter().all(|e| e.event == 5));
    }

    #[test]
    fn receiver_reports_once_despite_retransmitted_ends() {
        let now = Instant::now();
        let mut rx = DtmfReceiver::new();
        let mut tx = DtmfSender::new(8000);
        tx.queue(
            DtmfDigit::from_char('#').unwrap(),
            Duration::from_millis(60),
        );
        tx.queue(
            DtmfDigit::from_char('#').unwrap(),
            Duration::from_millis(60),
        );
        let mut ts = 0u32;
        for _ in 0..40 {
            if let Some(p) = tx.poll_packet(ts) {
                rx.handle_packet(now, p.timestamp, &p.payload).unwrap();
            }
            ts += 160;
        }
        let a = rx.poll_digit().unwrap();
        let b = rx.poll_digit().unwrap();
        assert_eq!(rx.poll_digit(), None);
        assert_eq!((a.digit.as_char(), a.duration), ('#', 480));
        assert_eq!(b.digit.as_char(), '#');
        assert_ne!(a.timestamp, b.timestamp, "same key twice is two events");
    }

    #[test]
    fn lost_end_packets_time_out() {
        let now = Instant::now();
        let mut rx = DtmfReceiver::new();
        let start = EventPayload {
            event: 1,
            end: false,
            volume: 10,
            duration: 160,
        };
        rx.handle_packet(now, 5, &start.to_bytes()).unwrap();
        rx.handle_timeout(now + Duration::from_millis(100));
        assert_eq!(rx.poll_digit(), None);
        rx.handle_timeout(now + Duration::from_secs(1));
        assert_eq!(rx.poll_digit().map(|d| d.digit.as_char()), Some('1'));
        // A late end retransmission for the same event is not a second digit.
        let end = EventPayload { end: true, ..start };
        rx.handle_packet(now + Duration::from_secs(1), 5, &end.to_bytes())
            .unwrap();
        assert_eq!(rx.poll_digit(), None);
        assert!(rx.handle_packet(now, 5, &[1, 2]).is_err());
    }
}
