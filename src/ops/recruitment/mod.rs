//! Recruitment as researchers run it: the panel attributes, candidates (by hand and by CSV),
//! invitations, statuses with their history, the overview with its referral tree, and
//! pseudonyms for those who accept. The study's own texts live in `letters`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::access::{self, ResearcherId, Role};
use super::letters::current_consent_text;
use super::outbox::{MailEnv, MessageView, RoundFacts, enqueue_to_candidate};
use super::paging::Paging;
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::{Candidate, CandidateEvent, OutboxMessage, Panellist, StratumRow, Study};
use crate::db::schema::{
    candidate_events, candidates, outbox, panellists, participation_tokens, strata,
};
use crate::db::utc;
use crate::db::{self, DbConn, DbError, new_id, now};
use crate::domain::candidate::{CandidateData, CandidateInput, Status, Stratum, validate_strata};
use crate::domain::csv_import::{self, Preview};
use crate::domain::{Invalid, text};
use crate::mail::Kind;

mod overview;

pub use overview::*;

// ---------------------------------------------------------------------------------------------
// Strata

pub fn strata_of(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<Stratum>> {
    let rows: Vec<StratumRow> = strata::table
        .filter(strata::study_id.eq(study_id))
        .order(strata::position.asc())
        .select(StratumRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let values: Vec<String> = serde_json::from_str(&r.allowed_values)
                .map_err(|e| DbError::Corrupt(format!("stratum {}: {e}", r.id)))?;
            Ok(Stratum {
                key: r.key,
                label: r.label,
                values,
            })
        })
        .collect()
}

pub fn get_strata(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<Stratum>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    strata_of(conn, study_id)
}

/// Replaces the study's panel attributes. A value still used by a candidate cannot go.
pub fn set_strata(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: Vec<Stratum>,
) -> AppResult<Vec<Stratum>> {
    let new = validate_strata(input)?;
    db::write(conn, |c| {
        access::study(c, researcher_id, study_id, Role::Researcher)?;
        let mut e = Invalid::new();
        let before = strata_of(c, study_id)?;
        let groups_by: Option<String> = crate::db::schema::studies::table
            .find(study_id)
            .select(crate::db::schema::studies::groups_by)
            .first(c)?;
        if let Some(by) = groups_by
            && !new.iter().any(|s| s.key == by)
        {
            let name = before
                .iter()
                .find(|s| s.key == by)
                .map_or(by.as_str(), |s| s.label.as_str());
            e.add(
                "strata",
                format!(
                    "{name} divides the panel into its groups; keep it or choose other groups in the study's settings first"
                ),
            );
        }
        for cand in all_candidates(c, study_id)? {
            let values = strata_values(&cand)?;
            for (key, value) in values {
                let kept = new
                    .iter()
                    .find(|s| s.key == key)
                    .is_some_and(|s| s.values.contains(&value));
                if !kept {
                    // Named as the researchers named the attribute, not by its key.
                    let name = before
                        .iter()
                        .find(|s| s.key == key)
                        .map_or(key.as_str(), |s| s.label.as_str());
                    let msg = format!(
                        "{name} = {value:?} is used by candidates; keep it or change those candidates first"
                    );
                    if !e.0.iter().any(|f| f.message == msg) {
                        e.add("strata", msg);
                    }
                }
            }
        }
        e.into_result(())?;
        diesel::delete(strata::table.filter(strata::study_id.eq(study_id))).execute(c)?;
        for (i, s) in new.iter().enumerate() {
            diesel::insert_into(strata::table)
                .values(&StratumRow {
                    id: new_id(),
                    study_id: study_id.into(),
                    key: s.key.clone(),
                    label: s.label.clone(),
                    allowed_values: serde_json::to_string(&s.values).expect("serialisable"),
                    position: i as i32,
                })
                .execute(c)?;
        }
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::StrataSet,
            Some(study_id),
            serde_json::json!({ "keys": new.iter().map(|s| &s.key).collect::<Vec<_>>() }),
        )?;
        Ok(new.clone())
    })
}

// ---------------------------------------------------------------------------------------------
// Candidates

