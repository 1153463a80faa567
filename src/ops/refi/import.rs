//! A REFI-QDA codebook or project coming in: each code, source, selection and user matched to
//! what the study has (by GUID, else by name or text, as another tool may give everything new
//! GUIDs at each export) or created, all in one transaction, with a summary of both.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use serde::Serialize;

use super::super::access::{self, ResearcherId, Role};
use super::super::codebook::{ACTIVE, insert_theme_as, revise};
use super::super::{Actor, AppError, AppResult, audit};
use super::{numbered, split_description};
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::codebook::{
    Change, category_code, category_title, letter, statement_text, theme_description, theme_title,
};
use crate::domain::{Invalid, Language};
use crate::qda;

/// What an import did: for each kind, what it found in the study already (matched) and what
/// it added (created). Importing the same file twice creates nothing the second time.
///
/// A code is matched to a category or theme by its GUID, or else by its name within its
/// category (tools such as QualCoder give every code a new GUID at each export); a text source to
/// a transcript by its GUID or else by its text; a selection to a passage by its characters; a
/// user to a coder by GUID or name.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub categories_created: usize,
    pub categories_matched: usize,
    pub themes_created: usize,
    /// Codes that were already themes of the study (imported before).
    pub themes_matched: usize,
    pub transcripts_created: usize,
    pub transcripts_matched: usize,
    pub excerpts_created: usize,
    pub excerpts_matched: usize,
    pub codings_created: usize,
    /// Codings the study already had (the same passage, theme and coder).
    pub codings_matched: usize,
    /// Codings to codes that are not themes here (categories), left out.
    pub codings_skipped: usize,
    /// Coders the study did not know, added as names of this study (never as accounts).
    pub coders_created: usize,
    pub coders_matched: usize,
}

/// The file's GUID as the id of a new row of `$table`, when it is a UUID no row has yet (so an
/// export imported into an empty Orakel exports again the same); else a new id.
macro_rules! id_from {
    ($c:expr, $guid:expr, $table:ident) => {
        match guid_id($guid) {
            Some(id)
                if $table::table
                    .find(&id)
                    .select($table::id)
                    .first::<String>($c)
                    .optional()?
                    .is_none() =>
            {
                id
            }
            _ => new_id(),
        }
    };
}

pub(super) fn guid_id(guid: &str) -> Option<String> {
    uuid::Uuid::parse_str(guid.trim_matches(|c| c == '{' || c == '}'))
        .ok()
        .map(|u| u.to_string())
}

struct Importer<'a> {
    researcher_id: &'a ResearcherId,
    study: Study,
    summary: ImportSummary,
}

