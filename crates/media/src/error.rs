//! The crate's one error type.

use crate::room::LegId;

/// Everything that can go wrong in `denwa-media`.
///
/// Network input never produces a panic; malformed packets surface as one of
/// these values (or are counted and dropped, see [`crate::JitterStats`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The room already holds [`crate::MAX_LEGS`] legs (SPEC RG-3: 1 customer + 9 staff).
    #[error("room is full: at most {max} participants per call")]
    RoomFull {
        /// The limit that was hit.
        max: usize,
    },
    /// The room already has a customer leg; a call has exactly one customer.
    #[error("room already has a customer leg")]
    CustomerAlreadyPresent,
    /// No leg with this id is in the room (it left, or never joined).
    #[error("no leg {0:?} in this room")]
    UnknownLeg(LegId),
    /// Hold applies to the customer leg of a phone call only (SPEC HD-1).
    #[error("leg {0:?} is not the customer leg; only the customer can be put on hold")]
    NotCustomer(LegId),
    /// Only a staff participant can put the customer on hold (SPEC HD-1).
    #[error("leg {0:?} is not a staff leg; only staff can start a hold")]
    NotStaff(LegId),
    /// DTMF was requested on a leg without a negotiated `telephone-event` payload type.
    #[error("leg {0:?} has no telephone-event payload type negotiated")]
    DtmfNotNegotiated(LegId),
    /// The datagram is not a valid RTP packet (RFC 3550 §5.1).
    #[error("invalid RTP packet: {0:?}")]
    Rtp(rtp_types::RtpParseError),
    /// The datagram is not a valid RTCP compound packet (RFC 3550 §6.1).
    #[error("invalid RTCP packet: {0}")]
    Rtcp(#[from] rtcp_types::RtcpParseError),
    /// The RTP payload type was not negotiated for this leg.
    #[error("payload type {0} was not negotiated for this leg")]
    UnexpectedPayloadType(u8),
    /// An RFC 4733 telephone-event payload is malformed (RFC 4733 §2.3).
    #[error("malformed RFC 4733 telephone-event payload")]
    MalformedDtmf,
    /// A character that is not a DTMF digit (`0-9`, `*`, `#`, `A-D`).
    #[error("{0:?} is not a DTMF digit")]
    NotADtmfDigit(char),
    /// The caller-supplied buffer is too small for the packet.
    #[error("output buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Bytes that would be needed.
        needed: usize,
    },
    /// Hold music must contain at least one sample.
    #[error("hold music is empty")]
    EmptyHoldMusic,
    /// A prompt must contain at least one sample.
    #[error("prompt is empty")]
    EmptyPrompt,
    /// The bytes are not a WAV file this crate reads (RIFF/WAVE, 16-bit PCM, mono or
    /// stereo); the message says what is wrong, for the person who chose the file.
    #[error("not a usable WAV file: {0}")]
    InvalidWav(String),
    /// Writing a recording track failed.
    #[error("recording I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rtp_types::RtpParseError> for Error {
    fn from(e: rtp_types::RtpParseError) -> Self {
        Error::Rtp(e)
    }
}
