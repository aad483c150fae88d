//! `denwa admin generate-calls`: fills a channel with realistic call history for demos
//! and benchmarks (SPEC ST-1..ST-5 need something to show).
//!
//! Traffic follows business hours in the channel's time zone (weekdays 9–18 with a lunch
//! dip, a little in the evening, weekends quiet); a quarter of the calls are outbound.
//! Inbound calls outside business hours are missed `notInOperation`; inside, most are
//! answered after a few seconds of ringing, some callers hang up while ringing
//! (`userLeft`) or nobody is free (`noOperator`). Answered calls talk for minutes, some
//! with hold; most chats are closed after a wrap-up. Calls are imported in batches, each
//! one transaction with multi-row inserts, and the statistics rollup follows along.

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use denwa_core::model::{
    CallDirection, CallOutcome, CallRecord, CallStaffRecord, ChannelId, Medium, MissedReason, Role,
    StaffId, TeamId,
};
use denwa_core::stats::{CallHistory, start_of_day, time_zone};
use denwa_store::{SqliteStore, Store};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Arguments of `generate-calls`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Channel id.
    #[arg(long)]
    channel: ChannelId,
    /// How many calls.
    #[arg(long)]
    calls: u64,
    /// Spread over this many days, ending now.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// Random seed (the same seed gives the same history).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Calls per transaction.
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
    /// No progress bar (for scripts).
    #[arg(long)]
    quiet: bool,
}

/// Relative traffic of a local hour on a weekday (0 = Monday).
fn weight(weekday: u32, hour: u32) -> f64 {
    let day = match weekday {
        0..=4 => 1.0,
        5 => 0.3,
        _ => 0.12,
    };
    let hour = match hour {
        0..=6 => 0.01,
        7 => 0.08,
        8 => 0.35,
        9 | 10 => 1.0,
        11 => 0.9,
        12 => 0.55,
        13..=15 => 0.95,
        16 => 0.8,
        17 => 0.6,
        18 => 0.25,
        19 | 20 => 0.12,
        _ => 0.04,
    };
    day * hour
}

fn open_hours(weekday: u32, hour: u32) -> bool {
    weekday < 5 && (9..18).contains(&hour)
}

/// Who can take calls: (staff, its team).
struct Roster {
    staff: Vec<(StaffId, Option<TeamId>)>,
}

async fn roster(store: &SqliteStore, channel: ChannelId) -> anyhow::Result<Roster> {
    let mut members = store.members(channel).await?;
    if members.len() < 2 {
        // A bare channel gets a small synthetic team so calls have someone to answer.
        for i in 1..=6 {
            let email = format!("agent{i}.c{channel}@example.invalid");
            let staff = match store.staff_by_email(&email).await? {
                Some(s) => s,
                None => {
                    store
                        .create_staff(
                            &email,
                            &format!("Agent {i}"),
                            &denwa_store::random_token(16),
                        )
                        .await?
                }
            };
            if !members.iter().any(|m| m.staff.id == staff.id) {
                store
                    .add_member(channel, staff.id, Role::Operator, true)
                    .await?;
            }
        }
        members = store.members(channel).await?;
    }
    let mut teams = store.teams(channel).await?;
    if teams.is_empty() {
        let ids: Vec<StaffId> = members.iter().map(|m| m.staff.id).collect();
        let (support, sales) = ids.split_at(ids.len().div_ceil(2));
        store.create_team(channel, "Support", support, None).await?;
        store.create_team(channel, "Sales", sales, None).await?;
        teams = store.teams(channel).await?;
    }
    let staff = members
        .iter()
        .map(|m| {
            let team = teams
                .iter()
                .find(|t| t.member_ids.contains(&m.staff.id))
                .map(|t| t.id);
            (m.staff.id, team)
        })
        .collect();
    Ok(Roster { staff })
}

fn between(rng: &mut StdRng, lo: i64, hi: i64) -> i64 {
    rng.gen_range(lo..=hi)
}

