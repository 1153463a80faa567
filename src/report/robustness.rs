//! How much the report's conclusions depend on the consensus rule (the sensitivity table), and
//! the views of the panel's minority: cleared comments of experts far from the median, with the
//! researchers' own statement per theme.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{Cleared, Scored, ThemeRow};
use crate::domain::ConsensusRule;
use crate::domain::Scale;
use crate::domain::robustness::{RuleVariant, neighbouring_rules};
use crate::domain::stats::{ItemStats, Verdict};

/// One rule of the sensitivity table and the verdict it gives each theme.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sensitivity {
    pub rule: RuleVariant,
    /// The study's locked rule (the result); the others show how robust it is.
    pub locked: bool,
    /// Theme number → verdict, for the themes with at least k valid scores.
    #[schema(value_type = BTreeMap<String, Verdict>)]
    pub verdicts: BTreeMap<i32, Verdict>,
    /// The themes whose verdict differs from the locked rule's.
    pub changed: Vec<i32>,
}

/// The verdict of every theme shown under the locked rule and its neighbours.
pub fn sensitivity(
    rows: &[ThemeRow],
    answers_by_theme: &HashMap<&str, Vec<&Scored>>,
    scale: &Scale,
    locked: &ConsensusRule,
) -> Vec<Sensitivity> {
    let stats: Vec<(i32, ItemStats)> = rows
        .iter()
        .filter(|r| !r.hidden)
        .map(|r| {
            let theirs = answers_by_theme
                .get(r.theme_id.as_str())
                .map_or(&[][..], Vec::as_slice);
            let scores: Vec<i32> = theirs.iter().filter_map(|a| a.score).collect();
            let dk = theirs.iter().filter(|a| a.dont_know).count();
            (r.number, ItemStats::of(&scores, dk, scale))
        })
        .collect();
    let rules = neighbouring_rules(locked);
    let verdicts_of = |v: &RuleVariant| -> BTreeMap<i32, Verdict> {
        stats
            .iter()
            .map(|(n, s)| (*n, s.verdict_within(&v.shares(), v.max_iqr)))
            .collect()
    };
    let base = verdicts_of(&rules[0]);
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let verdicts = verdicts_of(rule);
            let changed = verdicts
                .iter()
                .filter(|(n, v)| base.get(n) != Some(v))
                .map(|(n, _)| *n)
                .collect();
            Sensitivity {
                rule: rule.clone(),
                locked: i == 0,
                verdicts,
                changed,
            }
        })
        .collect()
}

/// A theme's minority view: cleared comments of experts whose score was at least two points
/// from the median (only where at least k scored it), and the researchers' statement.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MinorityView {
    pub number: i32,
    pub comments: Vec<String>,
    pub statement: Option<String>,
}

/// How far from the median a score must be for its comment to count as a minority view.
pub const MINORITY_DISTANCE: f64 = 2.0;

pub fn minority_views(
    rows: &[ThemeRow],
    cleared: &[Cleared],
    statements: &HashMap<String, String>,
) -> Vec<MinorityView> {
    let mut by_theme: HashMap<&str, Vec<&Cleared>> = HashMap::new();
    for c in cleared {
        by_theme.entry(c.theme_id.as_str()).or_default().push(c);
    }
    rows.iter()
        .filter_map(|r| {
            let mut comments: Vec<String> = match (r.hidden, r.median) {
                (false, Some(median)) => by_theme
                    .get(r.theme_id.as_str())
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .filter(|c| {
                        c.score.is_some_and(|s| {
                            (f64::from(s) - median).abs() + 1e-9 >= MINORITY_DISTANCE
                        })
                    })
                    .map(|c| c.text.clone())
                    .collect(),
                _ => Vec::new(),
            };
            // Sorted by text, so nothing of the order of answers shows.
            comments.sort();
            let statement = statements.get(&r.theme_id).cloned();
            (!comments.is_empty() || statement.is_some()).then_some(MinorityView {
                number: r.number,
                comments,
                statement,
            })
        })
        .collect()
}
