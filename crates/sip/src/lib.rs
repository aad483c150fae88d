//! Sans-IO SIP for Denwa's trunk leg.
//!
//! The crate never touches a socket or a clock: the shell feeds datagrams and
//! the current time into an [`Endpoint`] and drains [`Output`]s (packets to
//! send, events for the application, the next timer deadline). See the
//! crate's `README.md` for the run loop and design notes.

pub mod auth;
pub mod endpoint;
mod error;
pub mod headers;
pub mod message;
pub mod rate_limit;
pub mod registrar;
pub mod sdp;
mod timer;
pub mod transaction;

pub use endpoint::{
    CallHandle, Config, EndReason, Endpoint, Event, Input, InviteParams, Output, RegisterParams,
    RegistrationHandle, Transmit,
};
pub use error::Error;
pub use transaction::{Timers, Transport};
