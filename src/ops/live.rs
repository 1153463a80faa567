//! Live rating rounds: while the round runs, each expert sees the panel's figures for a theme
//! once they have answered it — never a live count, but snapshots published in batches, each
//! only when more than k panellists changed their score of the theme since the last one. No
//! change between two snapshots can then be traced to one person, not even by an expert who
//! subtracts their own change; and a snapshot is shown only when at least k others scored.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::AppResult;
use super::access::{self, ResearcherId, Role};
use crate::db::models::{LiveChange, LiveSnapshot, Round, Study};
use crate::db::schema::{
    answer_changes, answers, live_changes, live_snapshots, round_themes, rounds, studies, themes,
};
use crate::db::{self, DbConn, new_id, utc};
use crate::domain::Scale;
use crate::domain::round::{Mode, State};

/// The panel's figures for one theme as a snapshot shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveFigures {
    /// Valid scores in the snapshot.
    pub n: usize,
    /// Scores per scale point, lowest first.
    pub counts: Vec<usize>,
    pub median: Option<f64>,
    /// The day it was published (the study's calendar), never the minute.
    #[schema(example = "2027-01-12")]
    pub published_at: String,
}

/// Records that a panellist's score (or "don't know") of a theme changed, for the next
/// snapshot's count.
pub fn record_change(
    conn: &mut DbConn,
    round_id: &str,
    theme_id: &str,
    panellist_id: &str,
    at: NaiveDateTime,
) -> AppResult<()> {
    let key = (round_id, theme_id, panellist_id);
    let updated = diesel::update(live_changes::table.find(key))
        .set(live_changes::at.eq(at))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(live_changes::table)
            .values(&LiveChange {
                round_id: round_id.into(),
                theme_id: theme_id.into(),
                panellist_id: panellist_id.into(),
                at,
            })
            .execute(conn)?;
    }
    Ok(())
}

/// How many distinct panellists must have changed a theme's score before a new snapshot of it:
/// more than k, so that even one of them, subtracting their own change, is left with at least k.
pub fn changes_needed(min_group_size: i32) -> usize {
    min_group_size.max(1) as usize + 1
}

fn latest(conn: &mut DbConn, round_id: &str) -> AppResult<HashMap<String, LiveSnapshot>> {
    let all: Vec<LiveSnapshot> = live_snapshots::table
        .filter(live_snapshots::round_id.eq(round_id))
        .order((live_snapshots::published_at.asc(), live_snapshots::id.asc()))
        .select(LiveSnapshot::as_select())
        .load(conn)?;
    Ok(all.into_iter().map(|s| (s.theme_id.clone(), s)).collect())
}

/// n, counts per point and median of valid scores, as the rest of Orakel computes them.
fn figures(scores: &[i32], scale: &Scale) -> (usize, Vec<usize>, Option<f64>) {
    let s = crate::domain::stats::ItemStats::of(scores, 0, scale);
    (s.n, s.counts, s.median)
}

/// Publishes a snapshot of every theme of the round on which more than k panellists changed
/// their score since its last snapshot. Returns how many were published.
pub fn publish_round(conn: &mut DbConn, r: &Round, at: NaiveDateTime) -> AppResult<usize> {
    if r.mode != Mode::Live {
        return Ok(0);
    }
    let study: Study = studies::table
        .find(&r.study_id)
        .select(Study::as_select())
        .first(conn)?;
    let settings = study.settings()?;
    let needed = changes_needed(settings.min_group_size);
    let last = latest(conn, &r.id)?;
    let theme_ids: Vec<String> = round_themes::table
        .filter(round_themes::round_id.eq(&r.id))
        .select(round_themes::theme_id)
        .load(conn)?;
    let changes: Vec<(String, NaiveDateTime)> = live_changes::table
        .filter(live_changes::round_id.eq(&r.id))
        .select((live_changes::theme_id, live_changes::at))
        .load(conn)?;
    let mut published = 0;
    for theme in &theme_ids {
        let since = last.get(theme).map(|s| s.published_at);
        let pending = changes
            .iter()
            .filter(|(t, when)| t == theme && since.is_none_or(|s| *when > s) && *when <= at)
            .count();
        if pending < needed {
            continue;
        }
        let scores: Vec<i32> = answers::table
            .filter(answers::round_id.eq(&r.id))
            .filter(answers::theme_id.eq(theme))
            .filter(answers::dont_know.eq(false))
            .filter(answers::score.is_not_null())
            .select(answers::score.assume_not_null())
            .load(conn)?;
        let (n, counts, median) = figures(&scores, &settings.scale);
        diesel::insert_into(live_snapshots::table)
            .values(&LiveSnapshot {
                id: new_id(),
                round_id: r.id.clone(),
                theme_id: theme.clone(),
                published_at: at,
                n: n as i32,
                counts: serde_json::to_string(&counts).expect("serialisable"),
                median,
            })
            .execute(conn)?;
        published += 1;
    }
    Ok(published)
}

