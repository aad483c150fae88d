//! Denwa's domain model and the pure rules around it.
//!
//! Everything here is plain data and pure functions: no sockets, no files, no clock
//! reads. Time always comes in as an argument. The words are the product's words from
//! `SPEC.md`: [`Chat`](model::ChatSummary), [`Customer`](model::Customer), staff,
//! channel, [`MissedReason`](model::MissedReason).

pub mod call;
pub mod contacts;
pub mod error;
pub mod event;
pub mod hours;
pub mod model;
pub mod phone;
pub mod routing;
pub mod stats;
pub mod trunk;

pub use call::{Effect, Input, Switchboard};
pub use error::CoreError;
pub use event::{Event, EventKind};
pub use hours::BusinessHours;
pub use phone::{E164, Region};
