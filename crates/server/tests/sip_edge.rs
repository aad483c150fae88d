//! Inbound routing at the SIP edge with SIPp (and a raw UDP socket where SIPp cannot
//! look): CANCEL while a DID rings → 487, unknown number → 404, source outside every
//! trunk → 403, no common codec → 488, ring timeout → 480 with `rport` filled in, and
//! garbage on UDP and TCP never takes the server down.

mod sip_support;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use sip_support::{Console, Server, free_block, get_json, http, login, sipp_caller};

/// The demo channel's number, national form (normalised with the channel's region, JP).
const DID: &str = "05012345678";

/// A staff console open on the demo channel: with someone online the DID rings (with
/// nobody online the call is missed at once with `noOperator`, SPEC IN-5).
fn someone_online(server: &Server) -> (String, Console) {
    let token = login(server);
    let console = Console::open(server, &token);
    (token, console)
}

/// Sets the demo channel's ring timeout (its routing setting).
fn set_ring_timeout(server: &Server, token: &str, secs: u32) {
    let mut routing = get_json(server, token, "/api/v1/channels/1/routing");
    routing["ring_timeout_secs"] = secs.into();
    let (status, body) = http(
        server,
        "PUT",
        "/api/v1/channels/1/routing",
        Some(token),
        &routing.to_string(),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn cancel_while_a_did_rings_gets_487() {
    let server = Server::start(&[]);
    let _online = someone_online(&server);
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", DID),
            ("SCENARIO", "cancel"),
            ("CANCEL_MS", "1500"),
        ],
    );
    run.assert_ok(&server, "CANCEL while the DID rings");
    let messages = run.file("messages.log");
    assert!(messages.contains("SIP/2.0 180"), "{messages}");
    assert!(messages.contains("SIP/2.0 487"), "{messages}");
    assert!(server.log().contains("caller cancelled"));
}

#[test]
fn e164_form_of_the_did_rings_too_and_an_unknown_number_gets_404() {
    let server = Server::start(&[]);
    let _online = someone_online(&server);
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "+815012345678"),
            ("SCENARIO", "cancel"),
            ("CANCEL_MS", "500"),
        ],
    );
    run.assert_ok(&server, "the call to the DID in E.164 form");
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "0312345678"),
            ("SCENARIO", "reject"),
            ("EXPECT", "404"),
        ],
    );
    run.assert_ok(&server, "the call to an unknown number");
    assert!(run.file("messages.log").contains("SIP/2.0 404"));
}

#[test]
fn a_source_outside_every_trunk_gets_403() {
    let server = Server::start(&[]);
    // The demo trunk allows 127.0.0.1 and ::1 only; SIPp calls from 127.0.0.2.
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "9196"),
            ("SCENARIO", "reject"),
            ("EXPECT", "403"),
            ("PEER_IP", "127.0.0.2"),
        ],
    );
    run.assert_ok(&server, "the call from outside every trunk");
    assert!(run.file("messages.log").contains("SIP/2.0 403"));
    assert!(server.log().contains("source not allowed by any trunk"));
}

#[test]
fn an_offer_without_g711_gets_488() {
    let server = Server::start(&[]);
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "9196"),
            ("SCENARIO", "reject"),
            ("EXPECT", "488"),
            ("CODECS", "18"),
            ("RTPMAPS", "a=rtpmap:18 G729/8000"),
        ],
    );
    run.assert_ok(&server, "the G.729-only offer");
}

fn invite(port: u16, local: u16, branch: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:{DID}@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.55:{local};branch={branch};rport\r\n\
         From: <sip:0312345678@192.0.2.55>;tag=t1\r\n\
         To: <sip:{DID}@127.0.0.1>\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:{local}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// Reads responses until one with `status` arrives (or `timeout`).
fn until_status(sock: &UdpSocket, status: &str, timeout: Duration) -> Vec<String> {
    let end = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = msg.starts_with(&format!("SIP/2.0 {status}"));
            seen.push(msg);
            if done {
                return seen;
            }
        }
    }
    panic!("no {status} within {timeout:?}; got: {seen:#?}");
}

#[test]
fn a_did_nobody_answers_gets_480_at_the_ring_timeout_with_rport_filled_in() {
    let server = Server::start(&[]);
    let (token, _online) = someone_online(&server);
    set_ring_timeout(&server, &token, 2);
    let port = free_block(2);
    let sock = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    sock.connect(server.sip_addr()).unwrap();
    let started = Instant::now();
    sock.send(invite(server.sip_port, port, "z9hG4bKring1").as_bytes())
        .unwrap();
    let seen = until_status(&sock, "480", Duration::from_secs(30));
    let rang = seen.iter().any(|m| m.starts_with("SIP/2.0 180"));
    assert!(rang, "{seen:#?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "480 came too early"
    );
    let last = seen.last().unwrap();
    // RFC 3581: the response says where the request came from.
    assert!(
        last.contains(&format!("rport={port}")) && last.contains("received=127.0.0.1"),
        "{last}"
    );
}

#[test]
fn garbage_on_udp_and_tcp_never_takes_the_server_down() {
    let mut server = Server::start(&["--echo-max-duration", "3", "--sip-invite-rate", "1000"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.sip_addr();
    let valid = invite(server.sip_port, 5999, "z9hG4bKjunk");
    let mut junk: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r\n\r\n".to_vec(),
        b"\x00\x01\x02\xff\xfe".to_vec(),
        b"INVITE\r\n\r\n".to_vec(),
        b"INVITE sip:9196@x SIP/2.0\r\nVia: \r\nContent-Length: 99999999999999999999\r\n\r\n"
            .to_vec(),
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKnothing\r\nCSeq: 1 INVITE\r\n\r\n"
            .to_vec(),
        b"INVITE sip:9196@x SIP/2.0\r\nVia: SIP/2.0/UDP [::1;branch=z9hG4bK\r\n\r\n".to_vec(),
        vec![b'A'; 70_000],
        valid
            .replace("m=audio 40000", "m=audio 99999999")
            .into_bytes(),
        valid
            .replace("Content-Length: ", "Content-Length: 9")
            .into_bytes(),
    ];
    // Every prefix of a valid INVITE, and byte flips through it.
    let bytes = valid.as_bytes();
    for cut in (0..bytes.len()).step_by(7) {
        junk.push(bytes[..cut].to_vec());
        let mut flipped = bytes.to_vec();
        flipped[cut] ^= 0x5a;
        junk.push(flipped);
    }
    for j in &junk {
        let _ = sock.send_to(j, addr);
    }
    // TCP: a stream without Content-Length, a huge header, then a half message.
    for payload in [
        &b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKt\r\n\r\n"[..],
        &vec![b'x'; 100_000][..],
        &bytes[..bytes.len() / 2],
    ] {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(payload);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.alive(), "denwa died:\n{}", server.log());
    // A normal call still works afterwards.
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "9196"),
            ("SCENARIO", "waitbye"),
            ("WAIT_BYE_MS", "30000"),
        ],
    );
    run.assert_ok(&server, "the echo call after the garbage");
    assert!(server.alive());
    server.wait_log("maximum echo test duration", Duration::from_secs(5));
}
