//! SIP message model, parser and printer (RFC 3261 §7, §20).
//!
//! The parser is deliberately small and strict about structure but lenient
//! about whitespace: it accepts CRLF or bare LF line ends, header folding
//! (RFC 3261 §7.3.1) and compact header names (§7.3.3), which it expands to
//! their canonical long form. Printing always emits CRLF, canonical names and
//! a `Content-Length` that matches the body, so `parse(print(m)) == m`.

use std::fmt;

use crate::headers::{CSeq, NameAddr, Via};

/// Upper bound on the number of header fields in one message; more is
/// treated as malformed (a cheap guard against header floods).
pub const MAX_HEADERS: usize = 128;

/// Why bytes could not be parsed as a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The message head (start line and headers) is not terminated by an empty line.
    #[error("message head is not terminated by an empty line")]
    Incomplete,
    /// The message head is not valid UTF-8.
    #[error("message head is not UTF-8")]
    NotUtf8,
    /// The start line is neither a request line nor a status line.
    #[error("malformed start line")]
    StartLine,
    /// A header line has no colon or an invalid name.
    #[error("malformed header line")]
    HeaderLine,
    /// More than [`MAX_HEADERS`] header fields.
    #[error("too many header fields")]
    TooManyHeaders,
    /// `Content-Length` is not a number.
    #[error("invalid Content-Length")]
    ContentLength,
    /// The body is shorter than `Content-Length` says.
    #[error("body shorter than Content-Length")]
    Truncated,
    /// A header needed to handle the message is missing or malformed.
    #[error("missing or malformed {0} header")]
    Header(&'static str),
}

/// A SIP request method (RFC 3261 §7.1, plus UPDATE RFC 3311, INFO RFC 6086,
/// PRACK RFC 3262).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE, RFC 3261 §13.
    Invite,
    /// ACK, RFC 3261 §17.1.1.3 and §13.2.2.4.
    Ack,
    /// BYE, RFC 3261 §15.
    Bye,
    /// CANCEL, RFC 3261 §9.
    Cancel,
    /// OPTIONS, RFC 3261 §11.
    Options,
    /// REGISTER, RFC 3261 §10.
    Register,
    /// UPDATE, RFC 3311.
    Update,
    /// INFO, RFC 6086.
    Info,
    /// PRACK, RFC 3262.
    Prack,
    /// Any other extension method (a valid token).
    Other(String),
}

impl Method {
    /// The method's token as it appears on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Other(s) => s,
        }
    }

    /// Parses a method token; `None` when it is not a valid token.
    #[must_use]
    pub fn parse(s: &str) -> Option<Method> {
        if !is_token(s) {
            return None;
        }
        Some(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            other => Method::Other(other.to_owned()),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `token` from RFC 3261 §25.1.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// One header field. The name is stored in canonical long form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name, canonical spelling for known headers.
    pub name: String,
    /// Header value with folding removed and outer whitespace trimmed.
    pub value: String,
}

/// An ordered list of header fields with case-insensitive lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// An empty header list.
    #[must_use]
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of the first header named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of headers named `name`, split on top-level commas
    /// (RFC 3261 §7.3.1: `Via: a, b` equals two `Via` lines).
    #[must_use]
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .flat_map(|h| split_list(&h.value))
            .collect()
    }

    /// Every value of headers named `name`, one per header line, not split
    /// on commas (for headers like `WWW-Authenticate` whose values contain
    /// commas).
    #[must_use]
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
            .collect()
    }

    /// Appends a header at the end.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// Replaces every header named `name` by one with `value`, keeping the
    /// position of the first one (or appending).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .0
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.0[i].value = value;
                let mut j = 0;
                self.0.retain(|h| {
                    let keep = j <= i || !h.name.eq_ignore_ascii_case(name);
                    j += 1;
                    keep
                });
            }
            None => self.push(name, value),
        }
    }

    /// Removes every header named `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Iterates over the header fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Number of header fields (lines).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no header at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits a header value on commas that are not inside quotes or `<>`.
