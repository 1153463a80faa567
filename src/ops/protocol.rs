//! A study's protocol as researchers keep it: a draft that follows the study's settings, its
//! registration (the canonical document frozen with a timestamp and its SHA-256, to deposit with
//! a registry before the data arrive), and amendments afterwards, each with its reason, kept.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::access::{self, ResearcherId, Role};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::{ProtocolAmendment, ProtocolRow, Study};
use crate::db::schema::{protocol_amendments, protocols};
use crate::db::{self, DbConn, new_id, now, utc};
use crate::domain::Invalid;
use crate::domain::protocol::{ANALYSES, Protocol, StoppingRule};
use crate::domain::study::StudyInput;

/// An amendment as the API and the report show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AmendmentView {
    pub at: DateTime<Utc>,
    pub reason: String,
    /// The fields of the protocol it changed.
    pub changes: Vec<String>,
    /// The SHA-256 of the document as amended.
    pub sha256: String,
}

/// The protocol: its current document, and once registered when and under which hash, with
/// every amendment since.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProtocolView {
    #[serde(flatten)]
    pub protocol: Protocol,
    pub registered_at: Option<DateTime<Utc>>,
    /// The SHA-256 of the registered document (`GET …/protocol.json` before any amendment).
    pub sha256: Option<String>,
    pub amendments: Vec<AmendmentView>,
    /// The SHA-256 of the current document: the last amendment's, else the registered one's.
    pub current_sha256: Option<String>,
}

/// A protocol sent back: the same shape as it was read (what only the server sets is ignored),
/// with the reason of the amendment once the protocol is registered.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ProtocolInput {
    #[serde(flatten)]
    pub protocol: Protocol,
    #[serde(default)]
    pub amendment_reason: Option<String>,
}

/// What registering answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub registered_at: DateTime<Utc>,
    pub sha256: String,
}

/// Whether the study's protocol is registered.
pub fn registered(c: &mut DbConn, study_id: &str) -> AppResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        protocols::table
            .filter(protocols::study_id.eq(study_id))
            .filter(protocols::registered_at.is_not_null()),
    ))
    .get_result(c)?)
}

fn row(c: &mut DbConn, study_id: &str) -> AppResult<Option<ProtocolRow>> {
    Ok(protocols::table
        .find(study_id)
        .select(ProtocolRow::as_select())
        .first(c)
        .optional()?)
}

fn amendments(c: &mut DbConn, study_id: &str) -> AppResult<Vec<ProtocolAmendment>> {
    Ok(protocol_amendments::table
        .filter(protocol_amendments::study_id.eq(study_id))
        .order((protocol_amendments::at.asc(), protocol_amendments::id.asc()))
        .select(ProtocolAmendment::as_select())
        .load(c)?)
}

/// Writes the study's protocol row, new or replacing the one there is (both backends).
fn save(c: &mut DbConn, exists: bool, r: ProtocolRow) -> AppResult<()> {
    if exists {
        diesel::update(protocols::table.find(&r.study_id))
            .set((
                protocols::draft.eq(&r.draft),
                protocols::document.eq(&r.document),
                protocols::sha256.eq(&r.sha256),
                protocols::registered_at.eq(r.registered_at),
                protocols::registered_by.eq(&r.registered_by),
            ))
            .execute(c)?;
    } else {
        diesel::insert_into(protocols::table)
            .values(&r)
            .execute(c)?;
    }
    Ok(())
}

fn corrupt(e: serde_json::Error) -> AppError {
    AppError::from(crate::db::DbError::Corrupt(format!("protocol: {e}")))
}

/// A new study's draft beyond its settings: three rounds, stop when every theme is decided or
/// fewer than 15 % of scores change or after three rounds, feedback from the second round on.
fn default_draft(study: &Study) -> AppResult<Protocol> {
    let s = study.settings()?;
    Ok(Protocol {
        consensus: s.consensus,
        priority_threshold: s.priority_threshold,
        min_group_size: s.min_group_size,
        planned_rounds: 3,
        stopping: StoppingRule {
            all_verdicts: true,
            change_below_percent: Some(15.0),
            max_rounds: Some(3),
        },
        feedback: vec!["none".into(), "distribution".into(), "distribution".into()],
        // Every analysis the study's design allows.
        analyses: ANALYSES
            .iter()
            .filter(|a| match **a {
                "groups" => s.groups_by.is_some(),
                "rand_ucla" => crate::domain::robustness::rand_ucla_applies(&s.scale),
                _ => true,
            })
            .map(|a| a.to_string())
            .collect(),
        groups_by: s.groups_by,
    })
}

