//! What the API asks of the SIP edge, which lives in the server: a trait here, the
//! implementation there (the API crate has no sockets).

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

/// A call placed through a trunk for an admin to check it.
#[derive(Debug, Clone)]
pub struct TestCall {
    /// The carrier's SIP server, `host[:port]`.
    pub proxy: String,
    /// Transport towards it.
    pub transport: denwa_core::trunk::TrunkTransport,
    /// Who to call, E.164 (`+8190…`).
    pub to: String,
    /// The caller ID to present, E.164.
    pub caller_id: String,
    /// Digest credentials (username, password) for the carrier's 401/407.
    pub credentials: Option<(String, String)>,
}

/// How a test call went, once it was answered or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TestCallResult {
    /// `answered` (the callee now hears an echo test: their own voice back) or `failed`.
    pub result: String,
    /// The final SIP status from the carrier (200 when answered; 408 when nobody answered).
    pub sip_status: u16,
}

/// The SIP edge, from the API's side.
#[async_trait]
pub trait Telephony: Send + Sync {
    /// Places `call` and waits until it is answered or fails (at most the ring timeout
    /// and a little more). `Err` carries a message for the admin (an unresolvable proxy).
    async fn test_call(&self, call: TestCall) -> Result<TestCallResult, String>;
}
