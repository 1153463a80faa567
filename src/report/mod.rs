//! The funder's report: every figure and every sentence computed from the data. `ops::reports`
//! gathers a [`ReportData`]; [`compose`] makes the [`Report`] from it without touching the
//! database; the submodules write it as JSON (its serialisation), HTML, CSV, XLSX and PDF, each
//! a [`Format`]. Nothing here names an expert.

pub mod cache;
pub mod checklist;
pub mod composition;
pub mod csv;
pub mod format;
pub mod groups;
pub mod html;
#[cfg(feature = "pdf")]
pub mod pdf;
#[cfg(not(feature = "pdf"))]
pub mod pdf {
    //! Stands in for the PDF report in builds without Typst.
    use crate::error::{AppError, AppResult};

    pub fn render(_: &super::Report) -> AppResult<Vec<u8>> {
        Err(AppError::Internal(anyhow::anyhow!(
            "this build of Orakel has no PDF report (the `pdf` feature is off)"
        )))
    }

    pub fn protocol(
        _: &crate::ops::protocol::ProtocolView,
        _: &str,
        _: &str,
        _: Option<String>,
        _: crate::domain::Language,
        _: crate::i18n::Tz,
    ) -> AppResult<Vec<u8>> {
        Err(AppError::Internal(anyhow::anyhow!(
            "this build of Orakel has no PDF (the `pdf` feature is off)"
        )))
    }
}
pub mod robustness;
pub mod sentences;
pub mod svg;
pub mod tables;
pub mod xlsx;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::models::Round;
use crate::db::utc;
use crate::domain::StudySettings;
use crate::domain::candidate::{DeclineCategory, Status, Stratum};
use crate::domain::codebook::PublishedTheme;
use crate::domain::robustness as robust;
use crate::domain::round::State;
use crate::domain::stats::{
    ItemStats, KendallW, Verdict, Wilcoxon, kendall_w, wilcoxon_signed_rank,
};
use crate::domain::{ConsensusRule, Language, Scale};
use crate::error::{AppError, AppResult};

pub use composition::Composition;
pub use format::{File, Format};
pub use groups::{Groups, GroupsData};
pub use robustness::{MinorityView, Sensitivity};

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
    /// The study's clock (IANA name): the report's times are on it.
    #[schema(example = "Europe/Copenhagen")]
    pub time_zone: String,
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
    /// Invited and still within their time to answer (none once the report's round has
    /// closed: then they count as no reply). Invited = accepted + declined + no reply +
    /// withdrawn + waiting.
    pub waiting: usize,
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
    /// How "don't know" counted in the shares.
    pub dont_know: crate::domain::DontKnow,
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
    /// The 95 % confidence interval of the mean: the percentile bootstrap computed exactly over
    /// every possible resample, so the same data always give the same interval.
    #[schema(value_type = Option<Vec<f64>>)]
    pub ci95: Option<[f64; 2]>,
    /// The RAND/UCLA disagreement test; only on a 1–9 scale.
    pub rand_ucla: Option<crate::domain::robustness::RandUcla>,
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
    /// The share of the themes compared that are stable (fewer than 15 % of their paired
    /// scores changed).
    pub pct_stable: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeStability {
    pub number: i32,
    pub pairs: usize,
    pub changed: usize,
    pub pct_changed: Option<f64>,
    pub wilcoxon: Option<Wilcoxon>,
    /// The coefficient of variation (SD / mean of the valid scores) in this round minus that in
    /// the previous one: negative when the panel's answers drew closer together.
    pub cv_change: Option<f64>,
    /// Fewer than 15 % of the paired scores changed.
    pub stable: Option<bool>,
    /// Fewer than `min_group_size` pairs (for the funder: no figure at all).
    pub hidden: bool,
}

/// The registered protocol as the report names it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProtocolSummary {
    pub registered_at: DateTime<Utc>,
    /// The SHA-256 of the registered document.
    pub sha256: String,
    pub amendments: Vec<crate::ops::protocol::AmendmentView>,
    /// Whether it was registered before the first rating round opened.
    pub before_rating: bool,
}

