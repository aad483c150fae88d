//! RTP receive statistics, RTP sending state and RTCP reports (RFC 3550).
//!
//! Parsing uses the `rtp-types` and `rtcp-types` crates: both are zero-copy,
//! never panic on malformed input (they return errors), and write into caller
//! buffers, which fits the no-allocation 20 ms path. The statistics below follow
//! the RFC 3550 appendix algorithms literally.

use std::time::{Duration, Instant};

use rtcp_types::{Compound, Packet, ReportBlock};

use crate::Error;

/// A parsed view of one RTP packet (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Marker bit: the start of a talkspurt for audio (RFC 3551 §4.1).
    pub marker: bool,
    /// 16-bit sequence number.
    pub sequence: u16,
    /// Media timestamp in the payload type's clock rate.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// Parses an RTP datagram into its header and payload.
///
/// Call this on every datagram received on an RTP port. Arbitrary bytes never
/// panic: anything that is not RTP version 2 with a consistent length is an
/// [`Error::Rtp`].
pub fn parse_rtp(datagram: &[u8]) -> Result<(RtpHeader, &[u8]), Error> {
    let packet = rtp_types::RtpPacket::parse(datagram)?;
    let header = RtpHeader {
        payload_type: packet.payload_type(),
        marker: packet.marker_bit(),
        sequence: packet.sequence_number(),
        timestamp: packet.timestamp(),
        ssrc: packet.ssrc(),
    };
    let offset = packet.payload_offset();
    let len = packet.payload_len();
    // `rtp-types` validated offset + len against the datagram; `get` keeps it panic-free anyway.
    let payload = datagram.get(offset..offset + len).ok_or(Error::Rtp(
        rtp_types::RtpParseError::Truncated {
            expected: offset + len,
            actual: datagram.len(),
        },
    ))?;
    Ok((header, payload))
}

/// Writes one RTP packet (12-byte header, no CSRC, no extension) into `buf`.
///
/// Returns the packet length.
pub fn write_rtp(buf: &mut [u8], header: &RtpHeader, payload: &[u8]) -> Result<usize, Error> {
    let needed = 12 + payload.len();
    if buf.len() < needed {
        return Err(Error::BufferTooSmall { needed });
    }
    let written = rtp_types::RtpPacketBuilder::<&[u8], &[u8]>::new()
        .payload_type(header.payload_type & 0x7F)
        .marker_bit(header.marker)
        .sequence_number(header.sequence)
        .timestamp(header.timestamp)
        .ssrc(header.ssrc)
        .payload(payload)
        .write_into(buf)
        .map_err(|_| Error::BufferTooSmall { needed })?;
    Ok(written)
}

const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// Receive-side statistics for one remote source (RFC 3550 A.1, A.3, A.8).
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    clock_rate: u32,
    ssrc: Option<u32>,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Previous relative transit time, in clock-rate units.
    transit: Option<i64>,
    /// Jitter × 16 in clock-rate units (A.8's fixed-point form).
    jitter_q4: i64,
    epoch: Option<Instant>,
    last_sr: Option<(u32, Instant)>,
}

/// What [`ReceiveStats::update`] decided about a packet's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In sequence or acceptably reordered: use it. Carries the extended sequence number.
    Valid(u64),
    /// A large jump that may be a sender restart; dropped until confirmed by the next one.
    Jump,
    /// The sender restarted its sequence (confirmed jump, RFC 3550 A.1): the
    /// extended numbering started over, so playout state must be reset.
    Restarted(u64),
}

