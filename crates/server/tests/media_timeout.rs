//! Media inactivity: an answered call whose RTP never arrives (or stops) is hung up with
//! BYE after `--media-timeout`, and the reason is logged.

mod sip_support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sip_support::{Server, free_block};

fn request(sock: &UdpSocket, text: &str) {
    sock.send(text.as_bytes()).unwrap();
}

/// Waits for a message whose first line starts with `start`; answers nothing.
fn wait_for(sock: &UdpSocket, start: &str, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while Instant::now() < end {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.starts_with(start) {
                return msg;
            }
            seen.push(msg);
        }
    }
    panic!("no {start:?} within {timeout:?}; got {seen:#?}");
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
}

#[test]
fn a_call_without_media_is_hung_up_after_the_media_timeout() {
    let server = Server::start(&["--media-timeout", "2", "--echo-max-duration", "120"]);
    let port = free_block(4);
    let sock = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    sock.connect(server.sip_addr()).unwrap();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n",
        port + 2
    );
    let invite = format!(
        "INVITE sip:9196@127.0.0.1:{sp} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKsilent;rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=silent1\r\n\
         To: <sip:9196@127.0.0.1>\r\n\
         Call-ID: silent@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:{port}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        sp = server.sip_port,
    );
    request(&sock, &invite);
    let ok = wait_for(&sock, "SIP/2.0 200", Duration::from_secs(20));
    // The answer keeps the caller's preference: PCMA first.
    assert!(ok.contains("m=audio") && ok.contains("RTP/AVP 8"), "{ok}");
    let to = header(&ok, "To");
    request(
        &sock,
        &format!(
            "ACK sip:denwa@127.0.0.1:{sp} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKsilentack\r\n\
             From: <sip:caller@127.0.0.1>;tag=silent1\r\n\
             To: {to}\r\n\
             Call-ID: silent@test\r\n\
             CSeq: 1 ACK\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            sp = server.sip_port
        ),
    );
    let answered = Instant::now();
    let bye = wait_for(&sock, "BYE ", Duration::from_secs(30));
    let after = answered.elapsed();
    assert!(
        after >= Duration::from_millis(1500),
        "BYE after {after:?}, before the timeout"
    );
    // Answer the BYE so the server's transaction completes.
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        ok.push_str(&format!("{name}: {}\r\n", header(&bye, name)));
    }
    ok.push_str("Content-Length: 0\r\n\r\n");
    request(&sock, &ok);
    let log = server.log();
    assert!(log.contains("no media for 2 s"), "{log}");
}
