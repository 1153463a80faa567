//! The study archive: one versioned JSON document with everything needed to rebuild a study and
//! its report on another Orakel — settings, recruitment, codebook and its history, rounds, round-1
//! material, answers with their changes. Researchers are named by e-mail, so an archive means the
//! same on any instance; links, sessions, mail and the audit log stay behind. Exporting the same
//! study twice gives the same bytes, and so does export → import → export.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::secret::{hash_password, new_token};
use super::studies::{Role, access};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::Invalid;

pub const FORMAT: &str = "orakel-study-archive";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedResearcher {
    pub email: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedMember {
    pub email: String,
    pub role: String,
}

/// The archive. Fields that name a researcher hold their e-mail instead of an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Archive {
    pub format: String,
    pub version: u32,
    /// False when names, e-mail addresses, organisations and notes were left out.
    pub identities: bool,
    pub researchers: Vec<ArchivedResearcher>,
    pub members: Vec<ArchivedMember>,
    pub study: Study,
    pub strata: Vec<StratumRow>,
    pub panellists: Vec<Panellist>,
    pub candidates: Vec<Candidate>,
    pub candidate_events: Vec<CandidateEvent>,
    pub consent_texts: Vec<ConsentText>,
    pub consents: Vec<Consent>,
    pub email_templates: Vec<EmailTemplate>,
    pub rounds: Vec<Round>,
    pub categories: Vec<Category>,
    pub themes: Vec<Theme>,
    pub theme_revisions: Vec<ThemeRevision>,
    pub statements: Vec<Statement>,
    pub round_themes: Vec<RoundTheme>,
    pub guide_sections: Vec<GuideSection>,
    pub guide_questions: Vec<GuideQuestion>,
    pub appointments: Vec<Appointment>,
    #[serde(default)]
    pub questionnaire_answers: Vec<QuestionnaireAnswer>,
    pub transcripts: Vec<Transcript>,
    pub excerpts: Vec<Excerpt>,
    pub codings: Vec<Coding>,
    pub statement_excerpts: Vec<StatementExcerpt>,
    pub answers: Vec<Answer>,
    pub answer_changes: Vec<AnswerChange>,
    pub round_participations: Vec<RoundParticipation>,
    pub small_cell_releases: Vec<SmallCellRelease>,
}

/// Renames every researcher reference in the archive with `f` (ids ↔ e-mails).
fn map_researchers(a: &mut Archive, f: &dyn Fn(&str) -> String) {
    let m = |v: &mut Option<String>| {
        if let Some(x) = v.as_mut() {
            *x = f(x);
        }
    };
    m(&mut a.study.created_by);
    for c in &mut a.candidates {
        m(&mut c.created_by);
    }
    for e in &mut a.candidate_events {
        if e.actor != "participant" && e.actor != "system" {
            e.actor = f(&e.actor);
        }
    }
    for t in &mut a.consent_texts {
        m(&mut t.created_by);
    }
    for t in &mut a.email_templates {
        m(&mut t.updated_by);
    }
    for r in &mut a.theme_revisions {
        m(&mut r.changed_by);
    }
    for x in &mut a.appointments {
        m(&mut x.interviewer_id);
    }
    for t in &mut a.transcripts {
        m(&mut t.uploaded_by);
    }
    for e in &mut a.excerpts {
        m(&mut e.created_by);
    }
    for c in &mut a.codings {
        c.coder_id = f(&c.coder_id);
    }
    for r in &mut a.small_cell_releases {
        m(&mut r.released_by);
    }
}

fn load<T, F>(f: F) -> AppResult<Vec<T>>
where
    F: FnOnce() -> QueryResult<Vec<T>>,
{
    Ok(f()?)
}

/// Writes the archive of a study: for its owners, or (`None`) for the administrator at the
/// command line. Logged, since it holds identities unless they are left out.
pub fn export(
    conn: &mut DbConn,
    researcher_id: Option<&str>,
    study_id: &str,
    identities: bool,
) -> AppResult<Archive> {
    let study = match researcher_id {
        Some(r) => access(conn, r, study_id, Role::Owner)?.0,
        None => studies::table
            .find(study_id)
            .select(Study::as_select())
            .first(conn)
            .optional()?
            .ok_or(AppError::NotFound)?,
    };
    let mut a = snapshot(conn, &study, identities)?;
    a.study.archived_at = None;
    let actor = researcher_id.map_or(Actor::System, |r| Actor::Researcher { id: r.into() });
    audit::record(
        conn,
        &actor,
        Some(study_id),
        "study.exported",
        Some(study_id),
        serde_json::json!({ "identities": identities }),
    )?;
    Ok(a)
}