impl ReceiveStats {
    /// Creates empty statistics for a payload clocked at `clock_rate` Hz.
    #[must_use]
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            ssrc: None,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            epoch: None,
            last_sr: None,
        }
    }

    /// The SSRC these statistics describe, once a packet was seen.
    #[must_use]
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// Resets everything for a new SSRC (RFC 3550 §8.2: a changed SSRC is a new source).
    pub fn reset_for_ssrc(&mut self, ssrc: u32, seq: u16) {
        let clock_rate = self.clock_rate;
        *self = Self::new(clock_rate);
        self.ssrc = Some(ssrc);
        self.init_seq(seq);
    }

    /// Accounts one received packet. Call for every valid RTP packet of the
    /// current SSRC, with its arrival time.
    ///
    /// RFC 3550 A.1 (`update_seq`) for sequence validation and extension, and
    /// A.8 for the interarrival jitter estimate. The first packet is accepted
    /// without probation: a phone leg is already authenticated by signalling.
    pub fn update(&mut self, now: Instant, seq: u16, rtp_timestamp: u32) -> SeqVerdict {
        if self.ssrc.is_none() {
            // Caller did not reset for an SSRC yet; start from this packet.
            self.init_seq(seq);
            self.ssrc = Some(0);
            self.received += 1;
            self.update_jitter(now, rtp_timestamp);
            return SeqVerdict::Valid(self.extend(seq));
        } else if self.received > 0 || seq != self.max_seq {
            let udelta = seq.wrapping_sub(self.max_seq);
            if udelta < MAX_DROPOUT {
                if seq < self.max_seq {
                    self.cycles += RTP_SEQ_MOD;
                }
                self.max_seq = seq;
            } else if udelta
                <= (RTP_SEQ_MOD as u16)
                    .wrapping_sub(MAX_MISORDER)
                    .wrapping_sub(1)
            {
                // A very large jump. Two sequential packets confirm a restart.
                if u32::from(seq) == self.bad_seq {
                    self.init_seq(seq);
                    self.received = 1;
                    self.transit = None;
                    self.update_jitter(now, rtp_timestamp);
                    return SeqVerdict::Restarted(self.extend(seq));
                } else {
                    self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                    return SeqVerdict::Jump;
                }
            }
            // else: duplicate or reordered packet, counted and passed on.
        }
        self.received += 1;
        self.update_jitter(now, rtp_timestamp);
        SeqVerdict::Valid(self.extend(seq))
    }

    /// The extended (cycle-counting) sequence number for `seq`, relative to the highest seen.
    #[must_use]
    pub fn extend(&self, seq: u16) -> u64 {
        let max_ext = u64::from(self.cycles) + u64::from(self.max_seq);
        let diff = i64::from(seq.wrapping_sub(self.max_seq) as i16);
        // Before the first wrap, reordered packets keep a positive number too.
        (max_ext as i64 + diff).max(0) as u64
    }

    fn update_jitter(&mut self, now: Instant, rtp_timestamp: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = now.saturating_duration_since(epoch);
        let arrival = (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as i64;
        // Transit is only meaningful modulo 2^32: use the wrapped difference.
        let transit = i64::from((arrival as u32).wrapping_sub(rtp_timestamp) as i32);
        if let Some(previous) = self.transit {
            let d = (transit - previous).abs();
            // A.8: J += (|D| - J) / 16, in the ×16 fixed-point form.
            self.jitter_q4 += d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// Highest extended sequence number received (RFC 3550 §6.4.1).
    #[must_use]
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets received (including duplicates, as in A.3).
    #[must_use]
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets expected: highest extended sequence − base + 1 (A.3).
    #[must_use]
    pub fn expected(&self) -> u64 {
        if self.received == 0 {
            return 0;
        }
        u64::from(self.extended_max()).saturating_sub(u64::from(self.base_seq)) + 1
    }

    /// Cumulative number of packets lost (A.3), clamped to RTCP's 24-bit signed field.
    #[must_use]
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i64 - self.received as i64;
        lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// Interarrival jitter in timestamp units (A.8), as reported in RTCP.
    #[must_use]
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4).max(0) as u32
    }

    /// Interarrival jitter as a duration.
    #[must_use]
    pub fn jitter_duration(&self) -> Duration {
        Duration::from_micros(u64::from(self.jitter()) * 1_000_000 / u64::from(self.clock_rate))
    }

    /// Fraction lost since the previous call, as the 8-bit RTCP field (A.3).
    ///
    /// Call once per outgoing report: it moves the interval forward.
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        }
    }

    /// Remembers the middle 32 bits of a received sender report's NTP timestamp
    /// (for LSR/DLSR, RFC 3550 §6.4.1).
    pub fn note_sender_report(&mut self, ntp: u64, now: Instant) {
        self.last_sr = Some(((ntp >> 16) as u32, now));
    }

    /// The 24-byte report block about this source (RFC 3550 §6.4.1).
    fn report_block(&mut self, now: Instant) -> Option<[u8; 24]> {
        let ssrc = self.ssrc?;
        if self.received == 0 {
            return None;
        }
        let fraction = self.take_fraction_lost();
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let delay = now.saturating_duration_since(at);
                // DLSR is in units of 1/65536 s.
                (
                    lsr,
                    ((delay.as_micros() * 65_536) / 1_000_000).min(u128::from(u32::MAX)) as u32,
                )
            }
            None => (0, 0),
        };
        let lost = (self.cumulative_lost() as u32) & 0x00FF_FFFF;
        let mut block = [0u8; 24];
        block[0..4].copy_from_slice(&ssrc.to_be_bytes());
        block[4..8].copy_from_slice(&((u32::from(fraction) << 24) | lost).to_be_bytes());
        block[8..12].copy_from_slice(&self.extended_max().to_be_bytes());
        block[12..16].copy_from_slice(&self.jitter().to_be_bytes());
        block[16..20].copy_from_slice(&lsr.to_be_bytes());
        block[20..24].copy_from_slice(&dlsr.to_be_bytes());
        Some(block)
    }
}