/// One step of the flow of items: the themes found in the interviews (round 1), or a rating
/// round with what changed in the codebook before it; the report's round also has its verdicts.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ItemFlowStep {
    pub round: i32,
    /// Round 1: themes coded in the interviews.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<usize>,
    /// Round 1: for each theme found, from how many interviews (theme number → interviews).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, usize>>)]
    pub interviews: Option<BTreeMap<i32, usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rated: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reworded: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added: Option<usize>,
    /// The report's round: themes by verdict (`high`, `low`, `none`), of those with at least k.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdicts: Option<BTreeMap<String, usize>>,
}

/// How a live round's panel converged: the snapshots the experts were shown, per theme, and
/// how many revised their scores.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Convergence {
    pub themes: Vec<ConvergenceTheme>,
    /// Scores changed after they were first given, and the panellists who changed any.
    pub revisions: usize,
    pub revised_by: usize,
    /// `revised_by` as a share (%) of the panellists who responded.
    pub pct_revised: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConvergenceTheme {
    pub number: i32,
    pub title: String,
    /// Oldest first; each published when more than k panellists had changed their score.
    pub snapshots: Vec<crate::ops::live::TimelineEntry>,
}

/// The stopping rule after the report's round.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stopping {
    /// The rule's parts as codes: `all_verdicts`, `change_below:15`, `max_rounds:3`.
    pub rules: Vec<String>,
    pub met: bool,
    /// Why, in the report's language: "Stop: 12 of 13 themes reached a verdict; …".
    pub explanation: String,
    #[serde(skip)]
    pub verdict: crate::domain::protocol::StoppingVerdict,
}

/// A theme is stable between two rounds when fewer than this share of the panellists who
/// scored it in both changed their score.
pub const STABLE_BELOW_PERCENT: f64 = 15.0;

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
    /// The panel groups' figures and comparisons, when the study has groups.
    pub groups: Option<Groups>,
    /// The verdicts under the locked rule and its neighbours.
    pub sensitivity: Vec<Sensitivity>,
    /// Per theme, the views of experts far from the median and the researchers' statement.
    pub minority_views: Vec<MinorityView>,
    /// The registered protocol: when, under which hash, and its amendments; none when the
    /// analysis was not pre-registered.
    pub protocol: Option<ProtocolSummary>,
    /// The registered stopping rule judged after the report's round (closed rounds only).
    pub stopping: Option<Stopping>,
    /// What happened to the items, round by round (CREDES' flow of items).
    pub item_flow: Vec<ItemFlowStep>,
    /// A live round: the snapshots per theme and the share of experts who revised.
    pub convergence: Option<Convergence>,
    /// The reporting-checklist appendix: CREDES, ACCORD and DELPHISTAR item by item.
    pub checklist: Vec<checklist::ChecklistItem>,
    /// The sentences of the report's findings, computed from the figures.
    pub findings: Vec<String>,
    pub changes: Vec<CodebookChange>,
    pub comments: Vec<ClearedComment>,
    /// The panel's discussion per theme: for researchers every published post under its
    /// handle; for a funder the number of posts and the posts the researchers cleared, without
    /// handles, and nothing of a theme hidden for too few scores.
    pub discussion: Vec<crate::ops::discussion::ReportThread>,
    pub language: Language,
    pub generated_at: DateTime<Utc>,
    /// Made for a funder: closed rounds only, nothing below `min_group_size`.
    pub for_funder: bool,
    /// The numbers of the themes with fewer than `min_group_size` valid scores.
    pub hidden_themes: Vec<i32>,
    /// Where the report is kept once made (a closed round's), so its files can be kept too.
    #[serde(skip)]
    pub cache_key: Option<cache::Key>,
}

impl Report {
    /// The clock the report's times are read on.
    pub fn zone(&self) -> crate::i18n::Tz {
        crate::i18n::zone::from_stored(&self.study.time_zone)
    }
}

/// Why a funder cannot see a round yet (the funder's page says it in their language).
pub const NOT_YET_AVAILABLE: &str = "the round's results are not available until it closes";

/// A candidate as they stood when the report's round closed (or now, for an open round).
#[derive(Debug, Clone)]
pub struct Standing {
    pub status: Status,
    pub invited: bool,
    pub decline_category: DeclineCategory,
    /// Their own words, when they declined (researchers only).
    pub decline_reason: Option<String>,
    pub strata: BTreeMap<String, String>,
}

/// One rating round as the participant flow counts it.
#[derive(Debug, Clone)]
pub struct RoundTally {
    pub number: i32,
    /// Panellists the round was sent to.
    pub panellists: usize,
    /// Panellists who responded (by `domain::round::answered`).
    pub responders: HashSet<String>,
}

