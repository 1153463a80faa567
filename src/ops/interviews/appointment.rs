//! Interview appointments: when, where and with whom, sent to the expert with a calendar invitation.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::utc;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::states::AppointmentState;
use crate::domain::{Invalid, Language, text};
use crate::mail;
use crate::ops::access::{self, ResearcherId, Role};
use crate::ops::outbox::{Letter, MailEnv, RoundFacts, enqueue_with};
use crate::ops::{Actor, AppError, AppResult, audit};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentInput {
    /// The panellist's pseudonym (such as `E07`) or id.
    pub panellist: String,
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_minutes: Option<i32>,
    /// The interviewing researcher's e-mail.
    #[serde(default)]
    pub interviewer: Option<String>,
    /// `proposed`, `agreed`, `done` or `cancelled`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppointmentView {
    pub id: String,
    pub pseudonym: String,
    /// The panellist's name (researchers only).
    pub name: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: i32,
    /// The interviewer's name and e-mail address.
    pub interviewer: Option<String>,
    pub interviewer_email: Option<String>,
    pub state: String,
    pub notes: String,
}

fn appointment_view(conn: &mut DbConn, a: Appointment) -> AppResult<AppointmentView> {
    let p: Panellist = panellists::table
        .find(&a.panellist_id)
        .select(Panellist::as_select())
        .first(conn)?;
    let name: Option<String> = candidates::table
        .filter(candidates::panellist_id.eq(&p.id))
        .select(candidates::name)
        .first(conn)
        .optional()?;
    let interviewer: Option<(String, String)> = match &a.interviewer_id {
        Some(id) => researchers::table
            .find(id)
            .select((researchers::name, researchers::email))
            .first(conn)
            .optional()?,
        None => None,
    };
    let (interviewer, interviewer_email) = interviewer.unzip();
    Ok(AppointmentView {
        id: a.id,
        pseudonym: p.pseudonym,
        name: name.unwrap_or_default(),
        starts_at: a.starts_at.map(utc),
        duration_minutes: a.duration_minutes,
        interviewer,
        interviewer_email,
        state: a.state.as_str().to_string(),
        notes: a.notes,
    })
}

pub fn appointments(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<Vec<AppointmentView>> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    let rows: Vec<Appointment> = appointments::table
        .filter(appointments::round_id.eq(&r.id))
        .order((
            appointments::starts_at.asc(),
            appointments::created_at.asc(),
        ))
        .select(Appointment::as_select())
        .load(conn)?;
    let out = rows
        .into_iter()
        .map(|a| appointment_view(conn, a))
        .collect::<AppResult<Vec<_>>>()?;
    audit::record(
        conn,
        &Actor::researcher(researcher_id),
        Some(&study.id),
        audit::Action::IdentitiesViewed,
        Some(&r.id),
        serde_json::json!({ "what": "appointments" }),
    )?;
    Ok(out)
}

fn interviewer_id(
    conn: &mut DbConn,
    study_id: &str,
    email: &Option<String>,
) -> AppResult<Option<String>> {
    let Some(email) = email.as_deref().map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let id: Option<String> = researchers::table
        .inner_join(study_members::table)
        .filter(researchers::email.eq(email.to_lowercase()))
        .filter(study_members::study_id.eq(study_id))
        .select(researchers::id)
        .first(conn)
        .optional()?;
    id.map(Some).ok_or_else(|| {
        Invalid::one(
            "interviewer",
            format!("{email} is not a researcher of this study"),
        )
        .into()
    })
}

/// The round an appointment belongs to.
pub fn appointment_round(conn: &mut DbConn, appointment_id: &str) -> AppResult<String> {
    appointments::table
        .find(appointment_id)
        .select(appointments::round_id)
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)
}

