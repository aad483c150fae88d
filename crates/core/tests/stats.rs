//! Metric definitions (SPEC ST-1..ST-4) on hand-built call histories.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use denwa_core::model::{
    CallDirection, CallOutcome, CallRecord, CallStaffRecord, Medium, MissedReason,
};
use denwa_core::stats::{
    CallHistory, DashboardQuery, LocalSlot, Period, Tally, dashboard_of, time_zone,
};

const A: i64 = 1;
const B: i64 = 2;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn call(id: i64, direction: CallDirection, started: DateTime<Utc>) -> CallRecord {
    CallRecord {
        id,
        channel_id: 1,
        chat_id: id,
        direction,
        medium: Medium::Phone,
        customer_id: Some(1),
        customer_number: Some("+819011112222".into()),
        channel_number: Some("+815012345678".into()),
        team_id: None,
        staff_id: None,
        started_at: started,
        answered_at: None,
        ended_at: None,
        hold_ms: 0,
        participants: vec![],
        outcome: None,
        missed_reason: None,
        ended_by: None,
        end_reason: None,
        recording: None,
    }
}

fn staff(call: i64, id: i64, rung: Option<DateTime<Utc>>) -> CallStaffRecord {
    CallStaffRecord {
        call_id: call,
        staff_id: id,
        rung_at: rung,
        invited_by: None,
        joined_at: None,
        left_at: None,
        talk_ms: 0,
        outcome: None,
    }
}

/// Inbound, rings A from `ring_after` s, A answers after `answer_after` s, talks `talk` s,
/// chat closed `wrap` s after the end.
fn answered_inbound(
    id: i64,
    at: DateTime<Utc>,
    ring_after: i64,
    answer_after: i64,
    talk: i64,
    wrap: Option<i64>,
) -> CallHistory {
    let mut c = call(id, CallDirection::Inbound, at);
    let answered = at + Duration::seconds(answer_after);
    let ended = answered + Duration::seconds(talk);
    c.answered_at = Some(answered);
    c.ended_at = Some(ended);
    c.outcome = Some(CallOutcome::Answered);
    c.staff_id = Some(A);
    c.team_id = Some(10);
    c.participants = vec![A];
    let mut a = staff(id, A, Some(at + Duration::seconds(ring_after)));
    a.joined_at = Some(answered);
    a.left_at = Some(ended);
    a.talk_ms = talk * 1000;
    a.outcome = Some("answered".into());
    let mut b = staff(id, B, Some(at + Duration::seconds(ring_after)));
    b.outcome = Some("missed".into());
    CallHistory {
        call: c,
        staff: vec![a, b],
        chat_closed_at: wrap.map(|w| ended + Duration::seconds(w)),
    }
}

fn missed_inbound(id: i64, at: DateTime<Utc>, reason: Option<MissedReason>) -> CallHistory {
    let mut c = call(id, CallDirection::Inbound, at);
    c.ended_at = Some(at + Duration::seconds(15));
    c.outcome = Some(CallOutcome::Missed);
    c.missed_reason = reason;
    c.team_id = Some(10);
    let mut b = staff(id, B, Some(at));
    b.outcome = Some("missed".into());
    CallHistory {
        call: c,
        staff: if reason == Some(MissedReason::NotInOperation) {
            vec![]
        } else {
            vec![b]
        },
        chat_closed_at: None,
    }
}