/// A round's answers as a report reads them: each panellist and theme named once, and of each
/// answer only its score and "don't know" (a few bytes, where a stored row is hundreds: a
/// study's rounds can hold millions of answers). The previous round's scores share the names.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    /// Panellist ids, indexed by [`Scored::panellist`].
    pub panellists: Vec<String>,
    /// Theme ids, indexed by [`Scored::theme`].
    pub themes: Vec<String>,
    /// The report's round.
    pub now: Vec<Scored>,
    /// The previous rating round the reader may see (empty without one).
    pub before: Vec<Scored>,
    /// The report's round's cleared comments.
    pub cleared: Vec<Cleared>,
    names: HashMap<String, u32>,
    theme_names: HashMap<String, u32>,
}

/// One answer of [`Scores`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub panellist: u32,
    pub theme: u32,
    pub score: Option<i32>,
    pub dont_know: bool,
}

/// A comment the researchers cleared for the report, with its writer's score.
#[derive(Debug, Clone)]
pub struct Cleared {
    pub theme_id: String,
    pub score: Option<i32>,
    pub text: String,
}

/// Which round of [`Scores`] an answer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Now,
    Before,
}

impl Scores {
    /// Adds one answer, naming its panellist and theme once however often they answer.
    pub fn push(
        &mut self,
        which: Which,
        panellist: &str,
        theme: &str,
        score: Option<i32>,
        dont_know: bool,
    ) {
        let intern = |names: &mut HashMap<String, u32>, list: &mut Vec<String>, id: &str| {
            if let Some(&i) = names.get(id) {
                return i;
            }
            let i = list.len() as u32;
            names.insert(id.to_string(), i);
            list.push(id.to_string());
            i
        };
        // Answers arrive by panellist, each one's themes in the same order: the previous
        // answer's panellist, and the theme after the previous one's, are nearly always the
        // ones named, found without hashing (a report reads hundreds of thousands).
        let list = match which {
            Which::Now => &self.now,
            Which::Before => &self.before,
        };
        let last = list.last().copied();
        let panellist = match last {
            Some(a) if self.panellists[a.panellist as usize] == panellist => a.panellist,
            _ => intern(&mut self.names, &mut self.panellists, panellist),
        };
        let next_theme = last.map_or(0, |a| a.theme + 1);
        let theme = match self.themes.get(next_theme as usize) {
            Some(t) if t == theme => next_theme,
            _ => intern(&mut self.theme_names, &mut self.themes, theme),
        };
        let scored = Scored {
            panellist,
            theme,
            score,
            dont_know,
        };
        match which {
            Which::Now => self.now.push(scored),
            Which::Before => self.before.push(scored),
        }
    }

    pub fn theme_id(&self, a: &Scored) -> &str {
        &self.themes[a.theme as usize]
    }

    pub fn panellist_id(&self, a: &Scored) -> &str {
        &self.panellists[a.panellist as usize]
    }

    /// Panellists who responded to the report's round (a rating round), by the one rule for
    /// "answered" (`domain::round::answered`).
    pub fn responders(&self) -> HashSet<String> {
        self.now
            .iter()
            .filter(|a| {
                crate::domain::round::answered(
                    true,
                    crate::domain::round::Said {
                        scored: a.score.is_some(),
                        dont_know: a.dont_know,
                        commented: false,
                        proposed: false,
                    },
                )
            })
            .map(|a| self.panellist_id(a).to_string())
            .collect()
    }

    /// For each theme of the answers (by [`Scored::theme`]), its place among `ids`, if there.
    pub fn places_among<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Vec<Option<usize>> {
        let place: HashMap<&str, usize> = ids.enumerate().map(|(i, id)| (id, i)).collect();
        self.themes
            .iter()
            .map(|id| place.get(id.as_str()).copied())
            .collect()
    }

    /// `answers` (of this round or the one before) grouped by theme id, in their order.
    fn by_theme<'a>(&'a self, answers: &'a [Scored]) -> HashMap<&'a str, Vec<&'a Scored>> {
        // By the theme's index first: one hash per theme, not per answer.
        let mut lists: Vec<Vec<&Scored>> = vec![Vec::new(); self.themes.len()];
        for a in answers {
            lists[a.theme as usize].push(a);
        }
        self.themes
            .iter()
            .zip(lists)
            .filter(|(_, list)| !list.is_empty())
            .map(|(id, list)| (id.as_str(), list))
            .collect()
    }
}

