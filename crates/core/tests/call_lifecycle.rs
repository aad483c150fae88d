//! Scenario tests of the call lifecycle on a virtual clock, named after SPEC IDs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use denwa_core::call::{
    CallError, CallEvent, CallId, Candidate, Effect, IncomingCall, Input, MAX_STAFF, OutgoingCall,
    Switchboard,
};
use denwa_core::model::{Medium, MissedReason, Settings, StaffId};
use denwa_core::routing::{Condition, RoutingConfig, RoutingMode, Rule, TeamRoute};
use denwa_core::{BusinessHours, E164, EventKind, Region};

const CHANNEL: i64 = 1;
const OTHER_CHANNEL: i64 = 2;

/// A switchboard on a virtual clock; `effects` holds what it asked for since the last take.
struct Rig {
    sw: Switchboard,
    start: Instant,
    now: Instant,
    effects: Vec<Effect>,
    /// Wall time of the calls (a Wednesday, 10:00 in Tokyo).
    wall: DateTime<Utc>,
}

impl Rig {
    fn new() -> Rig {
        let start = Instant::now();
        Rig {
            sw: Switchboard::new(),
            start,
            now: start,
            effects: Vec::new(),
            wall: chrono_tz::Asia::Tokyo
                .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    fn drain(&mut self) {
        while let Some(e) = self.sw.poll_effect() {
            self.effects.push(e);
        }
    }

    fn input(&mut self, input: Input) -> Result<(), CallError> {
        let r = self.sw.handle_input(self.now, input);
        self.drain();
        r
    }

    fn ok(&mut self, input: Input) {
        self.input(input).expect("input accepted");
    }

    /// Moves the virtual clock, firing every deadline on the way.
    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(t) = self.sw.poll_timeout() {
            if t > target {
                break;
            }
            self.now = t.max(self.now);
            self.sw.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    fn call(&mut self, id: u64, routing: RoutingConfig, staff: &[(StaffId, Settings)]) {
        self.call_in(id, CHANNEL, routing, staff, false, BTreeMap::new());
    }

    fn call_in(
        &mut self,
        id: u64,
        channel: i64,
        routing: RoutingConfig,
        staff: &[(StaffId, Settings)],
        known: bool,
        profile: BTreeMap<String, String>,
    ) {
        self.ok(Input::IncomingCall(Box::new(IncomingCall {
            call: CallId(id),
            channel,
            chat: 100 + id as i64,
            medium: Medium::Phone,
            caller: Some(E164::parse("090-1234-5678", Region::JP).unwrap()),
            dialled: Some(E164::parse("03-1111-2222", Region::JP).unwrap()),
            customer: 500,
            known_caller: known,
            profile,
            at: self.wall,
            routing,
            candidates: staff
                .iter()
                .map(|(s, settings)| Candidate {
                    staff: *s,
                    settings: *settings,
                })
                .collect(),
        })));
    }

    /// A call rung for `staff` and answered by the first of them; effects cleared.
    fn answered(&mut self, id: u64, staff: &[StaffId]) {
        let all: Vec<_> = staff.iter().map(|s| (*s, on())).collect();
        self.call(id, RoutingConfig::default(), &all);
        self.ok(Input::Accept {
            call: CallId(id),
            staff: staff[0],
        });
        self.take();
    }
}

fn on() -> Settings {
    Settings::default()
}

fn c(id: u64) -> CallId {
    CallId(id)
}

fn records(effects: &[Effect]) -> Vec<&CallEvent> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Record(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn kinds(effects: &[Effect]) -> Vec<EventKind> {
    records(effects).iter().map(|r| r.kind).collect()
}

fn event(effects: &[Effect], kind: EventKind) -> &CallEvent {
    records(effects)
        .into_iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in {effects:#?}"))
}

fn rung(effects: &[Effect]) -> Vec<StaffId> {
    effects
        .iter()
        .flat_map(|e| match e {
            Effect::Ring { staff, .. } => staff.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn missed_reason(effects: &[Effect]) -> serde_json::Value {
    event(effects, EventKind::CallMissed).data["missed_reason"].clone()
}

// ----- IN-1, IN-3, IN-4: routing ------------------------------------------

#[test]
fn in1_in5_call_starts_rings_and_is_recorded_on_its_chat() {
    let mut r = Rig::new();
    r.call(1, RoutingConfig::default(), &[(7, on())]);
    let fx = r.take();
    assert_eq!(kinds(&fx), [EventKind::CallStarted, EventKind::CallRinging]);
    let started = event(&fx, EventKind::CallStarted);
    assert_eq!((started.chat, started.channel), (101, CHANNEL));
    assert_eq!(started.data["caller"], "+819012345678");
    assert_eq!(started.data["call_id"], 1);
    assert_eq!(rung(&fx), [7]);
    assert_eq!(r.sw.poll_timeout(), Some(r.start + Duration::from_secs(30)));
}

#[test]
fn in3_notification_off_is_not_rung() {
    let mut r = Rig::new();
    let off = Settings {
        unassigned_call_notification: false,
        ..on()
    };
    r.call(1, RoutingConfig::default(), &[(7, off), (8, on())]);
    let fx = r.take();
    assert_eq!(rung(&fx), [8]);
    let skipped = &event(&fx, EventKind::CallRinging).data["skipped"];
    assert_eq!(skipped[0]["staff_ids"], serde_json::json!([7]));
    assert_eq!(skipped[0]["reason"], "unassigned call notification is off");
}

#[test]
fn in4a_ring_all_rings_every_eligible_staff_member() {
    let mut r = Rig::new();
    r.call(
        1,
        RoutingConfig::default(),
        &[(7, on()), (8, on()), (9, on())],
    );
    assert_eq!(rung(&r.take()), [7, 8, 9]);
}

#[test]
fn in4b_workflow_rings_only_the_team_and_assigns_it() {
    let mut r = Rig::new();
    let routing = RoutingConfig {
        mode: RoutingMode::Workflow(vec![Rule {
            conditions: vec![Condition::CustomerField {
                field: "plan".into(),
                value: "gold".into(),
            }],
            team: Some(3),
            staff: None,
        }]),
        teams: vec![TeamRoute {
            id: 3,
            members: vec![8, 9],
            hours: None,
        }],
        ..RoutingConfig::default()
    };
    let staff = [(7, on()), (8, on()), (9, on())];
    let gold = BTreeMap::from([("plan".to_owned(), "gold".to_owned())]);
    r.call_in(1, CHANNEL, routing.clone(), &staff, true, gold);
    let fx = r.take();
    assert_eq!(rung(&fx), [8, 9]);
    assert!(fx.contains(&Effect::Assign {
        chat: 101,
        team: Some(3),
        staff: None
    }));
    // Another customer matches no rule: everyone is rung, nothing assigned.
    r.call_in(2, CHANNEL, routing, &[(10, on())], true, BTreeMap::new());
    let fx = r.take();
    assert_eq!(rung(&fx), [10]);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Assign { .. })));
}

#[test]
fn in4b_workflow_person_rule_rings_only_that_person() {
    let mut r = Rig::new();
    let routing = RoutingConfig {
        mode: RoutingMode::Workflow(vec![Rule {
            conditions: vec![Condition::KnownCaller(false)],
            team: None,
            staff: Some(9),
        }]),
        ..RoutingConfig::default()
    };
    r.call(1, routing, &[(7, on()), (9, on())]);
    let fx = r.take();
    assert_eq!(rung(&fx), [9]);
    assert!(fx.contains(&Effect::Assign {
        chat: 101,
        team: None,
        staff: Some(9)
    }));
}

// ----- ST-2 missed reasons --------------------------------------------------

#[test]
fn outside_business_hours_is_missed_not_in_operation_without_ringing() {
    let mut r = Rig::new();
    let routing = RoutingConfig {
        hours: Some(BusinessHours::weekdays("Asia/Tokyo", "13:00", "18:00")),
        announcement: Some("closed".into()),
        ..RoutingConfig::default()
    };
    r.call(1, routing, &[(7, on())]);
    let fx = r.take();
    assert!(rung(&fx).is_empty());
    assert_eq!(missed_reason(&fx), "notInOperation");
    assert!(fx.contains(&Effect::TurnAway {
        call: c(1),
        reason: MissedReason::NotInOperation,
        announcement: Some("closed".into()),
    }));
    assert_eq!(event(&fx, EventKind::CallEnded).data["ended_by"], "system");
    assert_eq!(fx.last(), Some(&Effect::Finished { call: c(1) }));
    assert!(!r.sw.is_live(c(1)));
}

#[test]
fn holiday_of_the_channel_is_not_in_operation() {
    let mut r = Rig::new();
    let mut hours = BusinessHours::always_open("Asia/Tokyo");
    hours
        .holidays
        .push(chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
    let routing = RoutingConfig {
        hours: Some(hours),
        ..RoutingConfig::default()
    };
    r.call(1, routing, &[(7, on())]);
    assert_eq!(missed_reason(&r.take()), "notInOperation");
}

#[test]
fn nobody_eligible_is_missed_no_operator() {
    let mut r = Rig::new();
    let dnd = Settings {
        do_not_disturb: true,
        ..on()
    };
    r.call(1, RoutingConfig::default(), &[(7, dnd)]);
    let fx = r.take();
    assert!(rung(&fx).is_empty());
    assert_eq!(missed_reason(&fx), "noOperator");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::TurnAway {
            reason: MissedReason::NoOperator,
            ..
        }
    )));
}

#[test]
fn ring_timeout_is_missed_no_operator_and_stops_ringing() {
    let mut r = Rig::new();
    r.call(1, RoutingConfig::default(), &[(7, on()), (8, on())]);
    r.take();
    r.advance(Duration::from_secs(29));
    assert!(r.take().is_empty(), "nothing before 30 s");
    r.advance(Duration::from_secs(1));
    let fx = r.take();
    assert_eq!(
        fx[0],
        Effect::StopRinging {
            call: c(1),
            staff: vec![7, 8]
        }
    );
    assert_eq!(missed_reason(&fx), "noOperator");
    assert_eq!(event(&fx, EventKind::CallEnded).data["total_ms"], 30_000);
    assert_eq!(r.sw.poll_timeout(), None);
    // Both are free again.
    r.call(2, RoutingConfig::default(), &[(7, on()), (8, on())]);
    assert_eq!(rung(&r.take()), [7, 8]);
}

#[test]
fn configured_ring_timeout_is_used() {
    let mut r = Rig::new();
    let routing = RoutingConfig {
        ring_timeout_secs: 10,
        ..RoutingConfig::default()
    };
    r.call(1, routing, &[(7, on())]);
    r.advance(Duration::from_secs(10));
    assert_eq!(missed_reason(&r.take()), "noOperator");
}

#[test]
fn everyone_declining_is_missed_no_operator() {
    let mut r = Rig::new();
    r.call(1, RoutingConfig::default(), &[(7, on()), (8, on())]);
    r.take();
    r.ok(Input::Decline {
        call: c(1),
        staff: 7,
    });
    let fx = r.take();
    assert_eq!(kinds(&fx), [EventKind::CallDeclined]);
    assert!(r.sw.is_live(c(1)));
    r.ok(Input::Decline {
        call: c(1),
        staff: 8,
    });
    assert_eq!(missed_reason(&r.take()), "noOperator");
    assert!(!r.sw.is_live(c(1)));
}

#[test]
fn caller_hangs_up_while_ringing_is_missed_user_left() {
    let mut r = Rig::new();
    r.call(1, RoutingConfig::default(), &[(7, on())]);
    r.take();
    r.advance(Duration::from_secs(5));
    r.ok(Input::CallerHungUp { call: c(1) });
    let fx = r.take();
    assert_eq!(missed_reason(&fx), "userLeft");
    assert!(fx.contains(&Effect::StopRinging {
        call: c(1),
        staff: vec![7]
    }));
    // The caller is gone: no announcement, no hang-up.
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::TurnAway { .. } | Effect::HangUpCaller { .. }))
    );
    assert_eq!(
        event(&fx, EventKind::CallEnded).data["ended_by"],
        "customer"
    );
}

