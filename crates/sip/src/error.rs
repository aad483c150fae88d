//! The crate's error type.

use crate::message::ParseError;
use crate::sdp::SdpError;

/// Errors returned by the SIP core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A SIP message could not be parsed.
    #[error("SIP parse error: {0}")]
    Parse(#[from] ParseError),
    /// SDP could not be parsed or negotiated.
    #[error("SDP error: {0}")]
    Sdp(#[from] SdpError),
    /// The call handle is unknown (never existed or already ended).
    #[error("unknown call")]
    UnknownCall,
    /// The registration handle is unknown.
    #[error("unknown registration")]
    UnknownRegistration,
    /// The command does not fit the call's state (e.g. `answer` after the
    /// call was cancelled, `cancel` after a final response).
    #[error("invalid call state for this command: {0}")]
    InvalidState(&'static str),
    /// A status code outside the range the command allows.
    #[error("invalid status code {0}")]
    InvalidStatus(u16),
    /// A URI the command was given cannot be used.
    #[error("invalid URI: {0}")]
    InvalidUri(String),
}
