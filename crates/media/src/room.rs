//! The conference room: up to [`MAX_LEGS`] legs mixed N-1 every 20 ms, with
//! mute, hold with hold music, one-shot prompts, per-leg gain, DTMF, an echo mode and
//! recording taps.
//!
//! # Run loop (str0m / quinn-proto style)
//! ```text
//! on datagram from a leg's RTP socket   → room.handle_rtp(now, leg, source, bytes)
//! on datagram from a leg's RTCP socket  → room.handle_rtcp(now, leg, source, bytes)
//! every 20 ms                           → room.tick(now)
//!                                          then write room.recording() to the tracks
//! after any of those                    → while let Some(t) = room.poll_transmit(&mut buf) { send }
//!                                          while let Some(e) = room.poll_event() { handle }
//! ```
//! The room never reads a clock; `now` is always passed in. Nothing on the 20 ms
//! path allocates once the legs are set up.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::codec::{AudioDecoder, AudioEncoder, Codec};
use crate::dtmf::{DtmfDigit, DtmfReceiver, DtmfSender};
use crate::jitter::{JitterBuffer, JitterStats, Playout};
use crate::music::HoldMusic;
use crate::plc::Concealer;
use crate::prompt::{Playback, Prompt};
use crate::rtp::{self, ReceiveStats, RemoteReport, ReportInput, RtpHeader, SeqVerdict};
use crate::{Error, FRAME_SAMPLES};

/// At most this many legs per room (SPEC RG-3: 1 customer + 9 staff).
pub const MAX_LEGS: usize = 10;
/// Tick period of the room.
pub const TICK: Duration = Duration::from_millis(20);
/// RTCP report interval (RFC 3550 §6.2 recommends at least 5 s).
pub const RTCP_INTERVAL: Duration = Duration::from_secs(5);
const MAX_PACKET: usize = 1500;
/// Transmit slots per leg: a tick queues at most one RTP packet and one RTCP report per
/// leg; the rest is headroom for DTMF and a late drain. The queue grows when a leg joins
/// (never on the 20 ms path), so a two-leg call holds 8 slots, not a full room's 40.
const SLOTS_PER_LEG: usize = 4;
/// Events a room has room for per leg before its queue grows (a tick makes at most a
/// few per leg, and the caller drains them after each tick and packet).
const EVENTS_PER_LEG: usize = 8;
/// Bytes a transmit slot holds from the start: a G.711 RTP packet (12 + 160) or an RTCP
/// report fits; a larger datagram (an Opus packet, a long CNAME) grows its slot once.
const SLOT_BYTES: usize = 256;

/// Identifies one leg (one participant's media stream) inside a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(u32);

impl LegId {
    /// The number the room gave this leg (unique within the room, never reused).
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Who the leg belongs to (SPEC glossary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The customer on the trunk; the only leg that can be put on hold.
    Customer,
    /// A staff participant.
    Staff,
}

/// How the leg takes part in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LegMode {
    /// Normal: hears everybody else (N-1) and is heard by them.
    #[default]
    Conference,
    /// Echo test: hears itself (after the jitter buffer), takes no part in the mix.
    Echo,
}

/// How a leg's packets travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// Plain RTP/RTCP over UDP sockets owned by the server (trunk legs, SIP phones).
    #[default]
    Udp,
    /// Another stack carries the packets (WebRTC via str0m: ICE, DTLS-SRTP, RTCP).
    /// Input comes through [`Room::handle_media`]; output [`Transmit`]s carry an
    /// RTP packet with no destination; the room sends no RTCP for such legs.
    External,
}

/// Everything the room needs to know about a new leg (from the SDP offer/answer).
#[derive(Debug, Clone)]
pub struct LegConfig {
    /// Customer or staff.
    pub role: Role,
    /// Conference or echo.
    pub mode: LegMode,
    /// UDP sockets of the server, or an external stack (WebRTC).
    pub transport: Transport,
    /// Negotiated audio codec.
    pub codec: Codec,
    /// Negotiated payload type of `codec` (the static one unless the SDP said otherwise).
    pub payload_type: u8,
    /// Negotiated RFC 4733 `telephone-event` payload type, if any (its clock rate is
    /// the codec's: `telephone-event/8000` for G.711, `/48000` for Opus).
    pub telephone_event: Option<u8>,
    /// Where to send RTP, from the SDP; `None` until latched.
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP; defaults to the RTP port + 1 (RFC 3550 §11).
    pub remote_rtcp: Option<SocketAddr>,
    /// Symmetric RTP (RFC 4961): the first valid packet's source becomes the send
    /// target, overriding the SDP address (for trunks behind NAT).
    pub symmetric_rtp: bool,
    /// Our SSRC for this leg; the server draws it at random (RFC 3550 §8.1).
    pub ssrc: u32,
    /// First RTP sequence number; random per RFC 3550 §5.1.
    pub initial_sequence: u16,
    /// First RTP timestamp; random per RFC 3550 §5.1.
    pub initial_timestamp: u32,
    /// RTCP CNAME (RFC 3550 §6.5.1).
    pub cname: String,
    /// Silence on the wire for this long raises [`Event::MediaTimeout`]. Default 60 s.
    pub inactivity_timeout: Duration,
    /// Join muted (SPEC RG-8 auto-mute).
    pub muted: bool,
}

