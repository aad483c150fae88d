//! SDP (RFC 8866) parsing/printing and audio offer/answer (RFC 3264).
//!
//! Supported codecs: PCMU (PT 0), PCMA (PT 8), Opus (RFC 7587, dynamic) and
//! telephone-event (RFC 4733, dynamic). Direction attributes are modelled
//! with [`Direction`]; a peer that offers `sendonly`/`inactive` or a
//! `c=0.0.0.0` address (RFC 3264 §8.4, legacy RFC 2543 hold) is on hold.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

/// Why SDP could not be parsed or negotiated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is not UTF-8 text.
    #[error("SDP is not UTF-8")]
    NotUtf8,
    /// A line is not `x=value` or a mandatory line is missing/malformed.
    #[error("malformed SDP line {0}")]
    Line(usize),
    /// Mandatory `v=`, `o=` or `s=` is missing.
    #[error("missing mandatory SDP line {0}")]
    Missing(char),
    /// No audio stream in the offer shares a codec with us: answer 488
    /// (RFC 3264 §6, RFC 3261 §13.3.1.3).
    #[error("no common audio codec")]
    NoCommonCodec,
    /// The offer has no usable connection address.
    #[error("no connection address for the audio stream")]
    NoConnection,
}

/// An `a=` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Name (before `:`).
    pub name: String,
    /// Value (after `:`), if any.
    pub value: Option<String>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Media type: `audio`, `video`, …
    pub kind: String,
    /// Port; 0 means the stream is rejected/disabled.
    pub port: u16,
    /// Transport protocol, e.g. `RTP/AVP`.
    pub protocol: String,
    /// Format list (payload types for RTP).
    pub formats: Vec<String>,
    /// Media-level `c=` address, if any.
    pub connection: Option<String>,
    /// Other lines inside this section (`b=`, `i=`, …) kept verbatim as (type, value).
    pub other: Vec<(char, String)>,
    /// Attributes.
    pub attributes: Vec<Attribute>,
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` username.
    pub origin_user: String,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version, incremented on every change (RFC 3264 §8).
    pub session_version: u64,
    /// `o=` unicast address (`IN IP4 x` / `IN IP6 x`), the address part.
    pub origin_address: String,
    /// `s=` session name.
    pub session_name: String,
    /// Session-level `c=` address.
    pub connection: Option<String>,
    /// Other session-level lines (`t=`, `b=`, …) kept verbatim as (type, value).
    pub other: Vec<(char, String)>,
    /// Session-level attributes.
    pub attributes: Vec<Attribute>,
    /// Media sections.
    pub media: Vec<Media>,
}

fn addr_type(addr: &str) -> &'static str {
    if addr.contains(':') { "IP6" } else { "IP4" }
}

/// Parses `IN IP4 addr`; returns the address.
fn parse_connection(v: &str) -> Option<String> {
    let mut it = v.split_whitespace();
    let (Some("IN"), Some("IP4" | "IP6"), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return None;
    };
    // Multicast TTL suffix (`/127`) is kept out of the address.
    let addr = addr.split('/').next().unwrap_or(addr);
    (!addr.is_empty()).then(|| addr.to_owned())
}

fn parse_attribute(v: &str) -> Attribute {
    match v.split_once(':') {
        Some((n, val)) => Attribute {
            name: n.to_owned(),
            value: Some(val.to_owned()),
        },
        None => Attribute {
            name: v.to_owned(),
            value: None,
        },
    }
}

impl SessionDescription {
    /// Parses an SDP body. Unknown lines are kept, so printing preserves them.
    ///
    /// # Errors
    /// [`SdpError`] for non-UTF-8 text or malformed mandatory lines.
    pub fn parse(bytes: &[u8]) -> Result<SessionDescription, SdpError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SdpError::NotUtf8)?;
        let mut sd = SessionDescription {
            origin_user: String::new(),
            session_id: 0,
            session_version: 0,
            origin_address: String::new(),
            session_name: String::new(),
            connection: None,
            other: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
        };
        let (mut seen_v, mut seen_o, mut seen_s) = (false, false, false);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let bad = SdpError::Line(n + 1);
            let mut chars = line.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(bad);
            };
            if !kind.is_ascii_lowercase() {
                return Err(bad);
            }
            let value = &line[2..];
            if let Some(m) = sd.media.last_mut() {
                match kind {
                    'c' => m.connection = Some(parse_connection(value).ok_or(bad)?),
                    'a' => m.attributes.push(parse_attribute(value)),
                    'm' => sd.media.push(parse_media(value).ok_or(bad)?),
                    _ => m.other.push((kind, value.to_owned())),
                }
                continue;
            }
            match kind {
                'v' => {
                    if value != "0" {
                        return Err(bad);
                    }
                    seen_v = true;
                }
                'o' => {
                    let mut it = value.split_whitespace();
                    let (Some(user), Some(id), Some(ver), Some("IN"), Some(_), Some(addr), None) = (
                        it.next(),
                        it.next(),
                        it.next(),
                        it.next(),
                        it.next(),
                        it.next(),
                        it.next(),
                    ) else {
                        return Err(bad);
                    };
                    sd.origin_user = user.to_owned();
                    sd.session_id = id.parse().map_err(|_| bad.clone())?;
                    sd.session_version = ver.parse().map_err(|_| bad.clone())?;
                    sd.origin_address = addr.to_owned();
                    seen_o = true;
                }
                's' => {
                    sd.session_name = value.to_owned();
                    seen_s = true;
                }
                'c' => sd.connection = Some(parse_connection(value).ok_or(bad)?),
                'a' => sd.attributes.push(parse_attribute(value)),
                'm' => sd.media.push(parse_media(value).ok_or(bad)?),
                _ => sd.other.push((kind, value.to_owned())),
            }
        }
        if !seen_v {
            return Err(SdpError::Missing('v'));
        }
        if !seen_o {
            return Err(SdpError::Missing('o'));
        }
        if !seen_s {
            return Err(SdpError::Missing('s'));
        }
        Ok(sd)
    }

    /// Prints the description (CRLF line ends).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The first audio stream that is not disabled (port ≠ 0).
    #[must_use]
    pub fn audio(&self) -> Option<&Media> {
        self.media.iter().find(|m| m.kind == "audio" && m.port != 0)
    }

    /// The direction of the first active audio stream (media-level attribute,
    /// else session-level, else `sendrecv`, RFC 3264 §5.1).
    #[must_use]
    pub fn audio_direction(&self) -> Direction {
        self.audio()
            .and_then(|m| direction_in(&m.attributes))
            .or_else(|| direction_in(&self.attributes))
            .unwrap_or(Direction::SendRecv)
    }

    /// The RTP address of the first active audio stream.
    #[must_use]
    pub fn audio_address(&self) -> Option<SocketAddr> {
        let m = self.audio()?;
        let ip: IpAddr = m
            .connection
            .as_ref()
            .or(self.connection.as_ref())?
            .parse()
            .ok()?;
        Some(SocketAddr::new(ip, m.port))
    }

    /// Whether the sender of this description puts the other side on hold:
    /// `sendonly` or `inactive`, or a zero connection address (RFC 3264 §8.4).
    #[must_use]
    pub fn is_hold(&self) -> bool {
        let zero_addr = self
            .audio_address()
            .is_some_and(|a| a.ip().is_unspecified());
        matches!(
            self.audio_direction(),
            Direction::SendOnly | Direction::Inactive
        ) || zero_addr
    }
}

fn direction_in(attrs: &[Attribute]) -> Option<Direction> {
    attrs
        .iter()
        .find_map(|a| Direction::from_attribute(&a.name))
}

fn parse_media(v: &str) -> Option<Media> {
    let mut it = v.split_whitespace();
    let kind = it.next()?;
    let port = it.next()?;
    let protocol = it.next()?;
    // `port/count` form: keep the base port.
    let port: u16 = port.split('/').next()?.parse().ok()?;
    Some(Media {
        kind: kind.to_owned(),
        port,
        protocol: protocol.to_owned(),
        formats: it.map(str::to_owned).collect(),
        connection: None,
        other: Vec::new(),
        attributes: Vec::new(),
    })
}

fn write_attrs(out: &mut String, attrs: &[Attribute]) {
    for a in attrs {
        match &a.value {
            Some(v) => {
                let _ = write!(out, "a={}:{}\r\n", a.name, v);
            }
            None => {
                let _ = write!(out, "a={}\r\n", a.name);
            }
        }
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        out.push_str("v=0\r\n");
        let _ = write!(
            out,
            "o={} {} {} IN {} {}\r\ns={}\r\n",
            self.origin_user,
            self.session_id,
            self.session_version,
            addr_type(&self.origin_address),
            self.origin_address,
            self.session_name
        );
        if let Some(c) = &self.connection {
            let _ = write!(out, "c=IN {} {}\r\n", addr_type(c), c);
        }
        for (k, v) in &self.other {
            let _ = write!(out, "{k}={v}\r\n");
        }
        write_attrs(&mut out, &self.attributes);
        for m in &self.media {
            let _ = write!(out, "m={} {} {}", m.kind, m.port, m.protocol);
            for fmt in &m.formats {
                out.push(' ');
                out.push_str(fmt);
            }
            out.push_str("\r\n");
            for (k, v) in m.other.iter().filter(|(k, _)| *k == 'i') {
                let _ = write!(out, "{k}={v}\r\n");
            }
            if let Some(c) = &m.connection {
                let _ = write!(out, "c=IN {} {}\r\n", addr_type(c), c);
            }
            for (k, v) in m.other.iter().filter(|(k, _)| *k != 'i') {
                let _ = write!(out, "{k}={v}\r\n");
            }
            write_attrs(&mut out, &m.attributes);
        }
        f.write_str(&out)
    }
}

/// Media direction (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Send and receive.
    SendRecv,
    /// Only send.
    SendOnly,
    /// Only receive.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses an attribute name.
    #[must_use]
    pub fn from_attribute(s: &str) -> Option<Direction> {
        Some(match s {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The answer's direction for an offered one, limited by what we want
    /// (RFC 3264 §6.1 table).
    #[must_use]
    pub fn answer_to(self, local: Direction) -> Direction {
        let (offer_send, offer_recv) = self.flags();
        let (we_send, we_recv) = local.flags();
        Direction::from_flags(offer_recv && we_send, offer_send && we_recv)
    }

    fn flags(self) -> (bool, bool) {
        match self {
            Direction::SendRecv => (true, true),
            Direction::SendOnly => (true, false),
            Direction::RecvOnly => (false, true),
            Direction::Inactive => (false, false),
        }
    }

    fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }
}

/// An audio codec we can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static PT 0.
    Pcmu,
    /// G.711 A-law, static PT 8.
    Pcma,
    /// Opus (RFC 7587), `opus/48000/2`.
    Opus,
    /// RFC 4733 DTMF events, `telephone-event/8000`.
    TelephoneEvent,
}

impl Codec {
    /// `encoding/clock[/channels]` as in `a=rtpmap`.
    #[must_use]
    pub fn rtpmap(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU/8000",
            Codec::Pcma => "PCMA/8000",
            Codec::Opus => "opus/48000/2",
            Codec::TelephoneEvent => "telephone-event/8000",
        }
    }

    /// The payload type we use when we make the offer.
    #[must_use]
    pub fn default_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::Opus => 111,
            Codec::TelephoneEvent => 101,
        }
    }

    fn matches(self, encoding: &str, clock: &str) -> bool {
        let (e, c) = match self {
            Codec::Pcmu => ("PCMU", "8000"),
            Codec::Pcma => ("PCMA", "8000"),
            Codec::Opus => ("opus", "48000"),
            Codec::TelephoneEvent => ("telephone-event", "8000"),
        };
        encoding.eq_ignore_ascii_case(e) && clock == c
    }
}

/// What we offer or accept for audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// Our RTP address (what goes into `c=` and `m=`).
    pub rtp_address: SocketAddr,
    /// Voice codecs in our order of preference.
    pub codecs: Vec<Codec>,
    /// Whether we accept/offer RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// Packetisation time in ms (`a=ptime`), if we want one.
    pub ptime: Option<u32>,
    /// The direction we want (sendrecv normally; sendonly to hold the peer).
    pub direction: Direction,
}

/// The result of offer/answer for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedAudio {
    /// Where to send RTP.
    pub remote_rtp: SocketAddr,
    /// The voice codec both sides use.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// telephone-event payload type, if both sides support it.
    pub telephone_event_pt: Option<u8>,
    /// Packetisation time, if signalled.
    pub ptime: Option<u32>,
    /// Our direction after negotiation.
    pub direction: Direction,
    /// Whether the peer has put us on hold (see [`SessionDescription::is_hold`]).
    pub remote_hold: bool,
}

/// (payload type, codec) pairs in the order they are listed in `m`.
fn offered_codecs(m: &Media) -> Vec<(u8, Codec)> {
    let mut out = Vec::new();
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let rtpmap = m.attributes.iter().find_map(|a| {
            let v = a.value.as_deref()?;
            if a.name != "rtpmap" {
                return None;
            }
            let (p, enc) = v.split_once(' ')?;
            (p.trim().parse::<u8>().ok()? == pt).then_some(enc.trim())
        });
        let codec = match rtpmap {
            Some(enc) => {
                let mut parts = enc.split('/');
                let (e, c) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                [Codec::Pcmu, Codec::Pcma, Codec::Opus, Codec::TelephoneEvent]
                    .into_iter()
                    .find(|k| k.matches(e, c))
            }
            None => match pt {
                0 => Some(Codec::Pcmu),
                8 => Some(Codec::Pcma),
                _ => None,
            },
        };
        if let Some(c) = codec {
            out.push((pt, c));
        }
    }
    out
}

fn ptime_of(m: &Media) -> Option<u32> {
    m.attributes
        .iter()
        .find(|a| a.name == "ptime")
        .and_then(|a| a.value.as_deref()?.trim().parse().ok())
}

fn audio_media(
    local: &AudioConfig,
    port: u16,
    codecs: &[(u8, Codec)],
    ptime: Option<u32>,
    dir: Direction,
) -> Media {
    let mut attributes = Vec::new();
    for (pt, c) in codecs {
        attributes.push(Attribute {
            name: "rtpmap".into(),
            value: Some(format!("{pt} {}", c.rtpmap())),
        });
        if *c == Codec::TelephoneEvent {
            attributes.push(Attribute {
                name: "fmtp".into(),
                value: Some(format!("{pt} 0-16")),
            });
        }
    }
    if let Some(p) = ptime {
        attributes.push(Attribute {
            name: "ptime".into(),
            value: Some(p.to_string()),
        });
    }
    attributes.push(Attribute {
        name: dir.as_str().into(),
        value: None,
    });
    let _ = local;
    Media {
        kind: "audio".into(),
        port,
        protocol: "RTP/AVP".into(),
        formats: codecs.iter().map(|(pt, _)| pt.to_string()).collect(),
        connection: None,
        other: Vec::new(),
        attributes,
    }
}

/// Builds an SDP offer for one audio stream (RFC 3264 §5).
#[must_use]
pub fn create_offer(local: &AudioConfig, session_id: u64, version: u64) -> SessionDescription {
    let mut codecs: Vec<(u8, Codec)> = local
        .codecs
        .iter()
        .map(|c| (c.default_payload_type(), *c))
        .collect();
    if local.telephone_event {
        codecs.push((
            Codec::TelephoneEvent.default_payload_type(),
            Codec::TelephoneEvent,
        ));
    }
    let ip = local.rtp_address.ip().to_string();
    SessionDescription {
        origin_user: "denwa".into(),
        session_id,
        session_version: version,
        origin_address: ip.clone(),
        session_name: "denwa".into(),
        connection: Some(ip),
        other: vec![('t', "0 0".into())],
        attributes: Vec::new(),
        media: vec![audio_media(
            local,
            local.rtp_address.port(),
            &codecs,
            local.ptime,
            local.direction,
        )],
    }
}

/// Answers an offer (RFC 3264 §6): accepts the first active audio stream with
/// every codec we support (in the offerer's order, keeping its payload
/// types), rejects all other streams with port 0, and mirrors the direction.
///
/// # Errors
/// [`SdpError::NoCommonCodec`] when no voice codec matches (answer 488),
/// [`SdpError::NoConnection`] when the offer has no address.
pub fn answer_offer(
    offer: &SessionDescription,
    local: &AudioConfig,
    session_id: u64,
    version: u64,
) -> Result<(SessionDescription, NegotiatedAudio), SdpError> {
    let audio_index = offer
        .media
        .iter()
        .position(|m| m.kind == "audio" && m.port != 0)
        .ok_or(SdpError::NoCommonCodec)?;
    let m = &offer.media[audio_index];
    let offered = offered_codecs(m);
    let voice: Vec<(u8, Codec)> = offered
        .iter()
        .copied()
        .filter(|(_, c)| *c != Codec::TelephoneEvent && local.codecs.contains(c))
        .collect();
    // Pick the offerer's most preferred codec that we support.
    let &(payload_type, codec) = voice.first().ok_or(SdpError::NoCommonCodec)?;
    let te = offered
        .iter()
        .copied()
        .find(|(_, c)| *c == Codec::TelephoneEvent && local.telephone_event);
    let remote_rtp = offer.audio_address().ok_or(SdpError::NoConnection)?;
    let offered_dir = offer.audio_direction();
    let direction = offered_dir.answer_to(local.direction);
    let ptime = local.ptime.or_else(|| ptime_of(m));
    let mut codecs = vec![(payload_type, codec)];
    codecs.extend(te);
    let ip = local.rtp_address.ip().to_string();
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, om)| {
            if i == audio_index {
                audio_media(local, local.rtp_address.port(), &codecs, ptime, direction)
            } else {
                Media {
                    kind: om.kind.clone(),
                    port: 0,
                    protocol: om.protocol.clone(),
                    formats: om.formats.clone(),
                    connection: None,
                    other: Vec::new(),
                    attributes: Vec::new(),
                }
            }
        })
        .collect();
    let answer = SessionDescription {
        origin_user: "denwa".into(),
        session_id,
        session_version: version,
        origin_address: ip.clone(),
        session_name: "denwa".into(),
        connection: Some(ip),
        other: vec![('t', "0 0".into())],
        attributes: Vec::new(),
        media,
    };
    Ok((
        answer,
        NegotiatedAudio {
            remote_rtp,
            codec,
            payload_type,
            telephone_event_pt: te.map(|(pt, _)| pt),
            ptime,
            direction,
            remote_hold: offer.is_hold(),
        },
    ))
}

/// Reads the answer to our offer (RFC 3264 §7).
///
/// # Errors
/// [`SdpError::NoCommonCodec`] when the answer accepts none of our voice
/// codecs, [`SdpError::NoConnection`] when it has no address.
pub fn process_answer(
    answer: &SessionDescription,
    local: &AudioConfig,
) -> Result<NegotiatedAudio, SdpError> {
    let m = answer.audio().ok_or(SdpError::NoCommonCodec)?;
    let offered = offered_codecs(m);
    let &(payload_type, codec) = offered
        .iter()
        .find(|(_, c)| *c != Codec::TelephoneEvent && local.codecs.contains(c))
        .ok_or(SdpError::NoCommonCodec)?;
    let te = offered
        .iter()
        .find(|(_, c)| *c == Codec::TelephoneEvent && local.telephone_event)
        .map(|(pt, _)| *pt);
    let remote_dir = answer.audio_direction();
    Ok(NegotiatedAudio {
        remote_rtp: answer.audio_address().ok_or(SdpError::NoConnection)?,
        codec,
        payload_type,
        telephone_event_pt: te,
        ptime: ptime_of(m).or(local.ptime),
        direction: remote_dir.answer_to(local.direction),
        remote_hold: answer.is_hold(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 18 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n\
        m=video 5000 RTP/AVP 96\r\n";

    fn local() -> AudioConfig {
        AudioConfig {
            rtp_address: "198.51.100.7:30000".parse().expect("literal"),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            ptime: None,
            direction: Direction::SendRecv,
        }
    }

    #[test]
    fn answer_picks_offerers_first_supported_codec_and_rejects_video() {
        let offer = SessionDescription::parse(OFFER.as_bytes()).expect("valid");
        let (answer, neg) = answer_offer(&offer, &local(), 7, 1).expect("match");
        assert_eq!(
            (neg.codec, neg.payload_type, neg.telephone_event_pt),
            (Codec::Pcma, 8, Some(101))
        );
        assert_eq!(neg.remote_rtp, "192.0.2.1:4000".parse().expect("literal"));
        assert_eq!(neg.ptime, Some(20));
        assert_eq!(answer.media.len(), 2);
        assert_eq!(answer.media[1].port, 0);
        assert_eq!(answer.media[0].formats, vec!["8", "101"]);
        let reparsed = SessionDescription::parse(&answer.to_bytes()).expect("valid");
        assert_eq!(reparsed, answer);
    }

    #[test]
    fn empty_connection_address_is_malformed() {
        let bad = OFFER.replace("c=IN IP4 192.0.2.1", "c=IN IP4 /127");
        assert_eq!(
            SessionDescription::parse(bad.as_bytes()),
            Err(SdpError::Line(4))
        );
    }

    #[test]
    fn no_common_codec_is_an_error() {
        let offer = SessionDescription::parse(OFFER.replace("18 8 0 101", "18 101").as_bytes())
            .expect("valid");
        assert_eq!(
            answer_offer(&offer, &local(), 1, 1).map(|_| ()),
            Err(SdpError::NoCommonCodec)
        );
    }

    #[test]
    fn sendonly_offer_is_hold_and_answer_is_recvonly() {
        let offer = SessionDescription::parse(OFFER.replace("a=sendrecv", "a=sendonly").as_bytes())
            .expect("valid");
        assert!(offer.is_hold());
        let (_, neg) = answer_offer(&offer, &local(), 1, 1).expect("match");
        assert_eq!(neg.direction, Direction::RecvOnly);
        assert!(neg.remote_hold);
        let legacy = SessionDescription::parse(
            OFFER
                .replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0")
                .as_bytes(),
        )
        .expect("valid");
        assert!(legacy.is_hold());
    }

    #[test]
    fn offer_and_answer_agree_on_opus() {
        let mut l = local();
        l.codecs = vec![Codec::Opus, Codec::Pcmu];
        let offer = create_offer(&l, 1, 1);
        let (answer, neg) = answer_offer(&offer, &l, 2, 1).expect("match");
        assert_eq!(neg.codec, Codec::Opus);
        let back = process_answer(&answer, &l).expect("match");
        assert_eq!((back.codec, back.payload_type), (Codec::Opus, 111));
    }
}