// ----- answering --------------------------------------------------------------

#[test]
fn first_accept_wins_and_others_stop_ringing() {
    let mut r = Rig::new();
    r.call(
        1,
        RoutingConfig::default(),
        &[(7, on()), (8, on()), (9, on())],
    );
    r.take();
    r.advance(Duration::from_secs(4));
    r.ok(Input::Accept {
        call: c(1),
        staff: 8,
    });
    let fx = r.take();
    assert!(fx.contains(&Effect::StopRinging {
        call: c(1),
        staff: vec![7, 9]
    }));
    assert!(fx.contains(&Effect::AnswerCaller { call: c(1) }));
    assert!(fx.contains(&Effect::ConnectStaff {
        call: c(1),
        staff: 8,
        muted: false
    }));
    let answered = event(&fx, EventKind::CallAnswered);
    assert_eq!(
        (answered.actor, answered.data["wait_ms"].clone()),
        (Some(8), 4000.into())
    );
    assert_eq!(r.sw.poll_timeout(), None, "no ring timeout after answer");
    // The loser's accept comes too late.
    assert_eq!(
        r.input(Input::Accept {
            call: c(1),
            staff: 7
        }),
        Err(CallError::NotRinging {
            call: c(1),
            staff: 7
        })
    );
    assert_eq!(r.sw.participants(c(1)), [(8, false)]);
}