pub(crate) fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut in_quote, mut in_angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            ',' if !in_quote && !in_angle => {
                let part = value[start..i].trim();
                if !part.is_empty() {
                    out.push(part);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let part = value[start..].trim();
    if !part.is_empty() {
        out.push(part);
    }
    out
}

/// Canonical long name for compact forms (RFC 3261 §7.3.3, RFC 4028 `x`) and
/// common headers in any letter case.
fn canonical_name(name: &str) -> String {
    const KNOWN: &[&str] = &[
        "Accept",
        "Allow",
        "Authorization",
        "Call-ID",
        "Contact",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Expires",
        "From",
        "Max-Forwards",
        "Min-Expires",
        "Min-SE",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Record-Route",
        "Require",
        "Retry-After",
        "Route",
        "Session-Expires",
        "Supported",
        "To",
        "User-Agent",
        "Via",
        "WWW-Authenticate",
    ];
    let long = match name {
        "i" | "I" => "Call-ID",
        "m" | "M" => "Contact",
        "l" | "L" => "Content-Length",
        "c" | "C" => "Content-Type",
        "f" | "F" => "From",
        "k" | "K" => "Supported",
        "t" | "T" => "To",
        "v" | "V" => "Via",
        "x" | "X" => "Session-Expires",
        "e" | "E" => "Content-Encoding",
        "s" | "S" => "Subject",
        _ => {
            return KNOWN
                .iter()
                .find(|k| k.eq_ignore_ascii_case(name))
                .map_or_else(|| name.to_owned(), |k| (*k).to_owned());
        }
    };
    long.to_owned()
}

/// A SIP request (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI, kept as text.
    pub uri: String,
    /// Header fields (without a trustworthy `Content-Length`; printing recomputes it).
    pub headers: Headers,
    /// The message body.
    pub body: Vec<u8>,
}

/// A SIP response (RFC 3261 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=699.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields.
    pub headers: Headers,
    /// The message body.
    pub body: Vec<u8>,
}

/// A parsed SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Parses one complete message from `bytes` (one UDP datagram or one
    /// framed TCP message, see [`message_length`]).
    ///
    /// RFC 3261 §18.3: with `Content-Length` the body is exactly that long and
    /// trailing bytes are ignored; without it the body is the rest of the
    /// datagram.
    ///
    /// # Errors
    /// [`ParseError`] on any structural problem. Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        let (head_end, body_start) = find_head_end(bytes).ok_or(ParseError::Incomplete)?;
        let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| ParseError::NotUtf8)?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        // RFC 3261 §7.5: ignore CRLFs before the start line.
        let start = loop {
            match lines.next() {
                Some("") => continue,
                Some(l) => break l,
                None => return Err(ParseError::StartLine),
            }
        };
        let mut headers = Headers::new();
        let mut counted = 0usize;
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let last = headers.0.last_mut().ok_or(ParseError::HeaderLine)?;
                let extra = line.trim();
                if !extra.is_empty() {
                    if !last.value.is_empty() {
                        last.value.push(' ');
                    }
                    last.value.push_str(extra);
                }
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(ParseError::HeaderLine)?;
            let name = name.trim_end();
            if !is_token(name) {
                return Err(ParseError::HeaderLine);
            }
            let name = canonical_name(name);
            // Content-Length is regenerated on print, so it does not count
            // towards the limit (keeps parse ∘ print total).
            if name != "Content-Length" {
                counted += 1;
                if counted > MAX_HEADERS {
                    return Err(ParseError::TooManyHeaders);
                }
            }
            headers.push(name, value.trim());
        }
        let rest = &bytes[body_start..];
        let body = match headers.get("Content-Length") {
            Some(v) => {
                let len: usize = v.trim().parse().map_err(|_| ParseError::ContentLength)?;
                rest.get(..len).ok_or(ParseError::Truncated)?.to_vec()
            }
            None => rest.to_vec(),
        };
        headers.remove("Content-Length");
        parse_start_line(start, headers, body)
    }

    /// Prints the message in wire format (CRLF line ends, canonical header
    /// names, a `Content-Length` equal to the body length).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let (start, headers, body) = match self {
            Message::Request(r) => (
                format!("{} {} SIP/2.0", r.method, r.uri),
                &r.headers,
                &r.body,
            ),
            Message::Response(r) => (
                format!("SIP/2.0 {} {}", r.status, r.reason),
                &r.headers,
                &r.body,
            ),
        };
        let mut out = String::with_capacity(256 + body.len());
        out.push_str(&start);
        out.push_str("\r\n");
        for h in headers.iter() {
            if h.name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            out.push_str(&h.name);
            out.push_str(": ");
            out.push_str(&h.value);
            out.push_str("\r\n");
        }
        out.push_str("Content-Length: ");
        out.push_str(&body.len().to_string());
        out.push_str("\r\n\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    /// The header list.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }
}