fn all_candidates(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<Candidate>> {
    Ok(candidates::table
        .filter(candidates::study_id.eq(study_id))
        .order((candidates::created_at.asc(), candidates::id.asc()))
        .select(Candidate::as_select())
        .load(conn)?)
}

/// Each panellist's value of the attribute `key` (panellists without one are left out): who is
/// in which panel group.
pub fn panellist_values(
    conn: &mut DbConn,
    study_id: &str,
    key: &str,
) -> AppResult<std::collections::HashMap<String, String>> {
    let rows: Vec<(Option<String>, String)> = candidates::table
        .filter(candidates::study_id.eq(study_id))
        .filter(candidates::panellist_id.is_not_null())
        .select((candidates::panellist_id, candidates::strata))
        .load(conn)?;
    let mut out = std::collections::HashMap::new();
    for (panellist, strata) in rows {
        let mut values: BTreeMap<String, String> = serde_json::from_str(&strata)
            .map_err(|e| DbError::Corrupt(format!("candidate strata: {e}")))?;
        if let (Some(id), Some(v)) = (panellist, values.remove(key)) {
            out.insert(id, v);
        }
    }
    Ok(out)
}

pub fn strata_values(c: &Candidate) -> Result<BTreeMap<String, String>, DbError> {
    serde_json::from_str(&c.strata)
        .map_err(|e| DbError::Corrupt(format!("candidate {} strata: {e}", c.id)))
}

/// Whether a candidate still in play (not yet invited, invited or on the panel) lacks a value
/// for one of the study's attributes: the researchers' to-do list asks for those values, since
/// the composition counts the candidate as unknown until then.
pub fn lacks_strata(strata: &[Stratum], status: Status, values: &BTreeMap<String, String>) -> bool {
    matches!(
        status,
        Status::Identified | Status::Invited | Status::Accepted
    ) && strata.iter().any(|s| !values.contains_key(&s.key))
}

pub fn status_of(c: &Candidate) -> Status {
    c.status
}

/// A candidate as researchers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CandidateView {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub organisation: String,
    pub strata: BTreeMap<String, String>,
    pub source: String,
    pub referred_by: Option<String>,
    pub status: Status,
    /// Why they declined or withdrew, when known.
    pub status_reason: Option<String>,
    pub status_changed_at: DateTime<Utc>,
    /// Assigned when they accept.
    pub pseudonym: Option<String>,
    pub invited_at: Option<DateTime<Utc>>,
    pub reminders_sent: i32,
    /// The last permanent delivery failure, such as an address that does not exist.
    pub mail_failure: Option<String>,
    /// They asked for no further e-mail.
    pub mail_opt_out: bool,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub erased: bool,
}

fn view(c: Candidate, pseudonyms: &HashMap<String, String>) -> AppResult<CandidateView> {
    let strata = strata_values(&c)?;
    Ok(CandidateView {
        pseudonym: c
            .panellist_id
            .as_ref()
            .and_then(|p| pseudonyms.get(p).cloned()),
        status: status_of(&c),
        id: c.id,
        name: c.name,
        email: c.email,
        organisation: c.organisation,
        strata,
        source: c.source,
        referred_by: c.referred_by,
        status_reason: c.status_reason,
        status_changed_at: utc(c.status_changed_at),
        invited_at: c.invited_at.map(utc),
        reminders_sent: c.reminders_sent,
        mail_failure: c.mail_failure,
        mail_opt_out: c.mail_opt_out_at.is_some(),
        notes: c.notes,
        created_at: utc(c.created_at),
        erased: c.erased_at.is_some(),
    })
}