#[test]
fn accepting_an_unknown_or_ended_call_is_an_error() {
    let mut r = Rig::new();
    assert_eq!(
        r.input(Input::Accept {
            call: c(9),
            staff: 7
        }),
        Err(CallError::UnknownCall(c(9)))
    );
    r.call(1, RoutingConfig::default(), &[(7, on())]);
    r.ok(Input::CallerHungUp { call: c(1) });
    r.take();
    assert_eq!(
        r.input(Input::Accept {
            call: c(1),
            staff: 7
        }),
        Err(CallError::UnknownCall(c(1)))
    );
    assert!(r.take().is_empty());
}

#[test]
fn duplicate_call_and_chat_medium_are_refused() {
    let mut r = Rig::new();
    r.call(1, RoutingConfig::default(), &[(7, on())]);
    let mut ic = IncomingCall {
        call: c(1),
        channel: CHANNEL,
        chat: 5,
        medium: Medium::Phone,
        caller: None,
        dialled: None,
        customer: 1,
        known_caller: false,
        profile: BTreeMap::new(),
        at: r.wall,
        routing: RoutingConfig::default(),
        candidates: Vec::new(),
    };
    assert_eq!(
        r.input(Input::IncomingCall(Box::new(ic.clone()))),
        Err(CallError::DuplicateCall(c(1)))
    );
    ic.call = c(2);
    ic.medium = Medium::Chat;
    assert_eq!(
        r.input(Input::IncomingCall(Box::new(ic))),
        Err(CallError::NotACall(Medium::Chat))
    );
}

// ----- AS-1 eligibility --------------------------------------------------------

#[test]
fn as1_do_not_disturb_is_not_rung() {
    let mut r = Rig::new();
    let dnd = Settings {
        do_not_disturb: true,
        ..on()
    };
    r.call(1, RoutingConfig::default(), &[(7, dnd), (8, on())]);
    assert_eq!(rung(&r.take()), [8]);
}

#[test]
fn as1_staff_in_a_call_is_not_rung() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::ChatReleased { chat: 101 });
    r.call(2, RoutingConfig::default(), &[(7, on()), (8, on())]);
    let fx = r.take();
    assert_eq!(rung(&fx), [8]);
    let skipped = &event(&fx, EventKind::CallRinging).data["skipped"];
    assert_eq!(skipped[0]["reason"], "already in a call");
}

#[test]
fn as1_staff_already_ringing_is_not_rung_again() {
    let mut r = Rig::new();
    r.call(1, RoutingConfig::default(), &[(7, on())]);
    r.call(2, RoutingConfig::default(), &[(7, on()), (8, on())]);
    let fx = r.take();
    assert_eq!(rung(&fx), [7, 8]);
    // Call 2 rang only 8; 7 was still ringing for call 1.
    let ringing: Vec<_> = records(&fx)
        .into_iter()
        .filter(|e| e.kind == EventKind::CallRinging)
        .map(|e| e.data["staff_ids"].clone())
        .collect();
    assert_eq!(ringing, [serde_json::json!([7]), serde_json::json!([8])]);
}