impl Importer<'_> {
    fn actor(&self) -> Actor {
        Actor::Researcher {
            id: self.researcher_id.into(),
        }
    }

    /// Makes the codes the study's categories and themes; returns code guid → theme id.
    fn codes(&mut self, c: &mut DbConn, codes: &[qda::Code]) -> AppResult<HashMap<String, String>> {
        let mut guids = HashSet::new();
        check_guids(codes, &mut guids)?;
        let mut map = HashMap::new();
        let mut loose: Vec<&qda::Code> = Vec::new();
        for code in codes {
            if code.children.is_empty() {
                loose.push(code);
                continue;
            }
            let cat = self.category(c, Some(&code.guid), &code.name)?;
            let mut flat = Vec::new();
            flatten(&code.children, &mut flat);
            for t in flat.into_iter().filter(|t| t.codable) {
                let id = self.theme(c, &cat, t)?;
                map.insert(t.guid.clone(), id);
            }
        }
        if !loose.is_empty() {
            let title = match Language::from_stored(&self.study.language) {
                Language::Da => "Importerede temaer",
                Language::En => "Imported themes",
            };
            let cat = self.category(c, None, title)?;
            for t in loose.into_iter().filter(|t| t.codable) {
                let id = self.theme(c, &cat, t)?;
                map.insert(t.guid.clone(), id);
            }
        }
        Ok(map)
    }

    fn category(&mut self, c: &mut DbConn, guid: Option<&str>, name: &str) -> AppResult<Category> {
        let existing = crate::ops::codebook::categories_of(c, &self.study.id)?;
        if let Some(found) = guid
            .and_then(guid_id)
            .and_then(|id| existing.iter().find(|x| x.id == id))
        {
            self.summary.categories_matched += 1;
            return Ok(found.clone());
        }
        let (code, title) = numbered(name);
        let title = category_title("codes", &title)
            .map_err(|_| Invalid::one("codes", format!("the code {name:?} has no usable name")))?;
        if let Some(same) = existing.iter().find(|x| {
            x.title.eq_ignore_ascii_case(&title)
                && code
                    .as_ref()
                    .is_none_or(|k| k.eq_ignore_ascii_case(&x.code))
        }) {
            self.summary.categories_matched += 1;
            return Ok(same.clone());
        }
        let taken = |k: &str| existing.iter().any(|x| x.code.eq_ignore_ascii_case(k));
        let code = match code.and_then(|k| category_code("codes", &k).ok()) {
            Some(k) if !taken(&k) => k,
            _ => (0..)
                .map(|i| letter(i).to_uppercase())
                .find(|k| !taken(k))
                .expect("endless"),
        };
        let id = id_from!(c, guid.unwrap_or(""), categories);
        let cat = Category {
            id,
            study_id: self.study.id.clone(),
            code,
            title,
            position: existing.iter().map(|x| x.position + 1).max().unwrap_or(0),
            created_at: now(),
            retired_at: None,
        };
        diesel::insert_into(categories::table)
            .values(&cat)
            .execute(c)?;
        self.summary.categories_created += 1;
        Ok(cat)
    }

    fn theme(&mut self, c: &mut DbConn, cat: &Category, code: &qda::Code) -> AppResult<String> {
        if let Some(id) = guid_id(&code.guid) {
            let found: Option<String> = themes::table
                .filter(themes::id.eq(&id))
                .filter(themes::study_id.eq(&self.study.id))
                .select(themes::id)
                .first(c)
                .optional()?;
            if let Some(id) = found {
                self.summary.themes_matched += 1;
                return Ok(id);
            }
        }
        let (number, title) = numbered(&code.name);
        let field = format!("codes[{}]", code.name);
        let title = theme_title(&field, &title)?;
        // The same theme exported with a new GUID: its name within its category.
        let same_name: Option<String> = themes::table
            .filter(themes::study_id.eq(&self.study.id))
            .filter(themes::category_id.eq(&cat.id))
            .filter(themes::status.eq(ACTIVE))
            .select((themes::id, themes::title))
            .load::<(String, String)>(c)?
            .into_iter()
            .find(|(_, t)| same_words(t, &title))
            .map(|(id, _)| id);
        if let Some(id) = same_name {
            self.summary.themes_matched += 1;
            return Ok(id);
        }
        let (prose, statements) = split_description(code.description.as_deref().unwrap_or(""));
        let description = theme_description(&field, &prose)?;
        let statements = statements
            .iter()
            .map(|s| statement_text(&field, s))
            .collect::<Result<Vec<_>, _>>()?;
        let used: HashSet<i32> = themes::table
            .filter(themes::study_id.eq(&self.study.id))
            .filter(themes::status.eq(ACTIVE))
            .select(themes::number)
            .load::<i32>(c)?
            .into_iter()
            .collect();
        let number = match number.and_then(|n| n.parse::<i32>().ok()) {
            Some(n) if (1..=9999).contains(&n) && !used.contains(&n) => n,
            _ => used.iter().max().map_or(1, |m| m + 1),
        };
        let id = id_from!(c, &code.guid, themes);
        let t = insert_theme_as(
            c,
            id,
            &self.study.id,
            &cat.id,
            number,
            &title,
            &description,
            &statements,
        )?;
        if let Some(colour) = code.color.as_deref().filter(|x| is_rgb(x)) {
            diesel::update(themes::table.find(&t.id))
                .set(themes::colour.eq(colour.to_lowercase()))
                .execute(c)?;
        }
        revise(
            c,
            &t.id,
            Change::Created,
            "imported from REFI-QDA",
            &[],
            self.researcher_id,
        )?;
        self.summary.themes_created += 1;
        Ok(t.id)
    }

    /// Maps the file's users to the study's coders: a coder of this study with the same id, a
    /// team member or a known coder of the same name, or else a new coder of this study (a name,
    /// never an account), so two coders stay two and nobody outside the team is credited.
    fn users(
        &mut self,
        c: &mut DbConn,
        users: &[qda::User],
        referenced: &HashSet<String>,
    ) -> AppResult<HashMap<String, String>> {
        let mut all: Vec<qda::User> = users.to_vec();
        for g in referenced {
            if !all.iter().any(|u| &u.guid == g) {
                all.push(qda::User {
                    guid: g.clone(),
                    name: String::new(),
                });
            }
        }
        if all.len() > qda::MAX_USERS {
            return Err(Invalid::one(
                "file",
                format!(
                    "the project names {} coders; at most {} can be imported at once",
                    all.len(),
                    qda::MAX_USERS
                ),
            )
            .into());
        }
        let team: Vec<(String, String)> = study_members::table
            .inner_join(researchers::table)
            .filter(study_members::study_id.eq(&self.study.id))
            .select((researchers::id, researchers::name))
            .load(c)?;
        let mut known: Vec<Coder> = coders::table
            .filter(coders::study_id.eq(&self.study.id))
            .select(Coder::as_select())
            .load(c)?;
        let mut map = HashMap::new();
        for (i, u) in all.iter().enumerate() {
            let name = u.name.trim();
            let same_id = guid_id(&u.guid).and_then(|id| known.iter().find(|k| k.id == id));
            let matched = if let Some(k) = same_id {
                Some(k.id.clone())
            } else if let Some((rid, _)) = team
                .iter()
                .find(|(_, n)| !name.is_empty() && n.eq_ignore_ascii_case(name))
            {
                Some(crate::ops::coding::coder_for(c, &self.study.id, rid)?)
            } else {
                known
                    .iter()
                    .find(|k| !name.is_empty() && k.name.eq_ignore_ascii_case(name))
                    .map(|k| k.id.clone())
            };
            let chosen = if let Some(id) = matched {
                self.summary.coders_matched += 1;
                id
            } else {
                let id = id_from!(c, &u.guid, coders);
                let coder = Coder {
                    id,
                    study_id: self.study.id.clone(),
                    researcher_id: None,
                    name: if name.is_empty() {
                        format!("Coder {}", i + 1)
                    } else {
                        name.chars().take(200).collect()
                    },
                    created_at: now(),
                };
                diesel::insert_into(coders::table)
                    .values(&coder)
                    .execute(c)?;
                self.summary.coders_created += 1;
                let id = coder.id.clone();
                known.push(coder);
                id
            };
            map.insert(u.guid.clone(), chosen);
        }
        Ok(map)
    }
}

