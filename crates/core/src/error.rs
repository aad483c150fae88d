//! The crate's error type.

/// Errors raised by domain rules. Plain data: each says what was wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A phone number that cannot be read as a valid number for the region.
    #[error("invalid phone number {input:?}: {reason}")]
    InvalidPhoneNumber {
        /// What the user typed.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A region code that is not an ISO 3166-1 alpha-2 code known to the numbering plan.
    #[error("unknown region {0:?} (expected an ISO 3166 code such as JP or US)")]
    UnknownRegion(String),
    /// A time zone name that is not in the IANA database.
    #[error("unknown time zone {0:?} (expected an IANA name such as Asia/Tokyo)")]
    UnknownTimeZone(String),
    /// Business hours that cannot be right (bad time, close before open, bad date).
    #[error("invalid business hours: {0}")]
    InvalidBusinessHours(String),
    /// A trunk setting that cannot be right.
    #[error("invalid trunk: {0}")]
    InvalidTrunk(String),
    /// A routing configuration that cannot be right.
    #[error("invalid routing: {0}")]
    InvalidRouting(String),
    /// A statistics date range that is reversed or wider than allowed (SPEC ST-5).
    #[error("invalid range: {0}")]
    InvalidRange(String),
    /// A call request that cannot apply.
    #[error(transparent)]
    Call(#[from] crate::call::CallError),
}
