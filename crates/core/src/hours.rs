//! Business hours of a channel (or team): weekly opening times in the business's time
//! zone plus holidays. A call outside them is missed with `notInOperation` (SPEC ST-2).

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::CoreError;

/// One opening span on a weekday, `open` ≤ time < `close`, as `HH:MM` (close may be `24:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayHours {
    /// `mon`, `tue`, `wed`, `thu`, `fri`, `sat` or `sun`.
    pub day: String,
    /// Opening time, `HH:MM`.
    pub open: String,
    /// Closing time, `HH:MM`, after `open`; `24:00` for midnight.
    pub close: String,
}

/// Weekly hours and holidays in a time zone. No weekly spans means open around the clock
/// (holidays still closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// IANA time zone, e.g. `Asia/Tokyo`.
    pub time_zone: String,
    /// Opening spans; several per day are allowed (a lunch break).
    #[serde(default)]
    pub weekly: Vec<DayHours>,
    /// Closed dates (`YYYY-MM-DD`, in the business's time zone).
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

impl BusinessHours {
    /// Open around the clock in `time_zone`.
    pub fn always_open(time_zone: &str) -> BusinessHours {
        BusinessHours {
            time_zone: time_zone.to_owned(),
            weekly: Vec::new(),
            holidays: Vec::new(),
        }
    }

    /// Weekdays `open`–`close` (a typical office), in `time_zone`.
    pub fn weekdays(time_zone: &str, open: &str, close: &str) -> BusinessHours {
        let weekly = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| DayHours {
                day: (*d).to_owned(),
                open: open.to_owned(),
                close: close.to_owned(),
            })
            .collect();
        BusinessHours {
            time_zone: time_zone.to_owned(),
            weekly,
            holidays: Vec::new(),
        }
    }

    /// Checks every field; the API refuses what fails here with the reason.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.tz()?;
        for span in &self.weekly {
            parse_day(&span.day)?;
            let open = parse_minutes(&span.open)?;
            let close = parse_minutes(&span.close)?;
            if close <= open {
                return Err(CoreError::InvalidBusinessHours(format!(
                    "{}: close {} is not after open {}",
                    span.day, span.close, span.open
                )));
            }
        }
        Ok(())
    }

    /// Whether the business is open at `at`.
    ///
    /// Hours that fail [`validate`](Self::validate) count as closed.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let Ok(tz) = self.tz() else { return false };
        let local = at.with_timezone(&tz);
        if self.holidays.contains(&local.date_naive()) {
            return false;
        }
        if self.weekly.is_empty() {
            return true;
        }
        let minute = local.hour() * 60 + local.minute();
        let weekday = local.weekday();
        self.weekly.iter().any(|span| {
            match (
                parse_day(&span.day),
                parse_minutes(&span.open),
                parse_minutes(&span.close),
            ) {
                (Ok(day), Ok(open), Ok(close)) => {
                    day == weekday && open <= minute && minute < close
                }
                _ => false,
            }
        })
    }

    fn tz(&self) -> Result<Tz, CoreError> {
        self.time_zone
            .parse::<Tz>()
            .map_err(|_| CoreError::UnknownTimeZone(self.time_zone.clone()))
    }
}

/// Checks an IANA time zone name.
pub fn check_time_zone(name: &str) -> Result<(), CoreError> {
    name.parse::<Tz>()
        .map(|_| ())
        .map_err(|_| CoreError::UnknownTimeZone(name.to_owned()))
}

fn parse_day(s: &str) -> Result<Weekday, CoreError> {
    Ok(match s {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => {
            return Err(CoreError::InvalidBusinessHours(format!(
                "unknown day {s:?} (mon…sun)"
            )));
        }
    })
}

fn parse_minutes(s: &str) -> Result<u32, CoreError> {
    let bad = || CoreError::InvalidBusinessHours(format!("bad time {s:?} (HH:MM)"));
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tokyo(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Tokyo
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn weekday_office_hours_in_tokyo() {
        let h = BusinessHours::weekdays("Asia/Tokyo", "09:00", "18:00");
        h.validate().unwrap();
        // 2026-11-24 is a Tuesday.
        assert!(h.is_open(tokyo(2026, 11, 24, 9, 0)));
        assert!(h.is_open(tokyo(2026, 11, 24, 17, 59)));
        assert!(!h.is_open(tokyo(2026, 11, 24, 18, 0)));
        assert!(!h.is_open(tokyo(2026, 11, 24, 8, 59)));
        // Saturday.
        assert!(!h.is_open(tokyo(2026, 11, 28, 12, 0)));
    }

    #[test]
    fn day_boundary_is_the_business_time_zone() {
        let h = BusinessHours::weekdays("Asia/Tokyo", "00:00", "24:00");
        // Friday 23:30 UTC is Saturday 08:30 in Tokyo: closed.
        let fri_utc = Utc.with_ymd_and_hms(2026, 11, 27, 23, 30, 0).unwrap();
        assert!(!h.is_open(fri_utc));
        // Sunday 16:00 UTC is Monday 01:00 in Tokyo: open.
        let sun_utc = Utc.with_ymd_and_hms(2026, 11, 29, 16, 0, 0).unwrap();
        assert!(h.is_open(sun_utc));
    }

    #[test]
    fn holidays_close_the_day() {
        let mut h = BusinessHours::always_open("Asia/Tokyo");
        assert!(h.is_open(tokyo(2027, 1, 1, 10, 0)));
        h.holidays
            .push(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert!(!h.is_open(tokyo(2027, 1, 1, 10, 0)));
        assert!(h.is_open(tokyo(2027, 1, 2, 10, 0)));
    }

    #[test]
    fn lunch_break_with_two_spans() {
        let mut h = BusinessHours::always_open("Asia/Tokyo");
        for (open, close) in [("09:00", "12:00"), ("13:00", "18:00")] {
            h.weekly.push(DayHours {
                day: "tue".into(),
                open: open.into(),
                close: close.into(),
            });
        }
        assert!(h.is_open(tokyo(2026, 11, 24, 11, 0)));
        assert!(!h.is_open(tokyo(2026, 11, 24, 12, 30)));
        assert!(h.is_open(tokyo(2026, 11, 24, 13, 0)));
    }

    #[test]
    fn invalid_hours_are_refused() {
        let mut h = BusinessHours::weekdays("Asia/Tokyo", "18:00", "09:00");
        assert!(h.validate().is_err());
        h = BusinessHours::weekdays("Asia/Tokyo", "9:00", "18:00");
        assert!(h.validate().is_err());
        h = BusinessHours::weekdays("Asia/Tokyo", "09:00", "24:01");
        assert!(h.validate().is_err());
        h = BusinessHours::weekdays("Mars/Olympus", "09:00", "18:00");
        assert!(h.validate().is_err());
        assert!(!h.is_open(Utc::now()));
        h = BusinessHours::weekdays("Asia/Tokyo", "09:00", "18:00");
        h.weekly[0].day = "monday".into();
        assert!(h.validate().is_err());
    }
}