impl LegConfig {
    /// A configuration with the codec's default payload type, `telephone-event` on
    /// 101, a 60 s inactivity timeout and symmetric RTP for customer (trunk) legs.
    /// Set `ssrc`, `initial_sequence` and `initial_timestamp` from a random source.
    #[must_use]
    pub fn new(role: Role, codec: Codec) -> Self {
        Self {
            role,
            mode: LegMode::Conference,
            transport: Transport::Udp,
            codec,
            payload_type: codec.default_payload_type(),
            telephone_event: Some(101),
            remote_rtp: None,
            remote_rtcp: None,
            symmetric_rtp: role == Role::Customer,
            ssrc: 0x4445_4E57,
            initial_sequence: 0,
            initial_timestamp: 0,
            cname: String::from("denwa"),
            inactivity_timeout: Duration::from_secs(60),
            muted: false,
        }
    }
}

/// Why a leg's media was declared inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactivityReason {
    /// No RTP or RTCP arrived for the configured timeout.
    NoMedia {
        /// How long nothing arrived.
        idle: Duration,
    },
    /// The far end sent RTCP BYE (RFC 3550 §6.6).
    Bye,
}

/// Why a hold ended without an explicit [`Room::unhold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldEndReason {
    /// The staff member who started the hold left (SPEC HD-3).
    HolderLeft,
    /// The customer leg itself left.
    CustomerLeft,
}

/// Something the server must know about; read with [`Room::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A DTMF digit arrived from the leg (RFC 4733).
    Dtmf {
        /// The leg that sent it.
        leg: LegId,
        /// The key.
        digit: DtmfDigit,
        /// How long it was pressed.
        duration: Duration,
    },
    /// Symmetric RTP latched onto this source address.
    Latched {
        /// The leg.
        leg: LegId,
        /// The address RTP is now sent to.
        remote: SocketAddr,
    },
    /// The far end changed its SSRC (RFC 3550 §8.2); statistics restarted.
    SsrcChanged {
        /// The leg.
        leg: LegId,
        /// The new SSRC.
        ssrc: u32,
    },
    /// The leg's media stopped; the call layer decides whether to hang up.
    MediaTimeout {
        /// The leg.
        leg: LegId,
        /// Why.
        reason: InactivityReason,
    },
    /// Media arrived again after a [`Event::MediaTimeout`].
    MediaResumed {
        /// The leg.
        leg: LegId,
    },
    /// The hold ended because a participant left (SPEC HD-3).
    HoldEnded {
        /// The customer leg that was on hold.
        customer: LegId,
        /// Why.
        reason: HoldEndReason,
    },
    /// The prompt started with [`Room::play`] has been played to its end (its last
    /// sample went out in this tick's packet).
    PromptFinished {
        /// The leg that heard it.
        leg: LegId,
    },
    /// The far end's RTCP report about our stream (loss, jitter, round trip).
    RemoteReport {
        /// The leg.
        leg: LegId,
        /// The report.
        report: RemoteReport,
    },
}

/// Which socket a [`Transmit`] belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The leg's RTP socket.
    Rtp,
    /// The leg's RTCP socket.
    Rtcp,
}

/// A datagram to send, written into the caller's buffer by [`Room::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The leg whose socket sends it.
    pub leg: LegId,
    /// RTP or RTCP socket.
    pub channel: Channel,
    /// Destination address; `None` for a [`Transport::External`] leg, whose
    /// stack (str0m) knows where the packet goes.
    pub destination: Option<SocketAddr>,
    /// Bytes written at the start of the buffer.
    pub len: usize,
}

/// Statistics of one leg (RFC 3550 receive stats, jitter buffer, sending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegStats {
    /// Packets received on the current SSRC.
    pub packets_received: u64,
    /// Cumulative packets lost (RFC 3550 A.3).
    pub packets_lost: i32,
    /// Interarrival jitter (RFC 3550 A.8).
    pub jitter: Duration,
    /// Jitter-buffer counters (late, duplicates, concealed, delay).
    pub jitter_buffer: JitterStats,
    /// Datagrams rejected: not RTP, unexpected payload type, or from a foreign source.
    pub rejected: u64,
    /// RTP packets sent to the leg.
    pub packets_sent: u32,
    /// The far end's last report about our stream.
    pub remote: Option<RemoteReport>,
}