/// The pseudonym of each of the study's panellists, by panellist id.
pub(crate) fn pseudonyms(conn: &mut DbConn, study_id: &str) -> AppResult<HashMap<String, String>> {
    Ok(panellists::table
        .filter(panellists::study_id.eq(study_id))
        .select((panellists::id, panellists::pseudonym))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// Every candidate of the study, oldest first. Viewing identities is logged.
/// The names of a study's candidates whose identity is kept (for telling a name in a
/// transcript; never shown).
pub fn candidate_names(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<String>> {
    Ok(candidates::table
        .filter(candidates::study_id.eq(study_id))
        .filter(candidates::erased_at.is_null())
        .select(candidates::name)
        .load(conn)?)
}

pub fn list(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<CandidateView>> {
    let list = views(conn, researcher_id, study_id)?;
    record_viewed(conn, researcher_id, study_id, list.len())?;
    Ok(list)
}

/// Every candidate of the study as researchers see them, after checking the researcher's access.
fn views(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<CandidateView>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let rows = all_candidates(conn, study_id)?;
    let names = pseudonyms(conn, study_id)?;
    rows.into_iter().map(|c| view(c, &names)).collect()
}

/// Records that a researcher saw the names of `shown` candidates.
fn record_viewed(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    shown: usize,
) -> AppResult<()> {
    audit::record(
        conn,
        &Actor::researcher(researcher_id),
        Some(study_id),
        audit::Action::IdentitiesViewed,
        Some(study_id),
        serde_json::json!({ "candidates": shown }),
    )?;
    Ok(())
}

/// Which candidates a list shows: a search in name, e-mail and organisation, a status, values
/// of the panel attributes, a source, an order and a page.
#[derive(Debug, Clone, Default)]
pub struct CandidateQuery {
    pub q: String,
    pub status: Option<Status>,
    pub strata: BTreeMap<String, String>,
    pub source: Option<String>,
    pub sort: CandidateSort,
    pub paging: Paging,
}

/// The orders a candidate list can take.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CandidateSort {
    /// By name (the default).
    #[default]
    Name,
    /// Newest first.
    Added,
    /// By status, then name.
    Status,
    /// By organisation, then name.
    Organisation,
}

impl CandidateQuery {
    /// Reads the query from name–value pairs: `q`, `status`, `source`, `sort`, `limit`,
    /// `offset`, and one `<prefix>KEY=VALUE` per attribute (`stratum.` in the API, `s.` on the
    /// page). Empty values mean "any".
    pub fn parse(pairs: &[(String, String)], stratum_prefix: &str) -> Result<Self, Invalid> {
        let mut e = Invalid::new();
        let mut q = CandidateQuery::default();
        for (k, v) in super::paging::read(pairs, &mut q.paging, &mut e) {
            match k {
                // Lower case once here, since every candidate is compared with it.
                "q" => q.q = v.to_lowercase(),
                "status" => match Status::parse(v) {
                    Some(s) => q.status = Some(s),
                    None => e.add("status", "is not a status"),
                },
                "source" => q.source = Some(v.to_string()),
                "sort" => match super::paging::word(v) {
                    Some(s) => q.sort = s,
                    None => e.add("sort", "must be name, added, status or organisation"),
                },
                _ => {
                    if let Some(key) = k.strip_prefix(stratum_prefix) {
                        q.strata.insert(key.to_string(), v.to_string());
                    }
                }
            }
        }
        e.into_result(q)
    }

    /// Whether the list is narrowed at all (paging aside).
    pub fn narrowed(&self) -> bool {
        !self.q.is_empty()
            || self.status.is_some()
            || self.source.is_some()
            || !self.strata.is_empty()
    }

    fn matches(&self, c: &CandidateView) -> bool {
        let q = &self.q;
        (q.is_empty()
            || c.name.to_lowercase().contains(q)
            || c.email
                .as_deref()
                .is_some_and(|e| e.to_lowercase().contains(q))
            || c.organisation.to_lowercase().contains(q))
            && self.status.is_none_or(|s| c.status == s)
            && self.source.as_ref().is_none_or(|s| &c.source == s)
            && self.strata.iter().all(|(k, v)| c.strata.get(k) == Some(v))
    }

    /// The matching candidates in order, all of them (for "invite everyone matching").
    pub fn all_matching(&self, mut list: Vec<CandidateView>) -> Vec<CandidateView> {
        list.retain(|c| self.matches(c));
        match self.sort {
            CandidateSort::Name => list.sort_by_cached_key(|c| c.name.to_lowercase()),
            CandidateSort::Added => list.sort_by_key(|c| std::cmp::Reverse(c.created_at)),
            CandidateSort::Status => {
                list.sort_by_cached_key(|c| (c.status.as_str(), c.name.to_lowercase()))
            }
            CandidateSort::Organisation => {
                list.sort_by_cached_key(|c| (c.organisation.to_lowercase(), c.name.to_lowercase()))
            }
        }
        list
    }

    /// One page of the matching candidates, with how many match in all.
    pub fn page(&self, list: Vec<CandidateView>) -> CandidatePage {
        let all = self.all_matching(list);
        CandidatePage {
            total: all.len(),
            offset: self.paging.offset,
            limit: self.paging.limit,
            items: self.paging.take(all),
        }
    }
}

/// A page of candidates: those matching the query from `offset`, at most `limit`, and how many
/// match in all.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CandidatePage {
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub items: Vec<CandidateView>,
}

/// A page of the study's candidates for its researchers; the names read are logged.
pub fn search(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    query: &CandidateQuery,
) -> AppResult<CandidatePage> {
    let page = query.page(views(conn, researcher_id, study_id)?);
    record_viewed(conn, researcher_id, study_id, page.items.len())?;
    Ok(page)
}

fn insert_candidate(
    conn: &mut DbConn,
    study_id: &str,
    data: &CandidateData,
    created_by: Option<&str>,
    actor: &str,
) -> AppResult<Candidate> {
    let t = now();
    let cand = Candidate {
        id: new_id(),
        study_id: study_id.into(),
        name: data.name.clone(),
        email: Some(data.email.clone()),
        organisation: data.organisation.clone(),
        strata: serde_json::to_string(&data.strata).expect("serialisable"),
        source: data.source.clone(),
        referred_by: data.referred_by.clone(),
        status: Status::Identified,
        status_reason: None,
        status_changed_at: t,
        panellist_id: None,
        invited_at: None,
        reminders_sent: 0,
        mail_failure: None,
        mail_opt_out_at: None,
        notes: data.notes.clone(),
        created_by: created_by.map(str::to_string),
        created_at: t,
        updated_at: t,
        erased_at: None,
        decline_category: None,
    };
    diesel::insert_into(candidates::table)
        .values(&cand)
        .execute(conn)?;
    record_event(conn, &cand.id, None, Status::Identified, None, actor)?;
    Ok(cand)
}

fn record_event(
    conn: &mut DbConn,
    candidate_id: &str,
    from: Option<Status>,
    to: Status,
    reason: Option<&str>,
    actor: &str,
) -> AppResult<()> {
    diesel::insert_into(candidate_events::table)
        .values(&CandidateEvent {
            id: new_id(),
            candidate_id: candidate_id.into(),
            from_status: from,
            to_status: to,
            reason: reason.map(str::to_string),
            actor: actor.into(),
            at: now(),
        })
        .execute(conn)?;
    Ok(())
}

/// Moves a candidate to `to` if it is still in `from` (so a repeated request changes nothing).
/// Returns whether it moved.
pub fn transition(
    conn: &mut DbConn,
    candidate: &Candidate,
    to: Status,
    reason: Option<&str>,
    actor: &str,
) -> AppResult<bool> {
    let from = status_of(candidate);
    if !from.can_become(to) {
        return Err(AppError::Conflict(format!(
            "a candidate who is {} cannot become {}",
            from.as_str(),
            to.as_str()
        )));
    }
    let t = now();
    let moved = diesel::update(
        candidates::table
            .filter(candidates::id.eq(&candidate.id))
            .filter(candidates::status.eq(from)),
    )
    .set((
        candidates::status.eq(to),
        candidates::status_reason.eq(reason),
        candidates::status_changed_at.eq(t),
        candidates::updated_at.eq(t),
    ))
    .execute(conn)?;
    if moved == 1 {
        record_event(conn, &candidate.id, Some(from), to, reason, actor)?;
    }
    Ok(moved == 1)
}

fn check_referrer(conn: &mut DbConn, study_id: &str, referrer: &Option<String>) -> AppResult<()> {
    if let Some(r) = referrer {
        let n: i64 = candidates::table
            .filter(candidates::id.eq(r))
            .filter(candidates::study_id.eq(study_id))
            .count()
            .get_result(conn)?;
        if n == 0 {
            return Err(Invalid::one("referred_by", "is not a candidate of this study").into());
        }
    }
    Ok(())
}

/// Whether another candidate of the study has this address, whatever its case.
pub(crate) fn email_taken(
    conn: &mut DbConn,
    study_id: &str,
    email: &str,
    except: Option<&str>,
) -> AppResult<bool> {
    let mut q = candidates::table
        .filter(candidates::study_id.eq(study_id))
        .filter(crate::db::lower(candidates::email).eq(crate::db::lower(Some(email.to_string()))))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(candidates::id.ne(id.to_string()));
    }
    Ok(q.count().get_result::<i64>(conn)? > 0)
}

pub fn add(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: CandidateInput,
) -> AppResult<CandidateView> {
    db::write(conn, |c| {
        access::study(c, researcher_id, study_id, Role::Researcher)?;
        let strata = strata_of(c, study_id)?;
        let data = input.validate(&strata, "")?;
        check_referrer(c, study_id, &data.referred_by)?;
        room_for(c, study_id, 1, "study")?;
        if email_taken(c, study_id, &data.email, None)? {
            return Err(Invalid::one(
                "email",
                format!("{} is already a candidate in this study", data.email),
            )
            .into());
        }
        let cand = insert_candidate(c, study_id, &data, Some(researcher_id), researcher_id)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::CandidateAdded,
            Some(&cand.id),
            serde_json::json!({}),
        )?;
        view(cand, &HashMap::new())
    })
}

