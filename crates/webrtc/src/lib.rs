//! Sans-IO browser leg for Denwa: one staff console's WebRTC audio, over `str0m`.
//!
//! The browser offers (one audio m-line, Opus); the server answers as an ICE-lite
//! peer (RFC 8445 §2.5) with one host candidate on a UDP socket the server owns,
//! completes DTLS-SRTP (RFC 5763, RFC 5764) and then carries Opus RTP (RFC 7587)
//! both ways. `str0m` owns ICE, DTLS, SRTP and RTCP; this crate hands the media
//! room plain RTP, matching [`denwa_media::Room::handle_media`] on the way in and
//! the room's destination-less [`denwa_media::Transmit`]s on the way out.
//!
//! # Run loop (str0m / quinn-proto style)
//! ```text
//! SDP offer from the console      → BrowserLeg::accept_offer(now, offer, local_addr) → answer
//! datagram on the leg's UDP socket → leg.handle_input(now, source, local_addr, bytes)
//! the leg's timeout is reached     → leg.handle_timeout(now)
//! room transmit for this leg       → leg.send_rtp(now, packet)
//! after any of those               → loop { match leg.poll_output()? {
//!                                        Output::Transmit(t) => send t.contents to t.destination,
//!                                        Output::Event(Event::Media(m)) =>
//!                                            room.handle_media(now, leg_id, m.header, &m.payload),
//!                                        Output::Event(e) => handle e,
//!                                        Output::Timeout(at) => { wake at `at`; break }
//!                                    } }
//! ```
//! The leg never reads a clock or touches a socket; `now` is always passed in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use denwa_media::rtp::{RtpHeader, parse_rtp};
use str0m::change::SdpOffer;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, IceConnectionState, Input, Rtc, RtcConfig};

/// The RFC 4733 `telephone-event/48000` payload type the leg offers to match
/// (Chromium's usual choice; the browser's own number wins in the answer).
const TELEPHONE_EVENT_PT: u8 = 126;

/// Everything that can go wrong with a browser leg.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The offer is not valid SDP.
    #[error("bad SDP offer: {0}")]
    Sdp(String),
    /// The offer has no audio m-line with Opus (RFC 7587), so there is nothing to answer.
    #[error("the offer has no audio m-line with Opus")]
    NoOpusAudio,
    /// The local candidate address cannot be used (unspecified, broadcast…).
    #[error("bad local candidate {addr}: {reason}")]
    BadCandidate {
        /// The address given to [`BrowserLeg::accept_offer`].
        addr: SocketAddr,
        /// Why `str0m` refused it.
        reason: String,
    },
    /// A datagram that is neither STUN, DTLS, RTP nor RTCP (RFC 7983 demultiplexing).
    #[error("datagram not STUN, DTLS, RTP or RTCP: {0}")]
    Datagram(String),
    /// An RTP packet handed to [`BrowserLeg::send_rtp`] is malformed.
    #[error("bad RTP packet to send: {0}")]
    Rtp(#[from] denwa_media::Error),
    /// An RTP packet to send has a payload type that was not negotiated.
    #[error("payload type {0} was not negotiated with the browser")]
    UnexpectedPayloadType(u8),
    /// `str0m` refused the input or failed (ICE, DTLS, SRTP, SDP negotiation).
    #[error("webrtc: {0}")]
    Rtc(#[from] str0m::RtcError),
}

/// A datagram to send from the leg's UDP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local address it leaves from (the candidate given to [`BrowserLeg::accept_offer`]).
    pub source: SocketAddr,
    /// Where it goes (the browser's address, learned through ICE).
    pub destination: SocketAddr,
    /// The datagram: STUN, DTLS or SRTP/SRTCP.
    pub contents: Vec<u8>,
}

/// One RTP packet from the browser, decrypted: exactly what
/// [`denwa_media::Room::handle_media`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// The RTP header (payload type, marker, sequence, timestamp, SSRC).
    pub header: RtpHeader,
    /// The RTP payload: one Opus frame, or an RFC 4733 event.
    pub payload: Arc<[u8]>,
}