/// A duration with a long tail: exponential with this mean, at least `min` ms.
fn tail(rng: &mut StdRng, mean_ms: f64, min: i64) -> i64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    ((-u.ln() * mean_ms) as i64).max(min)
}

fn one_call(
    rng: &mut StdRng,
    channel: ChannelId,
    roster: &Roster,
    start: DateTime<Utc>,
    open: bool,
) -> CallHistory {
    let ms = Duration::milliseconds;
    let (me, team) = roster.staff[rng.gen_range(0..roster.staff.len())];
    let outbound = rng.gen_bool(0.25);
    let number = format!(
        "+8190{:08}",
        rng.gen_range(0..20_000u32) * 4_999 % 100_000_000
    );
    let mut call = CallRecord {
        id: 0,
        channel_id: channel,
        chat_id: 0,
        direction: if outbound {
            CallDirection::Outbound
        } else {
            CallDirection::Inbound
        },
        medium: Medium::Phone,
        customer_id: None,
        customer_number: (outbound || !rng.gen_bool(0.03)).then_some(number),
        channel_number: Some("+815012345678".into()),
        team_id: team,
        staff_id: None,
        started_at: start,
        answered_at: None,
        ended_at: None,
        hold_ms: 0,
        participants: vec![],
        outcome: None,
        missed_reason: None,
        ended_by: Some("customer".into()),
        end_reason: None,
        recording: None,
    };
    let mut staff = Vec::new();
    let row = |id, rung: Option<DateTime<Utc>>| CallStaffRecord {
        call_id: 0,
        staff_id: id,
        rung_at: rung,
        invited_by: None,
        joined_at: None,
        left_at: None,
        talk_ms: 0,
        outcome: None,
    };
    if outbound {
        call.staff_id = Some(me);
        let ring = between(rng, 4_000, 30_000);
        let mut placer = row(me, None);
        placer.outcome = Some("placed".into());
        placer.joined_at = Some(start);
        let roll: f64 = rng.r#gen();
        if roll < 0.65 {
            let answered = start + ms(ring);
            let talk = tail(rng, 180_000.0, 10_000);
            let end = answered + ms(talk);
            call.answered_at = Some(answered);
            call.ended_at = Some(end);
            call.outcome = Some(CallOutcome::Answered);
            call.participants = vec![me];
            placer.left_at = Some(end);
            placer.talk_ms = ring + talk;
        } else {
            call.ended_at = Some(start + ms(ring));
            call.outcome = Some(if roll < 0.85 {
                CallOutcome::NoAnswer
            } else if roll < 0.95 {
                CallOutcome::Busy
            } else {
                CallOutcome::Failed
            });
            call.ended_by = Some("system".into());
            placer.left_at = call.ended_at;
            placer.talk_ms = ring;
        }
        staff.push(placer);
    } else if !open {
        call.ended_at = Some(start + ms(between(rng, 8_000, 25_000)));
        call.outcome = Some(CallOutcome::Missed);
        call.missed_reason = Some(MissedReason::NotInOperation);
        call.team_id = None;
    } else {
        let rung = start + ms(between(rng, 500, 4_000));
        let other = roster.staff[rng.gen_range(0..roster.staff.len())].0;
        let roll: f64 = rng.r#gen();
        if roll < 0.82 {
            let answered = rung + ms(tail(rng, 9_000.0, 1_500).min(90_000));
            let talk = tail(rng, 240_000.0, 15_000);
            let end = answered + ms(talk);
            call.staff_id = Some(me);
            call.answered_at = Some(answered);
            call.ended_at = Some(end);
            call.outcome = Some(CallOutcome::Answered);
            call.participants = vec![me];
            if rng.gen_bool(0.2) {
                call.hold_ms = between(rng, 10_000, 120_000).min(talk);
            }
            let mut taker = row(me, Some(rung));
            taker.joined_at = Some(answered);
            taker.left_at = Some(end);
            taker.talk_ms = talk;
            taker.outcome = Some("answered".into());
            staff.push(taker);
        } else {
            let end = rung + ms(between(rng, 3_000, 30_000));
            call.ended_at = Some(end);
            call.outcome = Some(CallOutcome::Missed);
            call.missed_reason = Some(if roll < 0.92 {
                MissedReason::UserLeft
            } else {
                MissedReason::NoOperator
            });
            let mut r = row(me, Some(rung));
            r.outcome = Some("missed".into());
            staff.push(r);
        }
        if other != me {
            let mut r = row(other, Some(rung));
            r.outcome = Some(
                if rng.gen_bool(0.3) {
                    "declined"
                } else {
                    "missed"
                }
                .into(),
            );
            staff.push(r);
        }
    }
    // Most chats are closed after a wrap-up (notes, tags); some stay open for a callback.
    let ended = call.ended_at.unwrap_or(start);
    let closed = rng
        .gen_bool(0.93)
        .then(|| ended + ms(tail(rng, 90_000.0, 5_000).min(3_600_000)));
    CallHistory {
        call,
        staff,
        chat_closed_at: closed,
    }
}

