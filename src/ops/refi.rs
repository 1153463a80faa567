//! A study's coding in and out through REFI-QDA: the codebook as `.qdc`, the coded project as
//! `.qdpx`, and the import of both.
//!
//! The mapping: a category is a code that cannot be coded (named `A. Title`) holding its themes
//! as codable codes (named `3. Title`, with the theme's colour); a theme's lettered statements
//! follow its description as lines `a) …`. Researchers who coded are users, transcripts are
//! text sources named by the panellist's pseudonym, passages are selections and each theme
//! given to a passage is a coding by its coder. Ids are UUIDs and serve as the GUIDs, so an
//! export imported into an empty Orakel exports again the same.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use serde::Serialize;

use super::access::{self, ResearcherId, Role};
use super::codebook::{ACTIVE, insert_theme_as, revise};
use super::coding::theme_colour;
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::codebook::{
    Change, category_code, category_title, letter, statement_text, theme_description, theme_title,
};
use crate::domain::{Invalid, Language};
use crate::qda;

const ORIGIN: &str = concat!("Orakel ", env!("CARGO_PKG_VERSION"));

fn category_name(c: &Category) -> String {
    format!("{}. {}", c.code, c.title)
}

fn theme_name(t: &Theme) -> String {
    format!("{}. {}", t.number, t.title)
}