#[test]
fn settings_input_updates_do_not_disturb() {
    let mut r = Rig::new();
    r.ok(Input::Settings {
        staff: 7,
        settings: Settings {
            do_not_disturb: true,
            ..on()
        },
    });
    // An invitation respects DND too.
    r.answered(1, &[8]);
    assert_eq!(
        r.input(Input::Invite {
            call: c(1),
            by: 8,
            staff: 7
        }),
        Err(CallError::Unavailable {
            staff: 7,
            reason: "do not disturb"
        })
    );
}

// ----- AS-2 open phone chat -------------------------------------------------------

#[test]
fn as2_open_phone_chat_blocks_new_ring() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::Leave {
        call: c(1),
        staff: 7,
    });
    r.take();
    // The call is over, but its chat is still opened and assigned to 7: wrap-up time.
    r.call(2, RoutingConfig::default(), &[(7, on()), (8, on())]);
    let fx = r.take();
    assert_eq!(rung(&fx), [8]);
    assert_eq!(
        event(&fx, EventKind::CallRinging).data["skipped"][0]["reason"],
        "an open phone chat"
    );
}

#[test]
fn as2_answering_assigns_the_chat() {
    let mut r = Rig::new();
    r.call(1, RoutingConfig::default(), &[(7, on())]);
    r.ok(Input::Accept {
        call: c(1),
        staff: 7,
    });
    assert!(r.take().contains(&Effect::Assign {
        chat: 101,
        team: None,
        staff: Some(7)
    }));
}

#[test]
fn as2_snooze_makes_staff_available() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::EndForEveryone {
        call: c(1),
        staff: 7,
    });
    r.call(2, RoutingConfig::default(), &[(7, on())]);
    assert_eq!(missed_reason(&r.take()), "noOperator");
    // The chat is snoozed (or closed): the server reports it released.
    r.ok(Input::ChatReleased { chat: 101 });
    r.call(3, RoutingConfig::default(), &[(7, on())]);
    assert_eq!(rung(&r.take()), [7]);
}

#[test]
fn as2_phone_chat_fed_at_start_up_blocks_until_released() {
    let mut r = Rig::new();
    r.ok(Input::ActivePhoneChat { staff: 7, chat: 42 });
    r.call(1, RoutingConfig::default(), &[(7, on())]);
    assert_eq!(missed_reason(&r.take()), "noOperator");
    r.ok(Input::ChatReleased { chat: 42 });
    r.call(2, RoutingConfig::default(), &[(7, on())]);
    assert_eq!(rung(&r.take()), [7]);
}

#[test]
fn as2_without_automatic_assignment_wrap_up_does_not_block() {
    let mut r = Rig::new();
    let manual = RoutingConfig {
        auto_assign: false,
        ..RoutingConfig::default()
    };
    r.call(1, manual.clone(), &[(7, on())]);
    r.ok(Input::Accept {
        call: c(1),
        staff: 7,
    });
    assert!(!r.take().iter().any(|e| matches!(e, Effect::Assign { .. })));
    r.ok(Input::Leave {
        call: c(1),
        staff: 7,
    });
    r.call(2, manual, &[(7, on())]);
    assert_eq!(rung(&r.take()), [7]);
}

// ----- AS-5 one call at a time -----------------------------------------------------

#[test]
fn as5_accepting_another_channels_invitation_drops_the_current_call() {
    let mut r = Rig::new();
    // 7 is alone with a customer in channel 1.
    r.answered(1, &[7]);
    // 8 is in a call in channel 2 and invites 7.
    r.call_in(
        2,
        OTHER_CHANNEL,
        RoutingConfig::default(),
        &[(8, on())],
        false,
        BTreeMap::new(),
    );
    r.ok(Input::Accept {
        call: c(2),
        staff: 8,
    });
    r.ok(Input::Invite {
        call: c(2),
        by: 8,
        staff: 7,
    });
    r.take();
    r.ok(Input::Accept {
        call: c(2),
        staff: 7,
    });
    let fx = r.take();
    // Call 1 lost its last staff member: it ended, the caller was hung up on.
    assert!(fx.contains(&Effect::DisconnectStaff {
        call: c(1),
        staff: 7
    }));
    assert!(fx.contains(&Effect::HangUpCaller { call: c(1) }));
    assert!(!r.sw.is_live(c(1)));
    assert!(fx.contains(&Effect::ConnectStaff {
        call: c(2),
        staff: 7,
        muted: false
    }));
    let joined = event(&fx, EventKind::CallParticipantJoined);
    assert_eq!(
        (joined.channel, joined.data["invited_by"].clone()),
        (OTHER_CHANNEL, 8.into())
    );
    assert_eq!(r.sw.call_of(7), Some(c(2)));
}

#[test]
fn as5_accepting_one_call_stops_the_others_ringing_for_that_staff_member() {
    let mut r = Rig::new();
    r.answered(1, &[8]);
    r.call(2, RoutingConfig::default(), &[(7, on())]);
    r.ok(Input::Invite {
        call: c(1),
        by: 8,
        staff: 7,
    });
    r.take();
    r.ok(Input::Accept {
        call: c(1),
        staff: 7,
    });
    let fx = r.take();
    // Call 2 rang only 7; it is now missed, nobody answered.
    assert!(fx.contains(&Effect::StopRinging {
        call: c(2),
        staff: vec![7]
    }));
    assert_eq!(missed_reason(&fx), "noOperator");
    assert_eq!(r.sw.participants(c(1)), [(7, false), (8, false)]);
}