/// The draft: its own parts as saved, the settings' parts as the study has them now.
fn draft(c: &mut DbConn, study: &Study, saved: Option<&ProtocolRow>) -> AppResult<Protocol> {
    let s = study.settings()?;
    let own = match saved {
        Some(r) => serde_json::from_str(&r.draft).map_err(corrupt)?,
        None => default_draft(study)?,
    };
    let _ = c;
    Ok(Protocol {
        consensus: s.consensus,
        priority_threshold: s.priority_threshold,
        min_group_size: s.min_group_size,
        groups_by: s.groups_by,
        ..own
    })
}

/// The study's protocol as it stands: the draft, or the registered document as last amended.
pub fn view_of(c: &mut DbConn, study: &Study) -> AppResult<ProtocolView> {
    let saved = row(c, &study.id)?;
    let list = amendments(c, &study.id)?;
    let (protocol, registered_at, sha256) = match &saved {
        Some(r) if r.registered_at.is_some() => {
            let document = list
                .last()
                .map(|a| a.document.clone())
                .or_else(|| r.document.clone())
                .unwrap_or_default();
            (
                serde_json::from_str(&document).map_err(corrupt)?,
                r.registered_at.map(utc),
                r.sha256.clone(),
            )
        }
        _ => (draft(c, study, saved.as_ref())?, None, None),
    };
    let amendments: Vec<AmendmentView> = list
        .iter()
        .map(|a| {
            Ok(AmendmentView {
                at: utc(a.at),
                reason: a.reason.clone(),
                changes: serde_json::from_str(&a.changes).map_err(corrupt)?,
                sha256: a.sha256.clone(),
            })
        })
        .collect::<AppResult<_>>()?;
    let current_sha256 = amendments
        .last()
        .map(|a| a.sha256.clone())
        .or_else(|| sha256.clone());
    Ok(ProtocolView {
        protocol,
        registered_at,
        sha256,
        amendments,
        current_sha256,
    })
}

