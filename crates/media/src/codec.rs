//! Audio codecs of a leg, wrapped so that the room always sees 20 ms frames of
//! 16 kHz linear PCM ([`crate::FRAME_SAMPLES`] samples).

use std::fmt;

use crate::g711;
use crate::resample::Resampler;
use crate::{FRAME_SAMPLES, INTERNAL_RATE};

/// A negotiated audio codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 µ-law, static payload type 0, 8 kHz (RFC 3551 §4.5.14).
    Pcmu,
    /// G.711 A-law, static payload type 8, 8 kHz (RFC 3551 §4.5.14).
    Pcma,
    /// Opus, mono, for browser legs (RFC 7587: RTP clock 48 kHz, dynamic payload
    /// type). Coded at the 16 kHz internal rate (wideband), so no resampling is
    /// needed. Only with the `opus` feature (needs libopus).
    #[cfg(feature = "opus")]
    Opus,
}

impl Codec {
    /// The payload type to use when the SDP does not say otherwise: the RFC 3551
    /// static type for G.711, 111 (the common WebRTC choice) for Opus.
    #[must_use]
    pub fn default_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            #[cfg(feature = "opus")]
            Codec::Opus => 111,
        }
    }

    /// RTP clock rate in Hz.
    #[must_use]
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            #[cfg(feature = "opus")]
            Codec::Opus => 48_000,
        }
    }

    /// RTP timestamp units in one 20 ms packet.
    #[must_use]
    pub fn samples_per_packet(self) -> u32 {
        self.clock_rate() / 50
    }
}

/// Samples of one 20 ms G.711 packet.
const NARROW: usize = 160;

// One value per leg; keeping the G.711 state inline avoids an indirection on the hot path.
// The 8 kHz frame is scratch on the stack while a packet is coded, not part of the leg.
#[allow(clippy::large_enum_variant)]
enum DecoderKind {
    G711 {
        resampler: Resampler,
    },
    #[cfg(feature = "opus")]
    Opus(opus::Decoder),
}

// One value per leg; keeping the G.711 state inline avoids an indirection on the hot path.
#[allow(clippy::large_enum_variant)]
enum EncoderKind {
    G711 {
        resampler: Resampler,
    },
    #[cfg(feature = "opus")]
    Opus(opus::Encoder),
}

/// Decodes one leg's payloads into 16 kHz frames.
pub struct AudioDecoder {
    codec: Codec,
    kind: DecoderKind,
}

impl fmt::Debug for AudioDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioDecoder")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl AudioDecoder {
    /// A decoder for `codec`; allocates its state here, once per leg.
    #[must_use]
    pub fn new(codec: Codec) -> Self {
        let kind = match codec {
            Codec::Pcmu | Codec::Pcma => DecoderKind::G711 {
                resampler: Resampler::new(codec.clock_rate(), INTERNAL_RATE),
            },
            #[cfg(feature = "opus")]
            Codec::Opus => match opus::Decoder::new(INTERNAL_RATE, opus::Channels::Mono) {
                Ok(d) => DecoderKind::Opus(d),
                // libopus only fails to create a decoder for invalid rates/channels,
                // and 16 kHz mono is valid; fall back to silence-producing G.711 state.
                Err(_) => DecoderKind::G711 {
                    resampler: Resampler::new(8000, INTERNAL_RATE),
                },
            },
        };
        Self { codec, kind }
    }

    /// Decodes one 20 ms payload into `frame`. Returns `false` if the payload
    /// could not be decoded (the caller conceals the frame instead). G.711
    /// payloads shorter than 20 ms are padded with silence, longer ones truncated
    /// (the room plays one frame per tick; legs negotiate `ptime:20`).
    pub fn decode(&mut self, payload: &[u8], frame: &mut [i16; FRAME_SAMPLES]) -> bool {
        match &mut self.kind {
            DecoderKind::G711 { resampler } => {
                let mut narrow = [0i16; NARROW];
                let n = match self.codec {
                    Codec::Pcma => g711::decode_alaw(payload, &mut narrow),
                    _ => g711::decode_ulaw(payload, &mut narrow),
                };
                narrow[n..].fill(0);
                let written = resampler.process(&narrow, frame);
                frame[written..].fill(0);
                true
            }
            #[cfg(feature = "opus")]
            DecoderKind::Opus(decoder) => match decoder.decode(payload, frame, false) {
                Ok(n) => {
                    frame[n.min(FRAME_SAMPLES)..].fill(0);
                    true
                }
                Err(_) => false,
            },
        }
    }
}

/// Encodes 16 kHz frames into one leg's payloads.
pub struct AudioEncoder {
    codec: Codec,
    kind: EncoderKind,
}

impl fmt::Debug for AudioEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioEncoder")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl AudioEncoder {
    /// An encoder for `codec`; allocates its state here, once per leg.
    #[must_use]
    pub fn new(codec: Codec) -> Self {
        let kind = match codec {
            Codec::Pcmu | Codec::Pcma => EncoderKind::G711 {
                resampler: Resampler::new(INTERNAL_RATE, codec.clock_rate()),
            },
            #[cfg(feature = "opus")]
            Codec::Opus => match opus::Encoder::new(
                INTERNAL_RATE,
                opus::Channels::Mono,
                opus::Application::Voip,
            ) {
                Ok(e) => EncoderKind::Opus(e),
                // As for the decoder: 16 kHz mono VoIP is always a valid configuration.
                Err(_) => EncoderKind::G711 {
                    resampler: Resampler::new(INTERNAL_RATE, 8000),
                },
            },
        };
        Self { codec, kind }
    }

    /// Encodes one frame into `out`; returns the payload length (160 for G.711,
    /// 0 if the encoder failed, in which case nothing should be sent).
    pub fn encode(&mut self, frame: &[i16; FRAME_SAMPLES], out: &mut [u8]) -> usize {
        match &mut self.kind {
            EncoderKind::G711 { resampler } => {
                let mut narrow = [0i16; NARROW];
                let n = resampler.process(frame, &mut narrow);
                match self.codec {
                    Codec::Pcma => g711::encode_alaw(&narrow[..n], out),
                    _ => g711::encode_ulaw(&narrow[..n], out),
                }
            }
            #[cfg(feature = "opus")]
            EncoderKind::Opus(encoder) => encoder.encode(frame, out).unwrap_or(0),
        }
    }
}

#[cfg(all(test, feature = "opus"))]
mod opus_tests {
    use super::*;

    #[test]
    fn opus_round_trip_keeps_a_tone() {
        let mut enc = AudioEncoder::new(Codec::Opus);
        let mut dec = AudioDecoder::new(Codec::Opus);
        let mut out = Vec::new();
        let mut payload = [0u8; 1500];
        for k in 0..50 {
            let mut frame = [0i16; FRAME_SAMPLES];
            for (i, s) in frame.iter_mut().enumerate() {
                let t = (k * FRAME_SAMPLES + i) as f64 / 16000.0;
                *s = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16;
            }
            let n = enc.encode(&frame, &mut payload);
            assert!(n > 0 && n < 400);
            let mut decoded = [0i16; FRAME_SAMPLES];
            assert!(dec.decode(&payload[..n], &mut decoded));
            out.extend_from_slice(&decoded);
        }
        let tail = &out[out.len() - 8000..];
        let rms =
            (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
        // A sine of amplitude 8000 has an RMS of ~5657.
        assert!((4500.0..6800.0).contains(&rms), "rms {rms}");
    }
}
