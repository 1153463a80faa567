//! The funder's report: every figure and every sentence computed from the data. `build` gathers
//! a round's answers and the study's recruitment into a [`Report`]; the submodules write it as
//! JSON (its serialisation), HTML, CSV, XLSX and PDF. Nothing here names an expert.

pub mod composition;
pub mod csv;
pub mod html;
#[cfg(feature = "pdf")]
pub mod pdf;
#[cfg(not(feature = "pdf"))]
pub mod pdf {
    //! Stands in for the PDF report in builds without Typst.
    use crate::ops::{AppError, AppResult};

    pub fn render(_: &super::Report) -> AppResult<Vec<u8>> {
        Err(AppError::Internal(anyhow::anyhow!(
            "this build of Orakel has no PDF report (the `pdf` feature is off)"
        )))
    }
}
pub mod sentences;
pub mod svg;
pub mod tables;
pub mod xlsx;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use chrono::NaiveDateTime;

use crate::db::models::{Answer, Candidate, Round, Study};
use crate::db::schema::{
    answers, candidate_events, candidates, rounds, small_cell_releases, theme_revisions,
};
use crate::domain::candidate::{DeclineCategory, Status};
use crate::domain::stats::{
    ItemStats, KendallW, Verdict, Wilcoxon, kendall_w, wilcoxon_signed_rank,
};
use crate::domain::{ConsensusRule, Language, Scale};
use crate::ops::candidates::{strata_of, strata_values};
use crate::ops::rounds::published;
use crate::ops::studies::{settings_of, utc};
use crate::ops::{AppError, AppResult};

pub use composition::Composition;

/// Who reads the report: researchers see hidden small cells' counts (marked); funders do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Researcher,
    Funder,
}

/// Choices a reader can make.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Round number; by default the latest closed rating round (or the open one).
    pub round: Option<i32>,
    /// Overrides the study's language.
    pub language: Option<Language>,
    /// Composition table: the attribute of the columns and those of the rows.
    pub columns: Option<String>,
    pub rows: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StudyInfo {
    pub id: String,
    pub title: String,
    pub purpose: String,
    pub funder: String,
    pub contact: String,
    pub language: Language,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundInfo {
    pub number: i32,
    pub validation: bool,
    pub rating: bool,
    pub feedback: bool,
    pub opened_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Panellists the round was sent to.
    pub panellists: usize,
    /// Panellists who scored (or, in a validation round, answered) at least one theme.
    pub responded: usize,
}

/// The participant flow: candidates → invited → accepted/declined/no reply → responded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Flow {
    pub identified: usize,
    pub invited: usize,
    pub accepted: usize,
    pub declined: usize,
    pub no_reply: usize,
    pub withdrawn: usize,
    /// Responded to the report's round.
    pub responded: usize,
    /// Declines grouped by the reason given in the candidates' own words (researchers only; empty
    /// for the funder).
    pub decline_reasons: BTreeMap<String, usize>,
    /// Declines by category (`busy`, `not_my_field`, `other`), and `no_reply` for those who never
    /// answered: what the funder sees of why people are not on the panel.
    pub decline_categories: BTreeMap<String, usize>,
    /// Responses to every round that has run, in order.
    pub rounds: Vec<RoundResponse>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundResponse {
    pub number: i32,
    pub panellists: usize,
    pub responded: usize,
    /// `responded / panellists` in per cent.
    pub response_rate: Option<f64>,
    /// Panellists who responded to the previous rating round but not to this one.
    pub attrition: Option<usize>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleInfo {
    pub share_percent: f64,
    pub points: i32,
    pub max_iqr: f64,
    pub locked_at: Option<DateTime<Utc>>,
    pub priority_threshold: f64,
}

/// One theme's figures in the round.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeRow {
    pub theme_id: String,
    pub number: i32,
    /// The category's code.
    pub category: String,
    pub category_title: String,
    pub title: String,
    pub n: usize,
    pub dont_know: usize,
    pub mean: Option<f64>,
    /// The mean to one decimal, rounded half up, in the report's language ("3,8").
    pub mean_display: Option<String>,
    pub median: Option<f64>,
    pub q1: Option<f64>,
    pub q3: Option<f64>,
    pub iqr: Option<f64>,
    pub sd: Option<f64>,
    /// Valid scores per scale point, lowest first.
    pub counts: Vec<usize>,
    pub pct_top2: Option<f64>,
    pub pct_bottom2: Option<f64>,
    /// `high`, `low` or `none` by the locked rule.
    pub consensus: Verdict,
    pub meets_priority: bool,
    /// 1 for the highest mean; themes with equal means share a rank. Themes with fewer than
    /// `min_group_size` valid scores have no rank.
    pub rank: Option<usize>,
    /// Fewer than `min_group_size` valid scores: no verdict, no priority, no rank, left out of
    /// Kendall's W; the funder sees "fewer than k" and no figure at all.
    pub hidden: bool,
    /// The statements as the round published them.
    pub statements: Vec<crate::domain::codebook::StatementSnapshot>,
}

/// Between the previous rating round and this one, per theme: the panellists who scored it in
/// both, how many changed their score, and the Wilcoxon signed-rank test.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stability {
    pub previous_round: i32,
    pub themes: Vec<ThemeStability>,
    /// Over all paired scores: the share that changed.
    pub pct_changed: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeStability {
    pub number: i32,
    pub pairs: usize,
    pub changed: usize,
    pub pct_changed: Option<f64>,
    pub wilcoxon: Option<Wilcoxon>,
    /// Fewer than `min_group_size` pairs (for the funder: no figure at all).
    pub hidden: bool,
}

/// What changed in the codebook between the previous round and this one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodebookChange {
    pub number: i32,
    pub title: String,
    pub change: String,
    pub reason: String,
}