/// Reads a CSV file and says what each row would become; saves nothing.
pub fn import_preview(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    bytes: &[u8],
) -> AppResult<Preview> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let strata = strata_of(conn, study_id)?;
    let existing: HashSet<String> = candidates::table
        .filter(candidates::study_id.eq(study_id))
        .select(candidates::email)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .map(|e| e.to_lowercase())
        .collect();
    let preview = csv_import::parse(bytes, &strata, &existing)?;
    room_for(conn, study_id, preview.rows.len(), "file")?;
    Ok(preview)
}

/// The most candidates one study holds: its pages and reports are measured well beyond the
/// largest panels (BENCHMARKS.md), and a typing slip in a script should not add a million.
pub const MAX_CANDIDATES: usize = 20_000;

/// Refuses `adding` more candidates when the study would then hold more than
/// [`MAX_CANDIDATES`].
fn room_for(conn: &mut DbConn, study_id: &str, adding: usize, field: &str) -> AppResult<()> {
    let held = candidates::table
        .filter(candidates::study_id.eq(study_id))
        .count()
        .get_result::<i64>(conn)?;
    let held = usize::try_from(held).unwrap_or(usize::MAX);
    if held.saturating_add(adding) > MAX_CANDIDATES {
        return Err(Invalid::one(
            field,
            format!("a study holds at most {MAX_CANDIDATES} candidates, and this one has {held}"),
        )
        .into());
    }
    Ok(())
}