// ----- RG-2 dialpad ----------------------------------------------------------------

#[test]
fn rg2_dialpad_sends_dtmf_and_refuses_non_digits() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::Dtmf {
        call: c(1),
        staff: 7,
        digits: "1#*".into(),
    });
    assert_eq!(
        r.take(),
        [Effect::SendDtmf {
            call: c(1),
            digits: "1#*".into()
        }]
    );
    for bad in ["", "12x", &"1".repeat(33)] {
        assert_eq!(
            r.input(Input::Dtmf {
                call: c(1),
                staff: 7,
                digits: bad.into()
            }),
            Err(CallError::InvalidDtmf(bad.into()))
        );
    }
    assert_eq!(
        r.input(Input::Dtmf {
            call: c(1),
            staff: 8,
            digits: "1".into()
        }),
        Err(CallError::NotParticipant {
            call: c(1),
            staff: 8
        })
    );
}

// ----- RG-3 invite -----------------------------------------------------------------

#[test]
fn rg3_invited_teammate_is_rung_and_joins() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::Invite {
        call: c(1),
        by: 7,
        staff: 8,
    });
    let fx = r.take();
    assert!(fx.contains(&Effect::Ring {
        call: c(1),
        staff: vec![8],
        invited_by: Some(7)
    }));
    assert_eq!(event(&fx, EventKind::CallInvited).data["staff_id"], 8);
    r.ok(Input::Accept {
        call: c(1),
        staff: 8,
    });
    let fx = r.take();
    assert!(!fx.contains(&Effect::AnswerCaller { call: c(1) }));
    assert_eq!(kinds(&fx), [EventKind::CallParticipantJoined]);
    assert_eq!(r.sw.participants(c(1)), [(7, false), (8, false)]);
}

#[test]
fn rg3_unanswered_invitation_times_out() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::Invite {
        call: c(1),
        by: 7,
        staff: 8,
    });
    r.take();
    r.advance(Duration::from_secs(30));
    let fx = r.take();
    assert!(fx.contains(&Effect::StopRinging {
        call: c(1),
        staff: vec![8]
    }));
    // MH-3: "Invited by" for the invitation 8 did not take.
    assert_eq!(
        event(&fx, EventKind::CallInviteMissed).data["invited_by"],
        7
    );
    assert!(r.sw.is_live(c(1)));
}

#[test]
fn rg3_eleventh_participant_is_refused() {
    let mut r = Rig::new();
    r.answered(1, &[1]);
    // The customer and staff 1 are in; invite 8 more (one still ringing counts too).
    for s in 2..=9 {
        r.ok(Input::Invite {
            call: c(1),
            by: 1,
            staff: s,
        });
        if s != 9 {
            r.ok(Input::Accept {
                call: c(1),
                staff: s,
            });
        }
    }
    assert_eq!(r.sw.participants(c(1)).len(), MAX_STAFF - 1);
    let err = r
        .input(Input::Invite {
            call: c(1),
            by: 1,
            staff: 10,
        })
        .unwrap_err();
    assert_eq!(err, CallError::TooManyParticipants { max: 10 });
    assert_eq!(
        err.to_string(),
        "a call has at most 10 participants (1 customer and 9 staff)"
    );
    // The ninth staff member joins: 10 participants in all.
    r.ok(Input::Accept {
        call: c(1),
        staff: 9,
    });
    assert_eq!(r.sw.participants(c(1)).len(), MAX_STAFF);
}

#[test]
fn rg3_inviting_someone_already_there_or_as_a_non_participant_is_refused() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    assert_eq!(
        r.input(Input::Invite {
            call: c(1),
            by: 7,
            staff: 7
        }),
        Err(CallError::AlreadyInCall {
            call: c(1),
            staff: 7
        })
    );
    assert_eq!(
        r.input(Input::Invite {
            call: c(1),
            by: 5,
            staff: 8
        }),
        Err(CallError::NotParticipant {
            call: c(1),
            staff: 5
        })
    );
}

// ----- RG-4, RG-8 mute ---------------------------------------------------------------

#[test]
fn rg4_mute_and_unmute() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::SetMuted {
        call: c(1),
        staff: 7,
        muted: true,
    });
    let fx = r.take();
    assert!(fx.contains(&Effect::SetMuted {
        call: c(1),
        staff: 7,
        muted: true
    }));
    assert_eq!(event(&fx, EventKind::CallMuteChanged).data["muted"], true);
    assert_eq!(r.sw.participants(c(1)), [(7, true)]);
    // Muting again changes nothing.
    r.ok(Input::SetMuted {
        call: c(1),
        staff: 7,
        muted: true,
    });
    assert!(r.take().is_empty());
}

#[test]
fn rg8_auto_mute_on_join() {
    let mut r = Rig::new();
    let auto = Settings {
        auto_mute_on_join: true,
        ..on()
    };
    r.call(1, RoutingConfig::default(), &[(7, auto)]);
    r.ok(Input::Accept {
        call: c(1),
        staff: 7,
    });
    assert!(r.take().contains(&Effect::ConnectStaff {
        call: c(1),
        staff: 7,
        muted: true
    }));
    // An invited teammate with auto-mute joins muted too.
    r.ok(Input::Settings {
        staff: 8,
        settings: auto,
    });
    r.ok(Input::Invite {
        call: c(1),
        by: 7,
        staff: 8,
    });
    r.ok(Input::Accept {
        call: c(1),
        staff: 8,
    });
    assert_eq!(r.sw.participants(c(1)), [(7, true), (8, true)]);
}

