//! Call statistics (SPEC ST-1..ST-4): the metric definitions as pure functions.
//!
//! Everything a dashboard shows is a sum over calls ([`Tally`], [`StaffTally`]) divided at
//! the end ([`Metrics`]), so the same numbers come out of hand-built histories (tests), a
//! scan of the call rows, or the store's rollup of per-hour sums: the store adds a call's
//! [`Tally::of_call`] to the bucket of its [`LocalSlot`] when the call ends and its wrap-up
//! when its chat closes, and [`build_dashboard`] divides.
//!
//! # Definitions
//!
//! A call counts once it has **ended**, in the period (day, hour, weekday) in which it
//! **started**, read in the channel's time zone. Live calls count nowhere.
//!
//! | metric | definition |
//! |---|---|
//! | total | ended calls, both directions |
//! | inbound / outbound | by direction |
//! | answered | inbound answered by staff + outbound answered by the callee (outcome `answered`) |
//! | missed | inbound calls not answered, also split by `missedReason` (`notInOperation`, `noOperator`, `userLeft`; `unspecified` when the call carries none) |
//! | inbound completion rate | inbound answered / inbound |
//! | outbound completion rate | outbound answered by the customer / outbound |
//! | average call duration | mean of end − answer over answered calls (both directions; hold included) |
//! | average first response time | mean of answer − arrival over inbound answered calls (arrival → first staff connected) |
//! | average wrap-up time | mean of chat closed − call end over calls whose chat was closed after the call ended (the first such close) |
//! | traffic by hour × weekday | ended calls by the local hour and weekday of their start |
//! | service level (20 s) | inbound answered within 20 s of arrival / inbound offered, where offered = inbound − `notInOperation` (calls that never queued) |
//! | average speed of answer | mean of answer − first ring over inbound answered calls (time in the queue; excludes an announcement before ringing, unlike first response) |
//! | abandonment rate | inbound `userLeft` / inbound offered |
//!
//! Per staff member (ST-4), over the calls they were part of (rung, invited, joined or
//! placed):
//!
//! | metric | definition |
//! |---|---|
//! | total | calls they were part of |
//! | outbound | outbound calls they placed |
//! | answered | inbound calls they connected to (took it, or joined on invitation) |
//! | call duration | their time connected to calls (sum over joins) |
//! | total call duration | ringing + call duration, where ringing is first ring → connected for inbound calls they connected to, and dialling → answer (or end) for calls they placed |
//!
//! Rates and averages are `None` when their denominator is zero. Weeks start on Monday;
//! the first and last week or month of a range may be partial.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::CoreError;
use crate::model::{
    CallDirection, CallOutcome, CallRecord, CallStaffRecord, MissedReason, StaffId, TeamId,
};

/// Answered within this many milliseconds of arrival counts toward the service level.
pub const SERVICE_LEVEL_MS: i64 = 20_000;

/// Widest range the dashboard, exports and the BI feed accept, in days (SPEC ST-5).
pub const MAX_RANGE_DAYS: i64 = 90;

/// One call with everything its statistics need.
#[derive(Debug, Clone, PartialEq)]
pub struct CallHistory {
    /// The call's row.
    pub call: CallRecord,
    /// Its per-staff rows.
    pub staff: Vec<CallStaffRecord>,
    /// The first close of the call's chat at or after the call ended, if any.
    pub chat_closed_at: Option<DateTime<Utc>>,
}

/// A local hour in the channel's time zone: where a call is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalSlot {
    /// Local date.
    pub day: NaiveDate,
    /// Local hour, 0..=23.
    pub hour: u8,
}

impl LocalSlot {
    /// The local hour of `at` in `tz`.
    pub fn of(tz: Tz, at: DateTime<Utc>) -> LocalSlot {
        let local = at.with_timezone(&tz);
        LocalSlot {
            day: local.date_naive(),
            // An hour is 0..=23: the cast cannot truncate.
            hour: local.hour() as u8,
        }
    }
}

