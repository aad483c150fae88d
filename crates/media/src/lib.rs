//! Sans-IO media engine for Denwa: RTP/RTCP, G.711, jitter buffer, RFC 4733 DTMF,
//! packet-loss concealment, resampling, the N-1 conference room, one-shot prompts,
//! recording taps and WAV files (tracks written, prompts and hold music read).
//!
//! Nothing in this crate opens a socket, reads a clock or spawns a thread: the
//! server feeds datagrams and `Instant`s in, and drives a 20 ms tick.

mod error;

pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod plc;
pub mod resample;
pub mod rtp;
pub mod wav;

pub mod codec;
pub mod music;
pub mod prompt;
pub mod room;

/// The internal sample rate of the mixer.
pub const INTERNAL_RATE: u32 = 16_000;
/// Samples in one 20 ms frame at the 16 kHz internal rate.
pub const FRAME_SAMPLES: usize = 320;

pub use codec::Codec;
pub use error::Error;
pub use jitter::JitterStats;
pub use music::HoldMusic;
pub use prompt::Prompt;
pub use room::{
    Channel, Event, HoldEndReason, InactivityReason, LegConfig, LegId, LegMode, LegStats, MAX_LEGS,
    Recording, Role, Room, TICK, Transmit, Transport,
};
pub use wav::{WavAudio, WavWriter, read_wav};