// ----- RG-6, RG-7 leave and end ----------------------------------------------------

#[test]
fn rg6_leave_with_other_staff_continues_the_call() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::Invite {
        call: c(1),
        by: 7,
        staff: 8,
    });
    r.ok(Input::Accept {
        call: c(1),
        staff: 8,
    });
    r.take();
    r.ok(Input::Leave {
        call: c(1),
        staff: 7,
    });
    let fx = r.take();
    assert_eq!(kinds(&fx), [EventKind::CallParticipantLeft]);
    assert!(r.sw.is_live(c(1)));
    assert_eq!(r.sw.participants(c(1)), [(8, false)]);
}

#[test]
fn rg6_leave_last_staff_ends_call() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.advance(Duration::from_secs(65));
    r.ok(Input::Leave {
        call: c(1),
        staff: 7,
    });
    let fx = r.take();
    assert!(fx.contains(&Effect::HangUpCaller { call: c(1) }));
    let ended = event(&fx, EventKind::CallEnded);
    assert_eq!(ended.actor, Some(7));
    assert_eq!(ended.data["ended_by"], "staff");
    assert_eq!(ended.data["duration_ms"], 65_000);
    assert_eq!(ended.data["missed_reason"], serde_json::Value::Null);
    assert!(!r.sw.is_live(c(1)));
    assert_eq!(
        r.input(Input::Leave {
            call: c(1),
            staff: 7
        }),
        Err(CallError::UnknownCall(c(1)))
    );
}

#[test]
fn rg7_end_for_everyone() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::Invite {
        call: c(1),
        by: 7,
        staff: 8,
    });
    r.ok(Input::Accept {
        call: c(1),
        staff: 8,
    });
    r.ok(Input::Invite {
        call: c(1),
        by: 8,
        staff: 9,
    });
    r.take();
    r.advance(Duration::from_secs(3));
    r.ok(Input::EndForEveryone {
        call: c(1),
        staff: 8,
    });
    let fx = r.take();
    for s in [7, 8] {
        assert!(fx.contains(&Effect::DisconnectStaff {
            call: c(1),
            staff: s
        }));
    }
    // The pending invitation stops ringing.
    assert!(fx.contains(&Effect::StopRinging {
        call: c(1),
        staff: vec![9]
    }));
    assert!(fx.contains(&Effect::HangUpCaller { call: c(1) }));
    assert_eq!(event(&fx, EventKind::CallEnded).actor, Some(8));
    assert_eq!(r.sw.call_of(7), None);
    assert_eq!(r.sw.call_of(8), None);
    assert_eq!(r.sw.poll_timeout(), None);
}

#[test]
fn customer_hanging_up_ends_the_call_for_staff() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::CallerHungUp { call: c(1) });
    let fx = r.take();
    assert!(fx.contains(&Effect::DisconnectStaff {
        call: c(1),
        staff: 7
    }));
    assert!(!fx.contains(&Effect::HangUpCaller { call: c(1) }));
    let ended = event(&fx, EventKind::CallEnded);
    assert_eq!(
        (ended.actor, ended.data["ended_by"].clone()),
        (None, "customer".into())
    );
    assert_eq!(ended.data["answered"], true);
}

// ----- HD-1..3 hold ----------------------------------------------------------------------

#[test]
fn hd1_hd2_hold_and_resume() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::Hold {
        call: c(1),
        staff: 7,
    });
    let fx = r.take();
    assert!(fx.contains(&Effect::Hold { call: c(1) }));
    assert_eq!(event(&fx, EventKind::CallHeld).actor, Some(7));
    assert_eq!(r.sw.on_hold_by(c(1)), Some(7));
    assert_eq!(
        r.input(Input::Hold {
            call: c(1),
            staff: 7
        }),
        Err(CallError::AlreadyOnHold(c(1)))
    );
    r.ok(Input::Resume {
        call: c(1),
        staff: 7,
    });
    let fx = r.take();
    assert!(fx.contains(&Effect::Resume { call: c(1) }));
    assert_eq!(event(&fx, EventKind::CallResumed).data["reason"], "resumed");
    assert_eq!(
        r.input(Input::Resume {
            call: c(1),
            staff: 7
        }),
        Err(CallError::NotOnHold(c(1)))
    );
}

#[test]
fn hd1_hold_is_only_for_phone_calls() {
    let mut r = Rig::new();
    r.ok(Input::IncomingCall(Box::new(IncomingCall {
        call: c(1),
        channel: CHANNEL,
        chat: 101,
        medium: Medium::Voice,
        caller: None,
        dialled: None,
        customer: 1,
        known_caller: true,
        profile: BTreeMap::new(),
        at: r.wall,
        routing: RoutingConfig::default(),
        candidates: vec![Candidate {
            staff: 7,
            settings: on(),
        }],
    })));
    r.ok(Input::Accept {
        call: c(1),
        staff: 7,
    });
    assert_eq!(
        r.input(Input::Hold {
            call: c(1),
            staff: 7
        }),
        Err(CallError::PhoneOnly {
            what: "hold",
            medium: Medium::Voice
        })
    );
    assert!(matches!(
        r.input(Input::Dtmf {
            call: c(1),
            staff: 7,
            digits: "1".into()
        }),
        Err(CallError::PhoneOnly { .. })
    ));
}