/// Days since 1970-01-01 of a date (how the store keys its rollup).
pub fn day_number(day: NaiveDate) -> i64 {
    day.signed_duration_since(NaiveDate::default()).num_days()
}

/// The date `n` days after 1970-01-01.
pub fn day_from_number(n: i64) -> NaiveDate {
    NaiveDate::default()
        .checked_add_signed(Duration::days(n))
        .unwrap_or_default()
}

/// Parses an IANA time zone name.
pub fn time_zone(name: &str) -> Result<Tz, CoreError> {
    name.parse::<Tz>()
        .map_err(|_| CoreError::UnknownTimeZone(name.to_owned()))
}

/// The UTC instant where local day `day` begins in `tz` (the first existing local time).
pub fn start_of_day(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A gap at midnight (some zones' DST starts there): take the first hour that exists.
    (0..3)
        .find_map(|h| {
            tz.from_local_datetime(&(midnight + Duration::hours(h)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

macro_rules! sums {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            $($(#[$fm])* pub $field: i64,)*
        }

        impl $name {
            /// Field names, in the order of [`Self::values`] (the store's column names).
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Field values, in the order of [`Self::FIELDS`].
            pub fn values(&self) -> Vec<i64> {
                vec![$(self.$field),*]
            }

            /// From values in the order of [`Self::FIELDS`] (missing ones are zero).
            pub fn from_values(v: &[i64]) -> Self {
                let mut it = v.iter().copied();
                $name { $($field: it.next().unwrap_or(0),)* }
            }
        }

        impl std::ops::AddAssign for $name {
            fn add_assign(&mut self, o: Self) {
                $(self.$field += o.$field;)*
            }
        }
    };
}

sums!(
    /// Sums over calls from which every channel metric is computed (see the module docs).
    Tally {
        /// Ended calls.
        calls,
        /// Inbound calls.
        inbound,
        /// Outbound calls.
        outbound,
        /// Inbound calls answered by staff.
        inbound_answered,
        /// Outbound calls answered by the callee.
        outbound_answered,
        /// Inbound missed outside business hours.
        missed_not_in_operation,
        /// Inbound missed: nobody available or nobody answered.
        missed_no_operator,
        /// Inbound missed: the caller hung up while ringing.
        missed_user_left,
        /// Inbound missed without a recorded reason.
        missed_unspecified,
        /// Sum of end − answer over answered calls.
        talk_ms,
        /// Sum of answer − arrival over inbound answered calls.
        first_response_ms,
        /// Inbound calls answered within 20 s of arrival.
        answered_within_sl,
        /// Sum of answer − first ring over inbound answered calls.
        queue_wait_ms,
        /// Sum of chat close − call end over calls with a wrap-up.
        wrap_up_ms,
        /// Calls with a wrap-up.
        wrap_ups,
    }
);

sums!(
    /// One staff member's sums (SPEC ST-4).
    StaffTally {
        /// Calls they were part of.
        calls,
        /// Outbound calls they placed.
        outbound,
        /// Inbound calls they connected to.
        answered,
        /// Time connected.
        talk_ms,
        /// Ringing before connecting (inbound) or before the answer (placed calls).
        ring_ms,
    }
);

fn ms(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_milliseconds().max(0)
}

impl Tally {
    /// The call's contribution, without its wrap-up; `None` while it is live.
    pub fn of_call(call: &CallRecord, staff: &[CallStaffRecord]) -> Option<Tally> {
        let ended = call.ended_at?;
        let mut t = Tally {
            calls: 1,
            ..Tally::default()
        };
        let answered = call.outcome == Some(CallOutcome::Answered);
        match call.direction {
            CallDirection::Outbound => {
                t.outbound = 1;
                t.outbound_answered = i64::from(answered);
            }
            CallDirection::Inbound => {
                t.inbound = 1;
                if answered {
                    t.inbound_answered = 1;
                } else {
                    match call.missed_reason {
                        Some(MissedReason::NotInOperation) => t.missed_not_in_operation = 1,
                        Some(MissedReason::NoOperator) => t.missed_no_operator = 1,
                        Some(MissedReason::UserLeft) => t.missed_user_left = 1,
                        None => t.missed_unspecified = 1,
                    }
                }
            }
        }
        if answered {
            let answer = call.answered_at.unwrap_or(call.started_at);
            t.talk_ms = ms(answer, ended);
            if call.direction == CallDirection::Inbound {
                let response = ms(call.started_at, answer);
                t.first_response_ms = response;
                t.answered_within_sl = i64::from(response <= SERVICE_LEVEL_MS);
                let first_ring = staff
                    .iter()
                    .filter_map(|s| s.rung_at)
                    .min()
                    .unwrap_or(call.started_at)
                    .min(answer);
                t.queue_wait_ms = ms(first_ring, answer);
            }
        }
        Some(t)
    }

    /// The wrap-up of a call that ended at `ended` and whose chat closed at `closed`.
    pub fn wrap_up(ended: DateTime<Utc>, closed: DateTime<Utc>) -> Option<Tally> {
        (closed >= ended).then(|| Tally {
            wrap_up_ms: ms(ended, closed),
            wrap_ups: 1,
            ..Tally::default()
        })
    }

    /// The call's whole contribution, wrap-up included; `None` while it is live.
    pub fn of_history(h: &CallHistory) -> Option<Tally> {
        let mut t = Tally::of_call(&h.call, &h.staff)?;
        if let (Some(ended), Some(closed)) = (h.call.ended_at, h.chat_closed_at)
            && let Some(w) = Tally::wrap_up(ended, closed)
        {
            t += w;
        }
        Some(t)
    }

    /// Inbound calls missed.
    pub fn missed(&self) -> i64 {
        self.missed_not_in_operation
            + self.missed_no_operator
            + self.missed_user_left
            + self.missed_unspecified
    }

    /// The metrics these sums give.
    pub fn metrics(&self) -> Metrics {
        let ratio = |n: i64, d: i64| (d > 0).then(|| n as f64 / d as f64);
        let answered = self.inbound_answered + self.outbound_answered;
        let offered = self.inbound - self.missed_not_in_operation;
        Metrics {
            total: self.calls,
            inbound: self.inbound,
            outbound: self.outbound,
            answered,
            inbound_answered: self.inbound_answered,
            outbound_answered: self.outbound_answered,
            missed: self.missed(),
            missed_by_reason: MissedByReason {
                not_in_operation: self.missed_not_in_operation,
                no_operator: self.missed_no_operator,
                user_left: self.missed_user_left,
                unspecified: self.missed_unspecified,
            },
            inbound_completion_rate: ratio(self.inbound_answered, self.inbound),
            outbound_completion_rate: ratio(self.outbound_answered, self.outbound),
            avg_call_duration_ms: ratio(self.talk_ms, answered),
            avg_first_response_ms: ratio(self.first_response_ms, self.inbound_answered),
            avg_wrap_up_ms: ratio(self.wrap_up_ms, self.wrap_ups),
            service_level: ratio(self.answered_within_sl, offered),
            avg_speed_of_answer_ms: ratio(self.queue_wait_ms, self.inbound_answered),
            abandonment_rate: ratio(self.missed_user_left, offered),
        }
    }
}

impl StaffTally {
    /// Each staff member's part in an ended call; empty while it is live.
    pub fn of_call(call: &CallRecord, staff: &[CallStaffRecord]) -> Vec<(StaffId, StaffTally)> {
        let Some(ended) = call.ended_at else {
            return Vec::new();
        };
        staff
            .iter()
            .map(|s| {
                let placed = call.direction == CallDirection::Outbound
                    && (s.outcome.as_deref() == Some("placed")
                        || call.staff_id == Some(s.staff_id));
                let connected = call.direction == CallDirection::Inbound
                    && (s.joined_at.is_some()
                        || matches!(s.outcome.as_deref(), Some("answered" | "joined")));
                let ring_ms = if placed {
                    ms(call.started_at, call.answered_at.unwrap_or(ended))
                } else if connected {
                    match (s.rung_at, s.joined_at.or(call.answered_at)) {
                        (Some(r), Some(j)) => ms(r, j),
                        _ => 0,
                    }
                } else {
                    0
                };
                (
                    s.staff_id,
                    StaffTally {
                        calls: 1,
                        outbound: i64::from(placed),
                        answered: i64::from(connected),
                        talk_ms: s.talk_ms.max(0),
                        ring_ms,
                    },
                )
            })
            .collect()
    }
}

/// Inbound missed calls by `missedReason`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MissedByReason {
    /// Outside business hours.
    pub not_in_operation: i64,
    /// Nobody available, or nobody answered.
    pub no_operator: i64,
    /// The caller hung up while ringing.
    pub user_left: i64,
    /// No reason recorded.
    pub unspecified: i64,
}

/// The channel metrics of a period (definitions in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Metrics {
    /// Ended calls.
    pub total: i64,
    /// Inbound calls.
    pub inbound: i64,
    /// Outbound calls.
    pub outbound: i64,
    /// Answered calls (inbound by staff + outbound by the callee).
    pub answered: i64,
    /// Inbound calls answered.
    pub inbound_answered: i64,
    /// Outbound calls answered by the callee.
    pub outbound_answered: i64,
    /// Inbound calls missed.
    pub missed: i64,
    /// Missed calls by reason.
    pub missed_by_reason: MissedByReason,
    /// Inbound answered / inbound.
    pub inbound_completion_rate: Option<f64>,
    /// Outbound answered / outbound.
    pub outbound_completion_rate: Option<f64>,
    /// Mean talk time of answered calls.
    pub avg_call_duration_ms: Option<f64>,
    /// Mean arrival → first staff connected, inbound answered calls.
    pub avg_first_response_ms: Option<f64>,
    /// Mean call end → chat closed.
    pub avg_wrap_up_ms: Option<f64>,
    /// Share of offered inbound calls answered within 20 s.
    pub service_level: Option<f64>,
    /// Mean first ring → answer, inbound answered calls.
    pub avg_speed_of_answer_ms: Option<f64>,
    /// Offered inbound calls the caller abandoned while ringing.
    pub abandonment_rate: Option<f64>,
}

/// A staff member's metrics (SPEC ST-4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StaffMetrics {
    /// Who.
    pub staff_id: StaffId,
    /// Calls they were part of.
    pub total: i64,
    /// Outbound calls they placed.
    pub outbound: i64,
    /// Inbound calls they connected to.
    pub answered: i64,
    /// Time connected (ms).
    pub call_duration_ms: i64,
    /// Ringing time (ms).
    pub ringing_ms: i64,
    /// Ringing + call duration (ms).
    pub total_call_duration_ms: i64,
}

impl StaffTally {
    /// The metrics of these sums for `staff`.
    pub fn metrics(&self, staff: StaffId) -> StaffMetrics {
        StaffMetrics {
            staff_id: staff,
            total: self.calls,
            outbound: self.outbound,
            answered: self.answered,
            call_duration_ms: self.talk_ms,
            ringing_ms: self.ring_ms,
            total_call_duration_ms: self.talk_ms + self.ring_ms,
        }
    }
}

/// How a dashboard's series is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Local days.
    #[default]
    Day,
    /// Weeks starting on Monday.
    Week,
    /// Calendar months.
    Month,
}

impl Period {
    /// The first day of the period holding `day`.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => day,
            Period::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Period::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day of the next period after the one starting at `start`.
    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => start + Duration::days(1),
            Period::Week => start + Duration::days(7),
            Period::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start + Duration::days(31)),
        }
    }
}

