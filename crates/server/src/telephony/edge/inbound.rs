//! Calls to a channel number, as the SIP edge runs them for the call service: the edge
//! tells the service what happens on the wire ([`FromEdge`]) and carries out what the
//! service's switchboard decides ([`ToEdge`]): ring staff softphones, answer the caller
//! into a room, connect and disconnect staff legs (softphones and browsers), hold, mute,
//! DTMF, hang up — or, for a call nobody takes, play the announcement as early media and
//! refuse it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use denwa_media::{HoldMusic, LegConfig, Prompt, Role};
use denwa_sip::sdp::NegotiatedAudio;
use denwa_sip::{CallHandle, Error as SipError, InviteParams};

use super::{AppCall, CallState, Edge};
use crate::telephony::calls::{FromEdge, ToEdge};
use crate::telephony::media::{
    CallCommand, LegKey, RtpPair, StartBrowser, StartLeg, StartMedia, randomise,
};

/// How long past its length an announcement may take before the caller is refused
/// anyway (the media thread is late or the room could not start).
const ANNOUNCEMENT_GRACE: Duration = Duration::from_secs(3);

/// An inbound call to a channel number while the call service runs it.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    /// Softphone INVITEs still ringing: (staff, fork dialog).
    pub(super) forks: Vec<(i64, CallHandle)>,
    /// The caller got our 200 OK (a call staff placed: the callee answered).
    pub(super) answered: bool,
    /// A call a staff member placed (we sent the INVITE): its room starts without the
    /// customer, who joins on early media or the answer.
    pub(super) placed: bool,
    /// The room runs (the caller's leg is in it; for a placed call, from the start).
    room: bool,
    /// Our RTP pair for the caller while its answer waits for the ACK (late offer); for
    /// a placed call, the pair our offer named until the customer's leg joins.
    pub(super) pending: Option<RtpPair>,
    /// Where to record, once the room starts.
    record: Option<PathBuf>,
    /// The channel's hold music, for the room once it starts.
    hold_music: Option<HoldMusic>,
    /// Staff legs in the room: their softphone dialog, or `None` for a browser.
    staff: HashMap<i64, Option<CallHandle>>,
    /// Staff legs connected before the room started (the ACK of a late offer).
    waiting: Vec<CallCommand>,
}

impl Inbound {
    /// A call a staff member placed: its room runs from the start (their leg), and
    /// `pair` is what our offer named for the far end.
    pub(super) fn placed(pair: RtpPair) -> Inbound {
        Inbound {
            placed: true,
            room: true,
            pending: Some(pair),
            ..Inbound::default()
        }
    }
}

/// The user part of a SIP URI (`sip:0312345678@host` → `0312345678`).
fn uri_user(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    let user = rest.split(['@', ';']).next()?;
    (!user.is_empty()).then(|| user.to_owned())
}

impl Edge {
    pub(super) fn inbound_mut(&mut self, call: CallHandle) -> Option<&mut Inbound> {
        match self.calls.get_mut(&call) {
            Some(AppCall {
                state: CallState::Inbound(inb),
                ..
            }) => Some(inb),
            _ => None,
        }
    }

    pub(super) fn is_inbound(&self, call: CallHandle) -> bool {
        matches!(
            self.calls.get(&call).map(|c| &c.state),
            Some(CallState::Inbound(_))
        )
    }

    /// Publishes which SIP usernames have a live registration (for the call service).
    pub(super) fn publish_registered(&self, now: Instant) {
        let users = self
            .bindings
            .iter()
            .filter(|(_, list)| list.iter().any(|b| b.expires_at > now))
            .filter_map(|(aor, _)| {
                aor.strip_prefix("sip:")
                    .and_then(|r| r.split_once('@'))
                    .map(|(u, _)| u.to_ascii_lowercase())
            })
            .collect();
        if let Ok(mut r) = self.registered.write() {
            *r = users;
        }
    }