#[test]
fn hd3_hold_released_when_holder_leaves() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    r.ok(Input::Invite {
        call: c(1),
        by: 7,
        staff: 8,
    });
    r.ok(Input::Accept {
        call: c(1),
        staff: 8,
    });
    r.ok(Input::Hold {
        call: c(1),
        staff: 7,
    });
    r.take();
    r.ok(Input::Leave {
        call: c(1),
        staff: 7,
    });
    let fx = r.take();
    assert!(fx.contains(&Effect::Resume { call: c(1) }));
    let resumed = event(&fx, EventKind::CallResumed);
    assert_eq!(resumed.data["reason"], "holder_left");
    assert_eq!(resumed.data["held_by"], 7);
    assert_eq!(r.sw.on_hold_by(c(1)), None);
    assert!(r.sw.is_live(c(1)));
}

#[test]
fn hd2_any_participant_resumes_and_others_leaving_keeps_hold() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    for s in [8, 9] {
        r.ok(Input::Invite {
            call: c(1),
            by: 7,
            staff: s,
        });
        r.ok(Input::Accept {
            call: c(1),
            staff: s,
        });
    }
    r.ok(Input::Hold {
        call: c(1),
        staff: 7,
    });
    r.ok(Input::Leave {
        call: c(1),
        staff: 9,
    });
    assert_eq!(r.sw.on_hold_by(c(1)), Some(7));
    r.take();
    r.ok(Input::Resume {
        call: c(1),
        staff: 8,
    });
    assert_eq!(event(&r.take(), EventKind::CallResumed).actor, Some(8));
}

// ----- properties -----------------------------------------------------------------------

/// Whatever staff do, in any order, every started call records exactly one end, every
/// ring is stopped or answered, and nobody is left in a call that is gone.
#[test]
fn random_sessions_keep_the_books_straight() {
    // A small deterministic generator: no dependency, reproducible failures.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _round in 0..200 {
        let mut r = Rig::new();
        let mut started = 0;
        for _step in 0..60 {
            let call = c(next(4) + 1);
            let staff = (next(5) + 1) as StaffId;
            let input = match next(12) {
                0 | 1 => {
                    if r.sw.is_live(call) {
                        continue;
                    }
                    started += 1;
                    let all: Vec<_> = (1..=5).map(|s| (s, on())).collect();
                    r.call(call.0, RoutingConfig::default(), &all);
                    continue;
                }
                2 => Input::Accept { call, staff },
                3 => Input::Decline { call, staff },
                4 => Input::CallerHungUp { call },
                5 => Input::Invite {
                    call,
                    by: staff,
                    staff: (next(5) + 1) as StaffId,
                },
                6 => Input::Leave { call, staff },
                7 => Input::EndForEveryone { call, staff },
                8 => Input::Hold { call, staff },
                9 => Input::Resume { call, staff },
                10 => Input::ChatReleased {
                    chat: 100 + next(400) as i64,
                },
                _ => {
                    r.advance(Duration::from_secs(next(40)));
                    continue;
                }
            };
            let before = r.effects.len();
            if r.input(input).is_err() {
                assert_eq!(r.effects.len(), before, "an error queues nothing");
            }
        }
        r.advance(Duration::from_secs(3600));
        let fx = r.take();
        let ended = kinds(&fx)
            .iter()
            .filter(|k| **k == EventKind::CallEnded)
            .count();
        let live = (1..=1000).filter(|i| r.sw.is_live(c(*i))).count();
        let all_started = kinds(&fx)
            .iter()
            .filter(|k| **k == EventKind::CallStarted)
            .count();
        assert!(all_started >= started);
        assert_eq!(ended + live, all_started, "every call ends once or is live");
        for s in 1..=5 {
            if let Some(call) = r.sw.call_of(s) {
                assert!(r.sw.is_live(call));
                assert!(r.sw.participants(call).iter().any(|(p, _)| *p == s));
            }
        }
        // No ringing deadline is left once only answered calls remain.
        assert!(r.sw.poll_timeout().is_none() || live > 0);
    }
}

// ----- OUT-1, OUT-3, AS-5, ST-3: outgoing calls ------------------------------

impl Rig {
    fn dial(&mut self, id: u64, staff: StaffId) -> Result<(), CallError> {
        self.input(Input::OutgoingCall(Box::new(OutgoingCall {
            call: CallId(id),
            channel: CHANNEL,
            chat: 100 + id as i64,
            staff,
            callee: E164::parse("090-9999-0000", Region::JP).unwrap(),
            caller_id: Some(E164::parse("03-1111-2222", Region::JP).unwrap()),
            customer: 600,
            known_callee: true,
            ring_timeout: Duration::from_secs(30),
        })))
    }
}

fn ended(effects: &[Effect]) -> serde_json::Value {
    event(effects, EventKind::CallEnded).data.clone()
}

#[test]
fn out1_placing_a_call_dials_and_connects_the_placer_at_once() {
    let mut r = Rig::new();
    r.dial(1, 7).unwrap();
    let fx = r.take();
    assert_eq!(kinds(&fx), vec![EventKind::CallStarted]);
    let started = event(&fx, EventKind::CallStarted);
    assert_eq!(started.data["direction"], "outbound");
    assert_eq!(started.data["callee"], "+819099990000");
    assert_eq!(started.actor, Some(7));
    assert!(fx.contains(&Effect::Dial { call: c(1) }));
    assert!(fx.contains(&Effect::ConnectStaff {
        call: c(1),
        staff: 7,
        muted: false
    }));
    assert_eq!(r.sw.call_of(7), Some(c(1)));
    // While it rings: no hold, no dialpad, no invitations.
    assert_eq!(
        r.input(Input::Hold {
            call: c(1),
            staff: 7
        }),
        Err(CallError::NotAnswered(c(1)))
    );
    assert_eq!(
        r.input(Input::Dtmf {
            call: c(1),
            staff: 7,
            digits: "1".into()
        }),
        Err(CallError::NotAnswered(c(1)))
    );
    r.ok(Input::CalleeRinging {
        call: c(1),
        early_media: false,
    });
    r.ok(Input::CalleeRinging {
        call: c(1),
        early_media: true,
    });
    assert_eq!(
        kinds(&r.take()),
        vec![EventKind::CallRinging],
        "recorded once"
    );
}