pub fn get(
    c: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<ProtocolView> {
    let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
    view_of(c, &study)
}

/// The settings a protocol fixes, as a change of the study's settings.
fn settings_of(p: &Protocol) -> StudyInput {
    StudyInput {
        consensus: Some(p.consensus.clone()),
        priority_threshold: Some(p.priority_threshold),
        min_group_size: Some(p.min_group_size),
        groups_by: Some(p.groups_by.clone()),
        ..Default::default()
    }
}

fn strata_keys(c: &mut DbConn, study_id: &str) -> AppResult<Vec<String>> {
    Ok(super::recruitment::strata_of(c, study_id)?
        .into_iter()
        .map(|s| s.key)
        .collect())
}

/// Saves the draft, or amends the registered protocol (which needs a reason). The settings it
/// fixes are the study's settings too; the consensus rule and the panel groups stay locked once
/// rating has begun.
pub fn put(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: ProtocolInput,
) -> AppResult<ProtocolView> {
    db::write(conn, |c| {
        let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        let p = input.protocol.clone();
        let settings = study.settings()?;
        p.validate(&settings.scale, &strata_keys(c, study_id)?)?;
        let saved = row(c, study_id)?;
        let registered = saved.as_ref().is_some_and(|r| r.registered_at.is_some());
        let actor = Actor::researcher(researcher_id);
        if !registered {
            super::studies::update_in(c, researcher_id, study_id, settings_of(&p), false)?;
            let json = String::from_utf8(p.canonical()).expect("JSON is UTF-8");
            save(
                c,
                saved.is_some(),
                ProtocolRow {
                    study_id: study_id.into(),
                    draft: json,
                    document: None,
                    sha256: None,
                    registered_at: None,
                    registered_by: None,
                },
            )?;
        } else {
            let reason = input
                .amendment_reason
                .as_deref()
                .map(str::trim)
                .unwrap_or_default();
            if reason.is_empty() {
                return Err(Invalid::one(
                    "amendment_reason",
                    "the protocol is registered: say why it changes",
                )
                .into());
            }
            let reason = crate::domain::text::block("amendment_reason", reason, 2000)?;
            let current = view_of(c, &study)?.protocol;
            let changes = p.changes_from(&current);
            if changes.is_empty() {
                return Err(Invalid::one(
                    "amendment_reason",
                    "the protocol sent is the one registered: nothing to amend",
                )
                .into());
            }
            super::studies::update_in(c, researcher_id, study_id, settings_of(&p), false)?;
            let amendment = ProtocolAmendment {
                id: new_id(),
                study_id: study_id.into(),
                at: now(),
                reason,
                changes: serde_json::to_string(&changes).expect("serialisable"),
                document: String::from_utf8(p.canonical()).expect("JSON is UTF-8"),
                sha256: p.sha256(),
                amended_by: Some(researcher_id.into()),
            };
            diesel::insert_into(protocol_amendments::table)
                .values(&amendment)
                .execute(c)?;
            audit::record(
                c,
                &actor,
                Some(study_id),
                audit::Action::ProtocolAmended,
                Some(study_id),
                serde_json::json!({ "changes": changes, "sha256": amendment.sha256 }),
            )?;
        }
        let study = access::study(c, researcher_id, study_id, Role::Researcher)?.0;
        view_of(c, &study)
    })
}

/// Registers the protocol as it stands: its canonical document frozen with the time and its
/// SHA-256. Once only; later changes are amendments.
pub fn register(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Registered> {
    db::write(conn, |c| {
        let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        let saved = row(c, study_id)?;
        if let Some(at) = saved.as_ref().and_then(|r| r.registered_at) {
            return Err(AppError::Conflict(format!(
                "the protocol was registered at {}; change it through an amendment",
                utc(at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        let p = draft(c, &study, saved.as_ref())?;
        p.validate(&study.settings()?.scale, &strata_keys(c, study_id)?)?;
        let document = String::from_utf8(p.canonical()).expect("JSON is UTF-8");
        let (at, sha256) = (now(), p.sha256());
        save(
            c,
            saved.is_some(),
            ProtocolRow {
                study_id: study_id.into(),
                draft: document.clone(),
                document: Some(document),
                sha256: Some(sha256.clone()),
                registered_at: Some(at),
                registered_by: Some(researcher_id.into()),
            },
        )?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::ProtocolRegistered,
            Some(study_id),
            serde_json::json!({ "sha256": sha256 }),
        )?;
        Ok(Registered {
            registered_at: utc(at),
            sha256,
        })
    })
}

/// The canonical bytes of the registered document as last amended: what hashes to the
/// protocol's `current_sha256`.
pub fn document(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<u8>> {
    let (_, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let saved = row(conn, study_id)?;
    let Some(r) = saved.filter(|r| r.registered_at.is_some()) else {
        return Err(AppError::Conflict(
            "the protocol is not registered yet".into(),
        ));
    };
    let last = amendments(conn, study_id)?.pop();
    Ok(last
        .map(|a| a.document)
        .or(r.document)
        .unwrap_or_default()
        .into_bytes())
}

/// The protocol on one page (PDF), in the study's language: the draft, or the registered
/// document as last amended with its fingerprint and amendments.
pub fn pdf(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    lang: Option<crate::domain::Language>,
) -> AppResult<Vec<u8>> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let view = view_of(conn, &study)?;
    let settings = study.settings()?;
    let groups_label = match &view.protocol.groups_by {
        Some(key) => super::recruitment::strata_of(conn, study_id)?
            .into_iter()
            .find(|s| &s.key == key)
            .map(|s| s.label)
            .or_else(|| Some(key.clone())),
        None => None,
    };
    crate::report::pdf::protocol(
        &view,
        &study.id,
        &study.title,
        groups_label,
        lang.unwrap_or(settings.language),
        settings.time_zone,
    )
}