fn parse_start_line(start: &str, headers: Headers, body: Vec<u8>) -> Result<Message, ParseError> {
    if let Some(rest) = start.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::StartLine);
        }
        let status: u16 = code.parse().map_err(|_| ParseError::StartLine)?;
        if !(100..=699).contains(&status) || reason.contains(['\r', '\n']) {
            return Err(ParseError::StartLine);
        }
        return Ok(Message::Response(Response {
            status,
            reason: reason.to_owned(),
            headers,
            body,
        }));
    }
    let mut parts = start.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine);
    };
    let method = Method::parse(method).ok_or(ParseError::StartLine)?;
    if version != "SIP/2.0" || uri.is_empty() || !uri.contains(':') {
        return Err(ParseError::StartLine);
    }
    Ok(Message::Request(Request {
        method,
        uri: uri.to_owned(),
        headers,
        body,
    }))
}

/// Returns (end of head, start of body): the head ends at the first empty
/// line (CRLF CRLF or LF LF).
fn find_head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    // Skip leading CRLFs (keep-alives, §7.5).
    while i < bytes.len() && (bytes[i] == b'\r' || bytes[i] == b'\n') {
        i += 1;
    }
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

/// For stream transports (TCP, RFC 3261 §18.3): the length of the first
/// complete message in `buf`, so the shell can split a byte stream into
/// messages. `Ok(None)` means "need more bytes"; an error means the stream is
/// unusable and should be closed. Leading CRLF keep-alives are counted into
/// the message.
///
/// # Errors
/// [`ParseError::ContentLength`] when the length is missing or not a number
/// (mandatory on streams), [`ParseError::NotUtf8`] for a non-UTF-8 head.
pub fn message_length(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let Some((head_end, body_start)) = find_head_end(buf) else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| ParseError::NotUtf8)?;
    let mut len = None;
    for line in head.split('\n') {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
                len = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| ParseError::ContentLength)?,
                );
            }
        }
    }
    let len = len.ok_or(ParseError::ContentLength)?;
    let total = body_start
        .checked_add(len)
        .ok_or(ParseError::ContentLength)?;
    Ok((buf.len() >= total).then_some(total))
}

/// Accessors shared by requests and responses for the headers every SIP
/// message must carry (RFC 3261 §8.1.1).
pub trait SipHeaders {
    /// The header list.
    fn header_list(&self) -> &Headers;

    /// `Call-ID` value.
    fn call_id(&self) -> Option<&str> {
        self.header_list().get("Call-ID")
    }
    /// Parsed `CSeq`.
    fn cseq(&self) -> Option<CSeq> {
        self.header_list().get("CSeq").and_then(CSeq::parse)
    }
    /// Parsed topmost `Via`.
    fn top_via(&self) -> Option<Via> {
        self.header_list()
            .get_all("Via")
            .first()
            .and_then(|v| Via::parse(v))
    }
    /// Parsed `From` header.
    fn header_from(&self) -> Option<NameAddr> {
        self.header_list().get("From").and_then(NameAddr::parse)
    }
    /// Parsed `To` header.
    fn header_to(&self) -> Option<NameAddr> {
        self.header_list().get("To").and_then(NameAddr::parse)
    }
}

impl SipHeaders for Request {
    fn header_list(&self) -> &Headers {
        &self.headers
    }
}

impl SipHeaders for Response {
    fn header_list(&self) -> &Headers {
        &self.headers
    }
}