/// Saves every row of a CSV file, or (when any row has a problem) nothing. Returns the preview
/// and the number saved.
pub fn import(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    bytes: &[u8],
) -> AppResult<(Preview, usize)> {
    db::write(conn, |c| {
        let preview = import_preview(c, researcher_id, study_id, bytes)?;
        if preview.problem_rows > 0 {
            return Ok((preview, 0));
        }
        // Rows are saved in file order; a referral names a row above it or an existing candidate.
        let mut by_email: HashMap<String, String> = candidates::table
            .filter(candidates::study_id.eq(study_id))
            .select((candidates::email, candidates::id))
            .load::<(Option<String>, String)>(c)?
            .into_iter()
            .filter_map(|(e, id)| e.map(|e| (e.to_lowercase(), id)))
            .collect();
        let mut pending: Vec<(String, String)> = Vec::new();
        for row in &preview.rows {
            let mut data = row.data.clone().expect("rows without problems have data");
            data.referred_by = None;
            let cand = insert_candidate(c, study_id, &data, Some(researcher_id), researcher_id)?;
            by_email.insert(data.email.to_lowercase(), cand.id.clone());
            if !row.referred_by.is_empty() {
                pending.push((cand.id, row.referred_by.clone()));
            }
        }
        for (id, referrer) in pending {
            if let Some(r) = by_email.get(&referrer) {
                diesel::update(candidates::table.find(&id))
                    .set(candidates::referred_by.eq(r))
                    .execute(c)?;
            }
        }
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::CandidatesImported,
            Some(study_id),
            serde_json::json!({ "rows": preview.rows.len() }),
        )?;
        let n = preview.rows.len();
        Ok::<_, AppError>((preview, n))
    })
}

/// Fields a researcher may correct on a candidate.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidatePatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub organisation: Option<String>,
    pub strata: Option<BTreeMap<String, String>>,
    pub source: Option<String>,
    pub notes: Option<String>,
}

pub fn update(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    candidate_id: &str,
    patch: CandidatePatch,
) -> AppResult<CandidateView> {
    db::write(conn, |c| {
        let (cand, study) =
            access::in_study::<Candidate>(c, researcher_id, candidate_id, Role::Researcher)?;
        let strata = strata_of(c, &study.id)?;
        let updated = apply_patch(c, researcher_id, &study, &strata, cand, patch, "")?;
        let names = pseudonyms(c, &study.id)?;
        view(updated, &names)
    })
}

/// Attribute values for several candidates at once: candidate id → key → value. A key given
/// with an empty value clears it; keys not given stay as they are.
pub type StrataValues = BTreeMap<String, BTreeMap<String, String>>;

/// Sets attribute values for several candidates of one study in one transaction: all of them,
/// or (when one is wrong) none. Returns the candidates whose values changed.
pub fn set_strata_values(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    values: StrataValues,
) -> AppResult<Vec<CandidateView>> {
    db::write(conn, |c| {
        let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        let strata = strata_of(c, &study.id)?;
        let mut changed = Vec::new();
        let mut e = Invalid::new();
        for (candidate_id, given) in values {
            let field = format!("values.{candidate_id}");
            let cand: Option<Candidate> = candidates::table
                .find(&candidate_id)
                .filter(candidates::study_id.eq(&study.id))
                .select(Candidate::as_select())
                .first(c)
                .optional()?;
            let Some(cand) = cand else {
                e.add(field, "is not a candidate of this study");
                continue;
            };
            let before = strata_values(&cand)?;
            let mut merged = before.clone();
            merged.extend(given);
            merged.retain(|_, v| !v.trim().is_empty());
            if merged == before {
                continue;
            }
            let patch = CandidatePatch {
                strata: Some(merged),
                ..CandidatePatch::default()
            };
            match apply_patch(
                c,
                researcher_id,
                &study,
                &strata,
                cand,
                patch,
                &format!("{field}."),
            ) {
                Ok(updated) => changed.push(updated),
                Err(AppError::Invalid(inv)) => e.0.extend(inv.0),
                Err(other) => return Err(other),
            }
        }
        e.into_result(())?;
        let names = pseudonyms(c, &study.id)?;
        changed.into_iter().map(|u| view(u, &names)).collect()
    })
}