fn outbound(id: i64, at: DateTime<Utc>, answered_after: Option<i64>, talk: i64) -> CallHistory {
    let mut c = call(id, CallDirection::Outbound, at);
    c.staff_id = Some(B);
    c.team_id = Some(20);
    let mut b = staff(id, B, None);
    b.outcome = Some("placed".into());
    match answered_after {
        Some(s) => {
            let answered = at + Duration::seconds(s);
            c.answered_at = Some(answered);
            c.ended_at = Some(answered + Duration::seconds(talk));
            c.outcome = Some(CallOutcome::Answered);
            b.joined_at = Some(at);
            b.talk_ms = (s + talk) * 1000;
        }
        None => {
            c.ended_at = Some(at + Duration::seconds(30));
            c.outcome = Some(CallOutcome::NoAnswer);
        }
    }
    CallHistory {
        call: c,
        staff: vec![b],
        chat_closed_at: None,
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn query(from: NaiveDate, to: NaiveDate) -> DashboardQuery {
    DashboardQuery {
        from,
        to,
        period: Period::Day,
        team: None,
        staff: None,
    }
}

fn history() -> Vec<CallHistory> {
    vec![
        // 2026-03-02 14:59:59 UTC = 23:59:59 on Monday 2 March in Tokyo.
        answered_inbound(1, utc(2026, 3, 2, 14, 59, 59), 2, 10, 120, Some(60)),
        // 2026-03-02 15:00:00 UTC = 00:00 on Tuesday 3 March in Tokyo.
        answered_inbound(2, utc(2026, 3, 2, 15, 0, 0), 5, 30, 60, Some(0)),
        missed_inbound(
            3,
            utc(2026, 3, 3, 1, 0, 0),
            Some(MissedReason::NotInOperation),
        ),
        missed_inbound(4, utc(2026, 3, 3, 2, 0, 0), Some(MissedReason::NoOperator)),
        missed_inbound(5, utc(2026, 3, 3, 3, 0, 0), Some(MissedReason::UserLeft)),
        outbound(6, utc(2026, 3, 3, 4, 0, 0), Some(10), 50),
        outbound(7, utc(2026, 3, 3, 5, 0, 0), None, 0),
    ]
}

#[test]
fn tokyo_day_boundary_puts_calls_on_local_days() {
    let tz = time_zone("Asia/Tokyo").unwrap();
    let h = history();
    assert_eq!(
        LocalSlot::of(tz, h[0].call.started_at),
        LocalSlot {
            day: day(2026, 3, 2),
            hour: 23
        }
    );
    assert_eq!(
        LocalSlot::of(tz, h[1].call.started_at),
        LocalSlot {
            day: day(2026, 3, 3),
            hour: 0
        }
    );
    let d = dashboard_of(&query(day(2026, 3, 2), day(2026, 3, 3)), tz, &h);
    assert_eq!(d.series.len(), 2);
    assert_eq!(d.series[0].metrics.total, 1, "only the 23:59:59 call");
    assert_eq!(d.series[1].metrics.total, 6);
    // Monday 23:00 and Tuesday 00:00 in the heatmap.
    assert_eq!(d.heatmap[0][23], 1);
    assert_eq!(d.heatmap[1][0], 1);
    // In UTC both calls fall on 2 March.
    let d = dashboard_of(
        &query(day(2026, 3, 2), day(2026, 3, 2)),
        time_zone("UTC").unwrap(),
        &h,
    );
    assert_eq!(d.totals.total, 2);
}

#[test]
fn channel_metrics_follow_their_definitions() {
    let tz = time_zone("Asia/Tokyo").unwrap();
    let d = dashboard_of(&query(day(2026, 3, 1), day(2026, 3, 31)), tz, &history());
    let m = d.totals;
    assert_eq!(m.total, 7);
    assert_eq!(m.inbound, 5);
    assert_eq!(m.outbound, 2);
    assert_eq!(m.inbound_answered, 2);
    assert_eq!(m.outbound_answered, 1);
    assert_eq!(m.answered, 3);
    // One missed call of each reason.
    assert_eq!(m.missed, 3);
    assert_eq!(m.missed_by_reason.not_in_operation, 1);
    assert_eq!(m.missed_by_reason.no_operator, 1);
    assert_eq!(m.missed_by_reason.user_left, 1);
    assert_eq!(m.missed_by_reason.unspecified, 0);
    assert_eq!(m.inbound_completion_rate, Some(2.0 / 5.0));
    assert_eq!(m.outbound_completion_rate, Some(1.0 / 2.0));
    // Talk: 120 s, 60 s (inbound), 50 s (outbound).
    assert_eq!(m.avg_call_duration_ms, Some(230_000.0 / 3.0));
    // Arrival → answer: 10 s and 30 s.
    assert_eq!(m.avg_first_response_ms, Some(20_000.0));
    // First ring → answer: 8 s and 25 s.
    assert_eq!(m.avg_speed_of_answer_ms, Some(16_500.0));
    // Wrap-up: 60 s and 0 s.
    assert_eq!(m.avg_wrap_up_ms, Some(30_000.0));
    // Offered = 5 inbound − 1 outside hours; 1 answered within 20 s; 1 abandoned.
    assert_eq!(m.service_level, Some(0.25));
    assert_eq!(m.abandonment_rate, Some(0.25));
    // Weekly: both days are in the week of Monday 2 March.
    let mut q = query(day(2026, 3, 1), day(2026, 3, 31));
    q.period = Period::Week;
    let w = dashboard_of(&q, tz, &history());
    assert_eq!(w.series[0].start, day(2026, 2, 23));
    assert_eq!(w.series[1].start, day(2026, 3, 2));
    assert_eq!(w.series[1].metrics.total, 7);
    q.period = Period::Month;
    let mo = dashboard_of(&q, tz, &history());
    assert_eq!(mo.series.len(), 1);
    assert_eq!(mo.series[0].metrics, m);
}

#[test]
fn per_staff_metrics_and_filters() {
    let tz = time_zone("Asia/Tokyo").unwrap();
    let q = query(day(2026, 3, 1), day(2026, 3, 31));
    let d = dashboard_of(&q, tz, &history());
    let a = d.staff.iter().find(|s| s.staff_id == A).unwrap();
    assert_eq!((a.total, a.outbound, a.answered), (2, 0, 2));
    assert_eq!(a.call_duration_ms, 180_000);
    // Rung 2 s → joined 10 s, rung 5 s → joined 30 s.
    assert_eq!(a.ringing_ms, 8_000 + 25_000);
    assert_eq!(a.total_call_duration_ms, 180_000 + 33_000);
    let b = d.staff.iter().find(|s| s.staff_id == B).unwrap();
    // Rung on 2 answered + 2 missed calls, placed 2.
    assert_eq!((b.total, b.outbound, b.answered), (6, 2, 0));
    assert_eq!(b.call_duration_ms, 60_000);
    // Placed: dialling → answer 10 s, and 30 s unanswered.
    assert_eq!(b.ringing_ms, 40_000);

    // Team 20 is the outbound calls.
    let t = dashboard_of(
        &DashboardQuery {
            team: Some(20),
            ..q
        },
        tz,
        &history(),
    );
    assert_eq!(t.totals.total, 2);
    assert_eq!(t.totals.outbound, 2);
    assert_eq!(t.staff.len(), 1);
    // Staff A answered two calls.
    let s = dashboard_of(
        &DashboardQuery {
            staff: Some(A),
            ..q
        },
        tz,
        &history(),
    );
    assert_eq!(s.totals.total, 2);
    assert_eq!(s.staff.len(), 1);
}

#[test]
fn live_calls_do_not_count_and_wrap_up_needs_a_later_close() {
    let mut h = answered_inbound(1, utc(2026, 3, 2, 1, 0, 0), 0, 5, 10, None);
    let ended = h.call.ended_at.unwrap();
    assert_eq!(Tally::wrap_up(ended, ended - Duration::seconds(1)), None);
    h.call.ended_at = None;
    assert_eq!(Tally::of_history(&h), None);
    let d = dashboard_of(
        &query(day(2026, 3, 2), day(2026, 3, 2)),
        time_zone("Asia/Tokyo").unwrap(),
        &[h],
    );
    assert_eq!(d.totals.total, 0);
    assert_eq!(d.totals.inbound_completion_rate, None);
}
