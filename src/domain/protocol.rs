//! A study's protocol: what the researchers fix before the data arrive — the consensus rule and
//! priority threshold, the minimum group size, the panel groups, the planned rounds, the stopping
//! rule, the feedback of each round and the analyses to report — as one document with a
//! canonical JSON form whose SHA-256 can be deposited with a registry; and the stopping rule
//! judged after a round.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ConsensusRule, Invalid, Scale};

/// The analyses a protocol can promise to report.
pub const ANALYSES: [&str; 9] = [
    "priorities",
    "consensus",
    "kendall_w",
    "stability",
    "groups",
    "confidence_intervals",
    "rand_ucla",
    "sensitivity",
    "minority_views",
];

/// What feedback a planned round gives.
pub const FEEDBACK: [&str; 3] = ["none", "distribution", "distribution_by_group"];

/// When to stop asking: any rule that holds stops the study.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoppingRule {
    /// Stop when every theme rated has reached a verdict (consensus high or low).
    #[serde(default)]
    pub all_verdicts: bool,
    /// Stop when fewer than this share (%) of the scores given in both rounds changed.
    #[serde(default)]
    pub change_below_percent: Option<f64>,
    /// Stop after this many rating rounds.
    #[serde(default)]
    pub max_rounds: Option<i32>,
}

/// The protocol's document: exactly what is registered and hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Protocol {
    pub consensus: ConsensusRule,
    pub priority_threshold: f64,
    /// Group figures only where at least this many answered.
    pub min_group_size: i32,
    /// The panel attribute whose values are the groups, if any.
    pub groups_by: Option<String>,
    /// The rating rounds planned.
    pub planned_rounds: i32,
    pub stopping: StoppingRule,
    /// Per planned rating round, in order: `none`, `distribution` or `distribution_by_group`.
    pub feedback: Vec<String>,
    /// The analyses the report will give (from [`ANALYSES`]).
    pub analyses: Vec<String>,
}

impl Protocol {
    /// Checks the document against the study's scale and panel attributes.
    pub fn validate(&self, scale: &Scale, strata: &[String]) -> Result<(), Invalid> {
        let mut e = Invalid::new();
        if let Err(inner) = self.consensus.clone().validate_on(scale) {
            e.0.extend(inner.0);
        }
        if !(self.priority_threshold.is_finite()
            && self.priority_threshold >= f64::from(scale.min)
            && self.priority_threshold <= f64::from(scale.max))
        {
            e.add(
                "priority_threshold",
                format!(
                    "must lie on the scale, between {} and {}",
                    scale.min, scale.max
                ),
            );
        }
        if !(1..=100).contains(&self.min_group_size) {
            e.add("min_group_size", "must be between 1 and 100");
        }
        if let Some(by) = &self.groups_by
            && !strata.contains(by)
        {
            e.add(
                "groups_by",
                format!("the study has no panel attribute with the key {by:?}"),
            );
        }
        if !(1..=20).contains(&self.planned_rounds) {
            e.add("planned_rounds", "must be between 1 and 20");
        }
        let s = &self.stopping;
        if let Some(p) = s.change_below_percent
            && !(p > 0.0 && p <= 100.0)
        {
            e.add(
                "stopping.change_below_percent",
                "must be above 0 and at most 100",
            );
        }
        if let Some(n) = s.max_rounds
            && !(1..=20).contains(&n)
        {
            e.add("stopping.max_rounds", "must be between 1 and 20");
        }
        if !s.all_verdicts && s.change_below_percent.is_none() && s.max_rounds.is_none() {
            e.add("stopping", "choose at least one rule for when to stop");
        }
        if self.feedback.len() > 20
            || self
                .feedback
                .iter()
                .any(|f| !FEEDBACK.contains(&f.as_str()))
        {
            e.add(
                "feedback",
                "each round's feedback is none, distribution or distribution_by_group",
            );
        }
        if self.groups_by.is_none() && self.feedback.iter().any(|f| f == "distribution_by_group") {
            e.add(
                "feedback",
                "feedback by group needs panel groups: choose the attribute that divides the panel in the study's settings",
            );
        }
        if self
            .analyses
            .iter()
            .any(|a| !ANALYSES.contains(&a.as_str()))
        {
            e.add(
                "analyses",
                format!("each analysis is one of {}", ANALYSES.join(", ")),
            );
        }
        e.into_result(())
    }

    /// The canonical JSON form: keys sorted, no spaces, UTF-8. What is registered, downloaded
    /// and hashed.
    pub fn canonical(&self) -> Vec<u8> {
        // serde_json's maps are sorted by key, so a Value writes its keys in order.
        let value = serde_json::to_value(self).expect("serialisable");
        serde_json::to_vec(&value).expect("serialisable")
    }