#[test]
fn out1_answered_call_records_the_callee_answer_and_ends_answered() {
    let mut r = Rig::new();
    r.dial(1, 7).unwrap();
    r.take();
    r.advance(Duration::from_secs(4));
    r.ok(Input::CalleeAnswered { call: c(1) });
    let fx = r.take();
    assert!(fx.contains(&Effect::AnswerCaller { call: c(1) }));
    let answered = event(&fx, EventKind::CallAnswered);
    assert_eq!(answered.data["by"], "callee");
    assert_eq!(answered.data["wait_ms"], 4000);
    assert!(
        answered.data.get("staff_id").is_none(),
        "the placer's row stays `placed`"
    );
    assert_eq!(event(&fx, EventKind::CallParticipantJoined).actor, Some(7));
    // Answered: the in-call controls work as for inbound calls.
    r.ok(Input::Dtmf {
        call: c(1),
        staff: 7,
        digits: "12#".into(),
    });
    r.ok(Input::Hold {
        call: c(1),
        staff: 7,
    });
    r.ok(Input::Resume {
        call: c(1),
        staff: 7,
    });
    r.take();
    r.advance(Duration::from_secs(10));
    r.ok(Input::CallerHungUp { call: c(1) });
    let fx = r.take();
    let data = ended(&fx);
    assert_eq!(data["outcome"], "answered");
    assert_eq!(data["ended_by"], "customer");
    assert_eq!(data["duration_ms"], 10_000);
    assert!(!fx.contains(&Effect::HangUpCaller { call: c(1) }));
    assert_eq!(r.sw.call_of(7), None);
}

#[test]
fn out_failures_are_recorded_with_their_outcome_and_status() {
    for (status, outcome) in [
        (486, "busy"),
        (600, "busy"),
        (603, "declined"),
        (404, "failed"),
        (503, "failed"),
        (480, "no_answer"),
    ] {
        let mut r = Rig::new();
        r.dial(1, 7).unwrap();
        r.take();
        r.ok(Input::CalleeFailed { call: c(1), status });
        let fx = r.take();
        let data = ended(&fx);
        assert_eq!(data["outcome"], outcome, "{status}");
        assert_eq!(data["sip_status"], status);
        assert_eq!(data["answered"], false);
        assert!(fx.contains(&Effect::DisconnectStaff {
            call: c(1),
            staff: 7
        }));
        // The INVITE already has its final answer: nothing to cancel.
        assert!(!fx.contains(&Effect::HangUpCaller { call: c(1) }));
        assert!(fx.contains(&Effect::Finished { call: c(1) }));
        assert_eq!(r.sw.call_of(7), None, "free for the next call");
    }
}

#[test]
fn out_no_answer_before_the_ring_timeout_cancels() {
    let mut r = Rig::new();
    r.dial(1, 7).unwrap();
    r.take();
    r.advance(Duration::from_secs(29));
    assert!(r.take().is_empty());
    r.advance(Duration::from_secs(2));
    let fx = r.take();
    assert!(fx.contains(&Effect::HangUpCaller { call: c(1) }), "CANCEL");
    assert_eq!(ended(&fx)["outcome"], "no_answer");
    // The 487 for our CANCEL comes after the call is forgotten.
    assert_eq!(
        r.input(Input::CalleeFailed {
            call: c(1),
            status: 487
        }),
        Err(CallError::UnknownCall(c(1)))
    );
}

#[test]
fn out_placer_hanging_up_while_it_rings_cancels_as_no_answer() {
    let mut r = Rig::new();
    r.dial(1, 7).unwrap();
    r.take();
    r.ok(Input::EndForEveryone {
        call: c(1),
        staff: 7,
    });
    let fx = r.take();
    assert!(fx.contains(&Effect::HangUpCaller { call: c(1) }));
    let data = ended(&fx);
    assert_eq!(data["outcome"], "no_answer");
    assert_eq!(data["ended_by"], "staff");
}

#[test]
fn as5_one_call_at_a_time_for_outgoing_calls() {
    let mut r = Rig::new();
    r.answered(1, &[7]);
    assert_eq!(
        r.dial(2, 7),
        Err(CallError::Busy {
            staff: 7,
            call: c(1)
        })
    );
    assert!(r.take().is_empty(), "a refused request changes nothing");
    // Placing a call stops what rings for the placer.
    r.call(3, RoutingConfig::default(), &[(8, on())]);
    r.take();
    r.dial(4, 8).unwrap();
    let fx = r.take();
    assert!(fx.contains(&Effect::StopRinging {
        call: c(3),
        staff: vec![8]
    }));
    assert_eq!(missed_reason(&fx), "noOperator");
    // And a call placed is not an inbound one: accepting it is refused.
    assert_eq!(
        r.input(Input::CalleeAnswered { call: c(1) }),
        Err(CallError::NotOutgoing(c(1)))
    );
}