#[derive(Debug)]
struct Leg {
    id: LegId,
    config: LegConfig,
    muted: bool,
    gain_q12: i32,
    remote_rtp: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    rtp_latched: bool,
    rtcp_latched: bool,
    stats: ReceiveStats,
    jitter: JitterBuffer,
    plc: Concealer,
    decoder: AudioDecoder,
    encoder: AudioEncoder,
    dtmf_rx: DtmfReceiver,
    dtmf_tx: DtmfSender,
    sequence: u16,
    timestamp: u32,
    packets_sent: u32,
    octets_sent: u32,
    rejected: u64,
    last_media: Instant,
    timed_out: bool,
    next_rtcp: Instant,
    remote_report: Option<RemoteReport>,
    /// A prompt being played to the leg.
    prompt: Option<Playback>,
    /// This tick's decoded audio from the leg.
    input: [i16; FRAME_SAMPLES],
    /// What the leg adds to the mix this tick (after mute, hold and gain); also its track.
    contribution: [i16; FRAME_SAMPLES],
}

impl Leg {
    fn new(id: LegId, config: LegConfig, now: Instant) -> Self {
        let remote_rtcp = config.remote_rtcp.or_else(|| {
            config
                .remote_rtp
                .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
        });
        Self {
            id,
            muted: config.muted,
            gain_q12: 4096,
            remote_rtp: config.remote_rtp,
            remote_rtcp,
            rtp_latched: false,
            rtcp_latched: false,
            stats: ReceiveStats::new(config.codec.clock_rate()),
            jitter: JitterBuffer::new(now),
            plc: Concealer::new(),
            decoder: AudioDecoder::new(config.codec),
            encoder: AudioEncoder::new(config.codec),
            dtmf_rx: DtmfReceiver::new(),
            dtmf_tx: DtmfSender::new(config.codec.clock_rate()),
            sequence: config.initial_sequence,
            timestamp: config.initial_timestamp,
            packets_sent: 0,
            octets_sent: 0,
            rejected: 0,
            last_media: now,
            timed_out: false,
            next_rtcp: now + RTCP_INTERVAL,
            remote_report: None,
            prompt: None,
            input: [0; FRAME_SAMPLES],
            contribution: [0; FRAME_SAMPLES],
            config,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Hold {
    customer: LegId,
    by: LegId,
}

#[derive(Debug)]
struct Pending {
    leg: LegId,
    channel: Channel,
    destination: Option<SocketAddr>,
    len: usize,
    data: Vec<u8>,
}

/// The frames of the last tick, for the recording tracks (SPEC RC-1, HD-4).
///
/// Hold music never appears here: the held customer's track is silent, the
/// mixed track is the sum of what the legs said (after mute and gain).
#[derive(Debug, Clone, Copy)]
pub struct Recording<'a> {
    room: &'a Room,
}

impl<'a> Recording<'a> {
    /// The mixed track: everything anybody said this tick.
    #[must_use]
    pub fn mixed(&self) -> &'a [i16; FRAME_SAMPLES] {
        &self.room.mixed
    }

    /// One track per leg, in join order: what that leg said this tick.
    pub fn tracks(&self) -> impl Iterator<Item = (LegId, &'a [i16; FRAME_SAMPLES])> + 'a {
        self.room
            .legs
            .iter()
            .filter(|l| l.config.mode == LegMode::Conference)
            .map(|l| (l.id, &l.contribution))
    }
}

/// A conference room: the media side of one call. See the module docs for the run loop.
#[derive(Debug)]
pub struct Room {
    legs: Vec<Leg>,
    next_id: u32,
    hold: Option<Hold>,
    music: HoldMusic,
    events: VecDeque<Event>,
    queue: Vec<Pending>,
    queue_head: usize,
    queue_len: usize,
    dropped_transmits: u64,
    /// This tick's mix (the recording's mixed track). The tick's other frames (the
    /// `i32` sum, each leg's output, hold music, the encoded payload) live on the stack
    /// while it runs, not in every room.
    mixed: [i16; FRAME_SAMPLES],
    ntp_anchor: (Instant, u64),
}

impl Room {
    /// Creates an empty room with the built-in hold music. Call when the call's
    /// media starts; `now` anchors RTCP's NTP clock at 0 until
    /// [`Room::set_ntp_anchor`] gives the wall time.
    #[must_use]
    pub fn new(now: Instant) -> Self {
        let queue = Vec::new();
        Self {
            // Grown exactly as legs join: a two-leg call does not pay for ten.
            legs: Vec::new(),
            next_id: 1,
            hold: None,
            music: HoldMusic::builtin(),
            // Grown with the legs (EVENTS_PER_LEG each).
            events: VecDeque::new(),
            queue,
            queue_head: 0,
            queue_len: 0,
            dropped_transmits: 0,
            mixed: [0; FRAME_SAMPLES],
            ntp_anchor: (now, 0),
        }
    }

    /// Sets the NTP time (RFC 3550 §4) that corresponds to `at`, for sender
    /// reports. Call once after creating the room, with the wall clock.
    pub fn set_ntp_anchor(&mut self, at: Instant, ntp: u64) {
        self.ntp_anchor = (at, ntp);
    }

    /// Replaces the hold music (16 kHz mono PCM, looped; a channel's own file, say).
    /// Call any time.
    pub fn set_hold_music(&mut self, music: HoldMusic) {
        self.music = music;
    }

    /// Adds a leg. Call when a participant's media is negotiated (SPEC RG-3:
    /// the 11th leg is refused with [`Error::RoomFull`]; a second customer with
    /// [`Error::CustomerAlreadyPresent`]).
    pub fn add_leg(&mut self, now: Instant, config: LegConfig) -> Result<LegId, Error> {
        if self.legs.len() >= MAX_LEGS {
            return Err(Error::RoomFull { max: MAX_LEGS });
        }
        if config.role == Role::Customer
            && self.legs.iter().any(|l| l.config.role == Role::Customer)
        {
            return Err(Error::CustomerAlreadyPresent);
        }
        let id = LegId(self.next_id);
        self.next_id += 1;
        self.legs.reserve_exact(1);
        self.legs.push(Leg::new(id, config, now));
        self.grow_queue();
        Ok(id)
    }

    /// Removes a leg (SPEC RG-6 leave). If it started the current hold, or is the
    /// held customer, the hold ends and [`Event::HoldEnded`] is queued (SPEC HD-3).
    pub fn remove_leg(&mut self, leg: LegId) -> Result<(), Error> {
        let index = self.index(leg)?;
        self.legs.remove(index);
        if let Some(hold) = self.hold {
            let reason = if hold.by == leg {
                Some(HoldEndReason::HolderLeft)
            } else if hold.customer == leg {
                Some(HoldEndReason::CustomerLeft)
            } else {
                None
            };
            if let Some(reason) = reason {
                self.hold = None;
                self.events.push_back(Event::HoldEnded {
                    customer: hold.customer,
                    reason,
                });
            }
        }
        Ok(())
    }

    /// The legs in the room, in join order.
    pub fn legs(&self) -> impl Iterator<Item = LegId> + '_ {
        self.legs.iter().map(|l| l.id)
    }

    fn index(&self, leg: LegId) -> Result<usize, Error> {
        self.legs
            .iter()
            .position(|l| l.id == leg)
            .ok_or(Error::UnknownLeg(leg))
    }

    fn leg_mut(&mut self, leg: LegId) -> Result<&mut Leg, Error> {
        let index = self.index(leg)?;
        Ok(&mut self.legs[index])
    }

    /// Mutes or unmutes a leg: a muted leg's voice reaches nobody, not even the
    /// recording (SPEC RG-4). Call on the participant's mute toggle.
    pub fn set_muted(&mut self, leg: LegId, muted: bool) -> Result<(), Error> {
        self.leg_mut(leg)?.muted = muted;
        Ok(())
    }

    /// Whether a leg is muted.
    pub fn is_muted(&self, leg: LegId) -> Result<bool, Error> {
        Ok(self.legs[self.index(leg)?].muted)
    }

    /// Sets the gain applied to what a leg says (1.0 = unchanged, clamped to 0–8).
    /// Call when the participant adjusts their level (SPEC RG-5).
    pub fn set_gain(&mut self, leg: LegId, gain: f32) -> Result<(), Error> {
        let gain = if gain.is_finite() {
            gain.clamp(0.0, 8.0)
        } else {
            1.0
        };
        self.leg_mut(leg)?.gain_q12 = (gain * 4096.0).round() as i32;
        Ok(())
    }

    /// The far end moved its media (a re-INVITE or UPDATE with a new `c=`/`m=` address):
    /// RTP goes to `rtp` and RTCP to the port after it, and a symmetric-RTP leg latches
    /// afresh onto the first packet from its new source.
    pub fn set_remote(&mut self, leg: LegId, rtp: SocketAddr) -> Result<(), Error> {
        let i = self.index(leg)?;
        let l = &mut self.legs[i];
        if l.remote_rtp == Some(rtp) && !l.rtp_latched {
            return Ok(());
        }
        l.remote_rtp = Some(rtp);
        l.remote_rtcp = Some(SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)));
        l.rtp_latched = false;
        l.rtcp_latched = false;
        Ok(())
    }

    /// Puts the customer on hold at the request of staff leg `by` (SPEC HD-1):
    /// the customer hears hold music instead of the staff, the staff keep
    /// hearing each other and no longer hear the customer.
    pub fn hold(&mut self, customer: LegId, by: LegId) -> Result<(), Error> {
        let c = self.index(customer)?;
        let b = self.index(by)?;
        if self.legs[c].config.role != Role::Customer {
            return Err(Error::NotCustomer(customer));
        }
        if self.legs[b].config.role != Role::Staff {
            return Err(Error::NotStaff(by));
        }
        self.hold = Some(Hold { customer, by });
        Ok(())
    }

    /// Plays `prompt` once to `leg`, from the next tick: mixed into what the leg hears
    /// (the others, or the hold music), heard by nobody else and never recorded. When
    /// its last sample has gone out, [`Event::PromptFinished`] is queued. A prompt
    /// already playing to the leg is replaced (without an event for it). Call when the
    /// leg must hear an announcement; the samples are shared, not copied.
    pub fn play(&mut self, leg: LegId, prompt: Prompt) -> Result<(), Error> {
        self.leg_mut(leg)?.prompt = Some(Playback::new(prompt));
        Ok(())
    }

    /// Stops the prompt playing to `leg`, if any (no event). Returns whether one played.
    pub fn stop_prompt(&mut self, leg: LegId) -> Result<bool, Error> {
        Ok(self.leg_mut(leg)?.prompt.take().is_some())
    }

    /// Ends the hold; the next tick restores the normal mix (SPEC HD-2).
    /// Returns whether a hold was active.
    pub fn unhold(&mut self) -> bool {
        self.hold.take().is_some()
    }

    /// The customer leg on hold, if any.
    #[must_use]
    pub fn on_hold(&self) -> Option<LegId> {
        self.hold.map(|h| h.customer)
    }

    /// Queues DTMF digits to send to a leg as RFC 4733 events (SPEC RG-2), each
    /// held for `duration`. Call when a staff member presses dialpad keys.
    pub fn send_dtmf(&mut self, leg: LegId, digits: &str, duration: Duration) -> Result<(), Error> {
        let parsed: Result<Vec<DtmfDigit>, Error> =
            digits.chars().map(DtmfDigit::from_char).collect();
        let parsed = parsed?;
        let id = leg;
        let leg = self.leg_mut(leg)?;
        if leg.config.telephone_event.is_none() {
            return Err(Error::DtmfNotNegotiated(id));
        }
        for digit in parsed {
            leg.dtmf_tx.queue(digit, duration);
        }
        Ok(())
    }

    /// Feeds one datagram received on a leg's RTP socket. Call for every
    /// datagram, as it arrives. Malformed packets, unexpected payload types and
    /// packets from a source other than the latched one are counted and
    /// returned as errors; they never panic and never change the room.
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        leg: LegId,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), Error> {
        let index = self.index(leg)?;
        let (header, payload) = match rtp::parse_rtp(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.legs[index].rejected += 1;
                return Err(e);
            }
        };
        self.receive_media(now, index, Some(source), header, payload)
    }

    /// Feeds one RTP packet's header and payload that arrived through an external
    /// transport (a [`Transport::External`] leg: WebRTC, where str0m owns
    /// SRTP and RTCP). Call for every audio or telephone-event packet, as it arrives.
    pub fn handle_media(
        &mut self,
        now: Instant,
        leg: LegId,
        header: RtpHeader,
        payload: &[u8],
    ) -> Result<(), Error> {
        let index = self.index(leg)?;
        self.receive_media(now, index, None, header, payload)
    }

    fn receive_media(
        &mut self,
        now: Instant,
        index: usize,
        source: Option<SocketAddr>,
        header: RtpHeader,
        payload: &[u8],
    ) -> Result<(), Error> {
        let l = &mut self.legs[index];
        let leg = l.id;
        let is_audio = header.payload_type == l.config.payload_type;
        let is_event = Some(header.payload_type) == l.config.telephone_event;
        // Comfort noise (RFC 3389, PT 13) is accepted and played as silence.
        let is_cn = header.payload_type == 13;
        if !(is_audio || is_event || is_cn) {
            l.rejected += 1;
            return Err(Error::UnexpectedPayloadType(header.payload_type));
        }
        if l.rtp_latched && source.is_some() && l.remote_rtp != source {
            l.rejected += 1;
            return Ok(());
        }
        if let (Some(source), true, false) = (source, l.config.symmetric_rtp, l.rtp_latched) {
            // RFC 4961 symmetric RTP: answer where the packets come from.
            l.rtp_latched = true;
            l.remote_rtp = Some(source);
            if !l.rtcp_latched {
                l.remote_rtcp = Some(SocketAddr::new(source.ip(), source.port().wrapping_add(1)));
            }
            self.events.push_back(Event::Latched {
                leg,
                remote: source,
            });
        }
        l.last_media = now;
        if l.timed_out {
            l.timed_out = false;
            self.events.push_back(Event::MediaResumed { leg });
        }
        match l.stats.ssrc() {
            Some(ssrc) if ssrc == header.ssrc => {}
            previous => {
                l.stats.reset_for_ssrc(header.ssrc, header.sequence);
                l.jitter.reset();
                if previous.is_some() {
                    self.events.push_back(Event::SsrcChanged {
                        leg,
                        ssrc: header.ssrc,
                    });
                }
            }
        }
        let ext = match l.stats.update(now, header.sequence, header.timestamp) {
            SeqVerdict::Valid(ext) => ext,
            SeqVerdict::Restarted(ext) => {
                l.jitter.reset();
                ext
            }
            SeqVerdict::Jump => return Ok(()),
        };
        l.jitter.set_jitter(l.stats.jitter_duration());
        if is_audio {
            let _ = l.jitter.push(now, ext, header.timestamp, payload);
        } else {
            // Events and comfort noise occupy their sequence numbers: play silence there.
            let _ = l.jitter.push(now, ext, header.timestamp, &[]);
            if is_event {
                if let Err(e) = l.dtmf_rx.handle_packet(now, header.timestamp, payload) {
                    l.rejected += 1;
                    return Err(e);
                }
                Self::drain_digits(&mut self.events, l);
            }
        }
        Ok(())
    }

    fn drain_digits(events: &mut VecDeque<Event>, l: &mut Leg) {
        while let Some(d) = l.dtmf_rx.poll_digit() {
            let rate = u64::from(l.config.codec.clock_rate());
            let duration = Duration::from_micros(u64::from(d.duration) * 1_000_000 / rate);
            events.push_back(Event::Dtmf {
                leg: l.id,
                digit: d.digit,
                duration,
            });
        }
    }

    /// Feeds one datagram received on a leg's RTCP socket (RFC 3550 §6). Call for
    /// every datagram, as it arrives.
    pub fn handle_rtcp(
        &mut self,
        now: Instant,
        leg: LegId,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), Error> {
        let ntp_now = self.ntp(now);
        let index = self.index(leg)?;
        let l = &mut self.legs[index];
        let summary = match rtp::parse_rtcp(datagram, l.config.ssrc, ntp_now) {
            Ok(s) => s,
            Err(e) => {
                l.rejected += 1;
                return Err(e);
            }
        };
        if l.config.symmetric_rtp && !l.rtcp_latched {
            l.rtcp_latched = true;
            l.remote_rtcp = Some(source);
        }
        l.last_media = now;
        if let Some(ntp) = summary.sender_report_ntp {
            l.stats.note_sender_report(ntp, now);
        }
        if let Some(report) = summary.about_us {
            l.remote_report = Some(report);
            self.events.push_back(Event::RemoteReport { leg, report });
        }
        if summary.bye && !l.timed_out {
            l.timed_out = true;
            self.events.push_back(Event::MediaTimeout {
                leg,
                reason: InactivityReason::Bye,
            });
        }
        Ok(())
    }

    fn ntp(&self, now: Instant) -> u64 {
        rtp::ntp_at(self.ntp_anchor.0, self.ntp_anchor.1, now)
    }

    /// Runs one 20 ms media cycle. Call every 20 ms (the server's timer); if the
    /// timer fell behind, call it once per missed period so every leg's clock
    /// keeps pace with the senders.
    ///
    /// Each leg's jitter buffer yields one frame (decoded, or concealed); every
    /// conference leg hears the sum of the others (N-1), never itself; muted
    /// legs and the held customer contribute nothing; the held customer hears the
    /// hold music; echo legs hear themselves; a leg with a prompt hears it on top
    /// ([`Room::play`]). One RTP packet (audio, or an
    /// RFC 4733 event while a digit is being sent) is queued per leg with a known
    /// destination, and RTCP every [`RTCP_INTERVAL`]. Afterwards [`Room::recording`]
    /// holds this tick's frames.
    pub fn tick(&mut self, now: Instant) {
        let held = self.hold.map(|h| h.customer);
        let mut total = [0i32; FRAME_SAMPLES];
        for l in &mut self.legs {
            Self::receive_frame(l, now, &mut self.events);
            let silent = l.muted || Some(l.id) == held || l.config.mode == LegMode::Echo;
            if silent {
                l.contribution.fill(0);
            } else {
                for ((c, &s), t) in l
                    .contribution
                    .iter_mut()
                    .zip(&l.input)
                    .zip(total.iter_mut())
                {
                    let v = ((i32::from(s) * l.gain_q12) >> 12).clamp(-32768, 32767);
                    *c = v as i16;
                    *t += v;
                }
            }
        }
        for (m, &t) in self.mixed.iter_mut().zip(&total) {
            *m = t.clamp(-32768, 32767) as i16;
        }
        let mut music = [0i16; FRAME_SAMPLES];
        if held.is_some() {
            self.music.next_frame(&mut music);
        }
        let ntp = self.ntp(now);
        let mut out = [0i16; FRAME_SAMPLES];
        let mut payload = [0u8; MAX_PACKET];
        for i in 0..self.legs.len() {
            let l = &mut self.legs[i];
            if l.config.mode == LegMode::Echo {
                out = l.input;
            } else if Some(l.id) == held {
                out = music;
            } else {
                for ((o, &t), &c) in out.iter_mut().zip(&total).zip(&l.contribution) {
                    *o = (t - i32::from(c)).clamp(-32768, 32767) as i16;
                }
            }
            if let Some(p) = l.prompt.as_mut()
                && p.mix_into(&mut out)
            {
                l.prompt = None;
                self.events.push_back(Event::PromptFinished { leg: l.id });
            }
            self.send_frame(i, now, ntp, &out, &mut payload);
        }
    }

    fn receive_frame(l: &mut Leg, now: Instant, events: &mut VecDeque<Event>) {
        match l.jitter.pop(now) {
            Playout::Frame { payload, .. } if !payload.is_empty() => {
                if l.decoder.decode(payload, &mut l.input) {
                    l.plc.good_frame(&mut l.input);
                } else {
                    l.plc.conceal(&mut l.input);
                }
            }
            Playout::Frame { .. } => {
                // A telephone-event or comfort-noise slot: silence, but a real frame for PLC.
                l.input.fill(0);
                l.plc.good_frame(&mut l.input);
            }
            Playout::Lost => l.plc.conceal(&mut l.input),
            Playout::Idle => l.input.fill(0),
        }
        l.dtmf_rx.handle_timeout(now);
        Self::drain_digits(events, l);
        let idle = now.saturating_duration_since(l.last_media);
        if !l.timed_out && idle >= l.config.inactivity_timeout {
            l.timed_out = true;
            events.push_back(Event::MediaTimeout {
                leg: l.id,
                reason: InactivityReason::NoMedia { idle },
            });
        }
    }

    /// Encodes `out` for leg `i` and queues the RTP packet (or a DTMF packet instead);
    /// `payload` is the tick's scratch for the encoded bytes.
    fn send_frame(
        &mut self,
        i: usize,
        now: Instant,
        ntp: u64,
        out: &[i16; FRAME_SAMPLES],
        payload_buf: &mut [u8; MAX_PACKET],
    ) {
        let l = &mut self.legs[i];
        let frame_ts = l.timestamp;
        l.timestamp = l
            .timestamp
            .wrapping_add(l.config.codec.samples_per_packet());
        let event = match l.config.telephone_event {
            Some(_) => l.dtmf_tx.poll_packet(frame_ts),
            None => None,
        };
        // Encode even without a destination so the encoder's resampler state stays continuous.
        let audio_len = if event.is_none() {
            // Leave room for the 12-byte RTP header in the 1500-byte slot.
            l.encoder.encode(out, &mut payload_buf[..MAX_PACKET - 100])
        } else {
            0
        };
        let destination = match (l.config.transport, l.remote_rtp) {
            (Transport::External, _) => None,
            (Transport::Udp, Some(remote)) => Some(remote),
            // No address yet (waiting for symmetric RTP to latch): nothing to send.
            (Transport::Udp, None) => return,
        };
        if event.is_none() && audio_len == 0 {
            // The encoder failed (Opus only): skip this frame rather than send an empty packet.
            return;
        }
        let (header, payload) = match (event, l.config.telephone_event) {
            (Some(ev), Some(pt)) => {
                payload_buf[..4].copy_from_slice(&ev.payload);
                let h = RtpHeader {
                    payload_type: pt,
                    marker: ev.marker,
                    sequence: l.sequence,
                    timestamp: ev.timestamp,
                    ssrc: l.config.ssrc,
                };
                (h, 4)
            }
            _ => {
                let h = RtpHeader {
                    payload_type: l.config.payload_type,
                    marker: l.packets_sent == 0,
                    sequence: l.sequence,
                    timestamp: frame_ts,
                    ssrc: l.config.ssrc,
                };
                (h, audio_len)
            }
        };
        l.sequence = l.sequence.wrapping_add(1);
        l.packets_sent = l.packets_sent.wrapping_add(1);
        l.octets_sent = l.octets_sent.wrapping_add(payload as u32);
        let leg = l.id;
        let rtcp_due = now >= l.next_rtcp;
        if let Some(slot) = Self::queue_slot(
            &mut self.queue,
            self.queue_head,
            &mut self.queue_len,
            &mut self.dropped_transmits,
        ) {
            // Sized to the packet: no allocation unless it outgrows the slot (never G.711).
            slot.data.resize(12 + payload, 0);
            if let Ok(len) = rtp::write_rtp(&mut slot.data[..], &header, &payload_buf[..payload]) {
                slot.leg = leg;
                slot.channel = Channel::Rtp;
                slot.destination = destination;
                slot.len = len;
            } else {
                self.queue_len -= 1;
            }
        }
        if rtcp_due {
            self.send_rtcp(i, now, ntp, payload_buf);
        }
    }

    fn send_rtcp(&mut self, i: usize, now: Instant, ntp: u64, scratch: &mut [u8; MAX_PACKET]) {
        let l = &mut self.legs[i];
        l.next_rtcp = now + RTCP_INTERVAL;
        let (Transport::Udp, Some(destination)) = (l.config.transport, l.remote_rtcp) else {
            return;
        };
        let input = ReportInput {
            ssrc: l.config.ssrc,
            cname: &l.config.cname,
            ntp,
            rtp_timestamp: l.timestamp,
            packets_sent: l.packets_sent,
            octets_sent: l.octets_sent,
        };
        let has_stats = l.stats.received() > 0;
        let stats = if has_stats { Some(&mut l.stats) } else { None };
        let leg = l.id;
        if let Some(slot) = Self::queue_slot(
            &mut self.queue,
            self.queue_head,
            &mut self.queue_len,
            &mut self.dropped_transmits,
        ) {
            // Written into the tick's scratch (free once the RTP packet is queued), then
            // copied into the slot.
            match rtp::write_report(&mut scratch[..], &input, stats, now) {
                Ok(len) => {
                    slot.data.clear();
                    slot.data.extend_from_slice(&scratch[..len]);
                    slot.leg = leg;
                    slot.channel = Channel::Rtcp;
                    slot.destination = Some(destination);
                    slot.len = len;
                }
                Err(_) => self.queue_len -= 1,
            }
        }
    }

    /// Makes room for [`SLOTS_PER_LEG`] transmit slots and [`EVENTS_PER_LEG`] events per
    /// leg. Queued datagrams keep their order: the ring is rotated so they start at
    /// index 0 before slots are added.
    fn grow_queue(&mut self) {
        let events = EVENTS_PER_LEG * self.legs.len();
        self.events
            .reserve_exact(events.saturating_sub(self.events.len()));
        let want = SLOTS_PER_LEG * self.legs.len();
        if self.queue.len() >= want {
            return;
        }
        self.queue.rotate_left(self.queue_head);
        self.queue_head = 0;
        self.queue.resize_with(want, || Pending {
            leg: LegId(0),
            channel: Channel::Rtp,
            destination: None,
            len: 0,
            data: Vec::with_capacity(SLOT_BYTES),
        });
    }

    fn queue_slot<'q>(
        queue: &'q mut [Pending],
        head: usize,
        len: &mut usize,
        dropped: &mut u64,
    ) -> Option<&'q mut Pending> {
        if *len >= queue.len() {
            // The server is not draining poll_transmit; drop rather than grow.
            *dropped += 1;
            return None;
        }
        let index = (head + *len) % queue.len();
        *len += 1;
        Some(&mut queue[index])
    }

    /// The next datagram to send, written into `buf` (at least 1500 bytes to be
    /// safe). Call after every `handle_*` and `tick` until it returns `None`.
    /// A datagram that does not fit `buf` is dropped.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while self.queue_len > 0 {
            let slot = &self.queue[self.queue_head];
            self.queue_head = (self.queue_head + 1) % self.queue.len();
            self.queue_len -= 1;
            if let Some(dst) = buf.get_mut(..slot.len) {
                dst.copy_from_slice(&slot.data[..slot.len]);
                return Some(Transmit {
                    leg: slot.leg,
                    channel: slot.channel,
                    destination: slot.destination,
                    len: slot.len,
                });
            }
            self.dropped_transmits += 1;
        }
        None
    }

    /// The next event. Call after every `handle_*` and `tick` until it returns `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// This tick's frames for the recording tracks. Call right after [`Room::tick`].
    #[must_use]
    pub fn recording(&self) -> Recording<'_> {
        Recording { room: self }
    }

    /// A leg's statistics. Call whenever (e.g. for metrics or the call record).
    pub fn leg_stats(&self, leg: LegId) -> Result<LegStats, Error> {
        let l = &self.legs[self.index(leg)?];
        Ok(LegStats {
            packets_received: l.stats.received(),
            packets_lost: l.stats.cumulative_lost(),
            jitter: l.stats.jitter_duration(),
            jitter_buffer: l.jitter.stats(),
            rejected: l.rejected,
            packets_sent: l.packets_sent,
            remote: l.remote_report,
        })
    }

    /// Datagrams dropped because the transmit queue was full or a buffer too small.
    #[must_use]
    pub fn dropped_transmits(&self) -> u64 {
        self.dropped_transmits
    }
}
