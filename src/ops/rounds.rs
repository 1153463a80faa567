//! Rounds as researchers run them: create, open (publishing a frozen codebook, locking the
//! consensus rule, e-mailing every panellist), extend, close; and what the worker does by the
//! clock (close at the deadline, remind those who have not submitted).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::access::{self, ResearcherId, Role};
use super::codebook::{ACTIVE, Codebook, codebook_of, snapshot, themes_of};
use super::outbox::{Letter, MailEnv, RoundFacts, enqueue_many, enqueue_to_candidate};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::{
    Answer, Candidate, MinorityStatement, Round, RoundParticipation, RoundTheme, Study,
};
use crate::db::schema::{
    answers, candidates, minority_statements, round_participations, round_themes, rounds, studies,
};
use crate::db::utc;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::Invalid;
use crate::domain::candidate::Status;
use crate::domain::round::{Kind, Opening, RoundFlags, RoundInput, Sibling, State, may_open};
use crate::mail;

/// Why a round cannot show feedback by group.
fn no_groups() -> Invalid {
    Invalid::one(
        "feedback_by_group",
        "feedback by group needs panel groups: choose the attribute that divides the panel in the study's settings",
    )
}

pub fn flags_of(r: &Round) -> RoundFlags {
    RoundFlags {
        kind: r.kind,
        validation: r.validation,
        rating: r.rating,
        feedback: r.feedback,
        feedback_by_group: r.feedback_by_group,
        questionnaire: r.questionnaire,
        mode: r.mode,
        instructions: r.instructions.clone(),
        reminder_days: serde_json::from_str(&r.reminder_days).unwrap_or_default(),
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundView {
    pub id: String,
    pub number: i32,
    pub kind: Kind,
    pub validation: bool,
    pub rating: bool,
    pub feedback: bool,
    /// The feedback shows each panel group's distribution beside the whole panel's.
    pub feedback_by_group: bool,
    pub questionnaire: bool,
    /// `classic` or `live`.
    pub mode: crate::domain::round::Mode,
    pub state: State,
    pub closes_at: Option<DateTime<Utc>>,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub instructions: String,
    pub reminder_days: Vec<i32>,
    /// The themes the round published (empty until it opens).
    pub themes: Vec<PublishedTheme>,
    pub progress: Progress,
}

pub use crate::domain::codebook::PublishedTheme;

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// Panellists the round is for.
    pub panellists: usize,
    /// Who opened the round's page.
    pub opened: usize,
    /// Who answered at least one theme.
    pub answered: usize,
    /// Who marked the round as done.
    pub submitted: usize,
}

/// Records an expert's first view of a round (researchers see who opened it). Only a record,
/// written off the request's path (`records`): with the disk full the expert still sees the
/// round.
pub fn record_first_view(conn: &mut DbConn, part: &RoundParticipation) -> AppResult<()> {
    if part.first_opened_at.is_some() {
        return Ok(());
    }
    super::records::keep(
        conn,
        super::records::Record::RoundOpened {
            round_id: part.round_id.clone(),
            panellist_id: part.panellist_id.clone(),
            at: now(),
        },
    )
}

pub fn published(conn: &mut DbConn, round_id: &str) -> AppResult<Vec<PublishedTheme>> {
    let rows: Vec<RoundTheme> = round_themes::table
        .filter(round_themes::round_id.eq(round_id))
        .order(round_themes::position.asc())
        .select(RoundTheme::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            Ok(PublishedTheme {
                snapshot: serde_json::from_str(&r.snapshot)
                    .map_err(|e| crate::db::DbError::Corrupt(format!("round theme: {e}")))?,
                theme_id: r.theme_id,
                position: r.position,
                theme_version: r.theme_version,
            })
        })
        .collect()
}

fn progress(conn: &mut DbConn, round_id: &str) -> AppResult<Progress> {
    super::records::settle(conn);
    let parts: Vec<RoundParticipation> = round_participations::table
        .filter(round_participations::round_id.eq(round_id))
        .select(RoundParticipation::as_select())
        .load(conn)?;
    let rating: bool = rounds::table
        .find(round_id)
        .select(rounds::rating)
        .first(conn)?;
    let answered = super::answers::responders(conn, round_id, rating)?.len();
    Ok(Progress {
        panellists: parts.len(),
        opened: parts.iter().filter(|p| p.first_opened_at.is_some()).count(),
        answered,
        submitted: parts.iter().filter(|p| p.submitted_at.is_some()).count(),
    })
}