/// A theme's description with its statements as `a) …` lines after a blank line.
fn theme_description_with(t: &Theme, statements: &[Statement]) -> Option<String> {
    let mut parts = Vec::new();
    if !t.description.trim().is_empty() {
        parts.push(t.description.trim().to_string());
    }
    if !statements.is_empty() {
        parts.push(
            statements
                .iter()
                .map(|s| {
                    format!(
                        "{}) {}",
                        s.letter,
                        s.text.split_whitespace().collect::<Vec<_>>().join(" ")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Splits a description into its prose and the trailing `a) …` statement lines.
fn split_description(d: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = d.lines().collect();
    let is_statement = |l: &str| {
        l.split_once(") ").is_some_and(|(k, _)| {
            !k.is_empty() && k.len() <= 3 && k.chars().all(|c| c.is_ascii_lowercase())
        })
    };
    let first = lines
        .iter()
        .rposition(|l| !is_statement(l))
        .map_or(0, |i| i + 1);
    let statements = lines[first..]
        .iter()
        .map(|l| l.split_once(") ").expect("checked").1.trim().to_string())
        .collect();
    (lines[..first].join("\n").trim().to_string(), statements)
}

/// `N. Title` → (N, Title); `Title` → (None, Title).
fn numbered(name: &str) -> (Option<String>, String) {
    match name.split_once(". ") {
        Some((k, rest)) if !k.is_empty() && k.len() <= 10 && !k.contains(' ') => {
            (Some(k.to_string()), rest.trim().to_string())
        }
        _ => (None, name.trim().to_string()),
    }
}

fn codes_of_study(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<qda::Code>> {
    let cats = super::codebook::categories_of(conn, study_id)?;
    let themes: Vec<Theme> = super::codebook::themes_of(conn, study_id)?
        .into_iter()
        .filter(|t| t.status == ACTIVE)
        .collect();
    let ids: Vec<String> = themes.iter().map(|t| t.id.clone()).collect();
    let statements = super::codebook::statements_of(conn, &ids)?;
    Ok(cats
        .iter()
        .map(|c| {
            let mut own: Vec<&Theme> = themes.iter().filter(|t| t.category_id == c.id).collect();
            own.sort_by_key(|t| t.number);
            qda::Code {
                guid: c.id.clone(),
                name: category_name(c),
                codable: false,
                color: None,
                description: None,
                children: own
                    .into_iter()
                    .map(|t| {
                        let mine: Vec<Statement> = statements
                            .iter()
                            .filter(|s| s.theme_id == t.id)
                            .cloned()
                            .collect();
                        qda::Code {
                            guid: t.id.clone(),
                            name: theme_name(t),
                            codable: true,
                            color: Some(theme_colour(t).to_uppercase()),
                            description: theme_description_with(t, &mine),
                            children: Vec::new(),
                        }
                    })
                    .collect(),
            }
        })
        .collect())
}

fn file_stem(study: &Study) -> String {
    let s: String = study
        .title
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if s.is_empty() {
        "study".into()
    } else {
        s.chars().take(60).collect()
    }
}

/// The codebook as a `.qdc` document, with a file name.
pub fn export_codebook(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<(String, String)> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let codes = codes_of_study(conn, study_id)?;
    Ok((
        format!("{}.qdc", file_stem(&study)),
        qda::codebook_xml(&codes, ORIGIN),
    ))
}

/// The study's coding as a REFI-QDA project.
pub fn project(conn: &mut DbConn, study_id: &str) -> AppResult<qda::Project> {
    let study: Study = studies::table
        .find(study_id)
        .select(Study::as_select())
        .first(conn)?;
    let codes = codes_of_study(conn, study_id)?;
    let active: HashSet<String> = codes
        .iter()
        .flat_map(|c| c.children.iter().map(|t| t.guid.clone()))
        .collect();
    let pseudonyms: HashMap<String, String> = panellists::table
        .filter(panellists::study_id.eq(study_id))
        .select((panellists::id, panellists::pseudonym))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut ts: Vec<Transcript> = transcripts::table
        .filter(transcripts::study_id.eq(study_id))
        .select(Transcript::as_select())
        .load(conn)?;
    ts.sort_by(|a, b| {
        let p = |t: &Transcript| pseudonyms.get(&t.panellist_id).cloned().unwrap_or_default();
        p(a).cmp(&p(b))
            .then(a.title.cmp(&b.title))
            .then(a.id.cmp(&b.id))
    });
    let ids: Vec<String> = ts.iter().map(|t| t.id.clone()).collect();
    let ex: Vec<Excerpt> = excerpts::table
        .filter(excerpts::transcript_id.eq_any(&ids))
        .order((excerpts::start_offset, excerpts::end_offset, excerpts::id))
        .select(Excerpt::as_select())
        .load(conn)?;
    let ex_ids: Vec<String> = ex.iter().map(|e| e.id.clone()).collect();
    let cs: Vec<Coding> = codings::table
        .filter(codings::excerpt_id.eq_any(&ex_ids))
        .order(codings::id)
        .select(Coding::as_select())
        .load(conn)?;
    let coder_ids: Vec<String> = cs
        .iter()
        .map(|c| c.coder_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut users: Vec<qda::User> = coders::table
        .filter(coders::id.eq_any(&coder_ids))
        .select((coders::id, coders::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .map(|(guid, name)| qda::User { guid, name })
        .collect();
    users.sort_by(|a, b| a.name.cmp(&b.name).then(a.guid.cmp(&b.guid)));
    let sources = ts
        .into_iter()
        .map(|t| {
            let pseudonym = pseudonyms.get(&t.panellist_id).cloned().unwrap_or_default();
            let name = if t.title.contains(&pseudonym) {
                t.title.clone()
            } else {
                format!("{pseudonym} {}", t.title)
            };
            let selections = ex
                .iter()
                .filter(|e| e.transcript_id == t.id)
                .filter_map(|e| {
                    let codings: Vec<qda::Coding> = cs
                        .iter()
                        .filter(|c| c.excerpt_id == e.id && active.contains(&c.theme_id))
                        .map(|c| qda::Coding {
                            guid: c.id.clone(),
                            code: c.theme_id.clone(),
                            user: Some(c.coder_id.clone()),
                        })
                        .collect();
                    // The selection's user must be one of the project's users: its first coder.
                    let user = codings.first().and_then(|c| c.user.clone());
                    (!codings.is_empty()).then(|| qda::Selection {
                        guid: e.id.clone(),
                        start: e.start_offset as usize,
                        end: e.end_offset as usize,
                        user,
                        codings,
                    })
                })
                .collect();
            qda::Source {
                guid: t.id,
                name,
                text: t.body,
                selections,
            }
        })
        .collect();
    Ok(qda::Project {
        name: study.title,
        users,
        codes,
        sources,
    })
}

/// The coded project as a `.qdpx` file, with a file name. Exporting transcripts is logged.
pub fn export_project(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<(String, Vec<u8>)> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let p = project(conn, study_id)?;
    audit::record(
        conn,
        &Actor::Researcher {
            id: researcher_id.into(),
        },
        Some(study_id),
        audit::Action::QdpxExported,
        Some(study_id),
        serde_json::json!({ "sources": p.sources.len() }),
    )?;
    let created = now().and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let bytes = qda::qdpx(&p, ORIGIN, &created).map_err(|e| AppError::Internal(e.into()))?;
    Ok((format!("{}.qdpx", file_stem(&study)), bytes))
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub categories_created: usize,
    pub themes_created: usize,
    /// Codes that were already themes of the study (imported before).
    pub themes_matched: usize,
    pub transcripts_created: usize,
    pub transcripts_matched: usize,
    pub excerpts_created: usize,
    pub codings_created: usize,
    /// Codings to codes that are not themes here (categories), left out.
    pub codings_skipped: usize,
    /// Coders the study did not know, added as names of this study (never as accounts).
    pub coders_created: usize,
}

fn id_free<T>(
    conn: &mut DbConn,
    exists: impl FnOnce(&mut DbConn) -> QueryResult<Option<T>>,
) -> AppResult<bool> {
    Ok(exists(conn)?.is_none())
}

fn guid_id(guid: &str) -> Option<String> {
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
        let existing = super::codebook::categories_of(c, &self.study.id)?;
        if let Some(found) = guid
            .and_then(guid_id)
            .and_then(|id| existing.iter().find(|x| x.id == id))
        {
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
        let id = match guid.and_then(guid_id) {
            Some(id)
                if id_free(c, |c| {
                    categories::table
                        .find(&id)
                        .select(categories::id)
                        .first::<String>(c)
                        .optional()
                })? =>
            {
                id
            }
            _ => new_id(),
        };
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
        let id = match guid_id(&code.guid) {
            Some(id)
                if id_free(c, |c| {
                    themes::table
                        .find(&id)
                        .select(themes::id)
                        .first::<String>(c)
                        .optional()
                })? =>
            {
                id
            }
            _ => new_id(),
        };
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
            let chosen = if let Some(k) = same_id {
                k.id.clone()
            } else if let Some((rid, _)) = team
                .iter()
                .find(|(_, n)| !name.is_empty() && n.eq_ignore_ascii_case(name))
            {
                super::coding::coder_for(c, &self.study.id, rid)?
            } else if let Some(k) = known
                .iter()
                .find(|k| !name.is_empty() && k.name.eq_ignore_ascii_case(name))
            {
                k.id.clone()
            } else {
                let id = match guid_id(&u.guid) {
                    Some(id)
                        if id_free(c, |c| {
                            coders::table
                                .find(&id)
                                .select(coders::id)
                                .first::<String>(c)
                                .optional()
                        })? =>
                    {
                        id
                    }
                    _ => new_id(),
                };
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
fn without_pseudonym(name: &str) -> &str {
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
        let importer_coder = super::coding::coder_for(c, study_id, researcher_id)?;
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
            let key = panellists.get(&s.name).cloned().unwrap_or_default();
            let found = roster.iter().find(|x| {
                if key.is_empty() {
                    s.name
                        .split(|ch: char| !ch.is_alphanumeric())
                        .any(|w| w.eq_ignore_ascii_case(&x.pseudonym))
                } else {
                    x.pseudonym.eq_ignore_ascii_case(key.trim())
                }
            });
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
                            .is_some_and(|n| super::coding::names_person(&s.name, n))
                    {
                        format!("Interview {}", panellist.pseudonym)
                    } else {
                        without_pseudonym(&s.name).chars().take(200).collect()
                    };
                    let id = match guid_id(&s.guid) {
                        Some(id)
                            if id_free(c, |c| {
                                transcripts::table
                                    .find(&id)
                                    .select(transcripts::id)
                                    .first::<String>(c)
                                    .optional()
                            })? =>
                        {
                            id
                        }
                        _ => new_id(),
                    };
                    let t = Transcript {
                        id,
                        study_id: study_id.into(),
                        round_id: None,
                        panellist_id: panellist.id.clone(),
                        title,
                        body: s.text.replace("\r\n", "\n"),
                        source_kind: "qdpx".into(),
                        original_filename: None,
                        uploaded_by: Some(researcher_id.into()),
                        created_at: now(),
                    };
                    if t.body != s.text {
                        // Offsets count characters of the text as it came.
                        return Err(Invalid::one(
                            "file",
                            format!(
                                "the source {:?} has Windows line ends; positions would shift",
                                s.name
                            ),
                        )
                        .into());
                    }
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
                    Some(e) => e,
                    None => {
                        let id = match guid_id(&sel.guid) {
                            Some(id)
                                if id_free(c, |c| {
                                    excerpts::table
                                        .find(&id)
                                        .select(excerpts::id)
                                        .first::<String>(c)
                                        .optional()
                                })? =>
                            {
                                id
                            }
                            _ => new_id(),
                        };
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
                        continue;
                    }
                    let id = match guid_id(&x.guid) {
                        Some(id)
                            if id_free(c, |c| {
                                codings::table
                                    .find(&id)
                                    .select(codings::id)
                                    .first::<String>(c)
                                    .optional()
                            })? =>
                        {
                            id
                        }
                        _ => new_id(),
                    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_titles_lose_the_old_pseudonym() {
        assert_eq!(without_pseudonym("E03 Interview 3"), "Interview 3");
        assert_eq!(
            without_pseudonym("E12 – Telefoninterview"),
            "Telefoninterview"
        );
        assert_eq!(without_pseudonym("E03"), "E03");
        assert_eq!(
            without_pseudonym("Eva Hansen interview"),
            "Eva Hansen interview"
        );
    }

    #[test]
    fn descriptions_carry_statements_both_ways() {
        let (prose, st) =
            split_description("Why it matters.\nSecond line.\n\na) First point\nb) Second point");
        assert_eq!(prose, "Why it matters.\nSecond line.");
        assert_eq!(st, vec!["First point", "Second point"]);
        let (prose, st) = split_description("Only prose (with a parenthesis) here");
        assert_eq!(prose, "Only prose (with a parenthesis) here");
        assert!(st.is_empty());
    }

    #[test]
    fn names_split_into_number_and_title() {
        assert_eq!(
            numbered("12. Ledelse og trivsel"),
            (Some("12".into()), "Ledelse og trivsel".into())
        );
        assert_eq!(
            numbered("A. Arbejdsmiljø"),
            (Some("A".into()), "Arbejdsmiljø".into())
        );
        assert_eq!(
            numbered("Work and health"),
            (None, "Work and health".into())
        );
        assert_eq!(
            guid_id("{0E5A8F2C-1B2D-4C3E-9F40-112233445566}").as_deref(),
            Some("0e5a8f2c-1b2d-4c3e-9f40-112233445566")
        );
    }
}
