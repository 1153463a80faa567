//! The study archive: one versioned JSON document with everything needed to rebuild a study and
//! its report on another Orakel — settings, recruitment, codebook and its history, rounds, round-1
//! material, answers with their changes. Researchers are named by e-mail, so an archive means the
//! same on any instance; links, sessions, mail and the audit log stay behind. Exporting the same
//! study twice gives the same bytes, and so does export → import → export.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::access::{self, ResearcherId, Role};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::Invalid;

mod checks;

use checks::{check_references, check_values};

pub const FORMAT: &str = "orakel-study-archive";
/// Version 2 lists the study's coders (version 1 named each coding's coder by e-mail).
pub const VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedResearcher {
    pub email: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArchivedMember {
    pub email: String,
    pub role: super::studies::Role,
}

/// A coder of the study: a name, and the e-mail of the team member it was, if it was one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedCoder {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
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
    #[serde(default)]
    pub coders: Vec<ArchivedCoder>,
    pub codings: Vec<Coding>,
    pub statement_excerpts: Vec<StatementExcerpt>,
    pub answers: Vec<Answer>,
    pub answer_changes: Vec<AnswerChange>,
    pub round_participations: Vec<RoundParticipation>,
    pub small_cell_releases: Vec<SmallCellRelease>,
    /// Researchers' statements of minority views (archives before panel groups have none).
    #[serde(default)]
    pub minority_statements: Vec<MinorityStatement>,
    /// The protocol (draft or registered) and its amendments.
    #[serde(default)]
    pub protocols: Vec<ProtocolRow>,
    #[serde(default)]
    pub protocol_amendments: Vec<ProtocolAmendment>,
    /// Live rounds' published snapshots, and who last changed which score (for the next one).
    #[serde(default)]
    pub live_snapshots: Vec<LiveSnapshot>,
    #[serde(default)]
    pub live_changes: Vec<LiveChange>,
    /// The panel's discussion: posts, the handles drawn per thread, who asked for the digest.
    #[serde(default)]
    pub posts: Vec<Post>,
    #[serde(default)]
    pub post_handles: Vec<PostHandle>,
    #[serde(default)]
    pub discussion_digests: Vec<DiscussionDigest>,
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
        if names_researcher(&e.actor) {
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
    for r in &mut a.small_cell_releases {
        m(&mut r.released_by);
    }
    for r in &mut a.minority_statements {
        m(&mut r.written_by);
    }
    for r in &mut a.protocols {
        m(&mut r.registered_by);
    }
    for r in &mut a.protocol_amendments {
        m(&mut r.amended_by);
    }
    for r in &mut a.posts {
        m(&mut r.facilitator_id);
    }
    for k in &mut a.coders {
        m(&mut k.email);
    }
}

/// Whether a status change's actor is a researcher (the others are fixed words).
fn names_researcher(actor: &str) -> bool {
    !matches!(actor, "participant" | "system" | "imported")
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
    researcher_id: Option<&ResearcherId>,
    study_id: &str,
    identities: bool,
) -> AppResult<Archive> {
    let study = match researcher_id {
        Some(r) => access::study(conn, r, study_id, Role::Owner)?.0,
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
        audit::Action::StudyExported,
        Some(study_id),
        serde_json::json!({ "identities": identities }),
    )?;
    Ok(a)
}

fn snapshot(conn: &mut DbConn, study: &Study, identities: bool) -> AppResult<Archive> {
    let sid = study.id.as_str();
    // Rows below the study are read through subqueries, never through lists of ids: a study's
    // answers alone can outnumber the variables one SQLite statement may bind (32,766).
    let round_ids = || {
        rounds::table
            .filter(rounds::study_id.eq(sid))
            .select(rounds::id)
    };
    let cand_ids = || {
        candidates::table
            .filter(candidates::study_id.eq(sid))
            .select(candidates::id)
    };
    let theme_ids = || {
        themes::table
            .filter(themes::study_id.eq(sid))
            .select(themes::id)
    };
    let transcript_ids = || {
        transcripts::table
            .filter(transcripts::study_id.eq(sid))
            .select(transcripts::id)
    };
    let excerpt_ids = || {
        excerpts::table
            .filter(excerpts::transcript_id.eq_any(transcript_ids()))
            .select(excerpts::id)
    };
    let section_ids = || {
        guide_sections::table
            .filter(guide_sections::round_id.eq_any(round_ids()))
            .select(guide_sections::id)
    };
    let answer_ids = || {
        answers::table
            .filter(answers::round_id.eq_any(round_ids()))
            .select(answers::id)
    };
    let statement_ids = || {
        statements::table
            .filter(statements::theme_id.eq_any(theme_ids()))
            .select(statements::id)
    };

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
                .filter(candidate_events::candidate_id.eq_any(cand_ids()))
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
                .filter(consents::candidate_id.eq_any(cand_ids()))
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
                .filter(theme_revisions::theme_id.eq_any(theme_ids()))
                .order(theme_revisions::id)
                .select(ThemeRevision::as_select())
                .load(conn)
        })?,
        statements: load(|| {
            statements::table
                .filter(statements::theme_id.eq_any(theme_ids()))
                .order(statements::id)
                .select(Statement::as_select())
                .load(conn)
        })?,
        round_themes: load(|| {
            round_themes::table
                .filter(round_themes::round_id.eq_any(round_ids()))
                .order((round_themes::round_id, round_themes::theme_id))
                .select(RoundTheme::as_select())
                .load(conn)
        })?,
        guide_sections: load(|| {
            guide_sections::table
                .filter(guide_sections::round_id.eq_any(round_ids()))
                .order(guide_sections::id)
                .select(GuideSection::as_select())
                .load(conn)
        })?,
        guide_questions: load(|| {
            guide_questions::table
                .filter(guide_questions::section_id.eq_any(section_ids()))
                .order(guide_questions::id)
                .select(GuideQuestion::as_select())
                .load(conn)
        })?,
        appointments: load(|| {
            appointments::table
                .filter(appointments::round_id.eq_any(round_ids()))
                .order(appointments::id)
                .select(Appointment::as_select())
                .load(conn)
        })?,
        questionnaire_answers: load(|| {
            questionnaire_answers::table
                .filter(questionnaire_answers::round_id.eq_any(round_ids()))
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
                .filter(excerpts::transcript_id.eq_any(transcript_ids()))
                .order(excerpts::id)
                .select(Excerpt::as_select())
                .load(conn)
        })?,
        coders: Vec::new(),
        codings: load(|| {
            codings::table
                .filter(codings::excerpt_id.eq_any(excerpt_ids()))
                .order(codings::id)
                .select(Coding::as_select())
                .load(conn)
        })?,
        statement_excerpts: load(|| {
            statement_excerpts::table
                .filter(statement_excerpts::statement_id.eq_any(statement_ids()))
                .order((
                    statement_excerpts::statement_id,
                    statement_excerpts::excerpt_id,
                ))
                .select(StatementExcerpt::as_select())
                .load(conn)
        })?,
        answers: load(|| {
            answers::table
                .filter(answers::round_id.eq_any(round_ids()))
                .order(answers::id)
                .select(Answer::as_select())
                .load(conn)
        })?,
        answer_changes: load(|| {
            answer_changes::table
                .filter(answer_changes::answer_id.eq_any(answer_ids()))
                .order(answer_changes::id)
                .select(AnswerChange::as_select())
                .load(conn)
        })?,
        round_participations: load(|| {
            round_participations::table
                .filter(round_participations::round_id.eq_any(round_ids()))
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
        protocols: load(|| {
            protocols::table
                .filter(protocols::study_id.eq(sid))
                .select(ProtocolRow::as_select())
                .load(conn)
        })?,
        protocol_amendments: load(|| {
            protocol_amendments::table
                .filter(protocol_amendments::study_id.eq(sid))
                .order((protocol_amendments::at, protocol_amendments::id))
                .select(ProtocolAmendment::as_select())
                .load(conn)
        })?,
        live_snapshots: load(|| {
            live_snapshots::table
                .inner_join(rounds::table)
                .filter(rounds::study_id.eq(sid))
                .order((live_snapshots::published_at, live_snapshots::id))
                .select(LiveSnapshot::as_select())
                .load(conn)
        })?,
        live_changes: load(|| {
            live_changes::table
                .inner_join(rounds::table)
                .filter(rounds::study_id.eq(sid))
                .order((
                    live_changes::round_id,
                    live_changes::theme_id,
                    live_changes::panellist_id,
                ))
                .select(LiveChange::as_select())
                .load(conn)
        })?,
        // Oldest first: a reply comes after the post it answers.
        posts: load(|| {
            posts::table
                .inner_join(rounds::table)
                .filter(rounds::study_id.eq(sid))
                .order((posts::created_at, posts::id))
                .select(Post::as_select())
                .load(conn)
        })?,
        post_handles: load(|| {
            post_handles::table
                .inner_join(rounds::table)
                .filter(rounds::study_id.eq(sid))
                .order((
                    post_handles::round_id,
                    post_handles::theme_id,
                    post_handles::handle,
                ))
                .select(PostHandle::as_select())
                .load(conn)
        })?,
        discussion_digests: load(|| {
            discussion_digests::table
                .inner_join(panellists::table)
                .filter(panellists::study_id.eq(sid))
                .order(discussion_digests::panellist_id)
                .select(DiscussionDigest::as_select())
                .load(conn)
        })?,
        minority_statements: load(|| {
            minority_statements::table
                .inner_join(rounds::table)
                .filter(rounds::study_id.eq(sid))
                .order((minority_statements::round_id, minority_statements::theme_id))
                .select(MinorityStatement::as_select())
                .load(conn)
        })?,
    };
    // Coders, with the researcher id of a team member (as e-mail once mapped below).
    a.coders = coders::table
        .filter(coders::study_id.eq(sid))
        .order(coders::id)
        .select(Coder::as_select())
        .load(conn)?
        .into_iter()
        .map(|k| ArchivedCoder {
            id: k.id,
            name: k.name,
            email: k.researcher_id,
        })
        .collect();
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
    let members: Vec<(String, super::studies::Role)> = study_members::table
        .filter(study_members::study_id.eq(sid))
        .select((study_members::researcher_id, study_members::role))
        .load(conn)?;
    let mut named: HashSet<String> = members.iter().map(|(id, _)| id.clone()).collect();
    collect_ids(&a, &mut named);
    let email_of: HashMap<String, (String, String)> = researchers::table
        .filter(researchers::id.eq_any(named.iter().cloned().collect::<Vec<_>>()))
        .select((researchers::id, researchers::email, researchers::name))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, email, name)| (id, (email, name)))
        .collect();
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
                role: *role,
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
    a.minority_statements
        .iter()
        .for_each(|r| add(&r.written_by));
    a.protocols.iter().for_each(|r| add(&r.registered_by));
    a.protocol_amendments
        .iter()
        .for_each(|r| add(&r.amended_by));
    a.posts.iter().for_each(|r| add(&r.facilitator_id));
    for k in &a.coders {
        if let Some(e) = &k.email {
            out.insert(e.clone());
        }
    }
    for e in &a.candidate_events {
        if names_researcher(&e.actor) {
            out.insert(e.actor.clone());
        }
    }
}