/// Converts an offset from an anchor into a 64-bit NTP timestamp (RFC 3550 §4).
///
/// `anchor_ntp` is the NTP time at `anchor`; the server supplies it from the wall
/// clock when it creates the leg, so this crate never reads a clock.
#[must_use]
pub fn ntp_at(anchor: Instant, anchor_ntp: u64, now: Instant) -> u64 {
    let d = now.saturating_duration_since(anchor);
    let frac = (u128::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    anchor_ntp.wrapping_add((d.as_secs() << 32) | frac as u64)
}

/// What the far end told us about our stream in its RTCP report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoteReport {
    /// Fraction of our packets the far end lost, ×256.
    pub fraction_lost: u8,
    /// Cumulative packets of ours the far end lost.
    pub cumulative_lost: u32,
    /// Jitter the far end measured on our stream, timestamp units.
    pub jitter: u32,
    /// Round-trip time from LSR/DLSR (RFC 3550 §6.4.1), when the far end echoed one of our SRs.
    pub round_trip: Option<Duration>,
}

/// A summary of one incoming RTCP compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtcpSummary {
    /// The sender's SSRC.
    pub sender_ssrc: Option<u32>,
    /// NTP timestamp of a sender report, if the compound had one.
    pub sender_report_ntp: Option<u64>,
    /// The far end's report about our SSRC, if any.
    pub about_us: Option<RemoteReport>,
    /// The far end sent BYE (RFC 3550 §6.6).
    pub bye: bool,
}

/// Parses an RTCP compound packet (RFC 3550 §6.1) and extracts what the leg needs.
///
/// `our_ssrc` selects the report block about our stream; `ntp_now` (our NTP time)
/// turns LSR/DLSR into a round-trip time. Never panics on arbitrary bytes.
pub fn parse_rtcp(datagram: &[u8], our_ssrc: u32, ntp_now: u64) -> Result<RtcpSummary, Error> {
    let mut summary = RtcpSummary::default();
    for packet in Compound::parse(datagram)? {
        let mut blocks_from = |blocks: &mut dyn Iterator<Item = ReportBlock<'_>>| {
            for block in blocks {
                if block.ssrc() != our_ssrc {
                    continue;
                }
                let lsr = block.last_sender_report_timestamp();
                let dlsr = block.delay_since_last_sender_report_timestamp();
                let round_trip = (lsr != 0).then(|| {
                    let now_mid = (ntp_now >> 16) as u32;
                    let rtt = now_mid.wrapping_sub(lsr).wrapping_sub(dlsr);
                    Duration::from_micros(u64::from(rtt) * 1_000_000 / 65_536)
                });
                summary.about_us = Some(RemoteReport {
                    fraction_lost: block.fraction_lost(),
                    cumulative_lost: block.cumulative_lost(),
                    jitter: block.interarrival_jitter(),
                    round_trip,
                });
            }
        };
        match packet? {
            Packet::Sr(sr) => {
                summary.sender_ssrc = Some(sr.ssrc());
                summary.sender_report_ntp = Some(sr.ntp_timestamp());
                blocks_from(&mut sr.report_blocks());
            }
            Packet::Rr(rr) => {
                summary.sender_ssrc = Some(rr.ssrc());
                blocks_from(&mut rr.report_blocks());
            }
            Packet::Bye(_) => summary.bye = true,
            _ => {}
        }
    }
    Ok(summary)
}

/// Inputs for one outgoing RTCP report.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// Our SSRC.
    pub ssrc: u32,
    /// Our CNAME (RFC 3550 §6.5.1), required in every compound packet.
    pub cname: &'a str,
    /// Our NTP time now.
    pub ntp: u64,
    /// RTP timestamp corresponding to `ntp`.
    pub rtp_timestamp: u32,
    /// Packets sent so far; 0 means we send an RR instead of an SR (§6.4).
    pub packets_sent: u32,
    /// Payload octets sent so far.
    pub octets_sent: u32,
}