/// Everything a report is computed from, gathered by `ops::reports` in a few queries; `compose`
/// makes the report from it without touching the database.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub study: StudyInfo,
    pub settings: StudySettings,
    pub consensus_locked_at: Option<DateTime<Utc>>,
    /// The report's round.
    pub round: Round,
    pub published: Vec<PublishedTheme>,
    /// The report's round's answers and the previous round's scores.
    pub answers: Scores,
    /// The rating rounds the reader may see up to the report's round, oldest first.
    pub rounds: Vec<RoundTally>,
    /// The number of the previous rating round the reader may see (its scores are in
    /// `answers.before`).
    pub previous: Option<i32>,
    pub people: Vec<Standing>,
    pub strata: Vec<Stratum>,
    /// Released small cells: (table key, cell key).
    pub releases: Vec<(String, String)>,
    pub changes: Vec<CodebookChange>,
    /// The panel groups, when the study has them.
    pub groups: Option<GroupsData>,
    /// The researchers' minority statements of the round, by theme id.
    pub statements: HashMap<String, String>,
    /// The protocol, when registered.
    pub protocol: Option<crate::ops::protocol::ProtocolView>,
    /// When the study's first rating round opened.
    pub rating_began: Option<DateTime<Utc>>,
    /// The flow of items up to the report's round, without the verdicts (`compose` adds them).
    pub item_flow: Vec<ItemFlowStep>,
    /// What the checklist appendix needs beyond the figures.
    pub facts: checklist::Facts,
    /// The report's round's snapshots, when it is a live round.
    pub live: Option<crate::ops::live::LiveRound>,
    /// The round's discussion per theme, as the audience may see it.
    pub discussion: Vec<crate::ops::discussion::ReportThread>,
}

/// Which round a report is about: the one asked for, else the latest closed rating round (or,
/// for researchers, the latest open one). A funder sees closed rounds only.
pub fn choose_round(
    rounds: &[Round],
    number: Option<i32>,
    audience: Audience,
) -> AppResult<&Round> {
    let for_funder = audience == Audience::Funder;
    let closed = |r: &Round| r.state == State::Closed;
    match number {
        Some(n) => {
            let r = rounds
                .iter()
                .find(|r| r.number == n)
                .ok_or(AppError::NotFound)?;
            if for_funder && !closed(r) {
                return Err(AppError::Conflict(NOT_YET_AVAILABLE.into()));
            }
            Ok(r)
        }
        None => rounds
            .iter()
            .rev()
            .find(|r| closed(r))
            .or_else(|| (!for_funder).then(|| rounds.last()).flatten())
            .ok_or_else(|| {
                AppError::Conflict(if for_funder && !rounds.is_empty() {
                    NOT_YET_AVAILABLE.into()
                } else {
                    "the study has no rating round yet, so there is nothing to report".into()
                })
            }),
    }
}

/// The rounds a reader sees in the report of `round`: those before it and it, closed ones only
/// for a funder.
pub fn rounds_shown<'a>(rounds: &'a [Round], round: &Round, audience: Audience) -> Vec<&'a Round> {
    rounds
        .iter()
        .filter(|r| r.number <= round.number)
        .filter(|r| audience == Audience::Researcher || r.state == State::Closed)
        .collect()
}