/// Corrects one candidate inside the caller's transaction; `prefix` names the fields in errors.
fn apply_patch(
    c: &mut DbConn,
    researcher_id: &ResearcherId,
    study: &Study,
    strata: &[Stratum],
    cand: Candidate,
    patch: CandidatePatch,
    prefix: &str,
) -> AppResult<Candidate> {
    if cand.erased_at.is_some() {
        return Err(AppError::Conflict(
            "this candidate's identity was erased".into(),
        ));
    }
    let current = CandidateInput {
        name: patch.name.unwrap_or(cand.name.clone()),
        email: patch
            .email
            .unwrap_or(cand.email.clone().unwrap_or_default()),
        organisation: patch.organisation.unwrap_or(cand.organisation.clone()),
        strata: patch.strata.unwrap_or(strata_values(&cand)?),
        source: patch.source.unwrap_or(cand.source.clone()),
        referred_by: cand.referred_by.clone(),
        notes: patch.notes.unwrap_or(cand.notes.clone()),
    };
    let data = current.validate(strata, prefix)?;
    if email_taken(c, &study.id, &data.email, Some(&cand.id))? {
        return Err(Invalid::one(
            format!("{prefix}email"),
            format!("{} is already a candidate in this study", data.email),
        )
        .into());
    }
    let email_changed = cand.email.as_deref() != Some(data.email.as_str());
    let mut updated = cand.clone();
    updated.name = data.name;
    updated.email = Some(data.email);
    updated.organisation = data.organisation;
    updated.strata = serde_json::to_string(&data.strata).expect("serialisable");
    updated.source = data.source;
    updated.notes = data.notes;
    updated.updated_at = now();
    if email_changed {
        // A corrected address deserves a fresh delivery attempt.
        updated.mail_failure = None;
    }
    diesel::update(candidates::table.find(&cand.id))
        .set(&updated)
        .execute(c)?;
    audit::record(
        c,
        &Actor::researcher(researcher_id),
        Some(&study.id),
        audit::Action::CandidateUpdated,
        Some(&cand.id),
        serde_json::json!({}),
    )?;
    Ok(updated)
}

/// Takes a candidate out of the study. Their answers stay, under the pseudonym.
pub fn withdraw(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    candidate_id: &str,
    reason: &str,
) -> AppResult<CandidateView> {
    let reason = text::block("reason", reason, 500)?;
    db::write(conn, |c| {
        let (cand, study) =
            access::in_study::<Candidate>(c, researcher_id, candidate_id, Role::Researcher)?;
        if status_of(&cand) == Status::Withdrawn {
            let names = pseudonyms(c, &study.id)?;
            return view(cand, &names);
        }
        let reason = (!reason.is_empty()).then_some(reason.as_str());
        transition(c, &cand, Status::Withdrawn, reason, researcher_id)?;
        mark_panellist_withdrawn(c, &cand)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            audit::Action::CandidateWithdrawn,
            Some(&cand.id),
            serde_json::json!({}),
        )?;
        let fresh = candidates::table
            .find(&cand.id)
            .select(Candidate::as_select())
            .first(c)?;
        let names = pseudonyms(c, &study.id)?;
        view(fresh, &names)
    })
}

/// After a withdrawal: the panellist is marked withdrawn and every link of theirs stops working.
pub fn mark_panellist_withdrawn(conn: &mut DbConn, cand: &Candidate) -> AppResult<()> {
    if let Some(p) = &cand.panellist_id {
        diesel::update(panellists::table.find(p))
            .set(panellists::withdrawn_at.eq(now()))
            .execute(conn)?;
    }
    super::links::apply_rule(conn, &cand.id)
}

/// A candidate with their history and messages.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CandidateDetail {
    #[serde(flatten)]
    pub candidate: CandidateView,
    pub history: Vec<EventView>,
    pub messages: Vec<MessageView>,
    /// The candidate who referred this one, by name.
    pub referred_by_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub from: Option<Status>,
    pub to: Status,
    pub reason: Option<String>,
    /// `participant`, `system`, or the id of the researcher.
    pub actor: String,
    pub at: DateTime<Utc>,
}