    /// A call to a channel number was routed: 180, and the call service takes over.
    pub(super) fn inbound_routed(
        &mut self,
        now: Instant,
        call: CallHandle,
        channel: i64,
        number: String,
    ) {
        if let Err(e) = self.ep.ringing(now, call, None) {
            tracing::debug!(call = call.0, error = %e, "cannot ring");
            self.calls.remove(&call);
            return;
        }
        let Some(app) = self.calls.get_mut(&call) else {
            return;
        };
        let caller = app.from.as_ref().and_then(|f| uri_user(&f.uri));
        app.state = CallState::Inbound(Box::default());
        tracing::info!(call = call.0, channel, %number, "call to a channel number");
        self.reports.send(FromEdge::Incoming {
            handle: call,
            channel,
            caller,
            dialled: number,
        });
    }

    /// The caller is gone (CANCEL, BYE, dead media): softphones stop, the service hears.
    pub(super) fn caller_gone(&mut self, _now: Instant, call: CallHandle, reason: &str) {
        if !self.is_inbound(call) {
            self.forget(call);
            return;
        }
        self.reports.send(FromEdge::CallerGone {
            handle: call,
            reason: reason.to_owned(),
        });
        self.forget(call);
    }

    /// CANCELs ringing softphones and hangs up connected ones of an ending call.
    pub(super) fn release_staff(&mut self, now: Instant, inb: &Inbound) {
        for &(_, fork) in &inb.forks {
            let _ = self.ep.cancel(now, fork);
            self.calls.remove(&fork);
        }
        let phones: Vec<CallHandle> = self
            .calls
            .iter()
            .filter_map(|(h, c)| match &c.state {
                CallState::StaffPhone { parent, .. }
                    if inb.staff.values().flatten().any(|d| d == h)
                        || !self.calls.contains_key(parent) =>
                {
                    Some(*h)
                }
                _ => None,
            })
            .collect();
        for h in phones {
            let _ = self.ep.bye(now, h);
            self.calls.remove(&h);
        }
    }

    /// A staff leg's media stopped (a browser closed, a softphone went quiet).
    pub(super) fn leg_ended(&mut self, now: Instant, call: CallHandle, key: LegKey, reason: &str) {
        let LegKey::Staff(staff) = key else {
            return;
        };
        let dialog = self
            .inbound_mut(call)
            .and_then(|inb| inb.staff.remove(&staff))
            .flatten();
        tracing::info!(call = call.0, staff, reason, "staff leg gone");
        match dialog {
            Some(d) => {
                let _ = self.ep.bye(now, d);
                self.calls.remove(&d);
                self.reports.send(FromEdge::SoftphoneLeft {
                    handle: call,
                    staff,
                });
            }
            None => self.reports.send(FromEdge::BrowserGone {
                handle: call,
                staff,
            }),
        }
    }

    /// A staff softphone rung for an inbound call answered: keep its leg ready and ask
    /// the call service (the switchboard decides whether it gets the call).
    pub(super) fn on_fork_answered(
        &mut self,
        now: Instant,
        fork: CallHandle,
        neg: &NegotiatedAudio,
    ) {
        let (parent, staff, pair) = match self.calls.get_mut(&fork) {
            Some(AppCall {
                state:
                    CallState::Fork {
                        parent,
                        staff,
                        pair,
                    },
                ..
            }) => (*parent, *staff, pair.take()),
            _ => {
                tracing::debug!(call = fork.0, "answer for a call we no longer want");
                let _ = self.ep.bye(now, fork);
                return;
            }
        };
        if let Some(inb) = self.inbound_mut(parent) {
            inb.forks.retain(|&(_, f)| f != fork);
        }
        let config = self.leg_config(fork, Role::Staff, neg);
        let (Some(pair), Some(config)) = (pair, config) else {
            self.hang_up(now, fork, "unsupported codec");
            self.reports.send(FromEdge::SoftphoneRefused {
                handle: parent,
                staff,
            });
            return;
        };
        tracing::info!(call = parent.0, fork = fork.0, staff, codec = ?neg.codec, "a softphone answered");
        if let Some(app) = self.calls.get_mut(&fork) {
            app.state = CallState::StaffPhone {
                parent,
                staff,
                leg: Some(StartLeg {
                    key: LegKey::Staff(staff),
                    sockets: pair,
                    config,
                }),
            };
        }
        self.reports.send(FromEdge::SoftphoneAnswered {
            handle: parent,
            staff,
        });
    }