/// The report, computed from its data for one audience. Pure: no query, no clock but the
/// generation time.
pub fn compose(d: &ReportData, opts: &Options, audience: Audience) -> Report {
    let settings = &d.settings;
    let lang = opts.language.unwrap_or(settings.language);
    let for_funder = audience == Audience::Funder;
    let round = &d.round;
    let k = settings.min_group_size.max(1) as usize;
    let scale = settings.scale.clone();
    let rule: ConsensusRule = settings.consensus.clone();
    let by_theme = d.answers.by_theme(&d.answers.now);

    // Per theme.
    let mut rows: Vec<ThemeRow> = d
        .published
        .iter()
        .map(|t| {
            let theirs: &[&Scored] = by_theme.get(t.theme_id.as_str()).map_or(&[], Vec::as_slice);
            let scores: Vec<i32> = theirs.iter().filter_map(|a| a.score).collect();
            let dk = theirs.iter().filter(|a| a.dont_know).count();
            let s = ItemStats::of(&scores, dk, &scale);
            let hidden = s.n < k;
            let ci95 = robust::bootstrap_ci(&scores).map(|(a, b)| [a, b]);
            let rand_ucla = robust::rand_ucla_applies(&scale)
                .then(|| robust::rand_ucla(&scores))
                .flatten();
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
                ci95,
                rand_ucla,
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
    let shown: Vec<&PublishedTheme> = d
        .published
        .iter()
        .zip(&rows)
        .filter(|(_, r)| !r.hidden)
        .map(|(t, _)| t)
        .collect();
    let hidden_themes: Vec<i32> = rows.iter().filter(|r| r.hidden).map(|r| r.number).collect();

    // Kendall's W over the themes shown: panellists × themes, a panellist with any missing
    // score left out.
    let column = d
        .answers
        .places_among(shown.iter().map(|t| t.theme_id.as_str()));
    let mut by_panellist: Vec<Option<Vec<Option<i32>>>> = vec![None; d.answers.panellists.len()];
    for a in &d.answers.now {
        let row = by_panellist[a.panellist as usize].get_or_insert_with(|| vec![None; shown.len()]);
        if let (Some(s), Some(j)) = (a.score, column[a.theme as usize]) {
            row[j] = Some(s);
        }
    }
    // The panellists in the order of their ids, as every backend gives them.
    let mut order: Vec<usize> = (0..by_panellist.len()).collect();
    order.sort_by(|&a, &b| d.answers.panellists[a].cmp(&d.answers.panellists[b]));
    let matrix: Vec<Vec<Option<i32>>> = order
        .into_iter()
        .filter_map(|p| by_panellist[p].take())
        .collect();
    let kendall = kendall_w(&matrix).filter(|w| w.raters >= k);

    let stability = d.previous.map(|number| {
        stability(
            number,
            &d.answers,
            &by_theme,
            &d.published,
            &rows,
            (&scale, k),
            for_funder,
        )
    });
    let this_round = d.rounds.iter().find(|r| r.number == round.number);
    let groups = d.groups.as_ref().map(|g| {
        let none = HashSet::new();
        groups::build(
            g,
            &d.answers,
            &rows,
            this_round.map_or(&none, |r| &r.responders),
            (&scale, &rule, k),
            lang,
            audience,
        )
    });
    let sensitivity = robustness::sensitivity(&rows, &by_theme, &scale, &rule);
    let protocol = d.protocol.as_ref().and_then(|p| {
        let registered_at = p.registered_at?;
        Some(ProtocolSummary {
            registered_at,
            sha256: p.sha256.clone()?,
            amendments: p.amendments.clone(),
            before_rating: d.rating_began.is_none_or(|began| registered_at <= began),
        })
    });
    let mut item_flow = d.item_flow.clone();
    if let Some(last) = item_flow.iter_mut().find(|s| s.round == round.number) {
        let mut verdicts = BTreeMap::new();
        for r in rows.iter().filter(|r| !r.hidden) {
            *verdicts.entry(r.consensus.key().to_string()).or_insert(0) += 1;
        }
        last.verdicts = Some(verdicts);
    }
    let stopping = d
        .protocol
        .as_ref()
        .filter(|_| round.state == State::Closed)
        .map(|p| {
            let judged: Vec<&ThemeRow> = rows.iter().filter(|r| !r.hidden).collect();
            let verdict = p.protocol.stopping.judge(
                judged
                    .iter()
                    .filter(|r| r.consensus != Verdict::None)
                    .count(),
                judged.len(),
                stability.as_ref().and_then(|s| s.pct_changed),
                d.rounds.len() as i32,
            );
            Stopping {
                rules: verdict.rules.clone(),
                met: verdict.met,
                explanation: sentences::stopping(&verdict, &p.protocol.stopping, lang),
                verdict,
            }
        });
    let minority_views = robustness::minority_views(&rows, &d.answers.cleared, &d.statements);

    // The participant flow.
    let people = &d.people;
    let count = |s: Status| people.iter().filter(|p| p.status == s).count();
    let mut decline_reasons = BTreeMap::new();
    let mut decline_categories = BTreeMap::new();
    for p in people.iter().filter(|p| p.status == Status::Declined) {
        *decline_categories
            .entry(p.decline_category.as_str().to_string())
            .or_insert(0) += 1;
        if !for_funder {
            let r = p
                .decline_reason
                .clone()
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "—".into());
            *decline_reasons.entry(r).or_insert(0) += 1;
        }
    }
    // Everyone invited is somewhere: someone still without an answer when the round has closed
    // did not answer, and until then is waiting.
    let unanswered = people
        .iter()
        .filter(|p| p.invited && matches!(p.status, Status::Invited | Status::Identified))
        .count();
    let (no_reply, waiting) = if round.closed_at.is_some() {
        (count(Status::NoReply) + unanswered, 0)
    } else {
        (count(Status::NoReply), unanswered)
    };
    if no_reply > 0 {
        decline_categories.insert("no_reply".into(), no_reply);
    }
    let mut round_responses = Vec::new();
    let mut previous_responders: Option<&HashSet<String>> = None;
    for r in &d.rounds {
        let n = r.responders.len();
        round_responses.push(RoundResponse {
            number: r.number,
            panellists: r.panellists,
            responded: n,
            response_rate: (r.panellists > 0).then(|| 100.0 * n as f64 / r.panellists as f64),
            attrition: previous_responders.map(|before| before.difference(&r.responders).count()),
        });
        previous_responders = Some(&r.responders);
    }
    let responded_now = this_round.map_or(0, |r| r.responders.len());
    let flow = Flow {
        identified: people.len(),
        invited: people.iter().filter(|p| p.invited).count(),
        accepted: count(Status::Accepted),
        declined: count(Status::Declined),
        no_reply,
        withdrawn: count(Status::Withdrawn),
        waiting,
        responded: responded_now,
        decline_reasons,
        decline_categories,
        rounds: round_responses,
    };

    // Composition of the panel (accepted panellists).
    let panel: Vec<BTreeMap<String, String>> = people
        .iter()
        .filter(|p| p.status == Status::Accepted)
        .map(|p| p.strata.clone())
        .collect();
    let column = opts
        .columns
        .clone()
        .or_else(|| d.strata.first().map(|s| s.key.clone()));
    let composition = column.and_then(|col| {
        let rows: Vec<String> = opts.rows.clone().unwrap_or_else(|| {
            d.strata
                .iter()
                .filter(|s| s.key != col)
                .map(|s| s.key.clone())
                .collect()
        });
        let table_key = format!("composition:{}:{}", col, rows.join(","));
        let released_here: HashSet<String> = d
            .releases
            .iter()
            .filter(|(t, _)| *t == table_key)
            .map(|(_, c)| c.clone())
            .collect();
        composition::build(
            &panel,
            &d.strata,
            &col,
            &rows,
            settings.small_cell_threshold.max(1) as usize,
            &released_here,
            audience == Audience::Researcher,
        )
    });

    let numbers: HashMap<&str, i32> = d
        .published
        .iter()
        .map(|t| (t.theme_id.as_str(), t.snapshot.number))
        .collect();
    let mut comments: Vec<ClearedComment> = d
        .answers
        .cleared
        .iter()
        .filter_map(|c| {
            Some(ClearedComment {
                theme_number: *numbers.get(c.theme_id.as_str())?,
                text: c.text.clone(),
            })
        })
        .collect();
    comments.sort_by(|a, b| (a.theme_number, &a.text).cmp(&(b.theme_number, &b.text)));

    let mut report = Report {
        study: StudyInfo {
            language: lang,
            ..d.study.clone()
        },
        round: RoundInfo {
            number: round.number,
            validation: round.validation,
            rating: round.rating,
            feedback: round.feedback,
            opened_at: round.opened_at.map(utc),
            closes_at: round.closes_at.map(utc),
            closed_at: round.closed_at.map(utc),
            panellists: this_round.map_or(0, |r| r.panellists),
            responded: responded_now,
        },
        flow,
        scale,
        consensus_rule: RuleInfo {
            share_percent: rule.share_percent,
            points: rule.points,
            max_iqr: rule.max_iqr,
            dont_know: rule.dont_know,
            locked_at: d.consensus_locked_at,
            priority_threshold: settings.priority_threshold,
        },
        min_group_size: settings.min_group_size,
        themes: rows,
        kendall,
        stability,
        composition,
        groups,
        sensitivity,
        minority_views,
        protocol,
        stopping,
        item_flow,
        convergence: d.live.as_ref().map(|live| {
            let responded = d
                .rounds
                .iter()
                .find(|t| t.number == round.number)
                .map_or(0, |t| t.responders.len());
            Convergence {
                themes: live
                    .themes
                    .iter()
                    .map(|t| ConvergenceTheme {
                        number: t.number,
                        title: t.title.clone(),
                        snapshots: t.snapshots.clone(),
                    })
                    .collect(),
                revisions: live.revisions,
                revised_by: live.revised_by,
                pct_revised: (responded > 0)
                    .then(|| 100.0 * live.revised_by as f64 / responded as f64),
            }
        }),
        checklist: Vec::new(),
        findings: Vec::new(),
        changes: d.changes.clone(),
        comments,
        discussion: d
            .discussion
            .iter()
            .filter(|t| !(for_funder && hidden_themes.contains(&t.theme_number)))
            .cloned()
            .collect(),
        language: lang,
        generated_at: Utc::now(),
        cache_key: None,
        for_funder,
        hidden_themes,
    };
    report.findings = sentences::findings(&report);
    report.checklist = checklist::build(&report, &d.facts);
    report
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
    row.ci95 = None;
    row.rand_ucla = None;
}

fn stability(
    previous_round: i32,
    answers: &Scores,
    now_by_theme: &HashMap<&str, Vec<&Scored>>,
    published: &[PublishedTheme],
    rows: &[ThemeRow],
    (scale, k): (&Scale, usize),
    for_funder: bool,
) -> Stability {
    let mut earlier_scores: HashMap<&str, Vec<i32>> = HashMap::new();
    for e in &answers.before {
        if let Some(s) = e.score {
            earlier_scores
                .entry(answers.theme_id(e))
                .or_default()
                .push(s);
        }
    }
    let cv = |s: &ItemStats| match (s.sd, s.mean) {
        (Some(sd), Some(m)) if m.abs() > 1e-12 => Some(sd / m),
        _ => None,
    };
    // Each panellist's earlier score of each theme, by index (a table, not a hash map: a
    // report pairs hundreds of thousands).
    let width = answers.themes.len();
    let mut earlier: Vec<Option<Option<i32>>> = vec![None; answers.panellists.len() * width];
    for e in &answers.before {
        earlier[e.panellist as usize * width + e.theme as usize] = Some(e.score);
    }
    let mut themes = Vec::new();
    let (mut all_pairs, mut all_changed) = (0, 0);
    for (t, row) in published.iter().zip(rows) {
        let pairs: Vec<(i32, i32)> = now_by_theme
            .get(t.theme_id.as_str())
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|a| {
                let b = earlier[a.panellist as usize * width + a.theme as usize]?;
                Some((b?, a.score?))
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
                cv_change: None,
                stable: None,
                hidden: true,
            });
            continue;
        }
        let changed = pairs.iter().filter(|(a, b)| a != b).count();
        all_pairs += pairs.len();
        all_changed += changed;
        let pct_changed = (!pairs.is_empty()).then(|| 100.0 * changed as f64 / pairs.len() as f64);
        let before_scores = earlier_scores
            .get(t.theme_id.as_str())
            .map_or(&[][..], Vec::as_slice);
        let now_scores: Vec<i32> = now_by_theme
            .get(t.theme_id.as_str())
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|a| a.score)
            .collect();
        // The previous round's spread of fewer than k scores is not shown to a funder.
        let cv_change = (!for_funder || before_scores.len() >= k)
            .then(|| {
                let then = cv(&ItemStats::of(before_scores, 0, scale))?;
                let now = cv(&ItemStats::of(&now_scores, 0, scale))?;
                Some(now - then)
            })
            .flatten();
        themes.push(ThemeStability {
            number: t.snapshot.number,
            pairs: pairs.len(),
            changed,
            pct_changed,
            wilcoxon: wilcoxon_signed_rank(&pairs),
            cv_change,
            stable: pct_changed.map(|p| p < STABLE_BELOW_PERCENT - 1e-9),
            hidden: pairs.len() < k,
        });
    }
    let judged: Vec<bool> = themes
        .iter()
        .filter(|t| !t.hidden)
        .filter_map(|t| t.stable)
        .collect();
    Stability {
        previous_round,
        themes,
        pct_changed: (all_pairs > 0).then(|| 100.0 * all_changed as f64 / all_pairs as f64),
        pct_stable: (!judged.is_empty())
            .then(|| 100.0 * judged.iter().filter(|s| **s).count() as f64 / judged.len() as f64),
    }
}