pub fn detail(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    candidate_id: &str,
) -> AppResult<CandidateDetail> {
    let (cand, study) =
        access::in_study::<Candidate>(conn, researcher_id, candidate_id, Role::Researcher)?;
    let history = candidate_events::table
        .filter(candidate_events::candidate_id.eq(&cand.id))
        .order(candidate_events::at.asc())
        .select(CandidateEvent::as_select())
        .load(conn)?
        .into_iter()
        .map(|e| EventView {
            from: e.from_status,
            to: e.to_status,
            reason: e.reason,
            actor: e.actor,
            at: utc(e.at),
        })
        .collect();
    let messages = outbox::table
        .filter(outbox::candidate_id.eq(&cand.id))
        .order(outbox::created_at.asc())
        .select(OutboxMessage::as_select())
        .load(conn)?
        .into_iter()
        .map(MessageView::from)
        .collect();
    let referred_by_name = match &cand.referred_by {
        Some(r) => candidates::table
            .find(r)
            .select(candidates::name)
            .first(conn)
            .optional()?,
        None => None,
    };
    audit::record(
        conn,
        &Actor::researcher(researcher_id),
        Some(&study.id),
        audit::Action::IdentityViewed,
        Some(&cand.id),
        serde_json::json!({}),
    )?;
    let names = pseudonyms(conn, &study.id)?;
    Ok(CandidateDetail {
        candidate: view(cand, &names)?,
        history,
        messages,
        referred_by_name,
    })
}

// ---------------------------------------------------------------------------------------------
// Invitations

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvitationResult {
    /// Invitations written to the outbox.
    pub queued: usize,
    /// Candidates not invited, each with the reason.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Skipped {
    pub candidate_id: String,
    pub reason: String,
}

/// Invites the given candidates (those not yet invited, or who said no or did not answer and
/// are invited again): status `invited` and the cover letter in the outbox, in one transaction.
pub fn invite(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &ResearcherId,
    study_id: &str,
    candidate_ids: &[String],
) -> AppResult<InvitationResult> {
    if candidate_ids.is_empty() {
        return Err(Invalid::one("candidate_ids", "name at least one candidate").into());
    }
    if candidate_ids.len() > 10_000 {
        return Err(Invalid::one("candidate_ids", "at most 10000 at a time").into());
    }
    db::write(conn, |c| {
        let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        current_consent_text(c, &study)?;
        let found: Vec<Candidate> = candidates::table
            .filter(candidates::study_id.eq(study_id))
            .filter(candidates::id.eq_any(candidate_ids))
            .select(Candidate::as_select())
            .load(c)?;
        let by_id: HashMap<&str, &Candidate> = found.iter().map(|c| (c.id.as_str(), c)).collect();
        let mut queued = 0;
        let mut skipped = Vec::new();
        let mut seen = HashSet::new();
        for id in candidate_ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let Some(cand) = by_id.get(id.as_str()) else {
                skipped.push(Skipped {
                    candidate_id: id.clone(),
                    reason: "not a candidate of this study".into(),
                });
                continue;
            };
            let status = status_of(cand);
            let why_not = if cand.email.is_none() || cand.erased_at.is_some() {
                Some("has no e-mail address".to_string())
            } else if cand.mail_opt_out_at.is_some() {
                Some("asked for no further e-mail".into())
            } else if !status.can_become(Status::Invited) {
                Some(format!("is {}", status.as_str()))
            } else {
                None
            };
            if let Some(reason) = why_not {
                skipped.push(Skipped {
                    candidate_id: id.clone(),
                    reason,
                });
                continue;
            }
            transition(c, cand, Status::Invited, None, researcher_id)?;
            diesel::update(candidates::table.find(&cand.id))
                .set((
                    candidates::invited_at.eq(now()),
                    candidates::reminders_sent.eq(0),
                ))
                .execute(c)?;
            enqueue_to_candidate(
                c,
                env,
                &study,
                cand,
                Kind::Invitation,
                &RoundFacts::default(),
                None,
            )?;
            queued += 1;
        }
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::CandidatesInvited,
            Some(study_id),
            serde_json::json!({ "queued": queued, "skipped": skipped.len() }),
        )?;
        Ok::<_, AppError>(InvitationResult { queued, skipped })
    })
}