/// A comment cleared by a researcher for the report: without any attribution.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClearedComment {
    pub theme_number: i32,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub study: StudyInfo,
    pub round: RoundInfo,
    pub flow: Flow,
    pub scale: Scale,
    pub consensus_rule: RuleInfo,
    pub min_group_size: i32,
    pub themes: Vec<ThemeRow>,
    pub kendall: Option<KendallW>,
    pub stability: Option<Stability>,
    pub composition: Option<Composition>,
    /// The sentences of the report's findings, computed from the figures.
    pub findings: Vec<String>,
    pub changes: Vec<CodebookChange>,
    pub comments: Vec<ClearedComment>,
    pub language: Language,
    pub generated_at: DateTime<Utc>,
    /// Made for a funder: closed rounds only, nothing below `min_group_size`.
    pub for_funder: bool,
    /// The numbers of the themes with fewer than `min_group_size` valid scores.
    pub hidden_themes: Vec<i32>,
}

/// Why a funder cannot see a round yet (the funder's page says it in their language).
pub const NOT_YET_AVAILABLE: &str = "the round's results are not available until it closes";

/// The rounds a report can be about: rating rounds that opened.
fn rating_rounds(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<Round>> {
    Ok(rounds::table
        .filter(rounds::study_id.eq(study_id))
        .filter(rounds::rating.eq(true))
        .filter(rounds::state.ne("draft"))
        .order(rounds::number.asc())
        .select(Round::as_select())
        .load(conn)?)
}

/// Panellists who scored at least one theme (rating) or answered anything (validation).
fn responders(answers: &[Answer], rating: bool) -> HashSet<String> {
    answers
        .iter()
        .filter(|a| {
            if rating {
                a.score.is_some() || a.dont_know
            } else {
                a.comment.is_some() || a.proposal.is_some() || a.score.is_some()
            }
        })
        .map(|a| a.panellist_id.clone())
        .collect()
}

/// `responders` of another round, reading only what decides it.
fn responders_of(conn: &mut DbConn, round: &Round) -> AppResult<HashSet<String>> {
    let mut q = answers::table
        .filter(answers::round_id.eq(&round.id))
        .select(answers::panellist_id)
        .distinct()
        .into_boxed();
    q = if round.rating {
        q.filter(answers::score.is_not_null().or(answers::dont_know.eq(true)))
    } else {
        q.filter(
            answers::comment
                .is_not_null()
                .or(answers::proposal.is_not_null())
                .or(answers::score.is_not_null()),
        )
    };
    Ok(q.load::<String>(conn)?.into_iter().collect())
}

fn responded(answers: &[Answer], rating: bool) -> usize {
    responders(answers, rating).len()
}

/// A round's answers grouped by theme (reports look at each theme's answers in turn).
fn by_theme(answers: &[Answer]) -> HashMap<&str, Vec<&Answer>> {
    let mut out: HashMap<&str, Vec<&Answer>> = HashMap::new();
    for a in answers {
        out.entry(a.theme_id.as_str()).or_default().push(a);
    }
    out
}

fn answers_of(conn: &mut DbConn, round_id: &str) -> AppResult<Vec<Answer>> {
    Ok(answers::table
        .filter(answers::round_id.eq(round_id))
        .order((answers::panellist_id.asc(), answers::theme_id.asc()))
        .select(Answer::as_select())
        .load(conn)?)
}

fn participants(conn: &mut DbConn, round_id: &str) -> AppResult<usize> {
    use crate::db::schema::round_participations;
    Ok(round_participations::table
        .filter(round_participations::round_id.eq(round_id))
        .count()
        .get_result::<i64>(conn)? as usize)
}

/// A candidate as they stood at a moment: their status then, and whether they had been invited.
struct Standing {
    candidate: Candidate,
    status: Status,
    invited: bool,
}

/// The study's candidates as of `at` (from their status history), or as they stand now.
/// A closed round's report describes the panel at its close, so later recruitment, a
/// withdrawal or an erasure does not move what a reader saw of that round.
fn standings(
    conn: &mut DbConn,
    study_id: &str,
    at: Option<NaiveDateTime>,
) -> AppResult<Vec<Standing>> {
    let cands: Vec<Candidate> = candidates::table
        .filter(candidates::study_id.eq(study_id))
        .order(candidates::id)
        .select(Candidate::as_select())
        .load(conn)?;
    let Some(at) = at else {
        return Ok(cands
            .into_iter()
            .map(|c| Standing {
                status: Status::parse(&c.status).unwrap_or(Status::Identified),
                invited: c.invited_at.is_some(),
                candidate: c,
            })
            .collect());
    };
    let events: Vec<(String, String)> = candidate_events::table
        .inner_join(candidates::table)
        .filter(candidates::study_id.eq(study_id))
        .filter(candidate_events::at.le(at))
        .order((candidate_events::at.asc(), candidate_events::id.asc()))
        .select((candidate_events::candidate_id, candidate_events::to_status))
        .load(conn)?;
    let mut history: HashMap<String, (Status, bool)> = HashMap::new();
    for (cand, to) in events {
        let Some(to) = Status::parse(&to) else {
            continue;
        };
        let e = history.entry(cand).or_insert((to, false));
        e.0 = to;
        e.1 |= to == Status::Invited;
    }
    Ok(cands
        .into_iter()
        .filter_map(|c| {
            let (status, invited) = *history.get(&c.id)?;
            Some(Standing {
                candidate: c,
                status,
                invited,
            })
        })
        .collect())
}

pub fn build(
    conn: &mut DbConn,
    study: &Study,
    opts: &Options,
    audience: Audience,
) -> AppResult<Report> {
    let settings = settings_of(study)?;
    let lang = opts.language.unwrap_or(settings.language);
    let for_funder = audience == Audience::Funder;
    let all_rounds = rating_rounds(conn, &study.id)?;
    let closed = |r: &Round| r.state == "closed";
    let round = match opts.round {
        Some(n) => {
            let r = all_rounds
                .iter()
                .find(|r| r.number == n)
                .cloned()
                .ok_or(AppError::NotFound)?;
            if for_funder && !closed(&r) {
                return Err(AppError::Conflict(NOT_YET_AVAILABLE.into()));
            }
            r
        }
        None => all_rounds
            .iter()
            .rev()
            .find(|r| closed(r))
            .or_else(|| (!for_funder).then(|| all_rounds.last()).flatten())
            .cloned()
            .ok_or_else(|| {
                AppError::Conflict(if for_funder && !all_rounds.is_empty() {
                    NOT_YET_AVAILABLE.into()
                } else {
                    "the study has no rating round yet, so there is nothing to report".into()
                })
            })?,
    };
    // Only closed rounds reach a funder, so these never change once a funder can see them.
    let rounds_shown: Vec<Round> = all_rounds
        .iter()
        .filter(|r| r.number <= round.number && (!for_funder || closed(r)))
        .cloned()
        .collect();
    let k = settings.min_group_size.max(1) as usize;
    let scale = settings.scale.clone();
    let rule: ConsensusRule = settings.consensus.clone();
    let published = published(conn, &round.id)?;
    let answers = answers_of(conn, &round.id)?;
    let by_theme = by_theme(&answers);

    // Per theme.
    let mut rows: Vec<ThemeRow> = published
        .iter()
        .map(|t| {
            let theirs: &[&Answer] = by_theme.get(t.theme_id.as_str()).map_or(&[], Vec::as_slice);
            let scores: Vec<i32> = theirs.iter().filter_map(|a| a.score).collect();
            let dk = theirs.iter().filter(|a| a.dont_know).count();
            let s = ItemStats::of(&scores, dk, &scale);
            let hidden = s.n < k;
            let mut row = ThemeRow {
                theme_id: t.theme_id.clone(),
                number: t.snapshot.number,
                category: t.snapshot.category_code.clone(),
                category_title: t.snapshot.category_title.clone(),
                title: t.snapshot.title.clone(),
                n: s.n,
                dont_know: s.dont_know,
                mean: s.mean,
                mean_display: s.mean_display(lang.code()),
                median: s.median,
                q1: s.q1,
                q3: s.q3,
                iqr: s.iqr,
                sd: s.sd,
                pct_top2: s.pct_top2,
                pct_bottom2: s.pct_bottom2,
                consensus: if hidden {
                    Verdict::None
                } else {
                    s.verdict(&rule)
                },
                meets_priority: !hidden
                    && s.mean
                        .is_some_and(|m| m + 1e-9 >= settings.priority_threshold),
                rank: None,
                hidden,
                counts: s.counts,
                statements: t.snapshot.statements.clone(),
            };
            if hidden && for_funder {
                blank(&mut row);
            }
            row
        })
        .collect();
    let mut means: Vec<(usize, f64)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.hidden)
        .filter_map(|(i, r)| r.mean.map(|m| (i, m)))
        .collect();
    means.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (i, m) in &means {
        rows[*i].rank = Some(1 + means.iter().filter(|(_, x)| *x > *m + 1e-12).count());
    }
    let shown: Vec<&crate::ops::rounds::PublishedTheme> = published
        .iter()
        .zip(&rows)
        .filter(|(_, r)| !r.hidden)
        .map(|(t, _)| t)
        .collect();
    let hidden_themes: Vec<i32> = rows.iter().filter(|r| r.hidden).map(|r| r.number).collect();

    // Kendall's W over the themes shown: panellists × themes, a panellist with any missing
    // score left out.
    let mut by_panellist: BTreeMap<&str, HashMap<&str, i32>> = BTreeMap::new();
    for a in &answers {
        if let Some(s) = a.score {
            by_panellist
                .entry(a.panellist_id.as_str())
                .or_default()
                .insert(a.theme_id.as_str(), s);
        } else {
            by_panellist.entry(a.panellist_id.as_str()).or_default();
        }
    }
    let matrix: Vec<Vec<Option<i32>>> = by_panellist
        .values()
        .map(|m| {
            shown
                .iter()
                .map(|t| m.get(t.theme_id.as_str()).copied())
                .collect()
        })
        .collect();
    let kendall = kendall_w(&matrix).filter(|w| w.raters >= k);

    // Stability against the previous rating round.
    let previous = rounds_shown
        .iter()
        .rev()
        .find(|r| r.number < round.number)
        .cloned();
    let stability = match &previous {
        Some(prev) => Some(stability(
            conn, prev, &published, &answers, &rows, k, for_funder,
        )?),
        None => None,
    };

    // Flow, as the panel stood when the round closed.
    let as_of = round.closed_at.filter(|_| closed(&round));
    let people = standings(conn, &study.id, as_of)?;
    let count = |s: Status| people.iter().filter(|p| p.status == s).count();
    let mut decline_reasons = BTreeMap::new();
    let mut decline_categories = BTreeMap::new();
    for p in people.iter().filter(|p| p.status == Status::Declined) {
        let category = DeclineCategory::from_stored(p.candidate.decline_category.as_deref());
        *decline_categories
            .entry(category.as_str().to_string())
            .or_insert(0) += 1;
        if !for_funder {
            let r = p
                .candidate
                .status_reason
                .clone()
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "—".into());
            *decline_reasons.entry(r).or_insert(0) += 1;
        }
    }
    let no_reply = count(Status::NoReply);
    if no_reply > 0 {
        decline_categories.insert("no_reply".into(), no_reply);
    }
    let mut round_responses = Vec::new();
    let mut previous_responders: Option<HashSet<String>> = None;
    for r in &rounds_shown {
        let now_responders = if r.id == round.id {
            responders(&answers, r.rating)
        } else {
            responders_of(conn, r)?
        };
        let p = participants(conn, &r.id)?;
        let n = now_responders.len();
        round_responses.push(RoundResponse {
            number: r.number,
            panellists: p,
            responded: n,
            response_rate: (p > 0).then(|| 100.0 * n as f64 / p as f64),
            attrition: previous_responders
                .as_ref()
                .map(|before| before.difference(&now_responders).count()),
        });
        previous_responders = Some(now_responders);
    }
    let responded_now = responded(&answers, round.rating);
    let flow = Flow {
        identified: people.len(),
        invited: people.iter().filter(|p| p.invited).count(),
        accepted: count(Status::Accepted),
        declined: count(Status::Declined),
        no_reply,
        withdrawn: count(Status::Withdrawn),
        responded: responded_now,
        decline_reasons,
        decline_categories,
        rounds: round_responses,
    };

    // Composition of the panel (accepted panellists), as it stood when the round closed.
    let strata = strata_of(conn, &study.id)?;
    let panel: Vec<std::collections::BTreeMap<String, String>> = people
        .iter()
        .filter(|p| p.status == Status::Accepted)
        .map(|p| strata_values(&p.candidate))
        .collect::<Result<_, _>>()?;
    let releases: Vec<(String, String)> = small_cell_releases::table
        .filter(small_cell_releases::study_id.eq(&study.id))
        .select((
            small_cell_releases::table_key,
            small_cell_releases::cell_key,
        ))
        .load(conn)?;
    let column = opts
        .columns
        .clone()
        .or_else(|| strata.first().map(|s| s.key.clone()));
    let composition = column.and_then(|col| {
        let rows: Vec<String> = opts.rows.clone().unwrap_or_else(|| {
            strata
                .iter()
                .filter(|s| s.key != col)
                .map(|s| s.key.clone())
                .collect()
        });
        let table_key = format!("composition:{}:{}", col, rows.join(","));
        let released_here: HashSet<String> = releases
            .iter()
            .filter(|(t, _)| *t == table_key)
            .map(|(_, c)| c.clone())
            .collect();
        composition::build(
            &panel,
            &strata,
            &col,
            &rows,
            settings.small_cell_threshold.max(1) as usize,
            &released_here,
            audience == Audience::Researcher,
        )
    });

    let changes = match &previous {
        Some(prev) => changes_between(conn, prev, &round)?,
        None => Vec::new(),
    };
    let numbers: HashMap<&str, i32> = published
        .iter()
        .map(|t| (t.theme_id.as_str(), t.snapshot.number))
        .collect();
    let comments = answers
        .iter()
        .filter(|a| a.comment_cleared_at.is_some())
        .filter_map(|a| {
            let number = *numbers.get(a.theme_id.as_str())?;
            Some(ClearedComment {
                theme_number: number,
                text: a.comment.clone()?,
            })
        })
        .collect::<Vec<_>>();
    let mut comments = comments;
    comments.sort_by(|a, b| (a.theme_number, &a.text).cmp(&(b.theme_number, &b.text)));

    let round_info = RoundInfo {
        number: round.number,
        validation: round.validation,
        rating: round.rating,
        feedback: round.feedback,
        opened_at: round.opened_at.map(utc),
        closes_at: round.closes_at.map(utc),
        closed_at: round.closed_at.map(utc),
        panellists: participants(conn, &round.id)?,
        responded: responded_now,
    };
    let rule_info = RuleInfo {
        share_percent: rule.share_percent,
        points: rule.points,
        max_iqr: rule.max_iqr,
        locked_at: study.consensus_locked_at.map(utc),
        priority_threshold: settings.priority_threshold,
    };
    let mut report = Report {
        study: StudyInfo {
            id: study.id.clone(),
            title: study.title.clone(),
            purpose: study.purpose.clone(),
            funder: study.funder.clone(),
            contact: study.contact.clone(),
            language: lang,
        },
        round: round_info,
        flow,
        scale,
        consensus_rule: rule_info,
        min_group_size: settings.min_group_size,
        themes: rows,
        kendall,
        stability,
        composition,
        findings: Vec::new(),
        changes,
        comments,
        language: lang,
        generated_at: Utc::now(),
        for_funder,
        hidden_themes,
    };
    report.findings = sentences::findings(&report);
    Ok(report)
}