/// What a dashboard covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashboardQuery {
    /// First local day.
    pub from: NaiveDate,
    /// Last local day (inclusive).
    pub to: NaiveDate,
    /// How the series is cut.
    pub period: Period,
    /// Only calls routed to this team.
    pub team: Option<TeamId>,
    /// Only calls answered (inbound) or placed (outbound) by this staff member; the
    /// per-staff table shows only them.
    pub staff: Option<StaffId>,
}

impl DashboardQuery {
    /// Checks the range: `from` ≤ `to`, at most [`MAX_RANGE_DAYS`] days.
    pub fn check(&self) -> Result<(), CoreError> {
        check_range(self.from, self.to)
    }
}

/// The first and last day statistics take. Calls have no earlier dates, and keeping
/// far from chrono's limits (year ±262 143) keeps the date arithmetic of ranges and
/// periods from overflowing.
pub const DAYS: std::ops::RangeInclusive<NaiveDate> = match (
    NaiveDate::from_ymd_opt(1970, 1, 1),
    NaiveDate::from_ymd_opt(9999, 12, 31),
) {
    (Some(first), Some(last)) => first..=last,
    _ => panic!("literal dates"),
};

/// Refuses a day outside [`DAYS`]. Call on every date a request gives, before any
/// arithmetic on it.
pub fn check_day(day: NaiveDate) -> Result<(), CoreError> {
    if DAYS.contains(&day) {
        Ok(())
    } else {
        Err(CoreError::InvalidRange(format!(
            "{day} is outside the dates statistics cover ({} to {})",
            DAYS.start(),
            DAYS.end()
        )))
    }
}

