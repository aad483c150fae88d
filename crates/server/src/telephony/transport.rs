//! SIP over UDP and TCP (RFC 3261 §18): the sockets behind the Sans-IO endpoint.
//!
//! UDP datagrams and TCP messages (framed with `denwa_sip::message::message_length`)
//! come out of [`SipIo::recv`] as one stream of [`Received`] messages. Responses go back
//! over the connection the request came on; a message for a TCP peer without a
//! connection opens one. Requests get the RFC 3581 / RFC 3261 §18.2.1 `received` and
//! `rport` values stamped into their top `Via` before the endpoint sees them, so the
//! responses it builds from that `Via` carry them back.

use std::collections::HashMap;
use std::net::SocketAddr;

use denwa_sip::Transport;
use denwa_sip::message::message_length;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Largest SIP message we read (the endpoint drops larger ones too).
pub(crate) const MAX_MESSAGE: usize = 65_535;
/// RFC 3261 §18.1.1: requests larger than this (within 200 bytes of a 1500 byte MTU)
/// go over TCP.
const UDP_REQUEST_LIMIT: usize = 1300;

/// One message from the network.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) from: SocketAddr,
    pub(crate) transport: Transport,
    pub(crate) bytes: Vec<u8>,
}

enum TcpEvent {
    Message(SocketAddr, Vec<u8>),
    Closed(SocketAddr),
}

/// The SIP sockets: one UDP socket, one TCP listener, the open TCP connections.
pub(crate) struct SipIo {
    udp: UdpSocket,
    tcp: TcpListener,
    local: SocketAddr,
    conns: HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>,
    tcp_tx: mpsc::UnboundedSender<TcpEvent>,
    tcp_rx: mpsc::UnboundedReceiver<TcpEvent>,
    buf: Vec<u8>,
}

impl SipIo {
    /// Binds UDP and TCP on the same address (with port 0, TCP takes UDP's port).
    pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<SipIo> {
        let udp = UdpSocket::bind(addr).await?;
        let local = udp.local_addr()?;
        let tcp = TcpListener::bind(local).await?;
        let (tcp_tx, tcp_rx) = mpsc::unbounded_channel();
        Ok(SipIo {
            udp,
            tcp,
            local,
            conns: HashMap::new(),
            tcp_tx,
            tcp_rx,
            buf: vec![0; MAX_MESSAGE + 1],
        })
    }

    /// The bound address (UDP and TCP).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next message from UDP or any TCP connection. Cancel-safe (for `select!`).
    pub(crate) async fn recv(&mut self) -> Received {
        loop {
            tokio::select! {
                r = self.udp.recv_from(&mut self.buf) => match r {
                    Ok((n, from)) if n <= MAX_MESSAGE => {
                        let bytes = stamp_via(&self.buf[..n], from)
                            .unwrap_or_else(|| self.buf[..n].to_vec());
                        return Received { from, transport: Transport::Udp, bytes };
                    }
                    Ok((_, from)) => tracing::debug!(%from, "oversized SIP datagram dropped"),
                    // ICMP errors surfacing on the socket and the like: nothing to do.
                    Err(e) => tracing::debug!(error = %e, "SIP UDP receive error"),
                },
                r = self.tcp.accept() => match r {
                    Ok((stream, from)) => self.adopt(stream, from),
                    Err(e) => {
                        tracing::warn!(error = %e, "SIP TCP accept failed");
                        // Out of file descriptors and the like: do not spin.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                Some(ev) = self.tcp_rx.recv() => match ev {
                    TcpEvent::Message(from, bytes) => {
                        let bytes = stamp_via(&bytes, from).unwrap_or(bytes);
                        return Received { from, transport: Transport::Tcp, bytes };
                    }
                    TcpEvent::Closed(from) => {
                        self.conns.remove(&from);
                    }
                },
            }
        }
    }

    /// A message that is already waiting (UDP datagram or framed TCP message), without
    /// waiting: lets the edge feed a burst to the endpoint before draining its output.
    pub(crate) fn try_recv(&mut self) -> Option<Received> {
        loop {
            match self.udp.try_recv_from(&mut self.buf) {
                Ok((n, from)) if n <= MAX_MESSAGE => {
                    let bytes =
                        stamp_via(&self.buf[..n], from).unwrap_or_else(|| self.buf[..n].to_vec());
                    return Some(Received {
                        from,
                        transport: Transport::Udp,
                        bytes,
                    });
                }
                Ok(_) => continue, // oversized: dropped
                Err(_) => break,
            }
        }
        loop {
            match self.tcp_rx.try_recv().ok()? {
                TcpEvent::Message(from, bytes) => {
                    let bytes = stamp_via(&bytes, from).unwrap_or(bytes);
                    return Some(Received {
                        from,
                        transport: Transport::Tcp,
                        bytes,
                    });
                }
                TcpEvent::Closed(from) => {
                    self.conns.remove(&from);
                }
            }
        }
    }

    /// Sends one message. UDP requests above the §18.1.1 limit go over TCP instead
    /// (with their `Via` transport changed). Errors are logged: SIP retransmits.
    pub(crate) async fn send(&mut self, to: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        let (transport, bytes) = match transport {
            Transport::Udp if bytes.len() > UDP_REQUEST_LIMIT && is_request(&bytes) => {
                (Transport::Tcp, via_to_tcp(&bytes).unwrap_or(bytes))
            }
            t => (t, bytes),
        };
        match transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(&bytes, to).await {
                    tracing::debug!(%to, error = %e, "SIP UDP send failed");
                }
            }
            Transport::Tcp => {
                if let Some(tx) = self.conns.get(&to) {
                    if tx.send(bytes).is_ok() {
                        return;
                    }
                    self.conns.remove(&to);
                    return;
                }
                self.connect(to, bytes);
            }
        }
    }

    fn adopt(&mut self, stream: TcpStream, from: SocketAddr) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.conns.insert(from, tx);
        tokio::spawn(connection(stream, from, rx, self.tcp_tx.clone()));
    }

    fn connect(&mut self, to: SocketAddr, first: Vec<u8>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(first);
        self.conns.insert(to, tx);
        let events = self.tcp_tx.clone();
        tokio::spawn(async move {
            match TcpStream::connect(to).await {
                Ok(stream) => connection(stream, to, rx, events).await,
                Err(e) => {
                    tracing::info!(%to, error = %e, "SIP TCP connect failed");
                    let _ = events.send(TcpEvent::Closed(to));
                }
            }
        });
    }
}