/// Reads and checks an archive without touching the database: the format and version, that
/// every researcher it names is listed, and that every reference between its rows stays inside
/// the archive's own study (so no row can reach into another study here).
pub fn read(bytes: &[u8]) -> AppResult<Archive> {
    let mut a: Archive = serde_json::from_slice(bytes).map_err(|e| {
        Invalid::one(
            "archive",
            format!(
                "not a study archive (line {}, column {}): {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    if a.format != FORMAT {
        return Err(Invalid::one(
            "format",
            format!("must be {FORMAT:?}, the format of a study archive"),
        )
        .into());
    }
    match a.version {
        VERSION => {}
        1 => upgrade_from_1(&mut a),
        other => {
            return Err(Invalid::one(
                "version",
                format!("this Orakel reads archive versions 1 and {VERSION}, not {other}"),
            )
            .into());
        }
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
    check_references(&a)?;
    check_values(&a)?;
    Ok(a)
}

/// Version 1 named each coding's coder by a researcher's e-mail; version 2 lists the coders.
fn upgrade_from_1(a: &mut Archive) {
    let mut coders: BTreeMap<String, ArchivedCoder> = BTreeMap::new();
    for c in &mut a.codings {
        let email = c.coder_id.clone();
        let coder = coders
            .entry(email.clone())
            .or_insert_with(|| ArchivedCoder {
                id: new_id(),
                name: a
                    .researchers
                    .iter()
                    .find(|r| r.email == email)
                    .map_or_else(|| email.clone(), |r| r.name.clone()),
                email: Some(email.clone()),
            });
        c.coder_id = coder.id.clone();
    }
    a.coders = coders.into_values().collect();
    a.version = VERSION;
}

/// What an import did, and who the archive named as members but was not given access.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    pub id: String,
    /// Members of the study in the archive that were not added here: an owner of the imported
    /// study may add them (`PUT /api/v1/studies/{study}/members`).
    pub members_not_added: Vec<ArchivedMember>,
}

/// Who becomes a member of an imported study: the importing researcher (as owner), and, when an
/// administrator asks for it at the command line, the archive's members who have accounts here.
#[derive(Debug, Clone)]
pub struct Importer {
    pub owner: Option<String>,
    pub keep_members: bool,
}

/// Rebuilds a study from an archive. Nothing is written unless every row is accepted. The
/// archive's members are listed for the owner to add, never given access on their own; records
/// that name a researcher who is not a member of the imported study keep no link to any account.
pub fn import(conn: &mut DbConn, who: &Importer, bytes: &[u8]) -> AppResult<ImportResult> {
    let mut a = read(bytes)?;
    if who.owner.is_none() && !who.keep_members {
        return Err(Invalid::one("owner", "say who owns the imported study").into());
    }
    let sid = a.study.id.clone();
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
        // The members of the imported study, by e-mail.
        let mut members: Vec<(String, super::studies::Role)> = Vec::new();
        let mut not_added = Vec::new();
        if let Some(owner) = &who.owner {
            members.push((owner.clone(), super::studies::Role::Owner));
        }
        let owner_email: Option<String> = match &who.owner {
            Some(id) => Some(
                researchers::table
                    .find(id)
                    .select(researchers::email)
                    .first(c)?,
            ),
            None => None,
        };
        let mut ids: HashMap<String, String> = HashMap::new();
        if let (Some(id), Some(email)) = (&who.owner, &owner_email) {
            ids.insert(email.clone(), id.clone());
        }
        for m in &a.members {
            if owner_email.as_deref() == Some(m.email.as_str()) {
                continue;
            }
            let found = if who.keep_members {
                crate::ops::accounts::researcher_by_email(c, &m.email)?
            } else {
                None
            };
            match found {
                Some(r) => {
                    ids.insert(m.email.clone(), r.id.clone());
                    members.push((r.id, m.role));
                }
                None => not_added.push(m.clone()),
            }
        }
        map_researchers(&mut a, &|email| {
            ids.get(email)
                .cloned()
                .unwrap_or_else(|| UNLINKED.to_string())
        });
        unlink(&mut a);
        let mut study = a.study.clone();
        study.archived_at = None;
        put_rows(c, "study", std::slice::from_ref(&study), |c, row| {
            diesel::insert_into(studies::table).values(row).execute(c)
        })?;
        for (id, role) in members {
            diesel::insert_into(study_members::table)
                .values(&StudyMember {
                    study_id: sid.clone(),
                    researcher_id: id,
                    role,
                    added_at: now(),
                    added_by: who.owner.clone(),
                })
                .execute(c)?;
        }
        macro_rules! put {
            ($table:ident, $rows:expr) => {
                put_rows(c, stringify!($table), $rows, |c, row| {
                    diesel::insert_into($table::table).values(row).execute(c)
                })?
            };
        }
        put!(strata, &a.strata);
        put!(panellists, &a.panellists);
        // Referrals point at candidates that may come later in the list: link them afterwards.
        let unreferred: Vec<Candidate> = a
            .candidates
            .iter()
            .map(|x| Candidate {
                referred_by: None,
                ..x.clone()
            })
            .collect();
        put!(candidates, &unreferred);
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
        let coders: Vec<Coder> = a
            .coders
            .iter()
            .map(|k| Coder {
                id: k.id.clone(),
                study_id: sid.clone(),
                researcher_id: k.email.clone(),
                name: k.name.chars().take(200).collect(),
                created_at: now(),
            })
            .collect();
        put!(coders, &coders);
        put!(codings, &a.codings);
        put!(statement_excerpts, &a.statement_excerpts);
        put!(answers, &a.answers);
        put!(answer_changes, &a.answer_changes);
        put!(round_participations, &a.round_participations);
        put!(small_cell_releases, &a.small_cell_releases);
        put!(minority_statements, &a.minority_statements);
        put!(protocols, &a.protocols);
        put!(protocol_amendments, &a.protocol_amendments);
        put!(live_snapshots, &a.live_snapshots);
        put!(live_changes, &a.live_changes);
        put!(posts, &a.posts);
        put!(post_handles, &a.post_handles);
        put!(discussion_digests, &a.discussion_digests);
        let actor = who
            .owner
            .clone()
            .map_or(Actor::System, |id| Actor::Researcher { id });
        audit::record(
            c,
            &actor,
            Some(&sid),
            audit::Action::StudyImported,
            Some(&sid),
            serde_json::json!({
                "identities": a.identities,
                "members_not_added": not_added.iter().map(|m| &m.email).collect::<Vec<_>>(),
            }),
        )?;
        Ok(ImportResult {
            id: sid.clone(),
            members_not_added: not_added,
        })
    })
}

/// Stands for a researcher the imported study has no member for, until `unlink` clears it.
const UNLINKED: &str = "\u{0}unlinked";

/// Researcher references that found no member become empty (or, for a status change, "imported").
fn unlink(a: &mut Archive) {
    let m = |v: &mut Option<String>| {
        if v.as_deref() == Some(UNLINKED) {
            *v = None;
        }
    };
    m(&mut a.study.created_by);
    a.candidates.iter_mut().for_each(|x| m(&mut x.created_by));
    for e in &mut a.candidate_events {
        if e.actor == UNLINKED {
            e.actor = "imported".into();
        }
    }
    a.consent_texts
        .iter_mut()
        .for_each(|x| m(&mut x.created_by));
    a.email_templates
        .iter_mut()
        .for_each(|x| m(&mut x.updated_by));
    a.theme_revisions
        .iter_mut()
        .for_each(|x| m(&mut x.changed_by));
    a.appointments
        .iter_mut()
        .for_each(|x| m(&mut x.interviewer_id));
    a.transcripts.iter_mut().for_each(|x| m(&mut x.uploaded_by));
    a.excerpts.iter_mut().for_each(|x| m(&mut x.created_by));
    a.small_cell_releases
        .iter_mut()
        .for_each(|x| m(&mut x.released_by));
    a.minority_statements
        .iter_mut()
        .for_each(|x| m(&mut x.written_by));
    a.protocols.iter_mut().for_each(|x| m(&mut x.registered_by));
    a.protocol_amendments
        .iter_mut()
        .for_each(|x| m(&mut x.amended_by));
    a.posts.iter_mut().for_each(|x| m(&mut x.facilitator_id));
    a.coders.iter_mut().for_each(|x| m(&mut x.email));
}

/// Inserts rows one by one; an id that exists here already is a conflict naming the table.
fn put_rows<T>(
    c: &mut DbConn,
    table: &str,
    rows: &[T],
    insert: impl Fn(&mut DbConn, &T) -> QueryResult<usize>,
) -> AppResult<()> {
    for (i, row) in rows.iter().enumerate() {
        if let Err(e) = insert(c, row) {
            let e = crate::db::DbError::from(e);
            if e.is_unique_violation() {
                return Err(AppError::Conflict(format!(
                    "{table}[{i}] has an id that exists here already; an archive can be imported once"
                )));
            }
            return Err(e.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzzing_seed_is_a_valid_archive() {
        let seed = include_bytes!("../../../tests/fuzz/seeds/archive/minimal.json");
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