pub fn view(conn: &mut DbConn, r: &Round) -> AppResult<RoundView> {
    let f = flags_of(r);
    Ok(RoundView {
        id: r.id.clone(),
        number: r.number,
        kind: f.kind,
        validation: r.validation,
        rating: r.rating,
        feedback: r.feedback,
        feedback_by_group: r.feedback_by_group,
        questionnaire: r.questionnaire,
        mode: r.mode,
        state: r.state,
        closes_at: r.closes_at.map(utc),
        opened_at: r.opened_at.map(utc),
        closed_at: r.closed_at.map(utc),
        instructions: r.instructions.clone(),
        reminder_days: f.reminder_days,
        themes: published(conn, &r.id)?,
        progress: progress(conn, &r.id)?,
    })
}

pub fn create(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: RoundInput,
) -> AppResult<RoundView> {
    let flags = input.validate()?;
    let closes_at = input.closes_at.map(|t| t.naive_utc());
    if let Some(c) = closes_at {
        crate::domain::validation::ahead("closes_at", c, now())?;
    }
    db::write(conn, |c| {
        let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        if flags.feedback_by_group && study.groups_by.is_none() {
            return Err(no_groups().into());
        }
        let last: Option<i32> = rounds::table
            .filter(rounds::study_id.eq(study_id))
            .select(diesel::dsl::max(rounds::number))
            .first(c)?;
        // Researchers count the interviews as round 1: a study that held them outside a round
        // of Orakel's (transcripts, no round yet) starts its rating rounds at 2.
        let interviews_held = last.is_none()
            && flags.kind == Kind::Rating
            && diesel::select(diesel::dsl::exists(
                crate::db::schema::transcripts::table
                    .filter(crate::db::schema::transcripts::study_id.eq(study_id)),
            ))
            .get_result::<bool>(c)?;
        let t = now();
        let round = Round {
            id: new_id(),
            study_id: study_id.into(),
            number: last.unwrap_or(i32::from(interviews_held)) + 1,
            kind: flags.kind,
            questionnaire: flags.questionnaire,
            validation: flags.validation,
            rating: flags.rating,
            feedback: flags.feedback,
            feedback_by_group: flags.feedback_by_group,
            mode: flags.mode,
            state: State::Draft,
            instructions: flags.instructions.clone(),
            reminder_days: serde_json::to_string(&flags.reminder_days).expect("serialisable"),
            closes_at,
            opened_at: None,
            closed_at: None,
            created_at: t,
            updated_at: t,
        };
        diesel::insert_into(rounds::table)
            .values(&round)
            .execute(c)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::RoundCreated,
            Some(&round.id),
            serde_json::json!({ "number": round.number }),
        )?;
        view(c, &round)
    })
}

pub fn list(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<RoundView>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let rows: Vec<Round> = rounds::table
        .filter(rounds::study_id.eq(study_id))
        .order(rounds::number.asc())
        .select(Round::as_select())
        .load(conn)?;
    rows.iter().map(|r| view(conn, r)).collect()
}

