//! Calls staff place through a trunk (SPEC OUT-1), as the SIP edge runs them for the call
//! service: the INVITE with our G.711 offer, a room that starts at once with the staff
//! member's browser leg (so they hear the far end's early media, or the console's
//! ringback), the customer's leg joining on early media or the answer, and the far end's
//! progress, answer or final failure reported back.
//!
//! Once answered, a placed call is an [`Inbound`](super::Inbound) like any other: hold,
//! DTMF, invitations, mute, leaving and hanging up run through the same code.

use std::path::PathBuf;
use std::time::Instant;

use denwa_media::{HoldMusic, Role};
use denwa_sip::sdp::NegotiatedAudio;
use denwa_sip::{CallHandle, InviteParams};

use super::{AppCall, CallState, DialParams, Edge, Inbound};
use crate::telephony::calls::FromEdge;
use crate::telephony::media::{CallCommand, LegKey, StartLeg, StartMedia};

impl Edge {
    /// Whether `call` is a call a staff member placed (answered or not).
    pub(super) fn is_placed(&self, call: CallHandle) -> bool {
        matches!(
            self.calls.get(&call).map(|c| &c.state),
            Some(CallState::Inbound(inb)) if inb.placed
        )
    }

    /// Sends the INVITE and starts the call's room without a customer; answers the
    /// dialog's handle.
    pub(super) fn place_call(&mut self, now: Instant, p: DialParams) -> Result<CallHandle, String> {
        let pair = self
            .ports
            .allocate()
            .ok_or_else(|| "no free RTP port pair for the call".to_owned())?;
        let params = InviteParams {
            to_uri: p.to_uri.clone(),
            from_uri: p.from_uri,
            from_display: None,
            target: p.target,
            transport: p.transport,
            audio: self.offer(p.target, pair.port()),
            credentials: p.credentials,
        };
        let call = self
            .ep
            .invite(now, params)
            .map_err(|e| format!("cannot send the INVITE: {e}"))?;
        tracing::info!(call = call.0, to = %p.to_uri, via = %p.target, "staff call placed");
        self.calls.insert(
            call,
            AppCall {
                state: CallState::Inbound(Box::new(Inbound::placed(pair))),
                source: p.target,
                from: None,
                offer: false,
            },
        );
        self.media.start_call(StartMedia {
            call,
            legs: Vec::new(),
            record: None,
        });
        Ok(call)
    }

    /// Puts the far end's leg into the room (early media or the answer); a leg already
    /// there follows the answer's address.
    fn customer_joins(&mut self, call: CallHandle, neg: &NegotiatedAudio) -> bool {
        let Some(pair) = self.inbound_mut(call).and_then(|inb| inb.pending.take()) else {
            self.media.command(
                call,
                CallCommand::Remote {
                    key: LegKey::Dialog(call),
                    rtp: neg.remote_rtp,
                },
            );
            return true;
        };
        let Some(config) = self.leg_config(call, Role::Customer, neg) else {
            return false;
        };
        self.media.command(
            call,
            CallCommand::AddCustomer(Box::new(StartLeg {
                key: LegKey::Dialog(call),
                sockets: pair,
                config,
            })),
        );
        true
    }

    /// 180/183 from the far end: it rings; early media joins the room.
    pub(super) fn on_dial_progress(
        &mut self,
        call: CallHandle,
        status: u16,
        early: Option<&NegotiatedAudio>,
    ) {
        tracing::info!(
            call = call.0,
            status,
            early_media = early.is_some(),
            "placed call rings"
        );
        if let Some(neg) = early {
            self.customer_joins(call, neg);
        }
        self.reports.send(FromEdge::CalleeRinging {
            handle: call,
            early_media: early.is_some(),
        });
    }

    /// The far end answered (we sent the ACK).
    pub(super) fn on_dial_answered(
        &mut self,
        now: Instant,
        call: CallHandle,
        neg: &NegotiatedAudio,
    ) {
        let first = match self.inbound_mut(call) {
            Some(inb) => !std::mem::replace(&mut inb.answered, true),
            None => false,
        };
        if !first {
            return;
        }
        tracing::info!(call = call.0, codec = ?neg.codec, remote = %neg.remote_rtp, "placed call answered");
        if !self.customer_joins(call, neg) {
            self.hang_up(now, call, "unsupported codec");
            self.reports.send(FromEdge::CallerGone {
                handle: call,
                reason: "the far end answered with a codec we cannot play".to_owned(),
            });
            return;
        }
        self.reports.send(FromEdge::CalleeAnswered { handle: call });
    }

    /// The far end refused, or the carrier failed the call.
    pub(super) fn on_dial_failed(&mut self, call: CallHandle, status: u16) {
        tracing::info!(call = call.0, status, "placed call failed");
        self.reports.send(FromEdge::CalleeFailed {
            handle: call,
            status,
        });
        self.forget(call);
    }

    /// A placed call that still rings is cancelled (its media died before the answer).
    pub(super) fn cancel_if_ringing(&mut self, now: Instant, call: CallHandle) {
        let ringing = matches!(
            self.calls.get(&call).map(|c| &c.state),
            Some(CallState::Inbound(inb)) if inb.placed && !inb.answered
        );
        if ringing {
            let _ = self.ep.cancel(now, call);
        }
    }

    /// The call service took the answer: record from now, with the channel's hold music.
    pub(super) fn placed_answered(
        &mut self,
        call: CallHandle,
        record: Option<PathBuf>,
        hold_music: Option<HoldMusic>,
    ) {
        if let Some(music) = hold_music {
            self.media.command(call, CallCommand::HoldMusic(music));
        }
        if let Some(dir) = record {
            self.media.command(call, CallCommand::Record(dir));
        }
    }
}