/// Two names that differ only in case and spacing.
fn same_words(a: &str, b: &str) -> bool {
    let words = |s: &str| {
        s.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    };
    words(a) == words(b)
}

/// The one panellist whose pseudonym labels lines of `text` as its speaker (`E07: …`), when
/// the source's name names nobody.
fn only_speaker<'a>(text: &str, roster: &'a [Panellist]) -> Option<&'a Panellist> {
    let speakers: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().split_once(':').map(|(who, _)| who.trim()))
        .collect();
    let mut named = roster.iter().filter(|p| {
        speakers
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&p.pseudonym))
    });
    match (named.next(), named.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

fn is_rgb(x: &str) -> bool {
    x.len() == 7 && x.starts_with('#') && x[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn flatten<'a>(codes: &'a [qda::Code], out: &mut Vec<&'a qda::Code>) {
    for c in codes {
        out.push(c);
        flatten(&c.children, out);
    }
}

fn check_guids(codes: &[qda::Code], seen: &mut HashSet<String>) -> AppResult<()> {
    for c in codes {
        if !seen.insert(c.guid.to_lowercase()) {
            return Err(
                Invalid::one("codes", format!("the code guid {} occurs twice", c.guid)).into(),
            );
        }
        check_guids(&c.children, seen)?;
    }
    Ok(())
}

fn importer<'a>(
    c: &mut DbConn,
    researcher_id: &'a ResearcherId,
    study_id: &str,
) -> AppResult<Importer<'a>> {
    let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
    Ok(Importer {
        researcher_id,
        study,
        summary: ImportSummary::default(),
    })
}

/// Imports a `.qdc` codebook: categories and themes (with statements) the study lacks.
pub fn import_codebook(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    bytes: &[u8],
) -> AppResult<ImportSummary> {
    let xml = std::str::from_utf8(bytes)
        .map_err(|_| Invalid::one("file", "the codebook is not UTF-8"))?;
    let codes = qda::parse_codebook(xml).map_err(|e| Invalid::one("file", e))?;
    db::write(conn, |c| {
        let mut im = importer(c, researcher_id, study_id)?;
        im.codes(c, &codes)?;
        audit::record(
            c,
            &im.actor(),
            Some(study_id),
            audit::Action::QdcImported,
            Some(study_id),
            serde_json::json!({ "themes": im.summary.themes_created }),
        )?;
        Ok(im.summary)
    })
}

