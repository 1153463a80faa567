//! The report per panel group: each group's figures for each theme, whether the groups differ
//! (Mann–Whitney U or Kruskal–Wallis H), the themes agreed on in every group and those the
//! groups disagree on. A funder sees no group below k, nor one that would let a hidden group be
//! worked out from the whole panel's figures ([`shown_groups`]); the tests and verdicts they get
//! are of the groups they see.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::{Audience, Scores, ThemeRow};
use crate::domain::compare::{GroupComparison, compare, shown_groups};
use crate::domain::stats::{ItemStats, Verdict};
use crate::domain::{ConsensusRule, Language, Scale};

/// What the report needs to know of the panel groups.
#[derive(Debug, Clone)]
pub struct GroupsData {
    /// The stratum's key and its name for people.
    pub by: String,
    pub label: String,
    /// The stratum's values in its order: the groups.
    pub values: Vec<String>,
    /// Each panellist's group (panellists without a value are in none).
    pub of_panellist: HashMap<String, String>,
    /// The panellists the report's round was sent to.
    pub round_panellists: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Groups {
    /// The stratum whose values are the groups.
    pub by: String,
    pub label: String,
    pub groups: Vec<Group>,
    /// Per theme, whether the groups' scores differ (groups with at least k scores only).
    pub tests: Vec<GroupTest>,
    /// Themes on which the groups' verdicts differ (one group agrees, another does not).
    pub disagreeing: Vec<i32>,
    /// Themes each group reached the same consensus on by itself.
    pub in_every_group: Vec<i32>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub value: String,
    pub label: String,
    /// Panellists of the group the round was sent to.
    pub panellists: usize,
    /// Of those, how many responded.
    pub responded: usize,
    pub themes: Vec<GroupTheme>,
}

/// A group's figures for one theme. Hidden (`hidden`: fewer than k valid scores, or held back
/// so a group below k cannot be worked out): a funder gets the number and n only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupTheme {
    pub number: i32,
    pub n: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_display: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iqr: Option<f64>,
    /// The group's verdict by the locked rule; none below k.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consensus: Option<Verdict>,
    pub hidden: bool,
}

/// The test of one theme across the groups.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupTest {
    pub number: i32,
    #[serde(flatten)]
    pub result: GroupComparison,
    /// The groups compared (values).
    pub groups: Vec<String>,
}

/// The groups' part of the report of `rows` (the whole panel's rows, in the same order as the
/// round's themes).
pub fn build(
    g: &GroupsData,
    answers: &Scores,
    rows: &[ThemeRow],
    responders: &std::collections::HashSet<String>,
    settings: (&Scale, &ConsensusRule, usize),
    lang: Language,
    audience: Audience,
) -> Groups {
    let (scale, rule, k) = settings;
    let for_funder = audience == Audience::Funder;
    let index: HashMap<&str, usize> = g
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_str(), i))
        .collect();
    let group_of = |panellist: &str| {
        g.of_panellist
            .get(panellist)
            .and_then(|v| index.get(v.as_str()).copied())
    };
    // Scores per theme and group.
    let theme_at = answers.places_among(rows.iter().map(|r| r.theme_id.as_str()));
    let group_at: Vec<Option<usize>> = answers.panellists.iter().map(|p| group_of(p)).collect();
    let mut scores = vec![vec![Vec::<i32>::new(); g.values.len()]; rows.len()];
    let mut dont_know = vec![vec![0usize; g.values.len()]; rows.len()];
    for a in &answers.now {
        let (Some(t), Some(grp)) = (theme_at[a.theme as usize], group_at[a.panellist as usize])
        else {
            continue;
        };
        if let Some(s) = a.score {
            scores[t][grp].push(s);
        } else if a.dont_know {
            dont_know[t][grp] += 1;
        }
    }
    let mut panellists = vec![0usize; g.values.len()];
    let mut responded = vec![0usize; g.values.len()];
    for p in &g.round_panellists {
        if let Some(grp) = group_of(p) {
            panellists[grp] += 1;
            responded[grp] += usize::from(responders.contains(p));
        }
    }
    // Only groups the round was sent to are part of the table.
    let present: Vec<usize> = (0..g.values.len()).filter(|&i| panellists[i] > 0).collect();

    let mut themes: Vec<Vec<GroupTheme>> = vec![Vec::new(); g.values.len()];
    let mut tests = Vec::new();
    let (mut disagreeing, mut in_every_group) = (Vec::new(), Vec::new());
    for (t, row) in rows.iter().enumerate() {
        let sizes: Vec<usize> = present.iter().map(|&i| scores[t][i].len()).collect();
        // Researchers see every group (below k marked); a funder only those that give nothing
        // below k away, and nothing of a theme hidden for the whole panel.
        let visible: Vec<bool> = if for_funder {
            if row.hidden {
                vec![false; present.len()]
            } else {
                shown_groups(row.n, &sizes, k)
            }
        } else {
            sizes.iter().map(|&n| n >= k).collect()
        };
        let mut judged: Vec<(usize, Verdict)> = Vec::new();
        for (j, &i) in present.iter().enumerate() {
            let s = ItemStats::of(&scores[t][i], dont_know[t][i], scale);
            let hidden = !visible[j];
            let verdict = (!hidden && !row.hidden).then(|| s.verdict(rule));
            if let Some(v) = verdict {
                judged.push((i, v));
            }
            let blank = hidden && for_funder;
            themes[i].push(GroupTheme {
                number: row.number,
                n: s.n,
                mean: s.mean.filter(|_| !blank),
                mean_display: s.mean_display(lang.code()).filter(|_| !blank),
                median: s.median.filter(|_| !blank),
                iqr: s.iqr.filter(|_| !blank),
                consensus: verdict,
                hidden,
            });
        }
        if row.hidden {
            continue;
        }
        let compared: Vec<usize> = judged.iter().map(|(i, _)| *i).collect();
        let samples: Vec<Vec<i32>> = compared.iter().map(|&i| scores[t][i].clone()).collect();
        if let Some(result) = compare(&samples) {
            tests.push(GroupTest {
                number: row.number,
                result,
                groups: compared.iter().map(|&i| g.values[i].clone()).collect(),
            });
        }
        let verdicts: BTreeSet<Verdict> = judged.iter().map(|(_, v)| *v).collect();
        if verdicts.len() > 1 {
            disagreeing.push(row.number);
        } else if judged.len() == present.len()
            && judged.len() >= 2
            && verdicts.iter().all(|v| *v != Verdict::None)
        {
            in_every_group.push(row.number);
        }
    }
    Groups {
        by: g.by.clone(),
        label: g.label.clone(),
        groups: present
            .iter()
            .map(|&i| Group {
                value: g.values[i].clone(),
                label: g.values[i].clone(),
                panellists: panellists[i],
                responded: responded[i],
                themes: std::mem::take(&mut themes[i]),
            })
            .collect(),
        tests,
        disagreeing,
        in_every_group,
    }
}