    /// The ACK for our 200 to an inbound caller: a late offer's answer starts the room.
    pub(super) fn inbound_confirmed(
        &mut self,
        now: Instant,
        call: CallHandle,
        audio: Option<NegotiatedAudio>,
    ) {
        let pending = self.inbound_mut(call).and_then(|inb| inb.pending.take());
        let Some(pair) = pending else {
            tracing::debug!(call = call.0, "call confirmed (ACK)");
            return;
        };
        let customer = audio
            .as_ref()
            .and_then(|neg| self.leg_config(call, Role::Customer, neg));
        match customer {
            Some(customer) => self.start_room(call, pair, customer),
            None => {
                tracing::info!(
                    call = call.0,
                    "late offer without a usable answer in the ACK"
                );
                self.caller_gone(now, call, "no usable SDP answer");
                let _ = self.ep.bye(now, call);
            }
        }
    }

    fn start_room(&mut self, call: CallHandle, pair: RtpPair, customer: LegConfig) {
        let Some(inb) = self.inbound_mut(call) else {
            return;
        };
        inb.room = true;
        let record = inb.record.take();
        let hold_music = inb.hold_music.take();
        let waiting = std::mem::take(&mut inb.waiting);
        tracing::info!(
            call = call.0,
            recorded = record.is_some(),
            "caller answered: room started"
        );
        self.media.start_call(StartMedia {
            call,
            legs: vec![StartLeg {
                key: LegKey::Dialog(call),
                sockets: pair,
                config: customer,
            }],
            record,
        });
        if let Some(music) = hold_music {
            self.media.command(call, CallCommand::HoldMusic(music));
        }
        for cmd in waiting {
            self.media.command(call, cmd);
        }
    }

    /// A room command for an inbound call: now, or when its room starts.
    fn room_command(&mut self, call: CallHandle, cmd: CallCommand) {
        let Some(inb) = self.inbound_mut(call) else {
            return;
        };
        if inb.room {
            self.media.command(call, cmd);
        } else {
            inb.waiting.push(cmd);
        }
    }

    /// CANCELs the softphone forks of `staff` (they answered elsewhere, or stop ringing).
    fn cancel_staff_forks(&mut self, now: Instant, call: CallHandle, staff: &[i64]) {
        let Some(inb) = self.inbound_mut(call) else {
            return;
        };
        let (cancel, keep): (Vec<_>, Vec<_>) =
            inb.forks.drain(..).partition(|(s, _)| staff.contains(s));
        inb.forks = keep;
        for (_, fork) in cancel {
            let _ = self.ep.cancel(now, fork);
            self.calls.remove(&fork);
        }
    }