/// Checks a local date range (inclusive): `from` ≤ `to`, at most [`MAX_RANGE_DAYS`] days.
pub fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), CoreError> {
    check_day(from)?;
    check_day(to)?;
    if to < from {
        return Err(CoreError::InvalidRange(format!(
            "the range ends ({to}) before it starts ({from})"
        )));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_RANGE_DAYS {
        return Err(CoreError::InvalidRange(format!(
            "the range covers {days} days; at most {MAX_RANGE_DAYS} are allowed"
        )));
    }
    Ok(())
}

/// One period of a dashboard's series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodMetrics {
    /// The period's first day (Monday for weeks, the 1st for months).
    pub start: NaiveDate,
    /// Its metrics.
    pub metrics: Metrics,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dashboard {
    /// First local day.
    pub from: NaiveDate,
    /// Last local day (inclusive).
    pub to: NaiveDate,
    /// The channel's time zone the days are read in.
    pub time_zone: String,
    /// How the series is cut.
    pub period: Period,
    /// The whole range.
    pub totals: Metrics,
    /// One entry per period, empty periods included.
    pub series: Vec<PeriodMetrics>,
    /// Ended calls by weekday (Monday first) × local hour.
    pub heatmap: Vec<Vec<i64>>,
    /// Per staff member, most calls first.
    pub staff: Vec<StaffMetrics>,
}

/// Divides rollup sums into a dashboard: `slots` are hourly sums already filtered by
/// team/staff and inside the range, `staff` the per-staff sums.
pub fn build_dashboard(
    q: &DashboardQuery,
    time_zone: &str,
    slots: impl IntoIterator<Item = (LocalSlot, Tally)>,
    staff: impl IntoIterator<Item = (StaffId, StaffTally)>,
) -> Dashboard {
    let mut series: Vec<(NaiveDate, Tally)> = Vec::new();
    let mut start = q.period.start_of(q.from);
    while start <= q.to {
        series.push((start, Tally::default()));
        start = q.period.next(start);
    }
    let mut totals = Tally::default();
    let mut heatmap = vec![vec![0i64; 24]; 7];
    for (slot, t) in slots {
        if slot.day < q.from || slot.day > q.to {
            continue;
        }
        totals += t;
        let key = q.period.start_of(slot.day);
        if let Ok(i) = series.binary_search_by_key(&key, |(d, _)| *d) {
            series[i].1 += t;
        }
        let wd = slot.day.weekday().num_days_from_monday() as usize;
        heatmap[wd][usize::from(slot.hour.min(23))] += t.calls;
    }
    let mut staff_rows: Vec<StaffMetrics> = staff
        .into_iter()
        .filter(|(id, _)| q.staff.is_none_or(|s| s == *id))
        .map(|(id, t)| t.metrics(id))
        .collect();
    staff_rows.sort_by(|a, b| b.total.cmp(&a.total).then(a.staff_id.cmp(&b.staff_id)));
    Dashboard {
        from: q.from,
        to: q.to,
        time_zone: time_zone.to_owned(),
        period: q.period,
        totals: totals.metrics(),
        series: series
            .into_iter()
            .map(|(start, t)| PeriodMetrics {
                start,
                metrics: t.metrics(),
            })
            .collect(),
        heatmap,
        staff: staff_rows,
    }
}

/// Whether a call passes the dashboard's team/staff filter.
pub fn call_matches(q: &DashboardQuery, call: &CallRecord) -> bool {
    q.team.is_none_or(|t| call.team_id == Some(t))
        && q.staff.is_none_or(|s| call.staff_id == Some(s))
}

/// The dashboard of raw call histories, computed directly (the reference the store's
/// rollup must agree with).
pub fn dashboard_of(q: &DashboardQuery, tz: Tz, histories: &[CallHistory]) -> Dashboard {
    let mut slots = Vec::new();
    let mut staff: std::collections::BTreeMap<StaffId, StaffTally> = Default::default();
    for h in histories {
        let slot = LocalSlot::of(tz, h.call.started_at);
        if slot.day < q.from || slot.day > q.to {
            continue;
        }
        if q.team.is_none_or(|t| h.call.team_id == Some(t)) {
            for (id, t) in StaffTally::of_call(&h.call, &h.staff) {
                *staff.entry(id).or_default() += t;
            }
        }
        if !call_matches(q, &h.call) {
            continue;
        }
        if let Some(t) = Tally::of_history(h) {
            slots.push((slot, t));
        }
    }
    build_dashboard(q, tz.name(), slots, staff)
}

/// The weekday row of the heatmap (Monday = 0).
pub fn heatmap_row(day: Weekday) -> usize {
    day.num_days_from_monday() as usize
}

/// One call as exports and the BI feed show it ("UserChat meet data", SPEC ST-2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallRow {
    /// Call id.
    pub call_id: i64,
    /// The phone chat.
    pub chat_id: i64,
    /// `inbound` or `outbound`.
    pub direction: CallDirection,
    /// `phone`, `voice` or `video`.
    pub medium: String,
    /// The customer side's number (E.164); `None` when withheld.
    pub customer_number: Option<String>,
    /// The channel's number (E.164).
    pub channel_number: Option<String>,
    /// Customer id.
    pub customer_id: Option<i64>,
    /// Customer name.
    pub customer_name: Option<String>,
    /// The chat's assignee.
    pub assignee_id: Option<i64>,
    /// The assignee's name.
    pub assignee_name: Option<String>,
    /// Team the call was routed to.
    pub team_id: Option<i64>,
    /// The team's name.
    pub team_name: Option<String>,
    /// Who answered (inbound) or placed (outbound) it.
    pub staff_id: Option<i64>,
    /// The chat's tags.
    pub tags: Vec<String>,
    /// Arrival / dialling.
    pub started_at: DateTime<Utc>,
    /// First staff connected / callee answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// End.
    pub ended_at: Option<DateTime<Utc>>,
    /// Ringing: start → answer (or → end when not answered).
    pub ringing_ms: Option<i64>,
    /// Talk: answer → end.
    pub talk_ms: Option<i64>,
    /// Time on hold.
    pub hold_ms: i64,
    /// Names of the staff who joined, in order.
    pub participants: Vec<String>,
    /// `answered`, `missed`, `busy`, `declined`, `no_answer`, `failed`.
    pub outcome: Option<CallOutcome>,
    /// Why an inbound call was missed; empty when answered.
    pub missed_reason: Option<MissedReason>,
    /// Inbound answered: arrival → first staff connected.
    pub first_response_ms: Option<i64>,
    /// Call end → chat closed.
    pub wrap_up_ms: Option<i64>,
    /// Where the recording lives (relative to the data dir).
    pub recording: Option<String>,
}

