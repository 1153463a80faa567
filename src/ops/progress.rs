//! A round's progress and its comments for researchers, a page at a time with filters and the
//! counts first: what a panel of thousands needs instead of one list of everyone and every
//! comment. Names are identities, so each view is logged.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use serde::Serialize;

use super::access::{self, ResearcherId, Role};
use super::paging::Paging;
use super::rounds::{CommentView, PanellistProgress};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::Round;
use crate::db::schema::{
    answers, candidates, minority_statements, panellists, round_participations,
};
use crate::db::{DbConn, utc};
use crate::domain::Invalid;
use crate::domain::codebook::PublishedTheme;

/// How far a panellist has come in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProgressStatus {
    /// Nothing answered yet (the page may have been opened).
    NotStarted,
    /// Something answered, not yet marked as done.
    Draft,
    /// Marked as done.
    Submitted,
}

impl ProgressStatus {
    pub fn of(submitted: bool, answered: usize) -> Self {
        if submitted {
            ProgressStatus::Submitted
        } else if answered > 0 {
            ProgressStatus::Draft
        } else {
            ProgressStatus::NotStarted
        }
    }
}

/// Which panellists a progress list shows.
#[derive(Debug, Clone, Default)]
pub struct ProgressQuery {
    /// Lower-case words to find in the pseudonym or name.
    pub q: String,
    pub status: Option<ProgressStatus>,
    pub strata: BTreeMap<String, String>,
    pub paging: Paging,
}

impl ProgressQuery {
    /// Reads `q`, `status`, `limit`, `offset` and one `<prefix>KEY=VALUE` per panel attribute.
    pub fn parse(pairs: &[(String, String)], stratum_prefix: &str) -> Result<Self, Invalid> {
        let mut e = Invalid::new();
        let mut q = ProgressQuery::default();
        for (k, v) in super::paging::read(pairs, &mut q.paging, &mut e) {
            match k {
                "q" => q.q = v.to_lowercase(),
                "status" => match super::paging::word(v) {
                    Some(s) => q.status = Some(s),
                    None => e.add("status", "must be not_started, draft or submitted"),
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

    fn matches(&self, p: &PanellistProgress, strata: &BTreeMap<String, String>) -> bool {
        (self.q.is_empty()
            || p.pseudonym.to_lowercase().contains(&self.q)
            || p.name.to_lowercase().contains(&self.q))
            && self.status.is_none_or(|s| p.status == s)
            && self.strata.iter().all(|(k, v)| strata.get(k) == Some(v))
    }
}

/// How many panellists are where, over the whole round (not only the page).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ProgressCounts {
    pub panellists: usize,
    pub not_started: usize,
    pub draft: usize,
    pub submitted: usize,
    /// Who opened the round's page at least once.
    pub opened: usize,
}

/// A page of a round's panellists: the counts of the whole round, how many match the query
/// (`total`) and at most `limit` of them from `offset`, by pseudonym.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProgressPage {
    pub counts: ProgressCounts,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub items: Vec<PanellistProgress>,
}

/// Every panellist of the round with their progress and panel attributes, by pseudonym.
pub(super) fn rows(
    conn: &mut DbConn,
    r: &Round,
    study_id: &str,
) -> AppResult<Vec<(PanellistProgress, BTreeMap<String, String>)>> {
    super::records::settle(conn);
    let parts: Vec<(
        String,
        Option<chrono::NaiveDateTime>,
        Option<chrono::NaiveDateTime>,
    )> = round_participations::table
        .filter(round_participations::round_id.eq(&r.id))
        .select((
            round_participations::panellist_id,
            round_participations::first_opened_at,
            round_participations::submitted_at,
        ))
        .load(conn)?;
    let mut people: HashMap<String, (String, String, String)> = panellists::table
        .inner_join(candidates::table.on(candidates::panellist_id.eq(panellists::id.nullable())))
        .filter(panellists::study_id.eq(study_id))
        .select((
            panellists::id,
            panellists::pseudonym,
            candidates::name,
            candidates::strata,
        ))
        .load::<(String, String, String, String)>(conn)?
        .into_iter()
        .map(|(id, p, n, s)| (id, (p, n, s)))
        .collect();
    let answered = super::answers::answered_counts(conn, &r.id, r.rating)?;
    let mut rows: Vec<(PanellistProgress, BTreeMap<String, String>)> = parts
        .into_iter()
        .map(|(panellist, opened, submitted)| {
            let (pseudonym, name, strata) = people.remove(&panellist).unwrap_or_default();
            let answered = answered.get(&panellist).copied().unwrap_or(0);
            let row = PanellistProgress {
                pseudonym,
                name,
                opened_at: opened.map(utc),
                submitted_at: submitted.map(utc),
                answered,
                status: ProgressStatus::of(submitted.is_some(), answered),
            };
            (row, serde_json::from_str(&strata).unwrap_or_default())
        })
        .collect();
    rows.sort_by(|a, b| a.0.pseudonym.cmp(&b.0.pseudonym));
    Ok(rows)
}

/// A page of the round's panellists with their progress. Names read are logged.
pub fn progress(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
    query: &ProgressQuery,
) -> AppResult<ProgressPage> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    let mut counts = ProgressCounts::default();
    let mut matching = Vec::new();
    for (row, strata) in rows(conn, &r, &study.id)? {
        counts.panellists += 1;
        counts.opened += usize::from(row.opened_at.is_some());
        match row.status {
            ProgressStatus::NotStarted => counts.not_started += 1,
            ProgressStatus::Draft => counts.draft += 1,
            ProgressStatus::Submitted => counts.submitted += 1,
        }
        if query.matches(&row, &strata) {
            matching.push(row);
        }
    }
    let total = matching.len();
    let items = query.paging.take(matching);
    audit::record(
        conn,
        &Actor::researcher(researcher_id),
        Some(&study.id),
        audit::Action::IdentitiesViewed,
        Some(&r.id),
        serde_json::json!({ "what": "round progress", "panellists": items.len() }),
    )?;
    Ok(ProgressPage {
        counts,
        total,
        offset: query.paging.offset,
        limit: query.paging.limit,
        items,
    })
}

/// Which of a theme's comments a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommentFilter {
    /// Comments not yet cleared for the report.
    Waiting,
    /// Comments cleared for the report.
    Cleared,
    /// Answers with a proposed wording.
    Proposals,
}