/// The worker's part (and, with `minutes` 0, each save's): the open live rounds whose last
/// publication is at least `minutes` old publish what is due. Batching by the clock keeps the
/// time of a snapshot from being the time of any one answer.
pub fn publish_due(conn: &mut DbConn, minutes: i64, at: NaiveDateTime) -> AppResult<usize> {
    let open: Vec<Round> = rounds::table
        .filter(rounds::state.eq(State::Open))
        .filter(rounds::mode.eq(Mode::Live))
        .select(Round::as_select())
        .load(conn)?;
    let mut published = 0;
    for r in open {
        if !r.accepting(at) {
            continue;
        }
        let previous: Option<NaiveDateTime> = live_snapshots::table
            .filter(live_snapshots::round_id.eq(&r.id))
            .select(diesel::dsl::max(live_snapshots::published_at))
            .first(conn)?;
        if previous.is_some_and(|p| at < p + Duration::minutes(minutes)) {
            continue;
        }
        published += db::write(conn, |c| publish_round(c, &r, at))?;
    }
    Ok(published)
}

/// What one expert sees of a live round: per theme they have answered, the latest snapshot,
/// when at least k others scored in it.
pub fn for_expert(
    conn: &mut DbConn,
    r: &Round,
    study: &Study,
    answered: &[String],
) -> AppResult<HashMap<String, LiveFigures>> {
    if r.mode != Mode::Live {
        return Ok(HashMap::new());
    }
    let settings = study.settings()?;
    let k = settings.min_group_size.max(1) as usize;
    Ok(latest(conn, &r.id)?
        .into_iter()
        .filter(|(theme, s)| answered.contains(theme) && s.n as usize > k)
        .map(|(theme, s)| (theme, shown(&s, settings.time_zone)))
        .collect())
}

fn shown(s: &LiveSnapshot, tz: crate::i18n::Tz) -> LiveFigures {
    LiveFigures {
        n: s.n as usize,
        counts: serde_json::from_str(&s.counts).unwrap_or_default(),
        median: s.median,
        published_at: crate::i18n::zone::local(utc(s.published_at), tz)
            .date_naive()
            .to_string(),
    }
}

/// One snapshot in a theme's timeline, for researchers and the report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub published_at: DateTime<Utc>,
    pub n: usize,
    pub counts: Vec<usize>,
    pub median: Option<f64>,
}

/// A theme of a live round as researchers follow it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveTheme {
    pub theme_id: String,
    pub number: i32,
    pub title: String,
    /// The figures now, from every current answer (researchers see everything).
    pub current: TimelineEntry,
    /// Panellists who changed their score since the last snapshot.
    pub pending: usize,
    pub snapshots: Vec<TimelineEntry>,
}

/// A live round as researchers follow it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveRound {
    pub round_id: String,
    /// Changes needed on a theme before its next snapshot (more than k).
    pub changes_needed: usize,
    pub themes: Vec<LiveTheme>,
    /// Scores changed after they were first given, and the panellists who changed any.
    pub revisions: usize,
    pub revised_by: usize,
}