/// Something the server must know about; read with [`BrowserLeg::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// ICE found a path and DTLS completed: media flows from now on. Comes again
    /// when ICE finds the browser after a [`Event::Disconnected`].
    Connected,
    /// ICE lost the browser (no consent for a while, RFC 7675). The leg may
    /// reconnect if the browser comes back; the call layer decides whether to hang up.
    Disconnected,
    /// The browser closed DTLS (the tab hung up or closed); the leg is finished.
    Closed,
    /// An audio or telephone-event RTP packet from the browser.
    Media(Media),
}

/// What the leg wants done next; see the crate docs for the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this datagram.
    Transmit(Transmit),
    /// Handle this event.
    Event(Event),
    /// Nothing more to do until this instant: call [`BrowserLeg::handle_timeout`] then.
    Timeout(Instant),
}

/// Payload types negotiated with the browser, for the room's leg configuration
/// (`LegConfig::payload_type` and `LegConfig::telephone_event`, codec Opus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadTypes {
    /// Opus (48 kHz clock, RFC 7587).
    pub opus: u8,
    /// RFC 4733 `telephone-event/48000`, if the browser offered it.
    pub telephone_event: Option<u8>,
}

/// The browser side of a call: one `str0m` peer, ICE-lite, one audio m-line.
pub struct BrowserLeg {
    rtc: Rtc,
    mid: Mid,
    local: SocketAddr,
    payload_types: PayloadTypes,
    connected: bool,
    /// DTLS completed once (ICE may come and go afterwards).
    dtls_up: bool,
    /// Extended sequence number of the last packet sent, for str0m's 64-bit `SeqNo`.
    last_sent_seq: Option<u64>,
}

impl std::fmt::Debug for BrowserLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserLeg")
            .field("mid", &self.mid)
            .field("local", &self.local)
            .field("payload_types", &self.payload_types)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

impl BrowserLeg {
    /// Answers a browser's SDP offer (RFC 8829 §5.3). Call when the console posts
    /// its offer; send the returned answer back. `local` is the address of the UDP
    /// socket that will carry this leg (the answer's only candidate, a host
    /// candidate; the server is ICE-lite, so the browser does the checks).
    ///
    /// Bad SDP, or an offer without Opus audio, is an error; nothing panics.
    pub fn accept_offer(
        now: Instant,
        offer_sdp: &str,
        local: SocketAddr,
    ) -> Result<(BrowserLeg, String), Error> {
        let offer = SdpOffer::from_sdp_string(offer_sdp).map_err(|e| Error::Sdp(e.to_string()))?;
        let mut config = RtcConfig::new()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false);
        config.codec_config().add_config(
            Pt::new_with_value(TELEPHONE_EVENT_PT),
            None,
            Codec::Tele,
            Frequency::FORTY_EIGHT_KHZ,
            None,
            FormatParams::default(),
        );
        let mut rtc = config.build(now);
        let candidate = Candidate::host(local, "udp").map_err(|e| Error::BadCandidate {
            addr: local,
            reason: e.to_string(),
        })?;
        if rtc.add_local_candidate(candidate).is_none() {
            return Err(Error::BadCandidate {
                addr: local,
                reason: String::from("refused by the ICE agent"),
            });
        }
        let answer = rtc.sdp_api().accept_offer(offer)?;

