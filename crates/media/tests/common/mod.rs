//! Test harness: a virtual clock, simulated phones that send tones as G.711 RTP,
//! and a Goertzel detector to check which tones each participant hears.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use denwa_media::dtmf::{DtmfReceiver, ReceivedDigit};
use denwa_media::g711;
use denwa_media::rtp::{RtpHeader, parse_rtp, write_rtp};
use denwa_media::{Codec, Event, LegConfig, LegId, Role, Room, TICK, Transmit};

/// Amplitude of `freq` in `x` at `rate`, by the Goertzel algorithm with a Hann window.
pub fn goertzel(x: &[i16], rate: f64, freq: f64) -> f64 {
    let n = x.len();
    if n == 0 {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut window_sum = 0.0;
    for (i, &s) in x.iter().enumerate() {
        let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
        window_sum += hann;
        let s0 = f64::from(s) * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.sqrt() / window_sum
}

/// Root-mean-square level of `x`.
pub fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64).sqrt()
}

/// A simulated phone on one leg: sends a tone (or silence), records what it hears.
pub struct Phone {
    pub leg: LegId,
    pub addr: SocketAddr,
    pub codec: Codec,
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    pub tone: Option<f64>,
    pub amplitude: f64,
    pub dc: Option<i16>,
    pub sample: u64,
    pub sending: bool,
    /// Decoded audio received, 8 kHz.
    pub heard: Vec<i16>,
    pub dtmf: DtmfReceiver,
    pub digits: Vec<ReceivedDigit>,
    pub rtcp_received: usize,
}

impl Phone {
    fn packet(&mut self) -> Vec<u8> {
        let mut pcm = [0i16; 160];
        for s in pcm.iter_mut() {
            let t = self.sample as f64 / 8000.0;
            *s = match (self.dc, self.tone) {
                (Some(dc), _) => dc,
                (None, Some(f)) => {
                    (self.amplitude * (2.0 * std::f64::consts::PI * f * t).sin()) as i16
                }
                (None, None) => 0,
            };
            self.sample += 1;
        }
        let mut payload = [0u8; 160];
        match self.codec {
            Codec::Pcma => g711::encode_alaw(&pcm, &mut payload),
            _ => g711::encode_ulaw(&pcm, &mut payload),
        };
        let header = RtpHeader {
            payload_type: self.codec.default_payload_type(),
            marker: false,
            sequence: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
        };
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
        let mut buf = vec![0u8; 200];
        let n = write_rtp(&mut buf, &header, &payload).expect("fits");
        buf.truncate(n);
        buf
    }

    fn receive(&mut self, now: Instant, datagram: &[u8]) {
        let (header, payload) = parse_rtp(datagram).expect("room sends valid RTP");
        if header.payload_type == 101 {
            self.dtmf
                .handle_packet(now, header.timestamp, payload)
                .expect("valid event");
            while let Some(d) = self.dtmf.poll_digit() {
                self.digits.push(d);
            }
            return;
        }
        assert_eq!(header.payload_type, self.codec.default_payload_type());
        let mut pcm = [0i16; 160];
        match self.codec {
            Codec::Pcma => g711::decode_alaw(payload, &mut pcm),
            _ => g711::decode_ulaw(payload, &mut pcm),
        };
        self.heard.extend_from_slice(&pcm);
    }

    /// Amplitude of `freq` in the last `secs` seconds heard.
    pub fn hears(&self, freq: f64, secs: f64) -> f64 {
        let n = ((secs * 8000.0) as usize).min(self.heard.len());
        goertzel(&self.heard[self.heard.len() - n..], 8000.0, freq)
    }
}

/// A room, its phones, the virtual clock and the recorded tracks.
pub struct Sim {
    pub room: Room,
    pub now: Instant,
    pub phones: Vec<Phone>,
    pub events: Vec<Event>,
    pub tracks: HashMap<LegId, Vec<i16>>,
    pub mixed: Vec<i16>,
    /// Send only packets for which this returns true (index of phone, packet number).
    pub loss: fn(usize, u64) -> bool,
    pub packet_no: u64,
    /// Network delay in ticks for (index of phone, packet number); 0 by default.
    pub delay: fn(usize, u64) -> u64,
    in_flight: Vec<(u64, usize, Vec<u8>)>,
    tick_no: u64,
    /// RTP for legs without a simulated phone (e.g. a browser leg driven by the test).
    pub unclaimed: Vec<(LegId, Vec<u8>)>,
}

pub const PRESENT: f64 = 800.0;
pub const ABSENT: f64 = 60.0;