    /// Carries out what the call service asks.
    pub(super) fn on_call_command(&mut self, now: Instant, cmd: ToEdge) {
        match cmd {
            ToEdge::Ring { handle, staff } => self.ring_softphones(now, handle, &staff),
            ToEdge::StopRinging { handle, staff } => self.cancel_staff_forks(now, handle, &staff),
            ToEdge::Answer {
                handle,
                record,
                hold_music,
            } if self.is_placed(handle) => self.placed_answered(handle, record, hold_music),
            ToEdge::Answer {
                handle,
                record,
                hold_music,
            } => self.answer_caller(now, handle, record, hold_music),
            ToEdge::Dial { params, reply } => {
                let _ = reply.send(self.place_call(now, params));
            }
            ToEdge::ConnectSoftphone {
                handle,
                staff,
                muted,
            } => {
                self.cancel_staff_forks(now, handle, &[staff]);
                let found = self.calls.iter_mut().find_map(|(h, c)| match &mut c.state {
                    CallState::StaffPhone {
                        parent,
                        staff: s,
                        leg,
                    } if *parent == handle && *s == staff => leg.take().map(|l| (*h, l)),
                    _ => None,
                });
                let Some((dialog, leg)) = found else {
                    tracing::warn!(call = handle.0, staff, "no answered softphone to connect");
                    return;
                };
                if let Some(inb) = self.inbound_mut(handle) {
                    inb.staff.insert(staff, Some(dialog));
                }
                self.room_command(
                    handle,
                    CallCommand::AddLeg {
                        leg: Box::new(leg),
                        muted,
                    },
                );
            }
            ToEdge::ConnectBrowser {
                handle,
                staff,
                muted,
                offer,
                reply,
            } => {
                self.cancel_staff_forks(now, handle, &[staff]);
                match self.browser_leg(handle, staff, muted, &offer) {
                    Ok((start, answer)) => {
                        if let Some(inb) = self.inbound_mut(handle) {
                            inb.staff.insert(staff, None);
                        }
                        self.room_command(handle, CallCommand::AddBrowser(Box::new(start)));
                        let _ = reply.send(Ok(answer));
                    }
                    Err(e) => {
                        tracing::info!(call = handle.0, staff, error = %e, "browser leg refused");
                        let _ = reply.send(Err(e));
                    }
                }
            }
            ToEdge::Disconnect { handle, staff } => {
                self.cancel_staff_forks(now, handle, &[staff]);
                let dialog = self
                    .inbound_mut(handle)
                    .and_then(|inb| inb.staff.remove(&staff))
                    .flatten();
                // A softphone that answered but was not connected (refused) is hung up too.
                let orphan = self.calls.iter().find_map(|(h, c)| match &c.state {
                    CallState::StaffPhone {
                        parent, staff: s, ..
                    } if *parent == handle && *s == staff => Some(*h),
                    _ => None,
                });
                for d in dialog.into_iter().chain(orphan) {
                    let _ = self.ep.bye(now, d);
                    self.calls.remove(&d);
                }
                self.media
                    .command(handle, CallCommand::RemoveLeg(LegKey::Staff(staff)));
            }
            ToEdge::HangUp { handle } => {
                let (answered, placed) = match self.inbound_mut(handle) {
                    Some(inb) => (inb.answered, inb.placed),
                    None => return, // already gone
                };
                if answered {
                    self.hang_up(now, handle, "the call ended");
                } else if placed {
                    tracing::info!(call = handle.0, "placed call given up: CANCEL");
                    let _ = self.ep.cancel(now, handle);
                    self.forget(handle);
                } else {
                    let _ = self.ep.reject(now, handle, 480);
                    self.forget(handle);
                }
            }
            ToEdge::TurnAway {
                handle,
                status,
                announcement,
            } => {
                if !self.is_inbound(handle) {
                    return;
                }
                if let Some(prompt) = announcement
                    && self.announce(now, handle, status, prompt)
                {
                    return;
                }
                let _ = self.ep.reject(now, handle, status);
                self.forget(handle);
            }
            ToEdge::Mute {
                handle,
                staff,
                muted,
            } => self.room_command(
                handle,
                CallCommand::Mute {
                    key: LegKey::Staff(staff),
                    muted,
                },
            ),
            ToEdge::Hold { handle } => self.room_command(handle, CallCommand::Hold),
            ToEdge::Resume { handle } => self.room_command(handle, CallCommand::Unhold),
            ToEdge::Dtmf { handle, digits } => {
                self.room_command(handle, CallCommand::Dtmf(digits));
            }
        }
    }