/// Which comments of a theme a list shows, and which page.
#[derive(Debug, Clone)]
pub struct CommentQuery {
    pub filter: Option<CommentFilter>,
    /// Lower-case words to find in the pseudonym or the texts.
    pub q: String,
    pub paging: Paging,
}

impl Default for CommentQuery {
    fn default() -> Self {
        CommentQuery {
            filter: None,
            q: String::new(),
            paging: Paging::first(50, super::paging::MAX_PAGE),
        }
    }
}

impl CommentQuery {
    /// Reads `show` (waiting, cleared or proposals), `q`, `limit` and `offset`.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, Invalid> {
        let mut e = Invalid::new();
        let mut q = CommentQuery::default();
        for (k, v) in super::paging::read(pairs, &mut q.paging, &mut e) {
            match k {
                "q" => q.q = v.to_lowercase(),
                "show" => match super::paging::word(v) {
                    Some(f) => q.filter = Some(f),
                    None => e.add("show", "must be waiting, cleared or proposals"),
                },
                _ => {}
            }
        }
        e.into_result(q)
    }

    fn matches(&self, c: &CommentView) -> bool {
        let found = |t: &Option<String>| {
            t.as_deref()
                .is_some_and(|t| t.to_lowercase().contains(&self.q))
        };
        (self.q.is_empty()
            || c.pseudonym.to_lowercase().contains(&self.q)
            || found(&c.comment)
            || found(&c.proposal)
            || found(&c.reason))
            && match self.filter {
                None => true,
                Some(CommentFilter::Waiting) => waiting(c),
                Some(CommentFilter::Cleared) => c.cleared_for_report,
                Some(CommentFilter::Proposals) => c.proposal.is_some(),
            }
    }
}

/// A comment a researcher has not yet cleared for the report.
fn waiting(c: &CommentView) -> bool {
    c.comment.is_some() && !c.cleared_for_report
}

/// How many answers of a theme carry text, and where the comments stand.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CommentCounts {
    /// Answers with a comment, a proposal or a reason.
    pub answers: usize,
    pub comments: usize,
    /// Comments not yet cleared for the report.
    pub waiting: usize,
    pub cleared: usize,
    pub proposals: usize,
}

impl CommentCounts {
    fn add(&mut self, c: &CommentView) {
        self.answers += 1;
        self.comments += usize::from(c.comment.is_some());
        self.waiting += usize::from(waiting(c));
        self.cleared += usize::from(c.cleared_for_report);
        self.proposals += usize::from(c.proposal.is_some());
    }
}

/// One theme of a round with the counts of its comments (for the round's overview).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeComments {
    pub theme_id: String,
    pub number: i32,
    pub title: String,
    pub counts: CommentCounts,
    /// The researchers' account of the theme's minority view, carried by the report.
    pub minority_statement: Option<String>,
}

/// A page of one theme's comments: waiting ones first, then by pseudonym.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommentPage {
    /// The round's number, and whether it asked for scores (then it has minority statements).
    pub round_number: i32,
    pub rating: bool,
    pub theme: ThemeComments,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub items: Vec<CommentView>,
}

type TextRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

/// The answers of a round carrying text, read as the columns a comment shows; one theme's
/// when `theme` is given.
fn texts(conn: &mut DbConn, round_id: &str, theme: Option<&str>) -> AppResult<Vec<TextRow>> {
    let mut q = answers::table
        .filter(answers::round_id.eq(round_id))
        .filter(
            answers::comment
                .is_not_null()
                .or(answers::proposal.is_not_null())
                .or(answers::reason.is_not_null()),
        )
        .select((
            answers::id,
            answers::theme_id,
            answers::panellist_id,
            answers::comment,
            answers::proposal,
            answers::reason,
            answers::comment_cleared_at.is_not_null(),
        ))
        .into_boxed();
    if let Some(t) = theme {
        q = q.filter(answers::theme_id.eq(t.to_string()));
    }
    Ok(q.load(conn)?)
}