/// Reminders and "no reply", run by the worker: an invited candidate gets reminder k once
/// `reminder_days[k]` days have passed since the invitation; `no_reply_after_days` after the
/// last reminder the status becomes `no_reply`. Returns (reminders queued, marked no reply).
pub fn run_recruitment_schedule(
    conn: &mut DbConn,
    env: &MailEnv,
    at: chrono::NaiveDateTime,
) -> AppResult<(usize, usize)> {
    let waiting: Vec<Candidate> = candidates::table
        .filter(candidates::status.eq(Status::Invited))
        .filter(candidates::invited_at.is_not_null())
        .select(Candidate::as_select())
        .load(conn)?;
    let mut reminded = 0;
    let mut silent = 0;
    let mut studies_cache: HashMap<String, (Study, Vec<i32>, i32)> = HashMap::new();
    for cand in waiting {
        if !studies_cache.contains_key(&cand.study_id) {
            let study: Study = crate::db::schema::studies::table
                .find(&cand.study_id)
                .select(Study::as_select())
                .first(conn)?;
            let settings = study.settings()?;
            studies_cache.insert(
                cand.study_id.clone(),
                (study, settings.reminder_days, settings.no_reply_after_days),
            );
        }
        let (study, days, no_reply_after) = &studies_cache[&cand.study_id];
        let invited_at = cand.invited_at.expect("filtered on");
        let sent = cand.reminders_sent.max(0) as usize;
        if let Some(day) = days.get(sent) {
            if at >= invited_at + chrono::Duration::days(*day as i64) {
                let n = sent + 1;
                db::write(conn, |c| {
                    // Claim the reminder by advancing the counter; another instance that read
                    // the same row finds nothing to update and sends nothing.
                    let claimed = diesel::update(
                        candidates::table
                            .filter(candidates::id.eq(&cand.id))
                            .filter(candidates::status.eq(Status::Invited))
                            .filter(candidates::reminders_sent.eq(sent as i32)),
                    )
                    .set(candidates::reminders_sent.eq(n as i32))
                    .execute(c)?;
                    if claimed == 1 {
                        let key = format!(
                            "reminder:{}:{}:{n}",
                            cand.id,
                            invited_at.and_utc().timestamp()
                        );
                        if enqueue_to_candidate(
                            c,
                            env,
                            study,
                            &cand,
                            Kind::Reminder,
                            &RoundFacts::default(),
                            Some(key),
                        )? {
                            reminded += 1;
                        }
                    }
                    Ok::<_, AppError>(())
                })?;
            }
        } else {
            let last_day = days.last().copied().unwrap_or(0) as i64;
            if at >= invited_at + chrono::Duration::days(last_day + *no_reply_after as i64) {
                let moved = db::write(conn, |c| {
                    transition(c, &cand, Status::NoReply, None, "system")
                })?;
                if moved {
                    silent += 1;
                }
            }
        }
    }
    Ok((reminded, silent))
}

// ---------------------------------------------------------------------------------------------
// Pseudonyms

/// Gives an accepted candidate a pseudonym: a random free number, so pseudonyms do not follow
/// the order of invitation or acceptance.
pub fn assign_pseudonym(conn: &mut DbConn, cand: &Candidate) -> AppResult<Panellist> {
    if let Some(p) = &cand.panellist_id {
        return Ok(panellists::table
            .find(p)
            .select(Panellist::as_select())
            .first(conn)?);
    }
    let used: HashSet<usize> = panellists::table
        .filter(panellists::study_id.eq(&cand.study_id))
        .select(panellists::pseudonym)
        .load::<String>(conn)?
        .iter()
        .filter_map(|p| p.trim_start_matches('E').parse().ok())
        .collect();
    let candidates_in_study: i64 = candidates::table
        .filter(candidates::study_id.eq(&cand.study_id))
        .count()
        .get_result(conn)?;
    let pool = (candidates_in_study as usize)
        .max(used.iter().max().copied().unwrap_or(0) + 1)
        .max(used.len() + 1);
    let free: Vec<usize> = (1..=pool).filter(|n| !used.contains(n)).collect();
    let mut r = [0u8; 8];
    getrandom::fill(&mut r)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("random source: {e}")))?;
    let n = free[(u64::from_le_bytes(r) % free.len() as u64) as usize];
    let p = Panellist {
        id: new_id(),
        study_id: cand.study_id.clone(),
        pseudonym: crate::domain::candidate::pseudonym(n),
        created_at: now(),
        withdrawn_at: None,
    };
    diesel::insert_into(panellists::table)
        .values(&p)
        .execute(conn)?;
    diesel::update(candidates::table.find(&cand.id))
        .set(candidates::panellist_id.eq(&p.id))
        .execute(conn)?;
    Ok(p)
}

/// Revokes every personal link of a candidate.
pub fn revoke_links(conn: &mut DbConn, candidate_id: &str) -> AppResult<()> {
    diesel::update(
        participation_tokens::table
            .filter(participation_tokens::candidate_id.eq(candidate_id))
            .filter(participation_tokens::revoked_at.is_null()),
    )
    .set(participation_tokens::revoked_at.eq(now()))
    .execute(conn)?;
    Ok(())
}
