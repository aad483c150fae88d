//! Audio codecs of a leg, wrapped so that the room always sees 20 ms frames of
//! 16 kHz linear PCM ([`crate::FRAME_SAMPLES`] samples).

use crate::g711;
use crate::resample::Resampler;
use crate::{FRAME_SAMPLES, INTERNAL_RATE};

/// A negotiated audio codec (RFC 3551 §6 static payload types for G.711).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 µ-law, static payload type 0, 8 kHz.
    Pcmu,
    /// G.711 A-law, static payload type 8, 8 kHz.
    Pcma,
}

impl Codec {
    /// The RFC 3551 static payload type.
    #[must_use]
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// RTP clock rate in Hz.
    #[must_use]
    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// RTP timestamp units in one 20 ms packet.
    #[must_use]
    pub fn samples_per_packet(self) -> u32 {
        self.clock_rate() / 50
    }
}

/// Samples of one 20 ms G.711 packet.
const NARROW: usize = 160;

/// Decodes one leg's payloads into 16 kHz frames.
#[derive(Debug, Clone)]
pub struct AudioDecoder {
    codec: Codec,
    resampler: Resampler,
    narrow: [i16; NARROW],
}

impl AudioDecoder {
    /// A decoder for `codec`; allocates its resampler here, once.
    #[must_use]
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            resampler: Resampler::new(codec.clock_rate(), INTERNAL_RATE),
            narrow: [0; NARROW],
        }
    }

    /// Decodes one 20 ms payload into `frame`. Payloads shorter than 20 ms are
    /// padded with silence, longer ones truncated (the room plays one frame per
    /// tick; legs negotiate `ptime:20`).
    pub fn decode(&mut self, payload: &[u8], frame: &mut [i16; FRAME_SAMPLES]) {
        let n = match self.codec {
            Codec::Pcmu => g711::decode_ulaw(payload, &mut self.narrow),
            Codec::Pcma => g711::decode_alaw(payload, &mut self.narrow),
        };
        self.narrow[n..].fill(0);
        let written = self.resampler.process(&self.narrow, frame);
        frame[written..].fill(0);
    }
}

/// Encodes 16 kHz frames into one leg's payloads.
#[derive(Debug, Clone)]
pub struct AudioEncoder {
    codec: Codec,
    resampler: Resampler,
    narrow: [i16; NARROW],
}

impl AudioEncoder {
    /// An encoder for `codec`; allocates its resampler here, once.
    #[must_use]
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            resampler: Resampler::new(INTERNAL_RATE, codec.clock_rate()),
            narrow: [0; NARROW],
        }
    }

    /// Encodes one frame into `out`; returns the payload length (160 for G.711).
    pub fn encode(&mut self, frame: &[i16; FRAME_SAMPLES], out: &mut [u8]) -> usize {
        let n = self.resampler.process(frame, &mut self.narrow);
        match self.codec {
            Codec::Pcmu => g711::encode_ulaw(&self.narrow[..n], out),
            Codec::Pcma => g711::encode_alaw(&self.narrow[..n], out),
        }
    }
}