fn snapshot(conn: &mut DbConn, study: &Study, identities: bool) -> AppResult<Archive> {
    let sid = study.id.as_str();
    let round_ids: Vec<String> = rounds::table
        .filter(rounds::study_id.eq(sid))
        .select(rounds::id)
        .load(conn)?;
    let cand_ids: Vec<String> = candidates::table
        .filter(candidates::study_id.eq(sid))
        .select(candidates::id)
        .load(conn)?;
    let theme_ids: Vec<String> = themes::table
        .filter(themes::study_id.eq(sid))
        .select(themes::id)
        .load(conn)?;
    let transcript_ids: Vec<String> = transcripts::table
        .filter(transcripts::study_id.eq(sid))
        .select(transcripts::id)
        .load(conn)?;
    let excerpt_ids: Vec<String> = excerpts::table
        .filter(excerpts::transcript_id.eq_any(&transcript_ids))
        .select(excerpts::id)
        .load(conn)?;
    let section_ids: Vec<String> = guide_sections::table
        .filter(guide_sections::round_id.eq_any(&round_ids))
        .select(guide_sections::id)
        .load(conn)?;
    let answer_ids: Vec<String> = answers::table
        .filter(answers::round_id.eq_any(&round_ids))
        .select(answers::id)
        .load(conn)?;
    let statement_ids: Vec<String> = statements::table
        .filter(statements::theme_id.eq_any(&theme_ids))
        .select(statements::id)
        .load(conn)?;

    let mut a = Archive {
        format: FORMAT.into(),
        version: VERSION,
        identities,
        researchers: Vec::new(),
        members: Vec::new(),
        study: study.clone(),
        strata: load(|| {
            strata::table
                .filter(strata::study_id.eq(sid))
                .order(strata::id)
                .select(StratumRow::as_select())
                .load(conn)
        })?,
        panellists: load(|| {
            panellists::table
                .filter(panellists::study_id.eq(sid))
                .order(panellists::id)
                .select(Panellist::as_select())
                .load(conn)
        })?,
        candidates: load(|| {
            candidates::table
                .filter(candidates::study_id.eq(sid))
                .order(candidates::id)
                .select(Candidate::as_select())
                .load(conn)
        })?,
        candidate_events: load(|| {
            candidate_events::table
                .filter(candidate_events::candidate_id.eq_any(&cand_ids))
                .order(candidate_events::id)
                .select(CandidateEvent::as_select())
                .load(conn)
        })?,
        consent_texts: load(|| {
            consent_texts::table
                .filter(consent_texts::study_id.eq(sid))
                .order(consent_texts::id)
                .select(ConsentText::as_select())
                .load(conn)
        })?,
        consents: load(|| {
            consents::table
                .filter(consents::candidate_id.eq_any(&cand_ids))
                .order(consents::id)
                .select(Consent::as_select())
                .load(conn)
        })?,
        email_templates: load(|| {
            email_templates::table
                .filter(email_templates::study_id.eq(sid))
                .order((email_templates::name, email_templates::language))
                .select(EmailTemplate::as_select())
                .load(conn)
        })?,
        rounds: load(|| {
            rounds::table
                .filter(rounds::study_id.eq(sid))
                .order(rounds::id)
                .select(Round::as_select())
                .load(conn)
        })?,
        categories: load(|| {
            categories::table
                .filter(categories::study_id.eq(sid))
                .order(categories::id)
                .select(Category::as_select())
                .load(conn)
        })?,
        themes: load(|| {
            themes::table
                .filter(themes::study_id.eq(sid))
                .order(themes::id)
                .select(Theme::as_select())
                .load(conn)
        })?,
        theme_revisions: load(|| {
            theme_revisions::table
                .filter(theme_revisions::theme_id.eq_any(&theme_ids))
                .order(theme_revisions::id)
                .select(ThemeRevision::as_select())
                .load(conn)
        })?,
        statements: load(|| {
            statements::table
                .filter(statements::theme_id.eq_any(&theme_ids))
                .order(statements::id)
                .select(Statement::as_select())
                .load(conn)
        })?,
        round_themes: load(|| {
            round_themes::table
                .filter(round_themes::round_id.eq_any(&round_ids))
                .order((round_themes::round_id, round_themes::theme_id))
                .select(RoundTheme::as_select())
                .load(conn)
        })?,
        guide_sections: load(|| {
            guide_sections::table
                .filter(guide_sections::round_id.eq_any(&round_ids))
                .order(guide_sections::id)
                .select(GuideSection::as_select())
                .load(conn)
        })?,
        guide_questions: load(|| {
            guide_questions::table
                .filter(guide_questions::section_id.eq_any(&section_ids))
                .order(guide_questions::id)
                .select(GuideQuestion::as_select())
                .load(conn)
        })?,
        appointments: load(|| {
            appointments::table
                .filter(appointments::round_id.eq_any(&round_ids))
                .order(appointments::id)
                .select(Appointment::as_select())
                .load(conn)
        })?,
        questionnaire_answers: load(|| {
            questionnaire_answers::table
                .filter(questionnaire_answers::round_id.eq_any(&round_ids))
                .order(questionnaire_answers::id)
                .select(QuestionnaireAnswer::as_select())
                .load(conn)
        })?,
        transcripts: load(|| {
            transcripts::table
                .filter(transcripts::study_id.eq(sid))
                .order(transcripts::id)
                .select(Transcript::as_select())
                .load(conn)
        })?,
        excerpts: load(|| {
            excerpts::table
                .filter(excerpts::transcript_id.eq_any(&transcript_ids))
                .order(excerpts::id)
                .select(Excerpt::as_select())
                .load(conn)
        })?,
        codings: load(|| {
            codings::table
                .filter(codings::excerpt_id.eq_any(&excerpt_ids))
                .order(codings::id)
                .select(Coding::as_select())
                .load(conn)
        })?,
        statement_excerpts: load(|| {
            statement_excerpts::table
                .filter(statement_excerpts::statement_id.eq_any(&statement_ids))
                .order((
                    statement_excerpts::statement_id,
                    statement_excerpts::excerpt_id,
                ))
                .select(StatementExcerpt::as_select())
                .load(conn)
        })?,
        answers: load(|| {
            answers::table
                .filter(answers::round_id.eq_any(&round_ids))
                .order(answers::id)
                .select(Answer::as_select())
                .load(conn)
        })?,
        answer_changes: load(|| {
            answer_changes::table
                .filter(answer_changes::answer_id.eq_any(&answer_ids))
                .order(answer_changes::id)
                .select(AnswerChange::as_select())
                .load(conn)
        })?,
        round_participations: load(|| {
            round_participations::table
                .filter(round_participations::round_id.eq_any(&round_ids))
                .order((
                    round_participations::round_id,
                    round_participations::panellist_id,
                ))
                .select(RoundParticipation::as_select())
                .load(conn)
        })?,
        small_cell_releases: load(|| {
            small_cell_releases::table
                .filter(small_cell_releases::study_id.eq(sid))
                .order(small_cell_releases::id)
                .select(SmallCellRelease::as_select())
                .load(conn)
        })?,
    };
    if !identities {
        for c in &mut a.candidates {
            c.name = String::new();
            c.email = None;
            c.organisation = String::new();
            c.notes = String::new();
            c.mail_failure = None;
        }
        for t in &mut a.transcripts {
            t.original_filename = None;
        }
    }
    // Researchers: members and everyone the study's records name, by e-mail.
    let members: Vec<(String, String)> = study_members::table
        .filter(study_members::study_id.eq(sid))
        .select((study_members::researcher_id, study_members::role))
        .load(conn)?;
    let all: Vec<Researcher> = researchers::table
        .select(Researcher::as_select())
        .load(conn)?;
    let email_of: HashMap<String, (String, String)> =
        all.into_iter().map(|r| (r.id, (r.email, r.name))).collect();
    let mut named: HashSet<String> = members.iter().map(|(id, _)| id.clone()).collect();
    collect_ids(&a, &mut named);
    let mut researchers_out: BTreeMap<String, ArchivedResearcher> = BTreeMap::new();
    for id in &named {
        if let Some((email, name)) = email_of.get(id) {
            researchers_out.insert(
                email.clone(),
                ArchivedResearcher {
                    email: email.clone(),
                    name: name.clone(),
                },
            );
        }
    }
    a.researchers = researchers_out.into_values().collect();
    let mut m: Vec<ArchivedMember> = members
        .iter()
        .filter_map(|(id, role)| {
            email_of.get(id).map(|(e, _)| ArchivedMember {
                email: e.clone(),
                role: role.clone(),
            })
        })
        .collect();
    m.sort_by(|x, y| x.email.cmp(&y.email));
    a.members = m;
    map_researchers(&mut a, &|id| {
        email_of
            .get(id)
            .map(|(e, _)| e.clone())
            .unwrap_or_else(|| id.to_string())
    });
    Ok(a)
}