fn comment_view(row: TextRow, pseudonyms: &HashMap<String, String>) -> (String, CommentView) {
    let (id, theme, panellist, comment, proposal, reason, cleared) = row;
    let view = CommentView {
        answer_id: id,
        pseudonym: pseudonyms.get(&panellist).cloned().unwrap_or_default(),
        comment,
        proposal,
        reason,
        cleared_for_report: cleared,
    };
    (theme, view)
}

fn statements(conn: &mut DbConn, round_id: &str) -> AppResult<HashMap<String, String>> {
    Ok(minority_statements::table
        .filter(minority_statements::round_id.eq(round_id))
        .select((
            minority_statements::theme_id,
            minority_statements::statement,
        ))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

fn theme_rows(
    themes: &[PublishedTheme],
    statements: &mut HashMap<String, String>,
) -> Vec<ThemeComments> {
    themes
        .iter()
        .map(|t| ThemeComments {
            theme_id: t.theme_id.clone(),
            number: t.snapshot.number,
            title: t.snapshot.title.clone(),
            counts: CommentCounts::default(),
            minority_statement: statements.remove(&t.theme_id),
        })
        .collect()
}

/// Every comment of the round per theme, in the round's order (the whole list the API's
/// `responses` answers).
pub(super) fn comments_by_theme(
    conn: &mut DbConn,
    round_id: &str,
    themes: &[PublishedTheme],
    pseudonyms: &HashMap<String, String>,
) -> AppResult<Vec<super::rounds::ThemeResponses>> {
    let mut themes: Vec<super::rounds::ThemeResponses> =
        theme_rows(themes, &mut statements(conn, round_id)?)
            .into_iter()
            .map(|t| super::rounds::ThemeResponses {
                theme_id: t.theme_id,
                number: t.number,
                title: t.title,
                comments: Vec::new(),
                minority_statement: t.minority_statement,
            })
            .collect();
    let index: HashMap<String, usize> = themes
        .iter()
        .enumerate()
        .map(|(i, t)| (t.theme_id.clone(), i))
        .collect();
    for row in texts(conn, round_id, None)? {
        let (theme, c) = comment_view(row, pseudonyms);
        if let Some(&i) = index.get(&theme) {
            themes[i].comments.push(c);
        }
    }
    Ok(themes)
}

/// Each theme of the round with the counts of its comments; no comment is read out, so
/// nothing is logged.
pub fn comment_overview(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<Vec<ThemeComments>> {
    let (r, _) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    let published = super::rounds::published(conn, &r.id)?;
    let mut themes = theme_rows(&published, &mut statements(conn, &r.id)?);
    let index: HashMap<String, usize> = themes
        .iter()
        .enumerate()
        .map(|(i, t)| (t.theme_id.clone(), i))
        .collect();
    let none = HashMap::new();
    for row in texts(conn, &r.id, None)? {
        let (theme, c) = comment_view(row, &none);
        if let Some(&i) = index.get(&theme) {
            themes[i].counts.add(&c);
        }
    }
    Ok(themes)
}

/// A page of one theme's comments, proposals and reasons under their pseudonyms: waiting
/// comments first, then by pseudonym. Logged, since pseudonyms tie answers together.
pub fn theme_comments(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
    theme_id: &str,
    query: &CommentQuery,
) -> AppResult<CommentPage> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    let published = super::rounds::published(conn, &r.id)?;
    let mut theme = theme_rows(&published, &mut statements(conn, &r.id)?)
        .into_iter()
        .find(|t| t.theme_id == theme_id)
        .ok_or(AppError::NotFound)?;
    let names = super::recruitment::pseudonyms(conn, &study.id)?;
    let mut matching = Vec::new();
    for row in texts(conn, &r.id, Some(theme_id))? {
        let (_, c) = comment_view(row, &names);
        theme.counts.add(&c);
        if query.matches(&c) {
            matching.push(c);
        }
    }
    matching.sort_by(|a, b| (!waiting(a), &a.pseudonym).cmp(&(!waiting(b), &b.pseudonym)));
    let total = matching.len();
    let items = query.paging.take(matching);
    audit::record(
        conn,
        &Actor::researcher(researcher_id),
        Some(&study.id),
        audit::Action::IdentitiesViewed,
        Some(&r.id),
        serde_json::json!({ "what": "comments", "theme": theme_id, "comments": items.len() }),
    )?;
    Ok(CommentPage {
        round_number: r.number,
        rating: r.rating,
        theme,
        total,
        offset: query.paging.offset,
        limit: query.paging.limit,
        items,
    })
}