impl Sim {
    pub fn new() -> Self {
        let now = Instant::now();
        Self {
            room: Room::new(now),
            now,
            phones: Vec::new(),
            events: Vec::new(),
            tracks: HashMap::new(),
            mixed: Vec::new(),
            loss: |_, _| true,
            packet_no: 0,
            unclaimed: Vec::new(),
            delay: |_, _| 0,
            in_flight: Vec::new(),
            tick_no: 0,
        }
    }

    /// Adds a phone with a tone; the room knows its address from the SDP.
    pub fn join(&mut self, role: Role, tone: Option<f64>) -> usize {
        let mut config = LegConfig::new(role, Codec::Pcmu);
        let port = 20000 + 2 * self.phones.len() as u16;
        let addr = SocketAddr::from(([192, 0, 2, 10], port));
        config.remote_rtp = Some(addr);
        self.join_with(config, tone)
    }

    pub fn join_with(&mut self, config: LegConfig, tone: Option<f64>) -> usize {
        let port = 20000 + 2 * self.phones.len() as u16;
        let addr = SocketAddr::from(([192, 0, 2, 10], port));
        let codec = config.codec;
        let leg = self.room.add_leg(self.now, config).expect("room has space");
        self.phones.push(Phone {
            leg,
            addr,
            codec,
            ssrc: 1000 + self.phones.len() as u32,
            seq: 100,
            ts: 5000,
            tone,
            amplitude: 3000.0,
            dc: None,
            sample: 0,
            sending: true,
            heard: Vec::new(),
            dtmf: DtmfReceiver::new(),
            digits: Vec::new(),
            rtcp_received: 0,
        });
        self.phones.len() - 1
    }

    pub fn phone(&self, leg: LegId) -> &Phone {
        self.phones
            .iter()
            .find(|p| p.leg == leg)
            .expect("known leg")
    }

    /// One 20 ms step: every sending phone sends a packet, the room ticks, the
    /// transmits are delivered, events and recordings collected.
    pub fn step(&mut self) {
        for i in 0..self.phones.len() {
            if !self.phones[i].sending {
                continue;
            }
            let packet = self.phones[i].packet();
            self.packet_no += 1;
            if !(self.loss)(i, self.packet_no) {
                continue;
            }
            let at = self.tick_no + (self.delay)(i, self.packet_no);
            self.in_flight.push((at, i, packet));
        }
        // Deliver what is due, earliest first (a stable sort keeps send order on ties).
        self.in_flight.sort_by_key(|&(at, _, _)| at);
        let due = self
            .in_flight
            .iter()
            .take_while(|&&(at, _, _)| at <= self.tick_no)
            .count();
        for (_, i, packet) in self.in_flight.drain(..due).collect::<Vec<_>>() {
            let (leg, addr) = (self.phones[i].leg, self.phones[i].addr);
            // The leg may have left; the room answers UnknownLeg then.
            let _ = self.room.handle_rtp(self.now, leg, addr, &packet);
        }
        self.tick_no += 1;
        self.room.tick(self.now);
        let rec = self.room.recording();
        self.mixed.extend_from_slice(rec.mixed());
        for (leg, frame) in rec.tracks() {
            self.tracks.entry(leg).or_default().extend_from_slice(frame);
        }
        let mut buf = [0u8; 1500];
        while let Some(Transmit {
            leg,
            channel,
            destination,
            len,
        }) = self.room.poll_transmit(&mut buf)
        {
            let now = self.now;
            if let Some(p) = self.phones.iter_mut().find(|p| p.leg == leg) {
                match channel {
                    denwa_media::Channel::Rtp => {
                        assert_eq!(destination, Some(p.addr), "RTP goes to the phone");
                        p.receive(now, &buf[..len]);
                    }
                    denwa_media::Channel::Rtcp => p.rtcp_received += 1,
                }
            } else if channel == denwa_media::Channel::Rtp {
                self.unclaimed.push((leg, buf[..len].to_vec()));
            }
        }
        while let Some(e) = self.room.poll_event() {
            self.events.push(e);
        }
        self.now += TICK;
    }

    pub fn run(&mut self, secs: f64) {
        for _ in 0..(secs * 50.0) as usize {
            self.step();
        }
    }

    /// Amplitude of `freq` in the last `secs` of a 16 kHz track.
    pub fn track_level(track: &[i16], freq: f64, secs: f64) -> f64 {
        let n = ((secs * 16000.0) as usize).min(track.len());
        goertzel(&track[track.len() - n..], 16000.0, freq)
    }
}

pub fn after(start: Instant, d: Duration) -> Instant {
    start + d
}
