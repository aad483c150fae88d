//! What the API asks of the SIP edge, which lives in the server: a trait here, the
//! implementation there (the API crate has no sockets).

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

/// A call placed through a channel's trunk: a manager's test call, or a staff member's
/// call to a customer.
#[derive(Debug, Clone)]
pub struct TrunkDial {
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
    async fn test_call(&self, call: TrunkDial) -> Result<TestCallResult, String>;
}

/// How to reach `to` through a trunk of channel `cid`: trunk `id`, or the channel's first
/// trunk with an outbound proxy. The caller ID is the trunk's, else the channel's first
/// number. 422 with a code for the admin when the channel cannot call out.
pub(crate) async fn trunk_dial(
    state: &crate::AppState,
    cid: denwa_core::model::ChannelId,
    id: Option<denwa_core::trunk::TrunkId>,
    to: &denwa_core::E164,
) -> Result<TrunkDial, crate::error::ApiError> {
    use crate::error::ApiError;
    use axum::http::StatusCode;
    let unprocessable = |code, message: &str| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message.to_owned())
    };
    let mut trunks = state
        .store
        .trunk_routes()
        .await?
        .into_iter()
        .filter(|(t, _)| t.channel_id == cid);
    let (trunk, secrets) = match id {
        Some(id) => trunks
            .find(|(t, _)| t.id == id)
            .ok_or_else(|| ApiError::not_found("trunk"))?,
        None => trunks
            .find(|(t, _)| t.outbound_proxy.is_some())
            .ok_or_else(|| {
                unprocessable(
                    "no_outbound_trunk",
                    "the channel has no trunk with an outbound proxy to place calls through",
                )
            })?,
    };
    let proxy = trunk.outbound_proxy.clone().ok_or_else(|| {
        unprocessable(
            "trunk_without_proxy",
            "the trunk has no outbound proxy to send calls to",
        )
    })?;
    let channel = state.store.channel(cid).await?;
    let caller_id = trunk
        .caller_id
        .clone()
        .or_else(|| channel.phone_numbers.first().cloned())
        .ok_or_else(|| {
            unprocessable(
                "no_caller_id",
                "set the trunk's caller ID or give the channel a number",
            )
        })?;
    let credentials = secrets.outbound_password.map(|password| {
        let user = trunk
            .outbound_username
            .clone()
            .unwrap_or_else(|| "denwa".to_owned());
        (user, password)
    });
    Ok(TrunkDial {
        proxy,
        transport: trunk.transport,
        to: to.as_str().to_owned(),
        caller_id,
        credentials,
    })
}