/// Reads framed messages from one TCP connection and writes what the edge sends to it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    mut out: mpsc::UnboundedReceiver<Vec<u8>>,
    events: mpsc::UnboundedSender<TcpEvent>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = out.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    'read: loop {
        match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        loop {
            // RFC 5626 §3.5.1 keep-alive CRLFs between messages carry nothing.
            let skip = buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            buf.drain(..skip);
            match message_length(&buf) {
                Ok(Some(n)) if n <= MAX_MESSAGE => {
                    let msg: Vec<u8> = buf.drain(..n).collect();
                    if events.send(TcpEvent::Message(peer, msg)).is_err() {
                        break 'read;
                    }
                }
                Ok(None) if buf.len() <= MAX_MESSAGE => break,
                // Unframeable (no Content-Length on a stream) or too large: the stream
                // cannot be resynchronised, so the connection is closed (RFC 3261 §18.3).
                Ok(_) | Err(_) => {
                    tracing::info!(%peer, "closing SIP TCP connection: unframeable input");
                    break 'read;
                }
            }
        }
    }
    writer.abort();
    let _ = events.send(TcpEvent::Closed(peer));
}

fn is_request(bytes: &[u8]) -> bool {
    !bytes.starts_with(b"SIP/")
}

/// The header section of a message (up to the blank line), as text.
fn head(bytes: &[u8]) -> Option<&str> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| bytes.windows(2).position(|w| w == b"\n\n"))?;
    std::str::from_utf8(&bytes[..end]).ok()
}

/// Byte range (within the message) of the first value of the first `Via` header.
fn top_via_range(bytes: &[u8]) -> Option<(usize, usize)> {
    let head = head(bytes)?;
    let mut offset = 0;
    for (i, line) in head.split('\n').enumerate() {
        let start = offset;
        offset += line.len() + 1;
        if i == 0 {
            continue; // start line
        }
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if !(name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v")) {
            continue;
        }
        let value_start = start + name_len(line) + 1;
        let line_end = start + line.trim_end_matches('\r').len();
        // The first value ends at a comma outside quotes, or at the end of the line.
        let mut quoted = false;
        let mut end = line_end;
        for (j, c) in head[value_start..line_end].char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = value_start + j;
                    break;
                }
                _ => {}
            }
        }
        return Some((value_start, end));
    }
    None
}