    /// INVITEs every live binding of each staff member's SIP account.
    fn ring_softphones(&mut self, now: Instant, call: CallHandle, staff: &[(i64, String)]) {
        let from = match self.calls.get(&call) {
            Some(app) if matches!(app.state, CallState::Inbound(_)) => app.from.clone(),
            _ => return,
        };
        let mut forks = Vec::new();
        for (id, user) in staff {
            for binding in self.bindings_of(user, now) {
                let Some(pair) = self.ports.allocate() else {
                    tracing::warn!(call = call.0, "no free RTP port pair for a softphone");
                    break;
                };
                let params = InviteParams {
                    to_uri: binding.contact.clone(),
                    from_uri: from.as_ref().map_or_else(
                        || "sip:anonymous@anonymous.invalid".to_owned(),
                        |f| f.uri.clone(),
                    ),
                    from_display: from.as_ref().and_then(|f| f.display.clone()),
                    target: binding.source,
                    transport: binding.transport,
                    audio: self.offer(binding.source, pair.port()),
                    credentials: None,
                };
                match self.ep.invite(now, params) {
                    Ok(fork) => {
                        tracing::info!(call = call.0, fork = fork.0, staff = id, %user, contact = %binding.contact, "ringing a softphone");
                        self.calls.insert(
                            fork,
                            AppCall {
                                state: CallState::Fork {
                                    parent: call,
                                    staff: *id,
                                    pair: Some(pair),
                                },
                                source: binding.source,
                                from: None,
                                offer: false,
                            },
                        );
                        forks.push((*id, fork));
                    }
                    Err(e) => {
                        tracing::warn!(call = call.0, %user, error = %e, "cannot INVITE the softphone");
                    }
                }
            }
        }
        if let Some(inb) = self.inbound_mut(call) {
            inb.forks.extend(forks);
        }
    }

    /// Plays `prompt` to a caller nobody will answer, as early media (183 Session
    /// Progress with our SDP answer, RFC 3960): the call is never answered (nothing is
    /// billed) and the final `status` keeps its meaning for the carrier. The room has the
    /// caller's leg only and records nothing; the caller is refused when the prompt has
    /// played ([`MediaNotice::PromptFinished`]) or at its length plus
    /// [`ANNOUNCEMENT_GRACE`]. `false` when it cannot be played (no SDP offer in the
    /// INVITE, no common codec, no free ports): refuse at once then.
    ///
    /// [`MediaNotice::PromptFinished`]: crate::telephony::media::MediaNotice::PromptFinished
    fn announce(&mut self, now: Instant, call: CallHandle, status: u16, prompt: Prompt) -> bool {
        let Some((source, offer)) = self.calls.get(&call).map(|c| (c.source, c.offer)) else {
            return false;
        };
        if !offer {
            // Our offer in a 183 would need reliable provisional responses (RFC 3262).
            tracing::info!(
                call = call.0,
                "no SDP offer in the INVITE: refusing without the announcement"
            );
            return false;
        }
        let Some(pair) = self.ports.allocate() else {
            tracing::warn!(call = call.0, "no free RTP port pair for the announcement");
            return false;
        };
        let audio = self.offer(source, pair.port());
        let customer = match self.ep.ringing(now, call, Some(audio)) {
            Ok(Some(neg)) => self.leg_config(call, Role::Customer, &neg),
            Ok(None) => None,
            Err(e) => {
                tracing::info!(call = call.0, error = %e, "no early media for the announcement");
                None
            }
        };
        let Some(customer) = customer else {
            return false;
        };
        let until = now + prompt.duration() + ANNOUNCEMENT_GRACE;
        let Some(app) = self.calls.get_mut(&call) else {
            return false;
        };
        let previous = std::mem::replace(&mut app.state, CallState::Announcing { status, until });
        if let CallState::Inbound(inb) = previous {
            self.release_staff(now, &inb);
        }
        self.arm(call, until);
        tracing::info!(
            call = call.0,
            seconds = prompt.duration().as_secs_f64(),
            "announcement (early media)"
        );
        self.media.start_call(StartMedia {
            call,
            legs: vec![StartLeg {
                key: LegKey::Dialog(call),
                sockets: pair,
                config: customer,
            }],
            record: None,
        });
        self.media.command(call, CallCommand::Play(prompt));
        true
    }

    pub(super) fn is_announcing(&self, call: CallHandle) -> bool {
        matches!(
            self.calls.get(&call).map(|c| &c.state),
            Some(CallState::Announcing { .. })
        )
    }

    /// The announcement has played (or cannot go on): refuse the caller with the status
    /// it was for, and stop its media.
    pub(super) fn announced(&mut self, now: Instant, call: CallHandle) {
        let Some(CallState::Announcing { status, .. }) = self.calls.get(&call).map(|c| &c.state)
        else {
            return;
        };
        let status = *status;
        tracing::info!(
            call = call.0,
            status,
            "announcement played: refusing the call"
        );
        if let Err(e) = self.ep.reject(now, call, status) {
            tracing::debug!(call = call.0, error = %e, "cannot refuse the call");
        }
        self.forget(call);
    }

