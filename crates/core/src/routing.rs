//! Routing of inbound calls to staff (SPEC IN-3, IN-4): a channel either rings every
//! eligible staff member, or runs workflow rules that assign the call to a team and/or a
//! person and ring only them. Business hours decide first: outside them the call is missed
//! with `notInOperation` and nobody is rung (SPEC ST-2).
//!
//! [`RoutingConfig::decide`] is a pure function of the channel's configuration and the
//! facts of one call ([`CallFacts`]); eligibility of the staff it names (SPEC AS-1, AS-2,
//! AS-5) is the call machine's job ([`crate::call::Switchboard`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::CoreError;
use crate::hours::BusinessHours;
use crate::model::{StaffId, TeamId};
use crate::phone::E164;

/// How long staff are rung before the call is missed with `noOperator`, unless configured.
pub const DEFAULT_RING_TIMEOUT_SECS: u32 = 30;

/// The longest ring timeout a channel may configure.
pub const MAX_RING_TIMEOUT_SECS: u32 = 600;

/// A channel's call routing, as a snapshot handed to the call machine with each call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Ring everyone, or follow workflow rules (SPEC IN-4).
    pub mode: RoutingMode,
    /// The channel's business hours; `None` means always open.
    #[serde(default)]
    pub hours: Option<BusinessHours>,
    /// The channel's teams as routing sees them: members and the team's own hours.
    #[serde(default)]
    pub teams: Vec<TeamRoute>,
    /// Seconds staff are rung (and an invited teammate is rung) before giving up.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u32,
    /// The announcement a caller who is not answered hears before the line drops (an
    /// audio name the server resolves); `None` drops the call without one.
    #[serde(default)]
    pub announcement: Option<String>,
    /// Automatic chat assignment: the staff member who answers becomes the chat's assignee,
    /// and while that phone chat stays open they get no new calls (SPEC AS-2).
    #[serde(default = "default_true")]
    pub auto_assign: bool,
}

fn default_ring_timeout() -> u32 {
    DEFAULT_RING_TIMEOUT_SECS
}

fn default_true() -> bool {
    true
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            mode: RoutingMode::RingAll,
            hours: None,
            teams: Vec::new(),
            ring_timeout_secs: DEFAULT_RING_TIMEOUT_SECS,
            announcement: None,
            auto_assign: true,
        }
    }
}

/// SPEC IN-4: who is rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    /// (a) Every staff member with "unassigned call notification" on is rung.
    RingAll,
    /// (b) Rules, evaluated in order; the first whose conditions all hold decides. A call
    /// no rule matches rings everyone, as in [`RoutingMode::RingAll`].
    Workflow(Vec<Rule>),
}

/// A team as routing sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRoute {
    /// The team.
    pub id: TeamId,
    /// Its staff.
    pub members: Vec<StaffId>,
    /// The team's own hours; outside them a call routed to the team is missed with
    /// `notInOperation`. `None`: the channel's hours alone decide.
    #[serde(default)]
    pub hours: Option<BusinessHours>,
}

/// One workflow rule: when every condition holds, assign the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// All must hold; an empty list always matches (a catch-all last rule).
    pub conditions: Vec<Condition>,
    /// The team the chat is assigned to; its members are rung unless `staff` is set.
    #[serde(default)]
    pub team: Option<TeamId>,
    /// The person the chat is assigned to; when set, only they are rung.
    #[serde(default)]
    pub staff: Option<StaffId>,
}

/// A condition of a workflow rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The caller dialled this number of the channel.
    Dialled(E164),
    /// The call arrives inside these weekly spans (their time zone; holidays excluded). A
    /// window across midnight is two spans.
    TimeOfDay(BusinessHours),
    /// `true`: the number matched an existing customer; `false`: a new lead was created.
    KnownCaller(bool),
    /// The customer's profile field equals the value (exactly).
    CustomerField {
        /// Field name.
        field: String,
        /// Expected value.
        value: String,
    },
}

/// What routing needs to know about one call.
#[derive(Debug, Clone, Copy)]
pub struct CallFacts<'a> {
    /// The channel number the caller dialled, if the trunk told us.
    pub dialled: Option<&'a E164>,
    /// When the call arrived.
    pub at: DateTime<Utc>,
    /// Whether the caller matched an existing customer (not a lead created for this call).
    pub known_caller: bool,
    /// The customer's profile fields.
    pub profile: &'a BTreeMap<String, String>,
}

impl Condition {
    /// Whether the condition holds for the call.
    pub fn matches(&self, facts: &CallFacts<'_>) -> bool {
        match self {
            Condition::Dialled(n) => facts.dialled == Some(n),
            Condition::TimeOfDay(window) => window.is_open(facts.at),
            Condition::KnownCaller(known) => facts.known_caller == *known,
            Condition::CustomerField { field, value } => {
                facts.profile.get(field).is_some_and(|v| v == value)
            }
        }
    }
}