/// Writes an SR (if we have sent media) or an RR, followed by SDES CNAME, into `buf`
/// (RFC 3550 §6.1, §6.4.1, §6.4.2, §6.5). Call when the report interval elapses
/// (the room does every 5 s, the §6.2 minimum). Returns the compound's length.
///
/// Written by hand rather than with `rtcp-types`' builders, whose boxed packet
/// list would allocate on the media path; `rtcp-types` parses it in the tests.
pub fn write_report(
    buf: &mut [u8],
    input: &ReportInput<'_>,
    stats: Option<&mut ReceiveStats>,
    now: Instant,
) -> Result<usize, Error> {
    let block = stats.and_then(|s| s.report_block(now));
    let sender = input.packets_sent > 0;
    let report_len = 8 + if sender { 20 } else { 0 } + if block.is_some() { 24 } else { 0 };
    // CNAME is at most 255 bytes; the chunk ends with at least one zero byte, padded to 32 bits.
    let cname = &input.cname.as_bytes()[..input.cname.len().min(255)];
    let chunk_len = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let sdes_len = 4 + chunk_len;
    let needed = report_len + sdes_len;
    let Some(out) = buf.get_mut(..needed) else {
        return Err(Error::BufferTooSmall { needed });
    };
    out.fill(0);
    // Common header: V=2, P=0, count, packet type, length in 32-bit words minus one.
    let count = u8::from(block.is_some());
    out[0] = 0x80 | count;
    out[1] = if sender { 200 } else { 201 };
    out[2..4].copy_from_slice(&((report_len / 4 - 1) as u16).to_be_bytes());
    out[4..8].copy_from_slice(&input.ssrc.to_be_bytes());
    let mut at = 8;
    if sender {
        out[8..16].copy_from_slice(&input.ntp.to_be_bytes());
        out[16..20].copy_from_slice(&input.rtp_timestamp.to_be_bytes());
        out[20..24].copy_from_slice(&input.packets_sent.to_be_bytes());
        out[24..28].copy_from_slice(&input.octets_sent.to_be_bytes());
        at = 28;
    }
    if let Some(block) = block {
        out[at..at + 24].copy_from_slice(&block);
    }
    let sdes = &mut out[report_len..];
    sdes[0] = 0x81; // V=2, one chunk
    sdes[1] = 202;
    sdes[2..4].copy_from_slice(&((sdes_len / 4 - 1) as u16).to_be_bytes());
    sdes[4..8].copy_from_slice(&input.ssrc.to_be_bytes());
    sdes[8] = 1; // CNAME
    sdes[9] = cname.len() as u8;
    sdes[10..10 + cname.len()].copy_from_slice(cname);
    // The remaining bytes are already zero: the item list terminator and padding.
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn rtp_round_trip() {
        let mut buf = [0u8; 200];
        let header = RtpHeader {
            payload_type: 8,
            marker: true,
            sequence: 65535,
            timestamp: 7,
            ssrc: 42,
        };
        let n = write_rtp(&mut buf, &header, &[1, 2, 3]).unwrap();
        let (parsed, payload) = parse_rtp(&buf[..n]).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(payload, &[1, 2, 3]);
        assert!(matches!(
            write_rtp(&mut buf[..10], &header, &[1]),
            Err(Error::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn loss_and_wrap() {
        let start = t0();
        let mut stats = ReceiveStats::new(8000);
        stats.reset_for_ssrc(1, 65530);
        let mut seq = 65530u16;
        for i in 0..20u32 {
            let now = start + Duration::from_millis(20 * u64::from(i));
            if i % 5 != 4 {
                assert!(matches!(
                    stats.update(now, seq, i * 160),
                    SeqVerdict::Valid(_)
                ));
            }
            seq = seq.wrapping_add(1);
        }
        // 20 sent, last one (i = 19) lost: expected counts to the highest received.
        assert_eq!(stats.expected(), 19);
        assert_eq!(stats.received(), 16);
        assert_eq!(stats.cumulative_lost(), 3);
        assert_eq!(stats.extended_max(), 65536 + 12);
        assert_eq!(stats.take_fraction_lost(), (3 * 256 / 19) as u8);
        assert_eq!(stats.take_fraction_lost(), 0);
        // Perfectly paced packets: no jitter.
        assert_eq!(stats.jitter(), 0);
    }

    #[test]
    fn jitter_converges_to_a8_estimate() {
        let start = t0();
        let mut stats = ReceiveStats::new(8000);
        stats.reset_for_ssrc(1, 0);
        // Alternate arrival offsets of 0 and 10 ms: |D| = 80 samples each time.
        for i in 0..500u32 {
            let offset = if i % 2 == 0 { 0 } else { 10 };
            let now = start + Duration::from_millis(20 * u64::from(i) + offset);
            stats.update(now, i as u16, i * 160);
        }
        let j = stats.jitter();
        assert!((75..=80).contains(&j), "jitter {j}");
        assert_eq!(stats.jitter_duration().as_millis(), u128::from(j) / 8);
    }

    #[test]
    fn sequence_restart_needs_two_packets() {
        let now = t0();
        let mut stats = ReceiveStats::new(8000);
        stats.reset_for_ssrc(1, 100);
        assert!(matches!(stats.update(now, 100, 0), SeqVerdict::Valid(100)));
        assert_eq!(stats.update(now, 30_000, 0), SeqVerdict::Jump);
        assert_eq!(stats.update(now, 30_001, 0), SeqVerdict::Restarted(30_001));
        assert_eq!(stats.update(now, 30_002, 0), SeqVerdict::Valid(30_002));
        assert_eq!(stats.received(), 2);
    }

    #[test]
    fn report_round_trip_with_rtt() {
        let now = t0();
        let mut stats = ReceiveStats::new(8000);
        stats.reset_for_ssrc(77, 0);
        for i in 0..10u16 {
            stats.update(now, i, u32::from(i) * 160);
        }
        let their_sr_ntp: u64 = 0x0001_0000_8000_0000;
        stats.note_sender_report(their_sr_ntp, now);
        let mut buf = [0u8; 512];
        let later = now + Duration::from_millis(500);
        let input = ReportInput {
            ssrc: 5,
            cname: "denwa",
            ntp: 0,
            rtp_timestamp: 0,
            packets_sent: 3,
            octets_sent: 480,
        };
        let n = write_report(&mut buf, &input, Some(&mut stats), later).unwrap();
        // The far end (ssrc 77) parses it: 500 ms DLSR, receiving 600 ms after its SR → 100 ms RTT.
        let their_now = their_sr_ntp + ((600u64 << 32) / 1000);
        let summary = parse_rtcp(&buf[..n], 77, their_now).unwrap();
        assert_eq!(summary.sender_ssrc, Some(5));
        let about = summary.about_us.unwrap();
        assert_eq!(about.cumulative_lost, 0);
        let rtt = about.round_trip.unwrap().as_millis();
        assert!((99..=101).contains(&rtt), "rtt {rtt}");
    }

    #[test]
    fn reports_parse_with_rtcp_types_for_every_cname_padding() {
        use rtcp_types::RtcpPacketParserExt;
        for cname in ["a", "ab", "abc", "abcd", "denwa@192.0.2.1"] {
            for packets_sent in [0u32, 10] {
                let mut buf = [0u8; 256];
                let input = ReportInput {
                    ssrc: 0xCAFE,
                    cname,
                    ntp: 0x0102_0304_0506_0708,
                    rtp_timestamp: 99,
                    packets_sent,
                    octets_sent: 1600,
                };
                let n = write_report(&mut buf, &input, None, t0()).unwrap();
                assert_eq!(n % 4, 0);
                let mut kinds = Vec::new();
                for packet in Compound::parse(&buf[..n]).unwrap() {
                    match packet.unwrap() {
                        Packet::Sr(sr) => {
                            assert_eq!(
                                (sr.ssrc(), sr.ntp_timestamp(), sr.rtp_timestamp()),
                                (0xCAFE, input.ntp, 99)
                            );
                            assert_eq!(
                                (sr.packet_count(), sr.octet_count(), sr.count()),
                                (10, 1600, 0)
                            );
                            kinds.push("SR");
                        }
                        Packet::Rr(rr) => {
                            assert_eq!((rr.ssrc(), rr.count()), (0xCAFE, 0));
                            kinds.push("RR");
                        }
                        Packet::Sdes(sdes) => {
                            let chunk = sdes.chunks().next().unwrap();
                            assert_eq!(chunk.ssrc(), 0xCAFE);
                            let item = chunk.items().next().unwrap();
                            assert_eq!(item.type_(), 1);
                            assert_eq!(item.value(), cname.as_bytes());
                            kinds.push("SDES");
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                let first = if packets_sent > 0 { "SR" } else { "RR" };
                assert_eq!(kinds, [first, "SDES"]);
                assert!(matches!(
                    write_report(&mut buf[..n - 1], &input, None, t0()),
                    Err(Error::BufferTooSmall { .. })
                ));
            }
        }
    }

    #[test]
    fn ntp_advances_with_instant() {
        let a = t0();
        let ntp = ntp_at(a, 10 << 32, a + Duration::from_millis(1500));
        assert_eq!(ntp >> 32, 11);
        assert_eq!((ntp & 0xFFFF_FFFF) >> 31, 1);
    }
}