/// Runs `generate-calls`.
pub(crate) async fn run(store: &SqliteStore, args: GenerateArgs) -> anyhow::Result<()> {
    if args.calls == 0 {
        bail!("--calls must be at least 1");
    }
    if args.days == 0 || args.days > 3_660 {
        bail!("--days must be between 1 and 3660");
    }
    let batch = args.batch.clamp(100, 200_000);
    let channel = store
        .channel(args.channel)
        .await
        .with_context(|| format!("channel {}", args.channel))?;
    let tz = time_zone(&channel.time_zone)?;
    let roster = roster(store, channel.id).await?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    // Every local hour of the range with its weight; calls are shared out by weight.
    let mut slots: Vec<(DateTime<Utc>, u32, u32, f64)> = Vec::new();
    for d in (0..i64::from(args.days)).rev() {
        let day = today - Duration::days(d);
        let start = start_of_day(tz, day);
        for h in 0..24u32 {
            let at = start + Duration::hours(i64::from(h));
            if at >= now {
                break;
            }
            let local = at.with_timezone(&tz);
            let (wd, hour) = (local.weekday().num_days_from_monday(), local.hour());
            slots.push((at, wd, hour, weight(wd, hour)));
        }
    }
    let total_weight: f64 = slots.iter().map(|s| s.3).sum();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.calls)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} calls ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut pending: Vec<CallHistory> = Vec::with_capacity(batch);
    let mut made = 0u64;
    let mut planned = 0u64;
    let mut carry = 0.0f64;
    let last = slots.len().saturating_sub(1);
    for (i, (at, wd, hour, w)) in slots.iter().enumerate() {
        carry += args.calls as f64 * w / total_weight;
        let mut n = carry.floor() as u64;
        if i == last {
            n = args.calls - planned;
        }
        n = n.min(args.calls - planned);
        planned += n;
        carry -= n as f64;
        let span = (now - *at).num_milliseconds().clamp(1, 3_600_000);
        let mut offsets: Vec<i64> = (0..n).map(|_| rng.gen_range(0..span)).collect();
        offsets.sort_unstable();
        for off in offsets {
            let start = *at + Duration::milliseconds(off);
            pending.push(one_call(
                &mut rng,
                channel.id,
                &roster,
                start,
                open_hours(*wd, *hour),
            ));
            if pending.len() >= batch {
                made += store.import_calls(channel.id, &pending).await?;
                bar.set_position(made);
                pending.clear();
            }
        }
    }
    if !pending.is_empty() {
        made += store.import_calls(channel.id, &pending).await?;
        bar.set_position(made);
    }
    bar.finish_and_clear();
    println!(
        "generated {made} calls over {} days in channel {} ({})",
        args.days, channel.id, channel.time_zone
    );
    Ok(())
}