/// Who to ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Every candidate (each still has to be eligible).
    Everyone,
    /// Only these staff (each still has to be eligible).
    Only(BTreeSet<StaffId>),
}

impl Targets {
    /// Whether `staff` is among the targets.
    pub fn includes(&self, staff: StaffId) -> bool {
        match self {
            Targets::Everyone => true,
            Targets::Only(set) => set.contains(&staff),
        }
    }
}

/// The routing decision for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Outside the business hours of the channel, or of the team the workflow picked:
    /// missed with `notInOperation`, nobody is rung.
    Closed,
    /// Ring these targets; assign the chat to the team and/or person when given.
    Ring {
        /// Team the chat is assigned to.
        team: Option<TeamId>,
        /// Person the chat is assigned to.
        staff: Option<StaffId>,
        /// Who is rung.
        targets: Targets,
    },
}

impl RoutingConfig {
    /// Checks the configuration; the API refuses what fails here with the reason.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |m: String| Err(CoreError::InvalidRouting(m));
        if self.ring_timeout_secs == 0 || self.ring_timeout_secs > MAX_RING_TIMEOUT_SECS {
            return bad(format!(
                "ring timeout {} s is not within 1..={MAX_RING_TIMEOUT_SECS}",
                self.ring_timeout_secs
            ));
        }
        if let Some(h) = &self.hours {
            h.validate()?;
        }
        for t in &self.teams {
            if let Some(h) = &t.hours {
                h.validate()?;
            }
        }
        if let RoutingMode::Workflow(rules) = &self.mode {
            for (i, rule) in rules.iter().enumerate() {
                let n = i + 1;
                if rule.team.is_none() && rule.staff.is_none() {
                    return bad(format!("rule {n} assigns neither a team nor a person"));
                }
                if let Some(team) = rule
                    .team
                    .filter(|id| !self.teams.iter().any(|t| t.id == *id))
                {
                    return bad(format!("rule {n} names unknown team {team}"));
                }
                for c in &rule.conditions {
                    if let Condition::TimeOfDay(w) = c {
                        w.validate()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Decides where a call goes: hours first, then the mode. Never fails: a rule naming
    /// a team that does not exist rings nobody (the call is missed with `noOperator`),
    /// which [`validate`](Self::validate) prevents up front.
    pub fn decide(&self, facts: &CallFacts<'_>) -> Decision {
        if self.hours.as_ref().is_some_and(|h| !h.is_open(facts.at)) {
            return Decision::Closed;
        }
        let rules = match &self.mode {
            RoutingMode::RingAll => &[][..],
            RoutingMode::Workflow(rules) => &rules[..],
        };
        let Some(rule) = rules
            .iter()
            .find(|r| r.conditions.iter().all(|c| c.matches(facts)))
        else {
            return Decision::Ring {
                team: None,
                staff: None,
                targets: Targets::Everyone,
            };
        };
        let team = rule.team.map(|id| self.teams.iter().find(|t| t.id == id));
        let team_closed = |t: &TeamRoute| t.hours.as_ref().is_some_and(|h| !h.is_open(facts.at));
        if team.flatten().is_some_and(team_closed) {
            return Decision::Closed;
        }
        let targets = match (rule.staff, team) {
            (Some(person), _) => BTreeSet::from([person]),
            (None, Some(Some(t))) => t.members.iter().copied().collect(),
            (None, _) => BTreeSet::new(),
        };
        Decision::Ring {
            team: rule.team,
            staff: rule.staff,
            targets: Targets::Only(targets),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::Region;
    use chrono::TimeZone;

    fn tokyo(h: u32) -> DateTime<Utc> {
        // 2026-11-25 is a Wednesday; Tokyo is UTC+9.
        chrono_tz::Asia::Tokyo
            .with_ymd_and_hms(2026, 11, 25, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn n(s: &str) -> E164 {
        E164::parse(s, Region::JP).unwrap()
    }

    fn workflow(rules: Vec<Rule>) -> RoutingConfig {
        RoutingConfig {
            mode: RoutingMode::Workflow(rules),
            teams: vec![
                TeamRoute {
                    id: 1,
                    members: vec![10, 11],
                    hours: None,
                },
                TeamRoute {
                    id: 2,
                    members: vec![20],
                    hours: Some(BusinessHours::weekdays("Asia/Tokyo", "09:00", "12:00")),
                },
            ],
            ..RoutingConfig::default()
        }
    }

    fn only(ids: &[StaffId]) -> Targets {
        Targets::Only(ids.iter().copied().collect())
    }

    #[test]
    fn rules_are_evaluated_in_order() {
        let sales = n("03-1111-2222");
        let cfg = workflow(vec![
            Rule {
                conditions: vec![Condition::Dialled(sales.clone())],
                team: Some(1),
                staff: None,
            },
            Rule {
                conditions: vec![],
                team: None,
                staff: Some(99),
            },
        ]);
        cfg.validate().unwrap();
        let profile = BTreeMap::new();
        let mut facts = CallFacts {
            dialled: Some(&sales),
            at: tokyo(10),
            known_caller: false,
            profile: &profile,
        };
        assert_eq!(
            cfg.decide(&facts),
            Decision::Ring {
                team: Some(1),
                staff: None,
                targets: only(&[10, 11])
            }
        );
        let other = n("03-9999-0000");
        facts.dialled = Some(&other);
        assert_eq!(
            cfg.decide(&facts),
            Decision::Ring {
                team: None,
                staff: Some(99),
                targets: only(&[99])
            }
        );
    }

    #[test]
    fn conditions_time_of_day_known_caller_and_field() {
        let cfg = workflow(vec![
            Rule {
                conditions: vec![
                    Condition::TimeOfDay(BusinessHours::weekdays("Asia/Tokyo", "18:00", "24:00")),
                    Condition::KnownCaller(true),
                    Condition::CustomerField {
                        field: "plan".into(),
                        value: "gold".into(),
                    },
                ],
                team: Some(1),
                staff: Some(11),
            },
            Rule {
                conditions: vec![Condition::KnownCaller(false)],
                team: Some(1),
                staff: None,
            },
        ]);
        let gold = BTreeMap::from([("plan".to_owned(), "gold".to_owned())]);
        let facts = CallFacts {
            dialled: None,
            at: tokyo(19),
            known_caller: true,
            profile: &gold,
        };
        // Person and team: the chat goes to both, only the person is rung.
        assert_eq!(
            cfg.decide(&facts),
            Decision::Ring {
                team: Some(1),
                staff: Some(11),
                targets: only(&[11])
            }
        );
        // Morning: the time window fails; a known caller matches nothing else → everyone.
        let morning = CallFacts {
            at: tokyo(9),
            ..facts
        };
        assert_eq!(
            cfg.decide(&morning),
            Decision::Ring {
                team: None,
                staff: None,
                targets: Targets::Everyone
            }
        );
        let empty = BTreeMap::new();
        let unknown = CallFacts {
            known_caller: false,
            profile: &empty,
            ..facts
        };
        assert_eq!(
            cfg.decide(&unknown),
            Decision::Ring {
                team: Some(1),
                staff: None,
                targets: only(&[10, 11])
            }
        );
    }

    #[test]
    fn channel_and_team_hours_close_the_call() {
        let mut cfg = workflow(vec![Rule {
            conditions: vec![],
            team: Some(2),
            staff: None,
        }]);
        let profile = BTreeMap::new();
        let facts = CallFacts {
            dialled: None,
            at: tokyo(10),
            known_caller: false,
            profile: &profile,
        };
        assert!(matches!(cfg.decide(&facts), Decision::Ring { .. }));
        // Team 2 closes at noon.
        let afternoon = CallFacts {
            at: tokyo(13),
            ..facts
        };
        assert_eq!(cfg.decide(&afternoon), Decision::Closed);
        // Channel hours are checked before any rule.
        cfg.hours = Some(BusinessHours::weekdays("Asia/Tokyo", "11:00", "17:00"));
        assert_eq!(cfg.decide(&facts), Decision::Closed);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let no_target = workflow(vec![Rule {
            conditions: vec![],
            team: None,
            staff: None,
        }]);
        assert!(matches!(
            no_target.validate(),
            Err(CoreError::InvalidRouting(_))
        ));
        let unknown_team = workflow(vec![Rule {
            conditions: vec![],
            team: Some(7),
            staff: None,
        }]);
        assert!(unknown_team.validate().is_err());
        // An unknown team rings nobody rather than failing.
        let profile = BTreeMap::new();
        let facts = CallFacts {
            dialled: None,
            at: tokyo(10),
            known_caller: false,
            profile: &profile,
        };
        assert_eq!(
            unknown_team.decide(&facts),
            Decision::Ring {
                team: Some(7),
                staff: None,
                targets: Targets::Only(BTreeSet::new())
            }
        );
        let zero = RoutingConfig {
            ring_timeout_secs: 0,
            ..RoutingConfig::default()
        };
        assert!(zero.validate().is_err());
        assert!(RoutingConfig::default().validate().is_ok());
    }

    #[test]
    fn config_reads_from_json_with_defaults() {
        let cfg: RoutingConfig = serde_json::from_str(r#"{"mode":"ring_all"}"#).unwrap();
        assert_eq!(cfg, RoutingConfig::default());
        assert!(serde_json::from_str::<RoutingConfig>(r#"{"mode":"ring_all","x":1}"#).is_err());
    }
}