pub fn save_appointment(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
    appointment_id: Option<&str>,
    input: AppointmentInput,
) -> AppResult<AppointmentView> {
    let mut e = Invalid::new();
    let state = match input.state.as_deref() {
        None => AppointmentState::Proposed,
        Some(s) => AppointmentState::parse(s).unwrap_or_else(|| {
            e.add("state", "must be proposed, agreed, done or cancelled");
            AppointmentState::Proposed
        }),
    };
    let minutes = input.duration_minutes.unwrap_or(60);
    if !(5..=600).contains(&minutes) {
        e.add("duration_minutes", "must be between 5 and 600");
    }
    let notes = e
        .take(text::block("notes", &input.notes, 2000))
        .unwrap_or_default();
    if let Some(at) = input.starts_at.map(|s| s.naive_utc())
        && at > now() + Duration::days(365 * crate::domain::validation::MAX_YEARS_AHEAD)
    {
        e.add(
            "starts_at",
            format!(
                "must be within {} years",
                crate::domain::validation::MAX_YEARS_AHEAD
            ),
        );
    }
    e.into_result(())?;
    db::write(conn, |c| {
        let (r, study) = access::in_study::<Round>(c, researcher_id, round_id, Role::Researcher)?;
        let p = panellist_of(c, &study.id, &input.panellist)?;
        let interviewer = interviewer_id(c, &study.id, &input.interviewer)?;
        let t = now();
        let a = match appointment_id {
            Some(id) => {
                let mut a: Appointment = appointments::table
                    .filter(appointments::id.eq(id))
                    .filter(appointments::round_id.eq(&r.id))
                    .select(Appointment::as_select())
                    .first(c)
                    .optional()?
                    .ok_or(AppError::NotFound)?;
                a.panellist_id = p.id.clone();
                a.starts_at = input.starts_at.map(|s| s.naive_utc());
                a.duration_minutes = minutes;
                a.interviewer_id = interviewer;
                a.state = state;
                a.notes = notes.clone();
                a.updated_at = t;
                diesel::update(appointments::table.find(&a.id))
                    .set((
                        appointments::panellist_id.eq(&a.panellist_id),
                        appointments::starts_at.eq(a.starts_at),
                        appointments::duration_minutes.eq(a.duration_minutes),
                        appointments::interviewer_id.eq(&a.interviewer_id),
                        appointments::state.eq(&a.state),
                        appointments::notes.eq(&a.notes),
                        appointments::updated_at.eq(t),
                    ))
                    .execute(c)?;
                a
            }
            None => {
                let a = Appointment {
                    id: new_id(),
                    round_id: r.id.clone(),
                    panellist_id: p.id.clone(),
                    interviewer_id: interviewer,
                    starts_at: input.starts_at.map(|s| s.naive_utc()),
                    duration_minutes: minutes,
                    state,
                    notes: notes.clone(),
                    created_at: t,
                    updated_at: t,
                };
                diesel::insert_into(appointments::table)
                    .values(&a)
                    .execute(c)?;
                a
            }
        };
        appointment_view(c, a)
    })
}

/// E-mails the panellist the appointment with a calendar invitation (and the guide, if asked).
pub fn send_appointment(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &ResearcherId,
    appointment_id: &str,
    attach_guide: bool,
) -> AppResult<bool> {
    db::write(conn, |c| {
        let a: Appointment = appointments::table
            .find(appointment_id)
            .select(Appointment::as_select())
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        let (r, study) =
            access::in_study::<Round>(c, researcher_id, &a.round_id, Role::Researcher)?;
        let Some(start) = a.starts_at else {
            return Err(
                Invalid::one("starts_at", "set a time before sending the appointment").into(),
            );
        };
        let cand: Candidate = candidates::table
            .filter(candidates::panellist_id.eq(&a.panellist_id))
            .select(Candidate::as_select())
            .first(c)
            .optional()?
            .ok_or_else(|| AppError::Conflict("the panellist has no contact details".into()))?;
        let lang = Language::from_stored(&study.language);
        let interviewer: Option<(String, String)> = match &a.interviewer_id {
            Some(id) => researchers::table
                .find(id)
                .select((researchers::name, researchers::email))
                .first(c)
                .optional()?,
            None => None,
        };
        let when = crate::i18n::long_datetime(utc(start), lang.code(), study.zone());
        let summary = crate::i18n::text_with(
            lang.code(),
            "interviews.calendar_summary",
            &[("title", study.title.clone())],
        );
        // The interview's organiser: its interviewer, or else the researcher who sends it.
        let organizer: (String, String) = match &interviewer {
            Some(i) => i.clone(),
            None => researchers::table
                .find(researcher_id.as_str())
                .select((researchers::name, researchers::email))
                .first(c)?,
        };
        let uid = format!("{}@orakel", a.id);
        let invitation = crate::ics::Invitation {
            uid: &uid,
            // Each change to the appointment is a later version of the same event.
            sequence: (a.updated_at - a.created_at).num_seconds().max(0),
            start: utc(start),
            minutes: a.duration_minutes as i64,
            summary: &summary,
            description: &study.contact,
            organizer: (&organizer.0, &organizer.1),
            attendee: (&cand.name, cand.email.as_deref().unwrap_or_default()),
            stamp: utc(now()),
        };
        let mut files = vec![mail::Attachment::new(
            "interview.ics",
            "text/calendar; charset=utf-8; method=REQUEST",
            crate::ics::request(&invitation).as_bytes(),
        )];
        if attach_guide {
            let g = guide_of(c, &r.id)?;
            files.push(mail::Attachment::new(
                guide_filename(lang),
                "text/plain; charset=utf-8",
                guide_text(&study.title, &g, lang).as_bytes(),
            ));
        }
        let facts = RoundFacts {
            round_id: Some(r.id.clone()),
            number: r.number,
            deadline: r.closes_at,
            validation: false,
            rating: false,
        };
        let key = format!("appointment:{}:{}", a.id, start.and_utc().timestamp());
        let extra = [
            ("appointment", when),
            ("minutes", a.duration_minutes.to_string()),
            ("interviewer", interviewer.map(|i| i.0).unwrap_or_default()),
        ];
        let queued = enqueue_with(
            c,
            env,
            &study,
            &cand,
            Letter {
                attachments: &files,
                extra: &extra,
                ..Letter::new(mail::Kind::Appointment, &facts, Some(key))
            },
        )?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            audit::Action::AppointmentSent,
            Some(&a.id),
            serde_json::json!({}),
        )?;
        Ok(queued)
    })
}