        // The first audio m-line the answer kept (a rejected one has no media).
        let mid = answer
            .media_lines
            .iter()
            .map(|line| line.mid())
            .find(|&mid| rtc.media(mid).is_some_and(|m| m.kind() == MediaKind::Audio))
            .ok_or(Error::NoOpusAudio)?;
        let payload_types = negotiated(&rtc, mid).ok_or(Error::NoOpusAudio)?;
        let leg = BrowserLeg {
            rtc,
            mid,
            local,
            payload_types,
            connected: false,
            dtls_up: false,
            last_sent_seq: None,
        };
        Ok((leg, answer.to_sdp_string()))
    }

    /// The payload types agreed with the browser: give them to the room's leg
    /// (codec Opus, transport external).
    #[must_use]
    pub fn payload_types(&self) -> PayloadTypes {
        self.payload_types
    }

    /// The local address given to [`BrowserLeg::accept_offer`].
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether ICE and DTLS are up (between [`Event::Connected`] and
    /// [`Event::Disconnected`]/[`Event::Closed`]).
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether the leg is still alive; `false` once it is closed or timed out for good.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }

    /// Whether a datagram received on a shared socket belongs to this leg (its
    /// ICE credentials or its browser's address). Call it to demultiplex several
    /// legs on one socket before [`BrowserLeg::handle_input`].
    #[must_use]
    pub fn accepts(
        &self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        match Receive::new(Protocol::Udp, source, destination, datagram) {
            Ok(r) => self.rtc.accepts(&Input::Receive(now, r)),
            Err(_) => false,
        }
    }

    /// Feeds one datagram received on the leg's UDP socket: `source` is the
    /// sender, `destination` the local socket address. Call for every datagram,
    /// as it arrives, then drain [`BrowserLeg::poll_output`]. A datagram that is
    /// not STUN, DTLS, RTP or RTCP (RFC 7983) is an error and changes nothing.
    pub fn handle_input(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), Error> {
        let receive = Receive::new(Protocol::Udp, source, destination, datagram)
            .map_err(|e| Error::Datagram(e.to_string()))?;
        self.rtc.handle_input(Input::Receive(now, receive))?;
        Ok(())
    }

    /// Advances timers (ICE consent, DTLS retransmits, RTCP). Call when the
    /// instant of the last [`Output::Timeout`] is reached, then drain
    /// [`BrowserLeg::poll_output`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.rtc.handle_input(Input::Timeout(now))?;
        Ok(())
    }

    /// Queues one RTP packet the room produced for this leg (header + Opus or
    /// telephone-event payload); `str0m` sends it SRTP-protected under its own
    /// SSRC, keeping the packet's sequence number, timestamp and marker. Call for
    /// every destination-less [`denwa_media::Transmit`] of this leg, then drain
    /// [`BrowserLeg::poll_output`].
    ///
    /// Returns `Ok(false)` when the packet was dropped because DTLS is not up yet
    /// (the room starts sending before the browser connects).
    pub fn send_rtp(&mut self, now: Instant, packet: &[u8]) -> Result<bool, Error> {
        let (header, payload) = parse_rtp(packet)?;
        let negotiated = header.payload_type == self.payload_types.opus
            || Some(header.payload_type) == self.payload_types.telephone_event;
        if !negotiated {
            return Err(Error::UnexpectedPayloadType(header.payload_type));
        }
        if !self.connected {
            return Ok(false);
        }
        let seq = extend_seq(self.last_sent_seq, header.sequence);
        let mut direct = self.rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(self.mid, None) else {
            return Ok(false);
        };
        stream.write_rtp(
            RtpWrite::new(
                Pt::new_with_value(header.payload_type),
                SeqNo::from(seq),
                header.timestamp,
                now,
                payload.to_vec(),
            )
            .marker(header.marker),
        );
        self.last_sent_seq = Some(seq);
        Ok(true)
    }

    /// Closes the leg: RTCP BYE and DTLS close_notify go out without waiting for
    /// the browser. Call when the call ends (or the staff member leaves it), then
    /// drain [`BrowserLeg::poll_output`] so the goodbyes leave; once they have,
    /// [`BrowserLeg::is_alive`] is `false`.
    pub fn close(&mut self) -> Result<(), Error> {
        self.connected = false;
        self.rtc.close()?;
        Ok(())
    }

    /// The next thing to do. Call after [`BrowserLeg::accept_offer`] and after every
    /// `handle_*`/`send_rtp` until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Result<Output, Error> {
        loop {
            match self.rtc.poll_output()? {
                str0m::Output::Timeout(at) => return Ok(Output::Timeout(at)),
                str0m::Output::Transmit(t) => {
                    return Ok(Output::Transmit(Transmit {
                        source: t.source,
                        destination: t.destination,
                        contents: t.contents.to_vec(),
                    }));
                }
                str0m::Output::Event(str0m::Event::RtpPacket(p)) => {
                    let pt = *p.header.payload_type;
                    let wanted = pt == self.payload_types.opus
                        || Some(pt) == self.payload_types.telephone_event;
                    if wanted {
                        return Ok(Output::Event(Event::Media(Media {
                            header: RtpHeader {
                                payload_type: pt,
                                marker: p.header.marker,
                                sequence: p.header.sequence_number,
                                timestamp: p.header.timestamp,
                                ssrc: *p.header.ssrc,
                            },
                            payload: p.payload,
                        })));
                    }
                }
                str0m::Output::Event(e) => {
                    if let Some(e) = self.map_event(e) {
                        return Ok(Output::Event(e));
                    }
                }
            }
        }
    }

    /// The events the server cares about; the rest (statistics, media changes) are dropped.
    fn map_event(&mut self, e: str0m::Event) -> Option<Event> {
        match e {
            str0m::Event::Connected => {
                self.dtls_up = true;
                self.connected = true;
                Some(Event::Connected)
            }
            // ICE found the browser again after losing it; DTLS and SRTP are still up.
            str0m::Event::IceConnectionStateChange(
                IceConnectionState::Connected | IceConnectionState::Completed,
            ) if self.dtls_up && !self.connected && self.rtc.is_alive() => {
                self.connected = true;
                Some(Event::Connected)
            }
            str0m::Event::IceConnectionStateChange(IceConnectionState::Disconnected)
                if self.connected =>
            {
                self.connected = false;
                Some(Event::Disconnected)
            }
            str0m::Event::Closed => {
                self.connected = false;
                Some(Event::Closed)
            }
            _ => None,
        }
    }
}