fn name_len(line: &str) -> usize {
    line.find(':').unwrap_or(0)
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: adds `received=<source ip>` to the top `Via` when
/// its sent-by host differs from the source, and fills in an empty `rport` (with
/// `received` too). Returns `None` for responses and messages left unchanged.
pub(crate) fn stamp_via(bytes: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    if !is_request(bytes) {
        return None;
    }
    let (start, end) = top_via_range(bytes)?;
    let value = std::str::from_utf8(&bytes[start..end]).ok()?;
    let mut parts = value.split(';');
    let sent = parts.next()?.trim();
    // "SIP/2.0/UDP host:port"
    let sent_by = sent.split_whitespace().nth(1)?;
    let host = if let Some(v6) = sent_by.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        sent_by.rsplit_once(':').map_or(sent_by, |(h, _)| h)
    };
    let params: Vec<&str> = parts.map(str::trim).collect();
    let wants_rport = params.iter().any(|p| p.eq_ignore_ascii_case("rport"));
    let has_received = params
        .iter()
        .any(|p| p.to_ascii_lowercase().starts_with("received="));
    let source_ip = from.ip().to_string();
    let differs = host.parse::<std::net::IpAddr>().ok() != Some(from.ip());
    if !wants_rport && (!differs || has_received) {
        return None;
    }
    let mut new = String::from(sent);
    for p in &params {
        if p.eq_ignore_ascii_case("rport") {
            new.push_str(&format!(";rport={}", from.port()));
        } else if !(p.to_ascii_lowercase().starts_with("received=")) {
            new.push(';');
            new.push_str(p);
        }
    }
    if differs || wants_rport {
        new.push_str(&format!(";received={source_ip}"));
    } else if let Some(r) = params
        .iter()
        .find(|p| p.to_ascii_lowercase().starts_with("received="))
    {
        new.push(';');
        new.push_str(r);
    }
    let lead = &value[..value.len() - value.trim_start().len()];
    let mut out = Vec::with_capacity(bytes.len() + 40);
    out.extend_from_slice(&bytes[..start]);
    out.extend_from_slice(lead.as_bytes());
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    Some(out)
}

/// Rewrites the top `Via` of a request we send from `SIP/2.0/UDP` to `SIP/2.0/TCP`.
fn via_to_tcp(bytes: &[u8]) -> Option<Vec<u8>> {
    let (start, end) = top_via_range(bytes)?;
    let value = std::str::from_utf8(&bytes[start..end]).ok()?;
    let at = value.to_ascii_uppercase().find("SIP/2.0/UDP")?;
    let mut out = bytes.to_vec();
    out[start + at + 8..start + at + 11].copy_from_slice(b"TCP");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = "INVITE sip:9196@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc;rport\r\nv: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKold\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n";

    fn src() -> SocketAddr {
        "203.0.113.7:40000".parse().unwrap()
    }

    #[test]
    fn rport_and_received_are_filled_in_on_the_top_via_only() {
        let out = String::from_utf8(stamp_via(REQ.as_bytes(), src()).unwrap()).unwrap();
        assert!(out.contains(
            "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc;rport=40000;received=203.0.113.7\r\n"
        ));
        assert!(out.contains("v: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKold\r\n"));
        assert!(denwa_sip::message::Message::parse(out.as_bytes()).is_ok());
    }

    #[test]
    fn received_only_when_the_host_differs() {
        let same = REQ.replace(";rport", "").replace("10.0.0.5", "203.0.113.7");
        assert!(stamp_via(same.as_bytes(), src()).is_none());
        let other = REQ.replace(";rport", "");
        let out = String::from_utf8(stamp_via(other.as_bytes(), src()).unwrap()).unwrap();
        assert!(out.contains("branch=z9hG4bKabc;received=203.0.113.7\r\n"));
    }

    #[test]
    fn first_of_several_values_on_one_line() {
        let req = "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h1;rport;branch=z9hG4bK1, SIP/2.0/UDP h2;branch=z9hG4bK2\r\n\r\n";
        let out = String::from_utf8(stamp_via(req.as_bytes(), src()).unwrap()).unwrap();
        assert!(out.contains(
            "Via: SIP/2.0/UDP h1;rport=40000;branch=z9hG4bK1;received=203.0.113.7, SIP/2.0/UDP h2;branch=z9hG4bK2\r\n"
        ));
    }

    #[test]
    fn responses_and_garbage_are_left_alone() {
        assert!(stamp_via(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;rport\r\n\r\n", src()).is_none());
        for junk in [
            &b""[..],
            b"\xff\xfe\r\n\r\n",
            b"INVITE\r\nVia:\r\n\r\n",
            b"X\nVia: a\n\n",
        ] {
            let _ = stamp_via(junk, src());
        }
    }

    #[test]
    fn large_requests_say_tcp_in_their_via() {
        let out = via_to_tcp(REQ.as_bytes()).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("Via: SIP/2.0/TCP 10.0.0.5:5062"));
        assert!(s.contains("v: SIP/2.0/UDP 10.0.0.9"));
    }
}