/// A column of the call rows that filters can name (OData property names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallField {
    /// `CallId`.
    CallId,
    /// `ChatId`.
    ChatId,
    /// `Direction`.
    Direction,
    /// `Medium`.
    Medium,
    /// `CustomerNumber`.
    CustomerNumber,
    /// `ChannelNumber`.
    ChannelNumber,
    /// `CustomerId`.
    CustomerId,
    /// `AssigneeId`.
    AssigneeId,
    /// `TeamId`.
    TeamId,
    /// `StaffId`.
    StaffId,
    /// `StartedAt`.
    StartedAt,
    /// `AnsweredAt`.
    AnsweredAt,
    /// `EndedAt`.
    EndedAt,
    /// `RingingMs`.
    RingingMs,
    /// `TalkMs`.
    TalkMs,
    /// `HoldMs`.
    HoldMs,
    /// `Outcome`.
    Outcome,
    /// `MissedReason`.
    MissedReason,
}

/// What kind of value a [`CallField`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Integer.
    Int,
    /// Text.
    Text,
    /// A point in time.
    Time,
}

impl CallField {
    /// Every filterable field with its OData name.
    pub const ALL: &'static [(&'static str, CallField)] = &[
        ("CallId", CallField::CallId),
        ("ChatId", CallField::ChatId),
        ("Direction", CallField::Direction),
        ("Medium", CallField::Medium),
        ("CustomerNumber", CallField::CustomerNumber),
        ("ChannelNumber", CallField::ChannelNumber),
        ("CustomerId", CallField::CustomerId),
        ("AssigneeId", CallField::AssigneeId),
        ("TeamId", CallField::TeamId),
        ("StaffId", CallField::StaffId),
        ("StartedAt", CallField::StartedAt),
        ("AnsweredAt", CallField::AnsweredAt),
        ("EndedAt", CallField::EndedAt),
        ("RingingMs", CallField::RingingMs),
        ("TalkMs", CallField::TalkMs),
        ("HoldMs", CallField::HoldMs),
        ("Outcome", CallField::Outcome),
        ("MissedReason", CallField::MissedReason),
    ];

    /// The field with this OData name.
    pub fn parse(name: &str) -> Option<CallField> {
        CallField::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// Its value type.
    pub fn kind(self) -> FieldType {
        use CallField::*;
        match self {
            Direction | Medium | CustomerNumber | ChannelNumber | Outcome | MissedReason => {
                FieldType::Text
            }
            StartedAt | AnsweredAt | EndedAt => FieldType::Time,
            _ => FieldType::Int,
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

/// A literal compared against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    /// `null`.
    Null,
    /// An integer.
    Int(i64),
    /// A string.
    Text(String),
    /// A point in time.
    Time(DateTime<Utc>),
}

/// One condition; a filter is their conjunction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFilter {
    /// Column.
    pub field: CallField,
    /// Comparison.
    pub op: CmpOp,
    /// Literal.
    pub value: FilterValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_starts() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 19).unwrap(); // a Thursday
        assert_eq!(Period::Day.start_of(d), d);
        assert_eq!(
            Period::Week.start_of(d),
            NaiveDate::from_ymd_opt(2026, 3, 16).unwrap()
        );
        assert_eq!(
            Period::Month.start_of(d),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
    }

    #[test]
    fn ninety_days_pass_ninety_one_do_not() {
        let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(check_range(from, from + Duration::days(89)).is_ok());
        assert!(check_range(from, from + Duration::days(90)).is_err());
        assert!(check_range(from, from - Duration::days(1)).is_err());
    }

    #[test]
    fn sums_round_trip_through_values() {
        let t = Tally {
            calls: 3,
            wrap_ups: 7,
            ..Tally::default()
        };
        assert_eq!(Tally::from_values(&t.values()), t);
        assert_eq!(Tally::FIELDS.len(), t.values().len());
    }

    #[test]
    fn day_numbers() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 19).unwrap();
        assert_eq!(day_from_number(day_number(d)), d);
        assert_eq!(day_number(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
    }
}