    /// Answers the caller (200 OK with our G.711 offer/answer) and starts the room.
    fn answer_caller(
        &mut self,
        now: Instant,
        call: CallHandle,
        record: Option<PathBuf>,
        hold_music: Option<HoldMusic>,
    ) {
        let Some(source) = self.calls.get(&call).map(|c| c.source) else {
            return;
        };
        let Some(pair) = self.ports.allocate() else {
            tracing::warn!(call = call.0, "no free RTP port pair: 503");
            let _ = self.ep.reject(now, call, 503);
            self.caller_gone(now, call, "no RTP ports");
            return;
        };
        let audio = self.offer(source, pair.port());
        match self.ep.answer(now, call, audio) {
            Ok(Some(neg)) => {
                if let Some(inb) = self.inbound_mut(call) {
                    inb.answered = true;
                    inb.record = record;
                    inb.hold_music = hold_music;
                }
                match self.leg_config(call, Role::Customer, &neg) {
                    Some(customer) => self.start_room(call, pair, customer),
                    None => {
                        self.caller_gone(now, call, "unsupported codec");
                        let _ = self.ep.bye(now, call);
                    }
                }
            }
            Ok(None) => {
                if let Some(inb) = self.inbound_mut(call) {
                    inb.answered = true;
                    inb.record = record;
                    inb.hold_music = hold_music;
                    inb.pending = Some(pair);
                }
            }
            Err(e) => {
                tracing::info!(call = call.0, error = %e, "cannot answer the caller");
                if matches!(e, SipError::Sdp(_)) {
                    let _ = self.ep.reject(now, call, 488);
                }
                self.caller_gone(now, call, "could not be answered");
            }
        }
    }

    /// Answers a browser's WebRTC offer on a socket of our RTP range.
    fn browser_leg(
        &mut self,
        call: CallHandle,
        staff: i64,
        muted: bool,
        offer: &str,
    ) -> Result<(StartBrowser, String), String> {
        let pair = self
            .ports
            .allocate()
            .ok_or_else(|| "no free RTP port for the browser".to_owned())?;
        let (socket, port) = pair.into_rtp();
        let ip = self.browser_ip();
        let local = SocketAddr::new(ip, port);
        let (leg, answer) = denwa_webrtc::BrowserLeg::accept_offer(Instant::now(), offer, local)
            .map_err(|e| format!("the browser's offer: {e}"))?;
        let pts = leg.payload_types();
        let mut config = LegConfig::new(Role::Staff, denwa_media::Codec::Opus);
        config.transport = denwa_media::Transport::External;
        config.payload_type = pts.opus;
        config.telephone_event = pts.telephone_event;
        config.inactivity_timeout = self.cfg.media_timeout;
        config.cname = format!("denwa-{}-staff{staff}@{ip}", call.0);
        randomise(&mut config);
        Ok((
            StartBrowser {
                key: LegKey::Staff(staff),
                leg,
                socket,
                config,
                muted,
            },
            answer,
        ))
    }

    /// The address browsers reach our media at: `--sip-public-ip`, else the SIP address
    /// when it is a specific one, else loopback (a console on this machine).
    fn browser_ip(&self) -> std::net::IpAddr {
        if let Some(ip) = self.cfg.public_ip {
            return ip;
        }
        let bound = self.io.local_addr().ip();
        if bound.is_unspecified() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            bound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::uri_user;

    #[test]
    fn caller_number_from_the_uri() {
        assert_eq!(
            uri_user("sip:0312345678@carrier").as_deref(),
            Some("0312345678")
        );
        assert_eq!(
            uri_user("sip:+819011112222@h;user=phone").as_deref(),
            Some("+819011112222")
        );
        assert_eq!(
            uri_user("tel:+81312345678").as_deref(),
            Some("+81312345678")
        );
        assert_eq!(uri_user("sip:@h"), None);
        assert_eq!(uri_user("mailto:x"), None);
    }
}
