//! Studies and who belongs to them: create, list, read, change settings, manage members.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::{Actor, AppError, AppResult, access, audit};
use crate::db::models::{Study, StudyMember};
use crate::db::schema::{candidates, researchers, rounds, studies, study_members};
use crate::db::{self, DbConn, DbError, new_id, now, utc};
use crate::domain::candidate::Status;
use crate::domain::round::State as RoundState;
use crate::domain::study::StudyInput;
use crate::domain::{Invalid, Language, Scale, StudySettings, text};
use crate::ops::access::ResearcherId;

pub use super::access::Role;

/// The consensus rule with the moment it was locked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsensusView {
    pub share_percent: f64,
    pub points: i32,
    pub max_iqr: f64,
    /// How "don't know" counts in the shares: `excluded` or `not_agreeing`.
    pub dont_know: crate::domain::DontKnow,
    /// When the first rating round opened; from then on the rule (and the panel groups)
    /// cannot change.
    pub locked_at: Option<DateTime<Utc>>,
}

/// A study as researchers see it through the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StudyView {
    pub id: String,
    pub title: String,
    pub purpose: String,
    pub funder: String,
    pub contact: String,
    pub language: Language,
    pub scale: Scale,
    pub consensus: ConsensusView,
    pub min_group_size: i32,
    pub small_cell_threshold: i32,
    pub priority_threshold: f64,
    pub reminder_days: Vec<i32>,
    pub no_reply_after_days: i32,
    pub link_grace_days: i32,
    #[schema(value_type = Option<String>, format = Date)]
    pub retention_until: Option<NaiveDate>,
    /// The study's time zone (IANA name): the clock of its pages, e-mails and report.
    #[schema(example = "Europe/Copenhagen")]
    pub time_zone: String,
    /// The key of the stratum whose values are the panel groups; locked with the consensus rule.
    #[schema(example = "side")]
    pub groups_by: Option<String>,
    /// For the reporting checklist: why a Delphi panel, why its size, the limitations, the
    /// funding and conflicts of interest (empty: "to be completed" in the checklist).
    pub rationale: String,
    pub panel_size_rationale: String,
    pub limitations: String,
    pub funding_and_interests: String,
    /// The panel's discussion: `moderated`, `open` or `off`.
    pub discussion: crate::domain::study::Discussion,
    /// The caller's role in this study.
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn view(study: &Study, role: Role) -> Result<StudyView, DbError> {
    let s = study.settings()?;
    Ok(StudyView {
        id: study.id.clone(),
        title: s.title,
        purpose: s.purpose,
        funder: s.funder,
        contact: s.contact,
        language: s.language,
        scale: s.scale,
        consensus: ConsensusView {
            share_percent: s.consensus.share_percent,
            points: s.consensus.points,
            max_iqr: s.consensus.max_iqr,
            dont_know: s.consensus.dont_know,
            locked_at: study.consensus_locked_at.map(utc),
        },
        min_group_size: s.min_group_size,
        small_cell_threshold: s.small_cell_threshold,
        priority_threshold: s.priority_threshold,
        reminder_days: s.reminder_days,
        no_reply_after_days: s.no_reply_after_days,
        link_grace_days: s.link_grace_days,
        retention_until: s.retention_until,
        time_zone: s.time_zone.name().to_string(),
        groups_by: s.groups_by,
        rationale: s.rationale,
        panel_size_rationale: s.panel_size_rationale,
        limitations: s.limitations,
        funding_and_interests: s.funding_and_interests,
        discussion: s.discussion,
        role,
        created_at: utc(study.created_at),
        updated_at: utc(study.updated_at),
    })
}

pub fn create(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    input: StudyInput,
    zone: crate::i18n::Tz,
) -> AppResult<StudyView> {
    let settings = StudySettings::create(input, zone)?;
    let t = now();
    let study = Study::new(new_id(), &settings, researcher_id.into(), t);
    let actor = Actor::Researcher {
        id: researcher_id.into(),
    };
    db::write(conn, |c| {
        diesel::insert_into(studies::table)
            .values(&study)
            .execute(c)?;
        diesel::insert_into(study_members::table)
            .values(&StudyMember {
                study_id: study.id.clone(),
                researcher_id: researcher_id.into(),
                role: Role::Owner,
                added_at: t,
                added_by: None,
            })
            .execute(c)?;
        audit::record(
            c,
            &actor,
            Some(&study.id),
            audit::Action::StudyCreated,
            Some(&study.id),
            serde_json::json!({ "consensus": settings.consensus }),
        )?;
        Ok(view(&study, Role::Owner)?)
    })
}

/// The studies the researcher belongs to, newest first.
pub fn list(conn: &mut DbConn, researcher_id: &ResearcherId) -> AppResult<Vec<StudyView>> {
    let rows: Vec<(Study, Role)> = studies::table
        .inner_join(study_members::table)
        .filter(study_members::researcher_id.eq(researcher_id.as_str()))
        .filter(studies::archived_at.is_null())
        .order(studies::created_at.desc())
        .select((Study::as_select(), study_members::role))
        .load(conn)?;
    rows.iter()
        .map(|(s, r)| view(s, *r).map_err(AppError::from))
        .collect()
}