impl Request {
    /// Prints the request in wire format.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        Message::Request(self.clone()).to_bytes()
    }

    /// Checks the headers a server needs before creating a transaction
    /// (RFC 3261 §8.2: Via with branch, From, To, Call-ID, CSeq matching the
    /// method). A request failing this is answered 400 if possible.
    ///
    /// # Errors
    /// [`ParseError::Header`] naming the first bad header.
    pub fn validate(&self) -> Result<(), ParseError> {
        let via = self.top_via().ok_or(ParseError::Header("Via"))?;
        if via.branch().is_none() {
            return Err(ParseError::Header("Via"));
        }
        self.header_from().ok_or(ParseError::Header("From"))?;
        self.header_to().ok_or(ParseError::Header("To"))?;
        if self.call_id().is_none_or(str::is_empty) {
            return Err(ParseError::Header("Call-ID"));
        }
        let cseq = self.cseq().ok_or(ParseError::Header("CSeq"))?;
        if cseq.method != self.method {
            return Err(ParseError::Header("CSeq"));
        }
        Ok(())
    }

    /// Builds a response to this request (RFC 3261 §8.2.6.2): copies Via,
    /// From, To, Call-ID and CSeq, adds `to_tag` to `To` if it has none.
    /// Works even when those headers are malformed (they are copied verbatim),
    /// so a 400 can always be built.
    #[must_use]
    pub fn response(&self, status: u16, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::new();
        for h in self.headers.iter() {
            let copy = ["Via", "From", "Call-ID", "CSeq"]
                .iter()
                .any(|n| h.name.eq_ignore_ascii_case(n));
            if copy {
                headers.push(h.name.clone(), h.value.clone());
            } else if h.name.eq_ignore_ascii_case("To") {
                let value = match (to_tag, NameAddr::parse(&h.value)) {
                    (Some(tag), Some(mut to)) if to.tag().is_none() && status != 100 => {
                        to.set_param("tag", Some(tag));
                        to.to_string()
                    }
                    _ => h.value.clone(),
                };
                headers.push("To", value);
            }
        }
        Response {
            status,
            reason: reason_phrase(status).to_owned(),
            headers,
            body: Vec::new(),
        }
    }
}

impl Response {
    /// Prints the response in wire format.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        Message::Response(self.clone()).to_bytes()
    }

    /// Whether this is a provisional (1xx) response.
    #[must_use]
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }
}

/// The default reason phrase for a status code (RFC 3261 §21).
#[must_use]
#[allow(clippy::match_overlapping_arm)] // specific codes first, then class defaults
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        489 => "Bad Event",
        502 => "Bad Gateway",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        100..=199 => "Session Progress",
        200..=299 => "OK",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Global Failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
        v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
        Max-Forwards: 70\r\n\
        To: Bob <sip:bob@example.com>\r\n\
        f: Alice <sip:alice@example.org>;tag=1928301774\r\n\
        i: a84b4c76e66710\r\n\
        CSeq: 314159 INVITE\r\n\
        Subject: folded\r\n  line\r\n\
        l: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn parses_compact_folded_request_and_ignores_bytes_after_content_length() {
        let Message::Request(r) = Message::parse(INVITE.as_bytes()).expect("valid") else {
            panic!("expected a request");
        };
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.headers.get("Call-ID"), Some("a84b4c76e66710"));
        assert_eq!(r.headers.get("subject"), Some("folded line"));
        assert_eq!(r.body, b"body");
        assert_eq!(
            r.header_from()
                .and_then(|f| f.tag().map(str::to_owned))
                .as_deref(),
            Some("1928301774")
        );
        r.validate().expect("complete request");
    }

    #[test]
    fn content_length_does_not_count_towards_the_header_limit() {
        let mut m = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
        for i in 0..MAX_HEADERS {
            m.push_str(&format!("X-{i}: v\r\n"));
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        let parsed = Message::parse(m.as_bytes()).expect("exactly at the limit");
        assert_eq!(Message::parse(&parsed.to_bytes()), Ok(parsed));
        let over = m.replacen("X-0: v\r\n", "X-0: v\r\nX-extra: v\r\n", 1);
        assert_eq!(
            Message::parse(over.as_bytes()),
            Err(ParseError::TooManyHeaders)
        );
    }

    #[test]
    fn truncated_body_is_an_error() {
        let m = INVITE.replace("l: 4", "l: 400");
        assert_eq!(Message::parse(m.as_bytes()), Err(ParseError::Truncated));
    }

    #[test]
    fn stream_framing_waits_for_the_whole_body() {
        let bytes = INVITE.as_bytes();
        let full = bytes.len() - "EXTRA".len();
        assert_eq!(message_length(&bytes[..full - 1]), Ok(None));
        assert_eq!(message_length(bytes), Ok(Some(full)));
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_tag() {
        let Message::Request(r) = Message::parse(INVITE.as_bytes()).expect("valid") else {
            panic!("expected a request");
        };
        let resp = r.response(180, Some("xyz"));
        assert_eq!(
            resp.header_to()
                .and_then(|t| t.tag().map(str::to_owned))
                .as_deref(),
            Some("xyz")
        );
        let printed = String::from_utf8(resp.to_bytes()).expect("utf8");
        assert!(printed.starts_with("SIP/2.0 180 Ringing\r\n"));
        assert!(printed.contains("Content-Length: 0\r\n\r\n"));
    }
}