    /// The SHA-256 of the canonical form, in lower-case hex.
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(self.canonical()))
    }

    /// The fields that differ from `other`, by name (an amendment's list of changes).
    pub fn changes_from(&self, other: &Protocol) -> Vec<String> {
        let (a, b) = (
            serde_json::to_value(other).expect("serialisable"),
            serde_json::to_value(self).expect("serialisable"),
        );
        let mut out = Vec::new();
        if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
            for (k, v) in b {
                if a.get(k) != Some(v) {
                    out.push(k.clone());
                }
            }
        }
        out
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the stopping rule stands after a closed rating round.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoppingVerdict {
    /// The rules, each said as its code (`all_verdicts`, `change_below:15`, `max_rounds:3`).
    pub rules: Vec<String>,
    pub met: bool,
    /// The figures the verdict rests on: themes with a verdict of those judged, the share of
    /// scores that changed, rating rounds held.
    pub with_verdict: usize,
    pub judged: usize,
    pub pct_changed: Option<f64>,
    pub rounds_held: i32,
}

impl StoppingRule {
    /// The rule's parts as codes.
    pub fn codes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.all_verdicts {
            out.push("all_verdicts".into());
        }
        if let Some(p) = self.change_below_percent {
            out.push(format!("change_below:{p}"));
        }
        if let Some(n) = self.max_rounds {
            out.push(format!("max_rounds:{n}"));
        }
        out
    }

    /// Judges the rule: stop when any of its parts holds.
    pub fn judge(
        &self,
        with_verdict: usize,
        judged: usize,
        pct_changed: Option<f64>,
        rounds_held: i32,
    ) -> StoppingVerdict {
        let verdicts = self.all_verdicts && judged > 0 && with_verdict == judged;
        let stable = self
            .change_below_percent
            .zip(pct_changed)
            .is_some_and(|(limit, changed)| changed < limit);
        let enough = self.max_rounds.is_some_and(|n| rounds_held >= n);
        StoppingVerdict {
            rules: self.codes(),
            met: verdicts || stable || enough,
            with_verdict,
            judged,
            pct_changed,
            rounds_held,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Language;

    fn protocol() -> Protocol {
        Protocol {
            consensus: ConsensusRule::default(),
            priority_threshold: 3.0,
            min_group_size: 3,
            groups_by: None,
            planned_rounds: 3,
            stopping: StoppingRule {
                all_verdicts: true,
                change_below_percent: Some(15.0),
                max_rounds: Some(3),
            },
            feedback: vec!["none".into(), "distribution".into(), "distribution".into()],
            analyses: vec!["priorities".into(), "stability".into()],
        }
    }

    #[test]
    fn the_canonical_form_sorts_keys_and_hashes_reproducibly() {
        let p = protocol();
        let text = String::from_utf8(p.canonical()).unwrap();
        assert!(text.starts_with("{\"analyses\":[\"priorities\",\"stability\"],\"consensus\":{"));
        assert!(!text.contains(' '), "{text}");
        assert_eq!(p.sha256(), hex(&Sha256::digest(text.as_bytes())));
        assert_eq!(p.sha256().len(), 64);
        // Read back, it is the same document with the same hash.
        let back: Protocol = serde_json::from_slice(&p.canonical()).unwrap();
        assert_eq!(back.sha256(), p.sha256());
    }

    #[test]
    fn a_protocol_is_checked_against_the_study() {
        let scale = Scale::default_for(Language::En);
        assert!(protocol().validate(&scale, &[]).is_ok());
        let bad = Protocol {
            groups_by: Some("side".into()),
            planned_rounds: 0,
            stopping: StoppingRule::default(),
            feedback: vec!["distribution_by_group".into(), "loud".into()],
            analyses: vec!["astrology".into()],
            ..protocol()
        };
        let fields: Vec<String> = bad
            .validate(&scale, &[])
            .unwrap_err()
            .0
            .into_iter()
            .map(|f| f.field)
            .collect();
        for f in [
            "groups_by",
            "planned_rounds",
            "stopping",
            "feedback",
            "analyses",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
        }
    }

    #[test]
    fn the_stopping_rule_stops_when_any_part_holds() {
        let rule = protocol().stopping;
        assert!(!rule.judge(12, 13, Some(20.0), 2).met);
        assert!(rule.judge(13, 13, Some(20.0), 2).met, "every theme decided");
        assert!(rule.judge(12, 13, Some(8.0), 2).met, "few changes");
        assert!(rule.judge(12, 13, None, 3).met, "rounds used up");
        assert!(
            !StoppingRule {
                all_verdicts: true,
                ..Default::default()
            }
            .judge(0, 0, None, 1)
            .met,
            "nothing judged is no verdict"
        );
        assert_eq!(
            rule.codes(),
            ["all_verdicts", "change_below:15", "max_rounds:3"]
        );
    }

    #[test]
    fn an_amendment_names_the_fields_it_changes() {
        let a = protocol();
        let b = Protocol {
            planned_rounds: 4,
            stopping: StoppingRule {
                max_rounds: Some(4),
                ..a.stopping.clone()
            },
            ..a.clone()
        };
        assert_eq!(b.changes_from(&a), ["planned_rounds", "stopping"]);
    }
}