fn collect_ids(a: &Archive, out: &mut HashSet<String>) {
    let mut add = |v: &Option<String>| {
        if let Some(x) = v {
            out.insert(x.clone());
        }
    };
    add(&a.study.created_by);
    a.candidates.iter().for_each(|c| add(&c.created_by));
    a.consent_texts.iter().for_each(|t| add(&t.created_by));
    a.email_templates.iter().for_each(|t| add(&t.updated_by));
    a.theme_revisions.iter().for_each(|r| add(&r.changed_by));
    a.appointments.iter().for_each(|x| add(&x.interviewer_id));
    a.transcripts.iter().for_each(|t| add(&t.uploaded_by));
    a.excerpts.iter().for_each(|e| add(&e.created_by));
    a.small_cell_releases
        .iter()
        .for_each(|r| add(&r.released_by));
    for c in &a.codings {
        out.insert(c.coder_id.clone());
    }
    for e in &a.candidate_events {
        if e.actor != "participant" && e.actor != "system" {
            out.insert(e.actor.clone());
        }
    }
}

/// Rebuilds a study from an archive with its members; the importing researcher (if any) becomes
/// an owner. Researchers the archive names who have no account here get one that cannot log in,
/// so that who coded what stays true. Returns the study's id.
/// Reads and checks an archive without touching the database: the format and version, and
/// that every researcher it names is listed.
pub fn read(bytes: &[u8]) -> AppResult<Archive> {
    let a: Archive = serde_json::from_slice(bytes)
        .map_err(|e| Invalid::one("archive", format!("not a study archive: {e}")))?;
    if a.format != FORMAT {
        return Err(Invalid::one("format", format!("must be {FORMAT:?}")).into());
    }
    if a.version != VERSION {
        return Err(Invalid::one(
            "version",
            format!(
                "this Orakel reads archive version {VERSION}, not {}",
                a.version
            ),
        )
        .into());
    }
    let mentioned: HashSet<String> = {
        let mut s = HashSet::new();
        collect_ids(&a, &mut s);
        s.extend(a.members.iter().map(|m| m.email.clone()));
        s
    };
    for email in &mentioned {
        if !a.researchers.iter().any(|r| &r.email == email) {
            return Err(
                Invalid::one("researchers", format!("{email} is named but not listed")).into(),
            );
        }
    }
    Ok(a)
}