/// Imports a `.qdpx` project: its codebook, its text sources as transcripts of the panellists
/// they name (by pseudonym, or through `panellists`: source name → pseudonym) and their
/// codings. With any problem nothing is saved.
/// A source's name without a leading pseudonym (`E03 Interview 3` → `Interview 3`): names
/// are shown under the panellist's pseudonym here, which may differ from the one exported.
pub(super) fn without_pseudonym(name: &str) -> &str {
    let name = name.trim();
    let Some((first, rest)) = name.split_once(char::is_whitespace) else {
        return name;
    };
    let mut chars = first.chars();
    let looks_like = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && first.len() > 1
        && first.len() <= 5
        && chars.all(|c| c.is_ascii_digit());
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || "-–·:".contains(c));
    if looks_like && !rest.is_empty() {
        rest
    } else {
        name
    }
}

pub fn import_project(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    bytes: &[u8],
    panellists: &BTreeMap<String, String>,
) -> AppResult<ImportSummary> {
    // Sizes, sources and users are bounded while the file is read.
    let p = qda::parse_qdpx(bytes).map_err(|e| Invalid::one("file", e))?;
    db::write(conn, |c| {
        let mut im = importer(c, researcher_id, study_id)?;
        let themes = im.codes(c, &p.codes)?;
        let referenced: HashSet<String> = p
            .sources
            .iter()
            .flat_map(|s| s.selections.iter())
            .flat_map(|sel| {
                sel.codings
                    .iter()
                    .filter_map(|x| x.user.clone())
                    .chain(sel.user.clone())
            })
            .collect();
        let users = im.users(c, &p.users, &referenced)?;
        let importer_coder = crate::ops::coding::coder_for(c, study_id, researcher_id)?;
        let roster: Vec<Panellist> = panellists::table
            .filter(panellists::study_id.eq(study_id))
            .select(Panellist::as_select())
            .load(c)?;
        // Every source must find its panellist before anything is written.
        let mut owners = Vec::new();
        let mut unmatched = Vec::new();
        for s in &p.sources {
            let existing: Option<Transcript> = match guid_id(&s.guid) {
                Some(id) => transcripts::table
                    .filter(transcripts::id.eq(id))
                    .filter(transcripts::study_id.eq(study_id))
                    .select(Transcript::as_select())
                    .first(c)
                    .optional()?,
                None => None,
            };
            if let Some(t) = existing {
                if t.body != s.text {
                    return Err(AppError::Conflict(format!(
                        "the source {:?} has the id of a transcript here but not its text",
                        s.name
                    )));
                }
                owners.push(Ok(t));
                continue;
            }
            // The same text exported again under a new GUID: the transcript it came from.
            let same_text: Vec<Transcript> = transcripts::table
                .filter(transcripts::study_id.eq(study_id))
                .filter(transcripts::body.eq(&s.text))
                .select(Transcript::as_select())
                .load(c)?;
            let title = without_pseudonym(&s.name);
            if let Some(t) = same_text
                .iter()
                .find(|t| same_words(&t.title, title))
                .or(same_text.first())
            {
                owners.push(Ok(t.clone()));
                continue;
            }
            let key = panellists.get(&s.name).cloned().unwrap_or_default();
            let found = if key.is_empty() {
                roster
                    .iter()
                    .find(|x| {
                        s.name
                            .split(|ch: char| !ch.is_alphanumeric())
                            .any(|w| w.eq_ignore_ascii_case(&x.pseudonym))
                    })
                    .or_else(|| only_speaker(&s.text, &roster))
            } else {
                roster
                    .iter()
                    .find(|x| x.pseudonym.eq_ignore_ascii_case(key.trim()))
            };
            match found {
                Some(x) => owners.push(Err(x.clone())),
                None => unmatched.push(s.name.clone()),
            }
        }
        if !unmatched.is_empty() {
            return Err(Invalid::one(
                "panellists",
                format!(
                    "these sources name no panellist of the study: {}; name each by a pseudonym such as {} or map the names to pseudonyms",
                    unmatched.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "),
                    roster.first().map_or("E01", |x| x.pseudonym.as_str())
                ),
            )
            .into());
        }
        for (s, owner) in p.sources.iter().zip(owners) {
            let t = match owner {
                Ok(t) => {
                    im.summary.transcripts_matched += 1;
                    t
                }
                Err(panellist) => {
                    let person: Option<String> = candidates::table
                        .filter(candidates::panellist_id.eq(&panellist.id))
                        .select(candidates::name)
                        .first(c)
                        .optional()?;
                    let title = if s.name.trim().is_empty()
                        || person
                            .as_deref()
                            .is_some_and(|n| crate::ops::coding::names_person(&s.name, n))
                    {
                        format!("Interview {}", panellist.pseudonym)
                    } else {
                        without_pseudonym(&s.name).chars().take(200).collect()
                    };
                    let id = id_from!(c, &s.guid, transcripts);
                    let t = Transcript {
                        id,
                        study_id: study_id.into(),
                        round_id: None,
                        panellist_id: panellist.id.clone(),
                        title,
                        body: s.text.clone(),
                        source_kind: "qdpx".into(),
                        original_filename: None,
                        uploaded_by: Some(researcher_id.into()),
                        created_at: now(),
                    };
                    diesel::insert_into(transcripts::table)
                        .values(&t)
                        .execute(c)?;
                    im.summary.transcripts_created += 1;
                    t
                }
            };
            let chars: Vec<char> = t.body.chars().collect();
            for sel in &s.selections {
                let coded: Vec<(&String, String)> = sel
                    .codings
                    .iter()
                    .filter_map(|x| {
                        themes.get(&x.code).map(|th| {
                            (
                                th,
                                x.user
                                    .clone()
                                    .or(sel.user.clone())
                                    .and_then(|u| users.get(&u).cloned())
                                    .unwrap_or(importer_coder.clone()),
                            )
                        })
                    })
                    .collect();
                im.summary.codings_skipped += sel.codings.len() - coded.len();
                if coded.is_empty() {
                    continue;
                }
                let same: Option<Excerpt> = excerpts::table
                    .filter(excerpts::transcript_id.eq(&t.id))
                    .filter(excerpts::start_offset.eq(sel.start as i32))
                    .filter(excerpts::end_offset.eq(sel.end as i32))
                    .select(Excerpt::as_select())
                    .first(c)
                    .optional()?;
                let e = match same {
                    Some(e) => {
                        im.summary.excerpts_matched += 1;
                        e
                    }
                    None => {
                        let id = id_from!(c, &sel.guid, excerpts);
                        let e = Excerpt {
                            id,
                            transcript_id: t.id.clone(),
                            start_offset: sel.start as i32,
                            end_offset: sel.end as i32,
                            quote: chars[sel.start..sel.end].iter().collect(),
                            // Marked in this study by whoever imported it.
                            created_by: Some(researcher_id.to_string()),
                            created_at: now(),
                        };
                        diesel::insert_into(excerpts::table).values(&e).execute(c)?;
                        im.summary.excerpts_created += 1;
                        e
                    }
                };
                for (x, (theme, coder)) in sel
                    .codings
                    .iter()
                    .filter(|x| themes.contains_key(&x.code))
                    .zip(&coded)
                {
                    let exists: i64 = codings::table
                        .filter(codings::excerpt_id.eq(&e.id))
                        .filter(codings::theme_id.eq(*theme))
                        .filter(codings::coder_id.eq(coder))
                        .count()
                        .get_result(c)?;
                    if exists > 0 {
                        im.summary.codings_matched += 1;
                        continue;
                    }
                    let id = id_from!(c, &x.guid, codings);
                    diesel::insert_into(codings::table)
                        .values(&Coding {
                            id,
                            excerpt_id: e.id.clone(),
                            theme_id: (*theme).clone(),
                            coder_id: coder.clone(),
                            created_at: now(),
                        })
                        .execute(c)?;
                    im.summary.codings_created += 1;
                }
            }
        }
        audit::record(
            c,
            &im.actor(),
            Some(study_id),
            audit::Action::QdpxImported,
            Some(study_id),
            serde_json::to_value(&im.summary).unwrap_or_default(),
        )?;
        Ok(im.summary)
    })
}
