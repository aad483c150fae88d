//! Property tests: print ∘ parse round trips and no panics on any input.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use denwa_sip::auth::{Challenge, Credentials};
use denwa_sip::headers::{CSeq, NameAddr, Via};
use denwa_sip::message::{Headers, Message, Method, Request, Response, message_length};
use denwa_sip::sdp::{Attribute, Media, SessionDescription};
use denwa_sip::{Config, Endpoint, Input, Output, Transport};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,12}"
}

fn header_value() -> impl Strategy<Value = String> {
    // Printable, no CR/LF, no outer whitespace (the parser trims it).
    "[!-~]([ -~]{0,30}[!-~])?"
}

fn headers() -> impl Strategy<Value = Headers> {
    // Names that are not compact forms or Content-Length (those are normalised).
    let name = "X-[A-Za-z0-9-]{1,10}";
    prop::collection::vec((name, header_value()), 0..8).prop_map(|hs| {
        let mut h = Headers::new();
        for (n, v) in hs {
            h.push(n, v);
        }
        h
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Cancel),
        Just(Method::Options),
        Just(Method::Register),
        Just(Method::Update),
        "[A-Z]{3,10}".prop_map(|m| Method::parse(&m).expect("uppercase letters are a token")),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let body = prop::collection::vec(any::<u8>(), 0..64);
    let req = (
        method(),
        "sip:[a-z0-9]{1,8}@[a-z0-9.]{1,12}",
        headers(),
        body.clone(),
    )
        .prop_map(|(method, uri, headers, body)| {
            Message::Request(Request {
                method,
                uri,
                headers,
                body,
            })
        });
    let resp = (100u16..700, "[A-Za-z][A-Za-z ]{0,20}", headers(), body).prop_map(
        |(status, reason, headers, body)| {
            Message::Response(Response {
                status,
                reason,
                headers,
                body,
            })
        },
    );
    prop_oneof![req, resp]
}

fn sdp() -> impl Strategy<Value = SessionDescription> {
    let attr = ("[a-z][a-z-]{0,10}", prop::option::of("[!-~]{1,20}"))
        .prop_map(|(name, value)| Attribute { name, value });
    let media = (
        prop_oneof![Just("audio".to_owned()), Just("video".to_owned())],
        any::<u16>(),
        prop::collection::vec("[0-9]{1,3}", 1..5),
        prop::option::of("192\\.0\\.2\\.[0-9]{1,3}"),
        prop::collection::vec(attr.clone(), 0..5),
    )
        .prop_map(|(kind, port, formats, connection, attributes)| Media {
            kind,
            port,
            protocol: "RTP/AVP".into(),
            formats,
            connection,
            other: Vec::new(),
            attributes,
        });
    (
        "[a-z-]{1,8}",
        any::<u64>(),
        any::<u64>(),
        prop::collection::vec(attr, 0..3),
        prop::collection::vec(media, 0..3),
    )
        .prop_map(|(user, id, ver, attributes, media)| SessionDescription {
            origin_user: user,
            session_id: id,
            session_version: ver,
            origin_address: "192.0.2.1".into(),
            session_name: "-".into(),
            connection: Some("192.0.2.1".into()),
            other: vec![('t', "0 0".into())],
            attributes,
            media,
        })
}

proptest! {
    #[test]
    fn message_print_parse_round_trip(m in message()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(Message::parse(&bytes), Ok(m));
        prop_assert_eq!(message_length(&bytes), Ok(Some(bytes.len())));
    }

    #[test]
    fn sdp_print_parse_round_trip(s in sdp()) {
        prop_assert_eq!(SessionDescription::parse(&s.to_bytes()), Ok(s));
    }

    #[test]
    fn header_types_round_trip(display in prop::option::of("[A-Za-z \"\\\\]{0,12}"), user in "[a-z0-9]{1,8}", tag in token(), seq in 0u32..(1 << 31)) {
        let mut na = NameAddr::new(format!("sip:{user}@example.com"));
        na.display = display;
        na.set_param("tag", Some(&tag));
        prop_assert_eq!(NameAddr::parse(&na.to_string()), Some(na));
        let cseq = CSeq { seq, method: Method::Invite };
        prop_assert_eq!(CSeq::parse(&cseq.to_string()), Some(cseq));
        let via = Via { transport: "UDP".into(), sent_by: format!("{user}.example:5060"), params: vec![("branch".into(), Some(format!("z9hG4bK{tag}")))] };
        prop_assert_eq!(Via::parse(&via.to_string()), Some(via));
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Message::parse(&bytes);
        let _ = message_length(&bytes);
        let _ = SessionDescription::parse(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = NameAddr::parse(&text);
        let _ = Via::parse(&text);
        let _ = CSeq::parse(&text);
        let _ = Challenge::parse(&text);
        let _ = Credentials::parse(&text);
    }

    #[test]
    fn parsers_never_panic_on_sip_like_text(text in "(INVITE|SIP/2.0|Via:|To:|From:|<|>|;|tag=|\"|,|=|:| |\r\n|[a-z0-9]|v=0|m=audio|a=|c=IN IP4 ){0,80}") {
        let _ = Message::parse(text.as_bytes());
        let _ = SessionDescription::parse(text.as_bytes());
        let _ = NameAddr::parse(&text);
        let _ = Challenge::parse(&text);
    }

    #[test]
    fn endpoint_never_panics_on_mutated_invites(cut in 0usize..600, flip in 0usize..600, byte in any::<u8>(), tcp in any::<bool>()) {
        let base = b"INVITE sip:1@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK1\r\n\
From: <sip:2@192.0.2.20>;tag=a\r\nTo: <sip:1@198.51.100.10>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:2@192.0.2.20>\r\nSession-Expires: 1800;refresher=uac\r\nContent-Type: application/sdp\r\nContent-Length: 83\r\n\r\n\
v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let mut bytes = base.to_vec();
        if flip < bytes.len() {
            bytes[flip] = byte;
        }
        bytes.truncate(cut.max(1).min(bytes.len()));
        let local: SocketAddr = "198.51.100.10:5060".parse().expect("literal");
        let now = Instant::now();
        let mut ep = Endpoint::new(Config::new(local, 3), now);
        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
        ep.handle_input(now, Input::Datagram { from: "192.0.2.20:5060".parse().expect("literal"), to: local, transport, bytes: &bytes });
        let mut t = now;
        for _ in 0..200 {
            match ep.poll_output() {
                Output::Timeout(at) => {
                    if at > now + Duration::from_secs(100) { break; }
                    t = t.max(at);
                    ep.handle_timeout(t);
                }
                Output::Event(denwa_sip::Event::IncomingCall { call, .. }) => {
                    let _ = ep.answer(t, call, denwa_sip::sdp::AudioConfig {
                        rtp_address: "198.51.100.10:30000".parse().expect("literal"),
                        codecs: vec![denwa_sip::sdp::Codec::Pcmu],
                        telephone_event: false,
                        ptime: None,
                        direction: denwa_sip::sdp::Direction::SendRecv,
                    });
                }
                _ => {}
            }
        }
    }
}