pub fn get(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<StudyView> {
    let (study, role) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    Ok(view(&study, role)?)
}

/// Changes settings. A consensus rule that differs from the locked one is refused.
pub fn update(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: StudyInput,
) -> AppResult<StudyView> {
    db::write(conn, |c| {
        let registered = super::protocol::registered(c, study_id)?;
        update_in(c, researcher_id, study_id, input, registered)
    })
}

/// `update` inside a transaction. With `registered`, the settings the registered protocol fixes
/// cannot change here: an amendment of the protocol changes them (and passes false).
pub fn update_in(
    c: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: StudyInput,
    registered: bool,
) -> AppResult<StudyView> {
    let actor = Actor::Researcher {
        id: researcher_id.into(),
    };
    {
        let (mut study, role) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        let before = study.settings()?;
        let locked = study
            .consensus_locked_at
            .map(|t| utc(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let after = before.apply(input, locked.as_deref())?;
        if registered {
            let fixed = [
                ("consensus", before.consensus != after.consensus),
                (
                    "priority_threshold",
                    before.priority_threshold != after.priority_threshold,
                ),
                (
                    "min_group_size",
                    before.min_group_size != after.min_group_size,
                ),
                ("groups_by", before.groups_by != after.groups_by),
            ];
            if let Some((field, _)) = fixed.iter().find(|(_, changed)| *changed) {
                return Err(Invalid::one(
                    *field,
                    "the protocol is registered: change it through an amendment of the protocol, with its reason",
                )
                .into());
            }
        }
        if let Some(by) = &after.groups_by
            && after.groups_by != before.groups_by
            && !super::recruitment::strata_of(c, study_id)?
                .iter()
                .any(|s| &s.key == by)
        {
            return Err(Invalid::one(
                "groups_by",
                format!("the study has no panel attribute with the key {by:?}"),
            )
            .into());
        }
        if after.retention_until != before.retention_until {
            // The retention date erases every identity: only owners set it, never so soon that
            // the owners' warning could not go out first.
            if role < Role::Owner {
                return Err(AppError::Forbidden(
                    "only a study's owners may change its retention date".into(),
                ));
            }
            let today = chrono::Utc::now().date_naive();
            let earliest = today + chrono::Duration::days(super::privacy::RETENTION_WARNING_DAYS);
            if let Some(date) = after.retention_until
                && date > today + chrono::Duration::days(365 * 100)
            {
                return Err(
                    Invalid::one("retention_until", "must be within a hundred years").into(),
                );
            }
            if let Some(date) = after.retention_until
                && date < earliest
            {
                return Err(Invalid::one(
                    "retention_until",
                    format!(
                        "must be {} or later: the owners are warned {} days before identities are erased",
                        earliest,
                        super::privacy::RETENTION_WARNING_DAYS
                    ),
                )
                .into());
            }
            audit::record(
                c,
                &actor,
                Some(study_id),
                audit::Action::StudyRetentionChanged,
                Some(study_id),
                serde_json::json!({ "from": before.retention_until, "to": after.retention_until }),
            )?;
        }
        study.set_settings(&after);
        study.updated_at = now();
        diesel::update(studies::table.find(&study.id))
            .set(&study)
            .execute(c)?;
        // What the analysis rests on is logged with its old and new value.
        let changes = [
            (
                before.groups_by != after.groups_by,
                audit::Action::StudyGroupsChanged,
                serde_json::json!({ "from": before.groups_by, "to": after.groups_by }),
            ),
            (
                before.consensus != after.consensus,
                audit::Action::StudyConsensusChanged,
                serde_json::json!({ "from": before.consensus, "to": after.consensus }),
            ),
        ];
        for (_, action, details) in changes.into_iter().filter(|(changed, _, _)| *changed) {
            audit::record(c, &actor, Some(study_id), action, Some(study_id), details)?;
        }
        audit::record(
            c,
            &actor,
            Some(study_id),
            audit::Action::StudyUpdated,
            Some(study_id),
            serde_json::json!({}),
        )?;
        Ok(view(&study, role)?)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub researcher_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub added_at: DateTime<Utc>,
}

pub fn members(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<MemberView>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let rows: Vec<(StudyMember, String, String)> = study_members::table
        .inner_join(researchers::table.on(researchers::id.eq(study_members::researcher_id)))
        .filter(study_members::study_id.eq(study_id))
        .order(researchers::name.asc())
        .select((
            StudyMember::as_select(),
            researchers::name,
            researchers::email,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, name, email)| {
            Some(m.role).map(|role| MemberView {
                researcher_id: m.researcher_id,
                name,
                email,
                role,
                added_at: utc(m.added_at),
            })
        })
        .collect())
}

/// Adds a researcher (by the e-mail of their account) to a study, or changes their role.
/// Only owners may; the last owner cannot step down.
pub fn set_member(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    email: &str,
    role: &str,
) -> AppResult<MemberView> {
    let mut e = Invalid::new();
    let email = e
        .take(text::email("email", email))
        .map(|s| s.to_lowercase());
    let role = e.take(Role::parse("role", role));
    e.into_result(())?;
    let (email, role) = (email.unwrap_or_default(), role.unwrap_or(Role::Researcher));
    let actor = Actor::Researcher {
        id: researcher_id.into(),
    };
    db::write(conn, |c| {
        access::study(c, researcher_id, study_id, Role::Owner)?;
        let (member_id, name): (String, String) = researchers::table
            .filter(researchers::email.eq(&email))
            .select((researchers::id, researchers::name))
            .first(c)
            .optional()?
            .ok_or_else(|| {
                AppError::Invalid(Invalid::one(
                    "email",
                    format!("no researcher account has the e-mail {email}"),
                ))
            })?;
        let current: Option<Role> = study_members::table
            .find((study_id, &member_id))
            .select(study_members::role)
            .first(c)
            .optional()?;
        let t = now();
        match current {
            Some(old) => {
                if old == Role::Owner && role != Role::Owner && owners(c, study_id)? <= 1 {
                    return Err(AppError::Conflict(
                        "a study needs at least one owner".into(),
                    ));
                }
                diesel::update(study_members::table.find((study_id, &member_id)))
                    .set(study_members::role.eq(role.as_str()))
                    .execute(c)?;
            }
            None => {
                diesel::insert_into(study_members::table)
                    .values(&StudyMember {
                        study_id: study_id.into(),
                        researcher_id: member_id.clone(),
                        role,
                        added_at: t,
                        added_by: Some(researcher_id.into()),
                    })
                    .execute(c)?;
            }
        }
        audit::record(
            c,
            &actor,
            Some(study_id),
            audit::Action::StudyMemberSet,
            Some(&member_id),
            serde_json::json!({ "role": role.as_str() }),
        )?;
        Ok(MemberView {
            researcher_id: member_id,
            name,
            email,
            role,
            added_at: utc(t),
        })
    })
}

/// Removes a member; owners may remove anyone, anyone may leave, the last owner may not.
pub fn remove_member(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    member_id: &str,
) -> AppResult<()> {
    let actor = Actor::Researcher {
        id: researcher_id.into(),
    };
    db::write(conn, |c| {
        let min = if member_id == researcher_id.as_str() {
            Role::Researcher
        } else {
            Role::Owner
        };
        access::study(c, researcher_id, study_id, min)?;
        let role: Role = study_members::table
            .find((study_id, member_id))
            .select(study_members::role)
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        if role == Role::Owner && owners(c, study_id)? <= 1 {
            return Err(AppError::Conflict(
                "a study needs at least one owner".into(),
            ));
        }
        diesel::delete(study_members::table.find((study_id, member_id))).execute(c)?;
        audit::record(
            c,
            &actor,
            Some(study_id),
            audit::Action::StudyMemberRemoved,
            Some(member_id),
            serde_json::json!({}),
        )
    })
}

fn owners(conn: &mut DbConn, study_id: &str) -> AppResult<i64> {
    Ok(study_members::table
        .filter(study_members::study_id.eq(study_id))
        .filter(study_members::role.eq(Role::Owner))
        .count()
        .get_result(conn)?)
}

/// Where a study stands, for its home page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub phase: Phase,
    pub candidates: i64,
    pub invited: i64,
    pub accepted: i64,
    pub rounds: i64,
    pub open_round: Option<i32>,
    pub next_deadline: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Settings and candidates are being prepared; nobody has been invited.
    SetUp,
    /// Invitations are out; no round has opened.
    Recruitment,
    /// A round is open.
    RoundOpen,
    /// Rounds have run and none is open.
    BetweenRounds,
}

pub fn overview(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Overview> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let statuses: Vec<Status> = candidates::table
        .filter(candidates::study_id.eq(study_id))
        .select(candidates::status)
        .load(conn)?;
    let count = |f: &dyn Fn(Status) -> bool| statuses.iter().filter(|s| f(**s)).count() as i64;
    let invited = count(&|s| s != Status::Identified);
    let accepted = count(&|s| s == Status::Accepted);
    let round_rows: Vec<(i32, RoundState, Option<NaiveDateTime>)> = rounds::table
        .filter(rounds::study_id.eq(study_id))
        .order(rounds::number.asc())
        .select((rounds::number, rounds::state, rounds::closes_at))
        .load(conn)?;
    let open = round_rows
        .iter()
        .find(|(_, state, _)| *state == RoundState::Open);
    let ran = round_rows
        .iter()
        .any(|(_, state, _)| *state != RoundState::Draft);
    let phase = if open.is_some() {
        Phase::RoundOpen
    } else if ran {
        Phase::BetweenRounds
    } else if invited > 0 {
        Phase::Recruitment
    } else {
        Phase::SetUp
    };
    Ok(Overview {
        phase,
        candidates: statuses.len() as i64,
        invited,
        accepted,
        rounds: round_rows.len() as i64,
        open_round: open.map(|(n, _, _)| *n),
        next_deadline: open.and_then(|(_, _, c)| c.map(utc)),
    })
}