#[cfg(test)]
mod tests {
    //! The report from hand-made data: no database is involved.

    use chrono::NaiveDate;

    use super::*;
    use crate::domain::codebook::ThemeSnapshot;
    use crate::domain::round::Kind;
    use crate::domain::study::StudyInput;

    fn at(day: u32) -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, day)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn theme(id: &str, number: i32) -> PublishedTheme {
        PublishedTheme {
            theme_id: id.into(),
            position: number,
            theme_version: 1,
            snapshot: ThemeSnapshot {
                category_code: "A".into(),
                category_title: "Arbejdspladsen".into(),
                number,
                title: format!("Tema {number}"),
                description: String::new(),
                statements: Vec::new(),
            },
        }
    }

    /// Four panellists score theme 1; only one scores theme 2, below the study's group size.
    fn data() -> ReportData {
        let settings = StudySettings::create(
            StudyInput {
                title: Some("Prøve".into()),
                ..Default::default()
            },
            crate::i18n::zone::DEFAULT,
        )
        .unwrap();
        let mut answers = Scores::default();
        for (p, s) in [4, 4, 3, 2].into_iter().enumerate() {
            answers.push(Which::Now, &format!("p{p}"), "t1", Some(s), false);
        }
        answers.push(Which::Now, "p0", "t2", Some(1), false);
        ReportData {
            study: StudyInfo {
                id: "s".into(),
                title: settings.title.clone(),
                purpose: String::new(),
                funder: "Fonden".into(),
                contact: String::new(),
                language: settings.language,
                time_zone: settings.time_zone.name().into(),
            },
            settings,
            consensus_locked_at: Some(utc(at(1))),
            round: Round {
                id: "r2".into(),
                study_id: "s".into(),
                number: 2,
                kind: Kind::Rating,
                questionnaire: false,
                validation: false,
                rating: true,
                feedback: false,
                state: State::Closed,
                instructions: String::new(),
                reminder_days: "[]".into(),
                closes_at: Some(at(20)),
                opened_at: Some(at(1)),
                closed_at: Some(at(20)),
                created_at: at(1),
                updated_at: at(20),
                feedback_by_group: false,
                mode: Default::default(),
            },
            published: vec![theme("t1", 1), theme("t2", 2)],
            answers,
            rounds: vec![RoundTally {
                number: 2,
                panellists: 4,
                responders: (0..4).map(|p| format!("p{p}")).collect(),
            }],
            previous: None,
            people: Vec::new(),
            strata: Vec::new(),
            releases: Vec::new(),
            changes: Vec::new(),
            groups: None,
            statements: HashMap::new(),
            protocol: None,
            rating_began: None,
            item_flow: Vec::new(),
            facts: Default::default(),
            live: None,
            discussion: Vec::new(),
        }
    }

    #[test]
    fn the_report_is_composed_from_its_data_alone() {
        let d = data();
        let researcher = compose(&d, &Options::default(), Audience::Researcher);
        let t1 = &researcher.themes[0];
        assert_eq!((t1.n, t1.mean, t1.median), (4, Some(3.25), Some(3.5)));
        assert_eq!(t1.counts, vec![0, 0, 1, 1, 2]);
        assert_eq!(researcher.themes[1].n, 1);
        assert_eq!(researcher.hidden_themes, vec![2]);
        assert!(!researcher.for_funder);

        // The funder gets the same figures for theme 1 and nothing of theme 2's one score.
        let funder = compose(&d, &Options::default(), Audience::Funder);
        assert!(funder.for_funder);
        assert_eq!(funder.themes[0].mean, Some(3.25));
        let t2 = &funder.themes[1];
        assert!(t2.hidden);
        assert_eq!(
            (t2.mean, t2.median, t2.q1, t2.q3, t2.sd),
            (None, None, None, None, None)
        );
        assert!(t2.counts.iter().all(|&c| c == 0), "{:?}", t2.counts);
        assert_eq!((t2.n, t2.dont_know, t2.pct_top2), (0, 0, None));
        // Composing twice from the same data gives the same report, whenever it is made.
        let again = compose(&d, &Options::default(), Audience::Funder);
        assert_eq!(
            serde_json::to_value(&again.themes).unwrap(),
            serde_json::to_value(&funder.themes).unwrap()
        );
    }
}