pub fn import(conn: &mut DbConn, researcher_id: Option<&str>, bytes: &[u8]) -> AppResult<String> {
    let mut a = read(bytes)?;
    let sid = a.study.id.clone();
    // Placeholder passwords are hashed outside the transaction: hashing is slow on purpose.
    let mut placeholders = HashMap::new();
    for r in &a.researchers {
        if crate::ops::accounts::researcher_by_email(conn, &r.email)?.is_none() {
            placeholders.insert(r.email.clone(), hash_password(&new_token())?);
        }
    }
    let importer: Option<String> = researcher_id.map(str::to_string);
    db::write(conn, |c| {
        let exists: i64 = studies::table
            .filter(studies::id.eq(&sid))
            .count()
            .get_result(c)?;
        if exists > 0 {
            return Err(AppError::Conflict(format!(
                "the study {sid} exists here already"
            )));
        }
        let mut ids: HashMap<String, String> = HashMap::new();
        for r in &a.researchers {
            let id = match crate::ops::accounts::researcher_by_email(c, &r.email)? {
                Some(found) => found.id,
                None => {
                    let id = new_id();
                    diesel::insert_into(researchers::table)
                        .values(&Researcher {
                            id: id.clone(),
                            email: r.email.clone(),
                            name: r.name.clone(),
                            password_hash: placeholders.get(&r.email).cloned().unwrap_or_default(),
                            locale: "en".into(),
                            created_at: now(),
                            disabled_at: Some(now()),
                        })
                        .execute(c)?;
                    id
                }
            };
            ids.insert(r.email.clone(), id);
        }
        map_researchers(&mut a, &|email| {
            ids.get(email).cloned().unwrap_or_else(|| email.to_string())
        });
        let mut study = a.study.clone();
        study.archived_at = None;
        diesel::insert_into(studies::table)
            .values(&study)
            .execute(c)?;
        let mut members: Vec<(String, String)> = a
            .members
            .iter()
            .filter_map(|m| ids.get(&m.email).map(|id| (id.clone(), m.role.clone())))
            .collect();
        if let Some(me) = &importer
            && !members.iter().any(|(id, _)| id == me)
        {
            members.push((me.clone(), "owner".into()));
        }
        for (id, role) in members {
            diesel::insert_into(study_members::table)
                .values(&StudyMember {
                    study_id: sid.clone(),
                    researcher_id: id,
                    role,
                    added_at: now(),
                    added_by: importer.clone(),
                })
                .execute(c)?;
        }
        macro_rules! put {
            ($table:ident, $rows:expr) => {
                for row in $rows {
                    diesel::insert_into($table::table).values(row).execute(c)?;
                }
            };
        }
        put!(strata, &a.strata);
        put!(panellists, &a.panellists);
        // Referrals point at candidates that may come later in the list: link them afterwards.
        for cand in &a.candidates {
            let mut row = cand.clone();
            row.referred_by = None;
            diesel::insert_into(candidates::table)
                .values(&row)
                .execute(c)?;
        }
        for cand in a.candidates.iter().filter(|x| x.referred_by.is_some()) {
            diesel::update(candidates::table.find(&cand.id))
                .set(candidates::referred_by.eq(&cand.referred_by))
                .execute(c)?;
        }
        put!(candidate_events, &a.candidate_events);
        put!(consent_texts, &a.consent_texts);
        put!(consents, &a.consents);
        put!(email_templates, &a.email_templates);
        put!(rounds, &a.rounds);
        put!(categories, &a.categories);
        put!(themes, &a.themes);
        put!(theme_revisions, &a.theme_revisions);
        put!(statements, &a.statements);
        put!(round_themes, &a.round_themes);
        put!(guide_sections, &a.guide_sections);
        put!(guide_questions, &a.guide_questions);
        put!(appointments, &a.appointments);
        put!(questionnaire_answers, &a.questionnaire_answers);
        put!(transcripts, &a.transcripts);
        put!(excerpts, &a.excerpts);
        put!(codings, &a.codings);
        put!(statement_excerpts, &a.statement_excerpts);
        put!(answers, &a.answers);
        put!(answer_changes, &a.answer_changes);
        put!(round_participations, &a.round_participations);
        put!(small_cell_releases, &a.small_cell_releases);
        let actor = importer
            .clone()
            .map_or(Actor::System, |id| Actor::Researcher { id });
        audit::record(
            c,
            &actor,
            Some(&sid),
            "study.imported",
            Some(&sid),
            serde_json::json!({ "identities": a.identities }),
        )?;
        Ok(sid.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzzing_seed_is_a_valid_archive() {
        let seed = include_bytes!("../../tests/fuzz/seeds/archive/minimal.json");
        let a = read(seed).unwrap();
        assert_eq!(a.study.title, "Mentalt helbred");
        let mut wrong = String::from_utf8(seed.to_vec()).unwrap();
        wrong = wrong.replace("\"version\":1", "\"version\":7");
        assert!(read(wrong.as_bytes()).is_err());
        let stranger = String::from_utf8(seed.to_vec()).unwrap().replace(
            "\"created_by\":\"lead@example.org\"",
            "\"created_by\":\"who@example.org\"",
        );
        assert!(
            read(stranger.as_bytes()).is_err(),
            "a researcher named but not listed"
        );
    }
}