pub fn get(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<RoundView> {
    let (r, _) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    view(conn, &r)
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundPatch {
    /// A new deadline. For an open round it can only move later; those who have not
    /// submitted are told by e-mail.
    pub closes_at: Option<DateTime<Utc>>,
    pub instructions: Option<String>,
    pub reminder_days: Option<Vec<i32>>,
}

pub fn update(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &ResearcherId,
    round_id: &str,
    patch: RoundPatch,
) -> AppResult<RoundView> {
    if let Some(i) = &patch.instructions {
        crate::domain::text::block("instructions", i, 5000)?;
    }
    if let Some(d) = &patch.reminder_days
        && (d.len() > 10 || d.iter().any(|x| !(0..=60).contains(x)))
    {
        return Err(Invalid::one(
            "reminder_days",
            "at most 10 days, each between 0 and 60 days before the deadline",
        )
        .into());
    }
    db::write(conn, |c| {
        let (mut r, study) =
            access::in_study::<Round>(c, researcher_id, round_id, Role::Researcher)?;
        let state = r.state;
        if state == State::Closed {
            return Err(AppError::Conflict(format!(
                "round {} is closed; its answers are final",
                r.number
            )));
        }
        if let Some(i) = &patch.instructions {
            r.instructions = i.trim().to_string();
        }
        if let Some(d) = &patch.reminder_days {
            r.reminder_days = serde_json::to_string(d).expect("serialisable");
        }
        let mut extended = false;
        if let Some(new) = patch.closes_at.map(|t| t.naive_utc()) {
            crate::domain::validation::ahead("closes_at", new, now())?;
            if state == State::Open && r.closes_at.is_some_and(|old| new < old) {
                return Err(Invalid::one(
                    "closes_at",
                    "an open round's deadline can only move later",
                )
                .into());
            }
            extended = state == State::Open && r.closes_at != Some(new);
            r.closes_at = Some(new);
        }
        r.updated_at = now();
        diesel::update(rounds::table.find(&r.id))
            .set(&r)
            .execute(c)?;
        if extended {
            let deadline = r.closes_at.expect("set above");
            // Everyone's links now last until the new deadline and its grace period.
            super::links::apply_rule_for_round(c, &r.id)?;
            // Reminders count again towards the new deadline.
            diesel::update(
                round_participations::table.filter(round_participations::round_id.eq(&r.id)),
            )
            .set(round_participations::reminders_sent.eq(0))
            .execute(c)?;
            let round_facts = facts(&r);
            let outstanding = outstanding(c, &r)?;
            enqueue_many(c, env, &study, &outstanding, |cand| {
                let key = format!(
                    "round:{}:{}:extended:{}",
                    r.id,
                    cand.id,
                    deadline.and_utc().timestamp()
                );
                Letter::new(mail::Kind::RoundExtended, &round_facts, Some(key))
            })?;
            audit::record(
                c,
                &Actor::researcher(researcher_id),
                Some(&study.id),
                audit::Action::RoundExtended,
                Some(&r.id),
                serde_json::json!({ "closes_at": utc(deadline) }),
            )?;
        }
        view(c, &r)
    })
}

pub(crate) fn facts(r: &Round) -> RoundFacts {
    RoundFacts {
        round_id: Some(r.id.clone()),
        number: r.number,
        deadline: r.closes_at,
        validation: r.validation,
        rating: r.rating,
    }
}

/// The accepted, not withdrawn candidates of the study: the panel.
pub fn panel(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<Candidate>> {
    Ok(candidates::table
        .filter(candidates::study_id.eq(study_id))
        .filter(candidates::status.eq(Status::Accepted))
        .filter(candidates::panellist_id.is_not_null())
        .select(Candidate::as_select())
        .load(conn)?)
}

/// Panellists of the round who have not submitted.
pub(crate) fn outstanding(conn: &mut DbConn, r: &Round) -> AppResult<Vec<Candidate>> {
    let submitted: Vec<String> = round_participations::table
        .filter(round_participations::round_id.eq(&r.id))
        .filter(round_participations::submitted_at.is_not_null())
        .select(round_participations::panellist_id)
        .load(conn)?;
    Ok(panel(conn, &r.study_id)?
        .into_iter()
        .filter(|c| {
            c.panellist_id
                .as_ref()
                .is_some_and(|p| !submitted.contains(p))
        })
        .collect())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Opened {
    pub round: RoundView,
    /// Round e-mails queued by this call.
    pub queued: usize,
}

/// Opens a round: publishes the codebook as it stands (frozen), locks the consensus rule at the
/// first rating round, and e-mails each panellist their link with the deadline. Calling it on
/// an open round e-mails those who joined the panel since.
pub fn open(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<Opened> {
    db::write(conn, |c| {
        let (mut r, study) =
            access::in_study::<Round>(c, researcher_id, round_id, Role::Researcher)?;
        let state = r.state;
        let kind = r.kind;
        let (others, book) = if state == State::Draft {
            let others: Vec<Sibling> = rounds::table
                .filter(rounds::study_id.eq(&study.id))
                .filter(rounds::id.ne(&r.id))
                .select(Round::as_select())
                .load(c)?
                .iter()
                .map(|o| Sibling {
                    number: o.number,
                    state: o.state,
                    rating: o.rating,
                })
                .collect();
            let book = (kind == Kind::Rating)
                .then(|| codebook_of(c, &study.id, false))
                .transpose()?;
            (others, book)
        } else {
            (Vec::new(), None)
        };
        let opening = Opening {
            number: r.number,
            state,
            kind,
            feedback: r.feedback,
            closes_at: r.closes_at,
            others: &others,
            active_themes: book
                .as_ref()
                .map_or(0, |b| b.categories.iter().map(|cat| cat.themes.len()).sum()),
        };
        may_open(&opening, now())?;
        if r.feedback_by_group && study.groups_by.is_none() {
            return Err(no_groups().into());
        }
        if state == State::Draft {
            if let Some(book) = book {
                publish(c, &r, &study, &book, researcher_id)?;
            }
            r.state = State::Open;
            r.opened_at = Some(now());
            r.updated_at = now();
            diesel::update(rounds::table.find(&r.id))
                .set(&r)
                .execute(c)?;
            audit::record(
                c,
                &Actor::researcher(researcher_id),
                Some(&study.id),
                audit::Action::RoundOpened,
                Some(&r.id),
                serde_json::json!({ "number": r.number }),
            )?;
        }
        // Every panellist gets a participation row and, once, the round's e-mail.
        let sends_mail = kind == Kind::Rating || r.questionnaire;
        // A written questionnaire's invitation carries the questions, to read or print first.
        let (files, extra) = if r.questionnaire {
            let lang = crate::domain::Language::from_stored(&study.language);
            let g = super::interviews::guide_of(c, &r.id)?;
            (
                vec![mail::Attachment::new(
                    super::interviews::guide_filename(lang),
                    "text/plain; charset=utf-8",
                    super::interviews::guide_text(&study.title, &g, lang).as_bytes(),
                )],
                vec![("questionnaire", "1".to_string())],
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let panel = panel(c, &study.id)?;
        let rows: Vec<RoundParticipation> = panel
            .iter()
            .map(|cand| new_participation(&r.id, cand.panellist_id.as_deref().expect("filtered")))
            .collect();
        // Many rows a statement: a round's opening is one transaction for the whole panel.
        for rows in rows.chunks(500) {
            crate::db::insert_rows!(c, round_participations::table, rows, on_conflict_do_nothing)?;
        }
        let mailed = if sends_mail {
            let round_facts = facts(&r);
            enqueue_many(c, env, &study, &panel, |cand| Letter {
                attachments: &files,
                extra: &extra,
                ..Letter::new(
                    mail::Kind::RoundInvitation,
                    &round_facts,
                    Some(format!("round:{}:{}:invitation", r.id, cand.id)),
                )
            })?
        } else {
            vec![false; panel.len()]
        };
        let queued = mailed.iter().filter(|&&m| m).count();
        // Those not mailed: their earlier links now last until this round's deadline and its
        // grace.
        let unmailed: Vec<&str> = panel
            .iter()
            .zip(&mailed)
            .filter(|(_, m)| !**m)
            .map(|(cand, _)| cand.id.as_str())
            .collect();
        super::links::apply_rule_to(c, &unmailed)?;
        Ok(Opened {
            round: view(c, &r)?,
            queued,
        })
    })
}

/// What opening a round would do, for the researcher to confirm first: how many e-mails go out
/// and whether the study's consensus rule gets locked.
#[derive(Debug, Clone, Serialize)]
pub struct OpeningPreview {
    pub number: i32,
    pub emails: usize,
    pub locks_rule: bool,
}

pub fn opening_preview(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<OpeningPreview> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    let sends_mail = r.kind == Kind::Rating || r.questionnaire;
    let emails = if sends_mail && r.state == State::Draft {
        panel(conn, &study.id)?
            .iter()
            .filter(|c| c.email.is_some() && c.mail_opt_out_at.is_none())
            .count()
    } else {
        0
    };
    Ok(OpeningPreview {
        number: r.number,
        emails,
        locks_rule: r.kind == Kind::Rating
            && r.state == State::Draft
            && study.consensus_locked_at.is_none(),
    })
}

/// What closing a round now would do: how long before its deadline, and how many panellists
/// have not answered and then cannot.
#[derive(Debug, Clone, Serialize)]
pub struct ClosingPreview {
    pub number: i32,
    /// Whole days left until the deadline (0 when it is today or passed).
    pub days_early: i64,
    pub not_answered: usize,
}

pub fn closing_preview(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<ClosingPreview> {
    let (r, _) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    let p = progress(conn, &r.id)?;
    Ok(ClosingPreview {
        number: r.number,
        days_early: r.closes_at.map_or(0, |d| (d - now()).num_days().max(0)),
        not_answered: p.panellists.saturating_sub(p.answered),
    })
}

/// Publishes the codebook as it stands into a rating round (each theme frozen as a snapshot)
/// and, at the study's first rating round, locks the consensus rule.
fn publish(
    c: &mut DbConn,
    r: &Round,
    study: &Study,
    book: &Codebook,
    researcher_id: &ResearcherId,
) -> AppResult<()> {
    let mut position = 0;
    let all = themes_of(c, &study.id)?;
    for cat in &book.categories {
        for tv in &cat.themes {
            let theme = all.iter().find(|t| t.id == tv.id).expect("listed");
            let snap = snapshot(c, theme)?;
            diesel::insert_into(round_themes::table)
                .values(&RoundTheme {
                    round_id: r.id.clone(),
                    theme_id: theme.id.clone(),
                    position,
                    theme_version: theme.version,
                    snapshot: serde_json::to_string(&snap).expect("serialisable"),
                })
                .execute(c)?;
            position += 1;
        }
    }
    if study.consensus_locked_at.is_none() {
        diesel::update(studies::table.find(&study.id))
            .set(studies::consensus_locked_at.eq(now()))
            .execute(c)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            audit::Action::ConsensusLocked,
            Some(&study.id),
            serde_json::json!({ "rule": study.settings()?.consensus, "round": r.number }),
        )?;
    }
    Ok(())
}

fn new_participation(round_id: &str, panellist_id: &str) -> RoundParticipation {
    RoundParticipation {
        round_id: round_id.into(),
        panellist_id: panellist_id.into(),
        first_opened_at: None,
        submitted_at: None,
        reminders_sent: 0,
        updated_at: now(),
    }
}

/// Closes a round by hand; its answers are final from now.
pub fn close(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<RoundView> {
    db::write(conn, |c| {
        let (r, study) = access::in_study::<Round>(c, researcher_id, round_id, Role::Researcher)?;
        match r.state {
            State::Closed => return view(c, &r),
            State::Draft => {
                return Err(AppError::Conflict(format!(
                    "round {} has not opened",
                    r.number
                )));
            }
            State::Open => {}
        }
        let t = now();
        diesel::update(
            rounds::table
                .filter(rounds::id.eq(&r.id))
                .filter(rounds::state.eq(State::Open)),
        )
        .set((
            rounds::state.eq(State::Closed),
            rounds::closed_at.eq(t),
            rounds::updated_at.eq(t),
        ))
        .execute(c)?;
        // A live round's last snapshot: what changed enough since the one before.
        super::live::publish_round(c, &r, t)?;
        // Closed before its deadline: links end the grace period after the close.
        super::links::apply_rule_for_round(c, &r.id)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            audit::Action::RoundClosed,
            Some(&r.id),
            serde_json::json!({ "number": r.number }),
        )?;
        let fresh: Round = rounds::table
            .find(&r.id)
            .select(Round::as_select())
            .first(c)?;
        view(c, &fresh)
    })
}

/// The worker's part: rounds past their deadline close (at the deadline itself, even if the
/// server was down then); those still open remind panellists who have not submitted.
/// Returns (rounds closed, reminders queued).
pub fn run_round_schedule(
    conn: &mut DbConn,
    env: &MailEnv,
    at: NaiveDateTime,
) -> AppResult<(usize, usize)> {
    let due: Vec<Round> = rounds::table
        .filter(rounds::state.eq(State::Open))
        .filter(rounds::closes_at.le(at))
        .select(Round::as_select())
        .load(conn)?;
    let mut closed = 0;
    for r in due {
        let n = db::write(conn, |c| {
            let n = diesel::update(
                rounds::table
                    .filter(rounds::id.eq(&r.id))
                    .filter(rounds::state.eq(State::Open)),
            )
            .set((
                rounds::state.eq(State::Closed),
                rounds::closed_at.eq(r.closes_at),
                rounds::updated_at.eq(now()),
            ))
            .execute(c)?;
            if n == 1 {
                super::live::publish_round(c, &r, r.closes_at.unwrap_or(at))?;
                audit::record(
                    c,
                    &Actor::System,
                    Some(&r.study_id),
                    audit::Action::RoundClosed,
                    Some(&r.id),
                    serde_json::json!({ "number": r.number, "at_deadline": true }),
                )?;
            }
            Ok::<_, AppError>(n)
        })?;
        closed += n;
    }
    let open: Vec<Round> = rounds::table
        .filter(rounds::state.eq(State::Open))
        .filter(rounds::closes_at.gt(at))
        .select(Round::as_select())
        .load(conn)?;
    let mut reminded = 0;
    for r in open {
        let deadline = r.closes_at.expect("filtered");
        if !(r.rating || r.validation || r.questionnaire) {
            continue;
        }
        let mut days = flags_of(&r).reminder_days;
        days.sort_unstable_by(|a, b| b.cmp(a));
        // How many reminders are due by now: those whose day before the deadline has come.
        let due_count = days
            .iter()
            .filter(|d| at >= deadline - Duration::days(**d as i64))
            .count();
        if due_count == 0 {
            continue;
        }
        let study: Study = studies::table
            .find(&r.study_id)
            .select(Study::as_select())
            .first(conn)?;
        for cand in outstanding(conn, &r)? {
            let pid = cand.panellist_id.clone().expect("panel");
            db::write(conn, |c| {
                let claimed = diesel::update(
                    round_participations::table
                        .filter(round_participations::round_id.eq(&r.id))
                        .filter(round_participations::panellist_id.eq(&pid))
                        .filter(round_participations::submitted_at.is_null())
                        .filter(round_participations::reminders_sent.lt(due_count as i32)),
                )
                .set(round_participations::reminders_sent.eq(due_count as i32))
                .execute(c)?;
                if claimed == 1 {
                    let key = format!(
                        "round:{}:{}:reminder:{}:{}",
                        r.id,
                        cand.id,
                        due_count,
                        deadline.and_utc().timestamp()
                    );
                    if enqueue_to_candidate(
                        c,
                        env,
                        &study,
                        &cand,
                        mail::Kind::RoundReminder,
                        &facts(&r),
                        Some(key),
                    )? {
                        reminded += 1;
                    }
                }
                Ok::<_, AppError>(())
            })?;
        }
    }
    Ok((closed, reminded))
}

// ---------------------------------------------------------------------------------------------
// What researchers see of a round's answers

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PanellistProgress {
    pub pseudonym: String,
    pub name: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// Themes with a score, a don't-know or a text.
    pub answered: usize,
    pub status: super::progress::ProgressStatus,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeResponses {
    pub theme_id: String,
    pub number: i32,
    pub title: String,
    pub comments: Vec<CommentView>,
    /// The researchers' account of the theme's minority view, carried by the report.
    pub minority_statement: Option<String>,
}

/// A comment or proposal, shown to researchers with the pseudonym.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommentView {
    pub answer_id: String,
    pub pseudonym: String,
    pub comment: Option<String>,
    pub proposal: Option<String>,
    pub reason: Option<String>,
    /// Cleared by a researcher to appear (without attribution) in the report.
    pub cleared_for_report: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundResponses {
    pub round: RoundView,
    pub panellists: Vec<PanellistProgress>,
    pub themes: Vec<ThemeResponses>,
}

/// Who has answered, and every comment and proposal per theme. Names are identities: logged.
pub fn responses(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<RoundResponses> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    let round = view(conn, &r)?;
    let panellists_view: Vec<PanellistProgress> = super::progress::rows(conn, &r, &study.id)?
        .into_iter()
        .map(|(row, _)| row)
        .collect();
    let pseudonyms = super::recruitment::pseudonyms(conn, &study.id)?;
    let mut themes = super::progress::comments_by_theme(conn, &r.id, &round.themes, &pseudonyms)?;
    for t in &mut themes {
        t.comments.sort_by(|a, b| a.pseudonym.cmp(&b.pseudonym));
    }
    audit::record(
        conn,
        &Actor::researcher(researcher_id),
        Some(&study.id),
        audit::Action::IdentitiesViewed,
        Some(&r.id),
        serde_json::json!({ "what": "round progress" }),
    )?;
    Ok(RoundResponses {
        round,
        panellists: panellists_view,
        themes,
    })
}

/// Marks a comment as cleared (or not) to appear in the report, without attribution.
pub fn clear_comment(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    answer_id: &str,
    cleared: bool,
) -> AppResult<()> {
    db::write(conn, |c| {
        let a: Answer = answers::table
            .find(answer_id)
            .select(Answer::as_select())
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        let (_, study) =
            access::in_study::<Round>(c, researcher_id, &a.round_id, Role::Researcher)?;
        diesel::update(answers::table.find(&a.id))
            .set(answers::comment_cleared_at.eq(cleared.then(now)))
            .execute(c)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            if cleared {
                audit::Action::CommentCleared
            } else {
                audit::Action::CommentUncleared
            },
            Some(&a.id),
            serde_json::json!({}),
        )
    })
}

/// Writes (or, empty, removes) the researchers' statement of a theme's minority view in a
/// rating round, which the round's report carries. Returns the statement kept.
pub fn set_minority_statement(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
    theme_id: &str,
    statement: &str,
) -> AppResult<Option<String>> {
    let text = crate::domain::text::block("statement", statement, 5000)?;
    let text = Some(text.trim().to_string()).filter(|t| !t.is_empty());
    db::write(conn, |c| {
        let (r, study) = access::in_study::<Round>(c, researcher_id, round_id, Role::Researcher)?;
        let published: bool = diesel::select(diesel::dsl::exists(
            round_themes::table
                .filter(round_themes::round_id.eq(&r.id))
                .filter(round_themes::theme_id.eq(theme_id)),
        ))
        .get_result(c)?;
        if !published {
            return Err(AppError::NotFound);
        }
        if !r.rating {
            return Err(Invalid::one(
                "statement",
                "a minority statement belongs to a round that asks for scores",
            )
            .into());
        }
        diesel::delete(
            minority_statements::table
                .filter(minority_statements::round_id.eq(&r.id))
                .filter(minority_statements::theme_id.eq(theme_id)),
        )
        .execute(c)?;
        if let Some(t) = &text {
            diesel::insert_into(minority_statements::table)
                .values(&MinorityStatement {
                    round_id: r.id.clone(),
                    theme_id: theme_id.into(),
                    statement: t.clone(),
                    written_by: Some(researcher_id.into()),
                    written_at: now(),
                })
                .execute(c)?;
        }
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            audit::Action::RoundMinorityStatement,
            Some(&r.id),
            serde_json::json!({ "theme": theme_id, "removed": text.is_none() }),
        )?;
        Ok(text.clone())
    })
}

/// Active themes' count, for pages that explain why a round cannot open yet.
pub fn active_theme_count(conn: &mut DbConn, study_id: &str) -> AppResult<usize> {
    Ok(themes_of(conn, study_id)?
        .iter()
        .filter(|t| t.status == ACTIVE)
        .count())
}

/// Interviews held outside a round of Orakel's: the study's transcripts that belong to no round,
/// counted for the rounds page's "round 1: interviews".
pub fn interviews_outside_rounds(conn: &mut DbConn, study_id: &str) -> AppResult<i64> {
    use crate::db::schema::transcripts;
    Ok(transcripts::table
        .filter(transcripts::study_id.eq(study_id))
        .filter(transcripts::round_id.is_null())
        .count()
        .get_result(conn)?)
}