/// The live figures, snapshots and revisions of a round, for its researchers.
pub fn for_researcher(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<LiveRound> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    timeline(conn, &r, &study)
}

/// The timeline of a live round (also the report's convergence).
pub fn timeline(conn: &mut DbConn, r: &Round, study: &Study) -> AppResult<LiveRound> {
    let settings = study.settings()?;
    let entry =
        |at: NaiveDateTime, n: usize, counts: Vec<usize>, median: Option<f64>| TimelineEntry {
            published_at: utc(at),
            n,
            counts,
            median,
        };
    let all: Vec<LiveSnapshot> = live_snapshots::table
        .filter(live_snapshots::round_id.eq(&r.id))
        .order((live_snapshots::published_at.asc(), live_snapshots::id.asc()))
        .select(LiveSnapshot::as_select())
        .load(conn)?;
    let changes: Vec<(String, NaiveDateTime)> = live_changes::table
        .filter(live_changes::round_id.eq(&r.id))
        .select((live_changes::theme_id, live_changes::at))
        .load(conn)?;
    let listed: Vec<(String, i32, String)> = round_themes::table
        .inner_join(themes::table)
        .filter(round_themes::round_id.eq(&r.id))
        .order(themes::number.asc())
        .select((themes::id, themes::number, themes::title))
        .load(conn)?;
    let scores: Vec<(String, Option<i32>, bool)> = answers::table
        .filter(answers::round_id.eq(&r.id))
        .select((answers::theme_id, answers::score, answers::dont_know))
        .load(conn)?;
    let now = db::now();
    let mut out = Vec::new();
    for (theme_id, number, title) in listed {
        let valid: Vec<i32> = scores
            .iter()
            .filter(|(t, _, dk)| *t == theme_id && !dk)
            .filter_map(|(_, s, _)| *s)
            .collect();
        let (n, counts, median) = figures(&valid, &settings.scale);
        let snapshots: Vec<TimelineEntry> = all
            .iter()
            .filter(|s| s.theme_id == theme_id)
            .map(|s| {
                entry(
                    s.published_at,
                    s.n as usize,
                    serde_json::from_str(&s.counts).unwrap_or_default(),
                    s.median,
                )
            })
            .collect();
        let since = all
            .iter()
            .filter(|s| s.theme_id == theme_id)
            .map(|s| s.published_at)
            .max();
        let pending = changes
            .iter()
            .filter(|(t, at)| *t == theme_id && since.is_none_or(|s| *at > s))
            .count();
        out.push(LiveTheme {
            theme_id,
            number,
            title,
            current: entry(now, n, counts, median),
            pending,
            snapshots,
        });
    }
    // A revision: a change of a score after the first, as the answers' history keeps them.
    let history: Vec<(String, Option<i32>, bool)> = answer_changes::table
        .inner_join(answers::table)
        .filter(answers::round_id.eq(&r.id))
        .order((
            answer_changes::answer_id,
            answer_changes::at,
            answer_changes::id,
        ))
        .select((
            answer_changes::answer_id,
            answer_changes::score,
            answer_changes::dont_know,
        ))
        .load(conn)?;
    let owner: HashMap<String, String> = answers::table
        .filter(answers::round_id.eq(&r.id))
        .select((answers::id, answers::panellist_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut revisions = 0;
    let mut revised_by = std::collections::HashSet::new();
    let mut previous: Option<(&str, Option<i32>, bool)> = None;
    for (answer, score, dk) in &history {
        if let Some((a, s, d)) = previous
            && a == answer
            && (s, d) != (*score, *dk)
            && (s.is_some() || d)
        {
            revisions += 1;
            if let Some(p) = owner.get(answer) {
                revised_by.insert(p.clone());
            }
        }
        previous = Some((answer, *score, *dk));
    }
    Ok(LiveRound {
        round_id: r.id.clone(),
        changes_needed: changes_needed(settings.min_group_size),
        themes: out,
        revisions,
        revised_by: revised_by.len(),
    })
}