/// The Opus and 48 kHz telephone-event payload types both sides agreed on for `mid`.
fn negotiated(rtc: &Rtc, mid: Mid) -> Option<PayloadTypes> {
    let media = rtc.media(mid)?;
    let remote = media.remote_pts();
    let mut opus = None;
    let mut telephone_event = None;
    for p in rtc.codec_config().params() {
        if !remote.contains(&p.pt()) {
            continue;
        }
        let spec = p.spec();
        if spec.codec == Codec::Opus && opus.is_none() {
            opus = Some(*p.pt());
        } else if spec.codec == Codec::Tele
            && spec.clock_rate == Frequency::FORTY_EIGHT_KHZ
            && telephone_event.is_none()
        {
            telephone_event = Some(*p.pt());
        }
    }
    Some(PayloadTypes {
        opus: opus?,
        telephone_event,
    })
}

/// Extends a 16-bit RTP sequence number to str0m's 64-bit one, following
/// the room's counter across wrap-arounds (RFC 3550 §A.1).
fn extend_seq(last: Option<u64>, seq: u16) -> u64 {
    match last {
        None => u64::from(seq),
        Some(last) => {
            let delta = i64::from(seq.wrapping_sub(last as u16) as i16);
            // Far in the past at the very start: keep the extended number non-negative.
            last.checked_add_signed(delta).unwrap_or(u64::from(seq))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::extend_seq;

    #[test]
    fn sequence_numbers_extend_across_the_wrap() {
        assert_eq!(extend_seq(None, 65_535), 65_535);
        assert_eq!(extend_seq(Some(65_535), 0), 65_536);
        assert_eq!(extend_seq(Some(65_536), 1), 65_537);
        assert_eq!(extend_seq(Some(70_000), 70_000u64 as u16 - 3), 69_997);
        assert_eq!(extend_seq(Some(2), 65_534), 65_534);
    }
}