/// A theme below k as a funder gets it: its name and statements, no figure.
fn blank(row: &mut ThemeRow) {
    row.n = 0;
    row.dont_know = 0;
    row.mean = None;
    row.mean_display = None;
    row.median = None;
    row.q1 = None;
    row.q3 = None;
    row.iqr = None;
    row.sd = None;
    row.pct_top2 = None;
    row.pct_bottom2 = None;
    row.counts = Vec::new();
}

fn stability(
    conn: &mut DbConn,
    prev: &Round,
    published: &[crate::ops::rounds::PublishedTheme],
    now_answers: &[Answer],
    rows: &[ThemeRow],
    k: usize,
    for_funder: bool,
) -> AppResult<Stability> {
    // Only what the comparison needs: rounds can hold millions of answers.
    let before: Vec<(String, String, Option<i32>)> = answers::table
        .filter(answers::round_id.eq(&prev.id))
        .select((answers::theme_id, answers::panellist_id, answers::score))
        .load(conn)?;
    let earlier: HashMap<(&str, &str), Option<i32>> = before
        .iter()
        .map(|(t, p, s)| ((t.as_str(), p.as_str()), *s))
        .collect();
    let now_by_theme = by_theme(now_answers);
    let mut themes = Vec::new();
    let (mut all_pairs, mut all_changed) = (0, 0);
    for (t, row) in published.iter().zip(rows) {
        let pairs: Vec<(i32, i32)> = now_by_theme
            .get(t.theme_id.as_str())
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|a| {
                let b = earlier.get(&(t.theme_id.as_str(), a.panellist_id.as_str()))?;
                Some(((*b)?, a.score?))
            })
            .collect();
        // A funder sees no comparison of fewer than k people, and the total leaves out what
        // it does not show, so nothing hidden can be worked out by subtraction.
        if for_funder && (row.hidden || pairs.len() < k) {
            themes.push(ThemeStability {
                number: t.snapshot.number,
                pairs: 0,
                changed: 0,
                pct_changed: None,
                wilcoxon: None,
                hidden: true,
            });
            continue;
        }
        let changed = pairs.iter().filter(|(a, b)| a != b).count();
        all_pairs += pairs.len();
        all_changed += changed;
        themes.push(ThemeStability {
            number: t.snapshot.number,
            pairs: pairs.len(),
            changed,
            pct_changed: (!pairs.is_empty()).then(|| 100.0 * changed as f64 / pairs.len() as f64),
            wilcoxon: wilcoxon_signed_rank(&pairs),
            hidden: pairs.len() < k,
        });
    }
    Ok(Stability {
        previous_round: prev.number,
        themes,
        pct_changed: (all_pairs > 0).then(|| 100.0 * all_changed as f64 / all_pairs as f64),
    })
}

/// Revisions made between the two rounds opening, with their reasons.
fn changes_between(
    conn: &mut DbConn,
    prev: &Round,
    round: &Round,
) -> AppResult<Vec<CodebookChange>> {
    let (Some(from), Some(to)) = (prev.opened_at, round.opened_at) else {
        return Ok(Vec::new());
    };
    let revs: Vec<(String, String, String, chrono::NaiveDateTime)> = theme_revisions::table
        .inner_join(crate::db::schema::themes::table)
        .filter(crate::db::schema::themes::study_id.eq(&round.study_id))
        .filter(theme_revisions::at.gt(from))
        .filter(theme_revisions::at.le(to))
        .order((theme_revisions::at.asc(), theme_revisions::version.asc()))
        .select((
            theme_revisions::change,
            theme_revisions::reason,
            theme_revisions::snapshot,
            theme_revisions::at,
        ))
        .load(conn)?;
    Ok(revs
        .into_iter()
        .filter_map(|(change, reason, snapshot, _)| {
            let snap: crate::domain::codebook::ThemeSnapshot =
                serde_json::from_str(&snapshot).ok()?;
            Some(CodebookChange {
                number: snap.number,
                title: snap.title,
                change,
                reason,
            })
        })
        .collect())
}
