//! The reporting-checklist appendix: each item of CREDES (Jünger et al. 2017), ACCORD (Gattrell
//! et al. 2024) and DELPHISTAR (Niederberger et al. 2024), said in Orakel's own words with the
//! guideline's item number, and answered from the study's data where Orakel holds the answer —
//! or marked "to be completed" with where the answer belongs, so nothing is silently missing.
//!
//! Item numbers follow the published checklists: CREDES 1–16 (its recommendations, conduct
//! and reporting), ACCORD's section codes T1, I1–I3, M1–M21, R1–R5, D1–D2, O1–O3 (the editable
//! checklist), DELPHISTAR 1–38.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Report, Verdict};
use crate::domain::protocol::StoppingRule;
use crate::i18n::{text as t, text_with as tw};

/// One checklist item and its answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChecklistItem {
    /// `CREDES`, `ACCORD` or `DELPHISTAR`.
    pub guideline: String,
    /// The guideline's own number of the item ("12", "M12").
    pub item: String,
    /// What the item asks, in Orakel's words and the report's language.
    pub topic: String,
    /// Whether Orakel's data answer it; if not, `value` is empty and `where` says where the
    /// answer belongs.
    pub filled: bool,
    pub value: String,
    /// Where the report (or the researchers) answer it: "Methods: consensus definition".
    #[serde(rename = "where")]
    pub place: String,
}

/// What the checklist needs beyond the report's own figures, gathered with the report's data.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Candidates by how they were found (the source as typed; the referral code for those an
    /// expert named).
    pub sources: BTreeMap<String, usize>,
    /// Candidates an expert named, and the longest chain of namings (snowball waves).
    pub referrals: usize,
    pub waves: usize,
    /// Reminders of the invitation sent to candidates (researchers only: the counter has no
    /// date, so a funder's report could see it move after the round closed).
    pub invitation_reminders: Option<usize>,
    /// The rounds up to the report's round that the reader may see, oldest first.
    pub rounds: Vec<RoundFacts>,
    /// Interview transcripts, coders who coded any, and the agreement of the two coders who
    /// coded the most transcripts in common: (Cohen's kappa, transcripts).
    pub transcripts: usize,
    pub coders: usize,
    pub agreement: Option<(f64, usize)>,
    /// From the registered protocol: the planned rating rounds and the stopping rule.
    pub planned_rounds: Option<i32>,
    pub stopping_rule: Option<StoppingRule>,
    /// The panel attributes, by their names for people.
    pub attributes: Vec<String>,
    /// The researchers' texts from the study's settings.
    pub rationale: String,
    pub panel_size_rationale: String,
    pub limitations: String,
    pub funding_and_interests: String,
}

#[derive(Debug, Clone)]
pub struct RoundFacts {
    pub number: i32,
    pub rating: bool,
    pub validation: bool,
    pub feedback: bool,
    pub feedback_by_group: bool,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Reminders sent to panellists in the round.
    pub reminders: usize,
}

/// Where an answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fact {
    Method,
    Rounds,
    Registration,
    ProtocolAvailable,
    Aim,
    Rationale,
    PanelSize,
    Identification,
    Invitation,
    Composition,
    Participation,
    RoundInvitation,
    Reminders,
    Anonymity,
    Feedback,
    ItemGeneration,
    Rigour,
    Questionnaire,
    ItemChanges,
    Consensus,
    Stopping,
    Analyses,
    GroupWeighting,
    Collection,
    Language,
    Dates,
    Deviations,
    Results,
    FlowChart,
    Limitations,
    Funding,
    /// Only the manuscript can answer it.
    Manuscript,
}

use Fact::*;

/// The items, in each guideline's order: (guideline, item, topic key, answer).
const ITEMS: &[(&str, &str, &str, Fact)] = &[
    ("CREDES", "1", "why_delphi", Rationale),
    ("CREDES", "2", "plan", Stopping),
    ("CREDES", "3", "consensus_definition", Consensus),
    ("CREDES", "4", "informational_input", Feedback),
    ("CREDES", "5", "bias", Anonymity),
    ("CREDES", "6", "processing", Analyses),
    ("CREDES", "7", "external_validation", Manuscript),
    ("CREDES", "8", "purpose", Aim),
    ("CREDES", "9", "panel", Identification),
    ("CREDES", "10", "methods", Method),
    ("CREDES", "11", "procedure", FlowChart),
    ("CREDES", "12", "attainment", Results),
    ("CREDES", "13", "results_rounds", Participation),
    ("CREDES", "14", "limitations", Limitations),
    ("CREDES", "15", "conclusions", Manuscript),
    ("CREDES", "16", "dissemination", Manuscript),
    ("ACCORD", "T1", "title", Manuscript),
    ("ACCORD", "I1", "why_consensus_method", Rationale),
    ("ACCORD", "I2", "aim_scope", Aim),
    ("ACCORD", "I3", "update", Manuscript),
    ("ACCORD", "M1", "registration", Registration),
    ("ACCORD", "M2", "steering", Manuscript),
    ("ACCORD", "M3", "panel_criteria_size", PanelSize),
    ("ACCORD", "M4", "recruitment", Identification),
    ("ACCORD", "M5", "public_involvement", Manuscript),
    ("ACCORD", "M6", "preparatory", ItemGeneration),
    ("ACCORD", "M7", "literature_search", Manuscript),
    ("ACCORD", "M8", "evidence_summary", Manuscript),
    ("ACCORD", "M9", "modifications", Method),
    ("ACCORD", "M10", "questionnaire", Questionnaire),
    ("ACCORD", "M11", "rounds", Rounds),
    ("ACCORD", "M12", "consensus_definition", Consensus),
    ("ACCORD", "M13", "revoting", Manuscript),
    ("ACCORD", "M14", "collection", Collection),
    ("ACCORD", "M15", "analysis", Analyses),
    ("ACCORD", "M16", "pilot", Manuscript),
    ("ACCORD", "M17", "feedback", Feedback),
    ("ACCORD", "M18", "anonymity", Anonymity),
    ("ACCORD", "M19", "voting_rights", Manuscript),
    ("ACCORD", "M20", "encouragement", Reminders),
    ("ACCORD", "M21", "language", Language),
    ("ACCORD", "R1", "dates", Dates),
    ("ACCORD", "R2", "deviations", Deviations),
    ("ACCORD", "R3", "participation", Participation),
    ("ACCORD", "R4", "outcome", Results),
    ("ACCORD", "R5", "item_changes", ItemChanges),
    ("ACCORD", "D1", "limitations_factors", Limitations),
    ("ACCORD", "D2", "literature_consistency", Manuscript),
    ("ACCORD", "O1", "endorsement", Manuscript),
    ("ACCORD", "O2", "interests", Funding),
    ("ACCORD", "O3", "funding", Funding),
    ("DELPHISTAR", "1", "title", Manuscript),
    ("DELPHISTAR", "2", "abstract_method", Manuscript),
    ("DELPHISTAR", "3", "abstract_structure", Manuscript),
    ("DELPHISTAR", "4", "funding", Funding),
    ("DELPHISTAR", "5", "team", Manuscript),
    ("DELPHISTAR", "6", "method_advice", Manuscript),
    ("DELPHISTAR", "7", "embedding", Manuscript),
    ("DELPHISTAR", "8", "protocol_available", ProtocolAvailable),
    ("DELPHISTAR", "9", "why_delphi", Rationale),
    ("DELPHISTAR", "10", "aim", Aim),
    ("DELPHISTAR", "11", "expertise_areas", Composition),
    ("DELPHISTAR", "12", "missing_expertise", Manuscript),
    ("DELPHISTAR", "13", "expert_definition", Manuscript),
    ("DELPHISTAR", "14", "variant", Method),
    ("DELPHISTAR", "15", "process_rules", Stopping),
    ("DELPHISTAR", "16", "round_invitation", RoundInvitation),
    ("DELPHISTAR", "17", "identification", Identification),
    ("DELPHISTAR", "18", "invitation", Invitation),
    (
        "DELPHISTAR",
        "19",
        "questionnaire_development",
        ItemGeneration,
    ),
    ("DELPHISTAR", "20", "questionnaire_structure", Questionnaire),
    ("DELPHISTAR", "21", "rounds_number", Rounds),
    ("DELPHISTAR", "22", "round_purposes", Rounds),
    ("DELPHISTAR", "23", "rounds_fixed", Stopping),
    ("DELPHISTAR", "24", "feedback_content", Feedback),
    ("DELPHISTAR", "25", "feedback_statistics", Feedback),
    ("DELPHISTAR", "26", "feedback_groups", Feedback),
    ("DELPHISTAR", "27", "dissent_again", Manuscript),
    ("DELPHISTAR", "28", "analysis", Analyses),
    ("DELPHISTAR", "29", "consensus_definition", Consensus),
    ("DELPHISTAR", "30", "group_weighting", GroupWeighting),
    ("DELPHISTAR", "31", "flow_chart", FlowChart),
    ("DELPHISTAR", "32", "external_events", Manuscript),
    ("DELPHISTAR", "33", "response_rates", Participation),
    ("DELPHISTAR", "34", "results_per_round", Results),
    ("DELPHISTAR", "35", "main_findings", Results),
    ("DELPHISTAR", "36", "transferability", Manuscript),
    ("DELPHISTAR", "37", "rigour", Rigour),
    ("DELPHISTAR", "38", "limitations_panel", Limitations),
];

/// The guidelines in the order the appendix walks through them.
pub const GUIDELINES: [&str; 3] = ["CREDES", "ACCORD", "DELPHISTAR"];

/// The guidelines with their references, in the report's language.
pub fn guidelines(l: &str) -> Vec<(&'static str, String)> {
    GUIDELINES
        .iter()
        .map(|g| (*g, t(l, &format!("checklist.ref_{}", g.to_lowercase()))))
        .collect()
}

/// What the manuscript's authors fill in, by the setting where Orakel keeps it (if any).
fn settings_field(fact: Fact) -> Option<&'static str> {
    match fact {
        Rationale => Some("rationale"),
        PanelSize => Some("panel_size_rationale"),
        Limitations => Some("limitations"),
        Funding => Some("funding_and_interests"),
        Aim => Some("purpose"),
        _ => None,
    }
}

/// The appendix for the report `r`.
pub fn build(r: &Report, f: &Facts) -> Vec<ChecklistItem> {
    let l = r.language.code();
    let mut answers: BTreeMap<&'static str, Option<(String, String)>> = BTreeMap::new();
    ITEMS
        .iter()
        .map(|(guideline, item, topic, fact)| {
            let key = fact_key(*fact);
            let answer = answers
                .entry(key)
                .or_insert_with(|| answer(*fact, r, f))
                .clone();
            let (filled, value, place) = match answer {
                Some((value, place)) => (true, value, place),
                None => (false, String::new(), missing_place(*fact, l)),
            };
            ChecklistItem {
                guideline: guideline.to_string(),
                item: item.to_string(),
                topic: t(l, &format!("checklist.topic_{topic}")),
                filled,
                value,
                place,
            }
        })
        .collect()
}

fn fact_key(fact: Fact) -> &'static str {
    // One answer per fact, computed once however many items use it.
    match fact {
        Method => "method",
        Rounds => "rounds",
        Registration => "registration",
        ProtocolAvailable => "protocol_available",
        Aim => "aim",
        Rationale => "rationale",
        PanelSize => "panel_size",
        Identification => "identification",
        Invitation => "invitation",
        Composition => "composition",
        Participation => "participation",
        RoundInvitation => "round_invitation",
        Reminders => "reminders",
        Anonymity => "anonymity",
        Feedback => "feedback",
        ItemGeneration => "item_generation",
        Rigour => "rigour",
        Questionnaire => "questionnaire",
        ItemChanges => "item_changes",
        Consensus => "consensus",
        Stopping => "stopping",
        Analyses => "analyses",
        GroupWeighting => "group_weighting",
        Collection => "collection",
        Language => "language",
        Dates => "dates",
        Deviations => "deviations",
        Results => "results",
        FlowChart => "flow_chart",
        Limitations => "limitations",
        Funding => "funding",
        Manuscript => "manuscript",
    }
}

fn missing_place(fact: Fact, l: &str) -> String {
    match settings_field(fact) {
        Some(field) => tw(
            l,
            "checklist.where_settings",
            &[(
                "field",
                crate::i18n::field_label(l, field).unwrap_or_else(|| field.to_string()),
            )],
        ),
        None if matches!(
            fact,
            Registration | ProtocolAvailable | Stopping | Deviations
        ) =>
        {
            t(l, "checklist.where_protocol")
        }
        None => t(l, "checklist.where_manuscript"),
    }
}

fn list(items: Vec<String>) -> String {
    items.join("; ")
}

/// The answer to one fact: (value, where), or none when Orakel's data do not answer it.
fn answer(fact: Fact, r: &Report, f: &Facts) -> Option<(String, String)> {
    let l = r.language.code();
    let w = |key: &str| t(l, &format!("checklist.where_{key}"));
    let rating: Vec<&RoundFacts> = f.rounds.iter().filter(|x| x.rating).collect();
    let k = ("k", r.min_group_size.to_string());
    let some = |value: String, place: &str| Some((value, w(place)));
    match fact {
        Manuscript => None,
        Method => {
            let base = tw(
                l,
                "checklist.v_method",
                &[
                    ("rating", rating.len().to_string()),
                    ("min", r.scale.min.to_string()),
                    ("max", r.scale.max.to_string()),
                ],
            );
            let value = if f.transcripts > 0 {
                format!(
                    "{} {base}",
                    tw(
                        l,
                        "checklist.v_method_interviews",
                        &[("transcripts", f.transcripts.to_string())]
                    )
                )
            } else {
                base
            };
            some(value, "methods")
        }
        Rounds => {
            let mut parts: Vec<String> = Vec::new();
            if f.transcripts > 0 && !f.rounds.iter().any(|x| x.number == 1) {
                parts.push(tw(l, "checklist.v_round_interviews", &[("n", "1".into())]));
            }
            for x in &f.rounds {
                let kind = if x.rating && x.feedback {
                    "rating_feedback"
                } else if x.rating {
                    "rating"
                } else if x.validation {
                    "validation"
                } else {
                    "interviews"
                };
                parts.push(tw(
                    l,
                    &format!("checklist.v_round_{kind}"),
                    &[("n", x.number.to_string())],
                ));
            }
            if let Some(p) = f.planned_rounds {
                parts.push(tw(l, "checklist.v_planned", &[("planned", p.to_string())]));
            }
            (!parts.is_empty()).then(|| (list(parts), w("methods")))
        }
        Registration => {
            let value = match &r.protocol {
                Some(p) => tw(
                    l,
                    if p.before_rating {
                        "checklist.v_registered"
                    } else {
                        "checklist.v_registered_late"
                    },
                    &[
                        (
                            "date",
                            crate::i18n::long_datetime(p.registered_at, l, r.zone()),
                        ),
                        ("sha", p.sha256.clone()),
                    ],
                ),
                None => t(l, "checklist.v_not_registered"),
            };
            some(value, "methods")
        }
        ProtocolAvailable => r.protocol.as_ref().map(|p| {
            (
                tw(
                    l,
                    "checklist.v_protocol_available",
                    &[(
                        "sha",
                        p.amendments
                            .last()
                            .map(|a| a.sha256.clone())
                            .unwrap_or_else(|| p.sha256.clone()),
                    )],
                ),
                w("protocol"),
            )
        }),
        Aim => (!r.study.purpose.trim().is_empty())
            .then(|| (r.study.purpose.trim().to_string(), w("about"))),
        Rationale => (!f.rationale.trim().is_empty())
            .then(|| (f.rationale.trim().to_string(), w("settings_text"))),
        Limitations => (!f.limitations.trim().is_empty())
            .then(|| (f.limitations.trim().to_string(), w("settings_text"))),
        Funding => {
            let text = f.funding_and_interests.trim();
            (!text.is_empty()).then(|| {
                let value = if r.study.funder.trim().is_empty() {
                    text.to_string()
                } else {
                    format!(
                        "{} {text}",
                        tw(
                            l,
                            "checklist.v_funder",
                            &[("funder", r.study.funder.trim().to_string())]
                        )
                    )
                };
                (value, w("settings_text"))
            })
        }
        PanelSize => {
            let text = f.panel_size_rationale.trim();
            (!text.is_empty()).then(|| {
                (
                    format!(
                        "{text} {}",
                        tw(
                            l,
                            "checklist.v_panel_size",
                            &[("accepted", r.flow.accepted.to_string())]
                        )
                    ),
                    w("settings_text"),
                )
            })
        }
        Identification => {
            if r.flow.identified == 0 {
                return None;
            }
            // For a funder a source with fewer than k candidates joins "other sources".
            let threshold = if r.for_funder {
                r.min_group_size.max(1) as usize
            } else {
                1
            };
            let mut named: Vec<String> = Vec::new();
            let mut other = 0;
            for (source, n) in &f.sources {
                if *n >= threshold {
                    named.push(format!(
                        "{} {n}",
                        crate::domain::candidate::source_label(l, source)
                    ));
                } else {
                    other += n;
                }
            }
            if other > 0 {
                named.push(format!("{} {other}", t(l, "checklist.v_other_sources")));
            }
            let mut value = tw(
                l,
                "checklist.v_identification",
                &[
                    ("identified", r.flow.identified.to_string()),
                    ("sources", named.join(", ")),
                    ("invited", r.flow.invited.to_string()),
                    ("accepted", r.flow.accepted.to_string()),
                ],
            );
            if f.referrals > 0 {
                value = format!(
                    "{value} {}",
                    tw(
                        l,
                        "checklist.v_referrals",
                        &[
                            ("referrals", f.referrals.to_string()),
                            ("waves", f.waves.to_string())
                        ]
                    )
                );
            }
            some(value, "flow")
        }
        Invitation => (r.flow.invited > 0).then(|| {
            let mut value = tw(
                l,
                "checklist.v_invitation",
                &[
                    ("invited", r.flow.invited.to_string()),
                    ("accepted", r.flow.accepted.to_string()),
                    ("declined", r.flow.declined.to_string()),
                    ("no_reply", r.flow.no_reply.to_string()),
                ],
            );
            if let Some(n) = f.invitation_reminders {
                value = format!(
                    "{value}; {}",
                    tw(
                        l,
                        "checklist.v_invitation_reminders",
                        &[("n", n.to_string())]
                    )
                );
            }
            (value, w("flow"))
        }),
        Composition => (!f.attributes.is_empty() && r.composition.is_some()).then(|| {
            (
                tw(
                    l,
                    "checklist.v_composition",
                    &[
                        ("total", r.flow.accepted.to_string()),
                        ("attributes", f.attributes.join(", ")),
                    ],
                ),
                w("composition"),
            )
        }),
        Participation => {
            if r.flow.rounds.is_empty() {
                return None;
            }
            let mut parts: Vec<String> = r
                .flow
                .rounds
                .iter()
                .map(|x| {
                    let mut s = tw(
                        l,
                        "checklist.v_response",
                        &[
                            ("n", x.number.to_string()),
                            ("responded", x.responded.to_string()),
                            ("panellists", x.panellists.to_string()),
                            (
                                "rate",
                                x.response_rate
                                    .map(|p| crate::i18n::percent(p, l))
                                    .unwrap_or_else(|| "–".into()),
                            ),
                        ],
                    );
                    if let Some(a) = x.attrition.filter(|a| *a > 0) {
                        s = format!(
                            "{s} {}",
                            tw(l, "checklist.v_attrition", &[("lost", a.to_string())])
                        );
                    }
                    s
                })
                .collect();
            if let Some(g) = &r.groups {
                let groups: Vec<String> = g
                    .groups
                    .iter()
                    .map(|x| format!("{} {}/{}", x.label, x.responded, x.panellists))
                    .collect();
                parts.push(tw(
                    l,
                    "checklist.v_groups",
                    &[
                        ("round", r.round.number.to_string()),
                        ("label", g.label.clone()),
                        ("groups", groups.join(", ")),
                    ],
                ));
            }
            some(list(parts), "flow")
        }
        RoundInvitation => (!r.flow.rounds.is_empty()).then(|| {
            (
                tw(
                    l,
                    "checklist.v_round_invitation",
                    &[(
                        "rounds",
                        r.flow
                            .rounds
                            .iter()
                            .map(|x| {
                                tw(
                                    l,
                                    "checklist.v_round_to",
                                    &[
                                        ("n", x.number.to_string()),
                                        ("panellists", x.panellists.to_string()),
                                    ],
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    )],
                ),
                w("flow"),
            )
        }),
        Reminders => {
            if f.rounds.is_empty() && r.flow.invited == 0 {
                return None;
            }
            let mut parts: Vec<String> = f
                .invitation_reminders
                .map(|n| {
                    tw(
                        l,
                        "checklist.v_invitation_reminders",
                        &[("n", n.to_string())],
                    )
                })
                .into_iter()
                .collect();
            for x in &f.rounds {
                parts.push(tw(
                    l,
                    "checklist.v_round_reminders",
                    &[
                        ("round", x.number.to_string()),
                        ("n", x.reminders.to_string()),
                    ],
                ));
            }
            some(list(parts), "flow")
        }
        Anonymity => {
            let mut said = tw(l, "checklist.v_anonymity", &[k]);
            let posts: usize = r.discussion.iter().map(|d| d.posts).sum();
            if posts > 0 {
                let n = ("n", posts.to_string());
                said = format!("{said} {}", tw(l, "checklist.v_discussion", &[n]));
            }
            some(said, "methods")
        }
        Feedback => {
            if rating.is_empty() {
                return None;
            }
            let parts: Vec<String> = rating
                .iter()
                .map(|x| {
                    let kind = match (x.feedback, x.feedback_by_group) {
                        (false, _) => "none",
                        (true, false) => "distribution",
                        (true, true) => "by_group",
                    };
                    tw(
                        l,
                        &format!("checklist.v_feedback_{kind}"),
                        &[("n", x.number.to_string()), k.clone()],
                    )
                })
                .collect();
            some(list(parts), "methods")
        }
        ItemGeneration => {
            let found = r.item_flow.iter().find_map(|s| s.found)?;
            let mut value = tw(
                l,
                "checklist.v_items_found",
                &[
                    ("found", found.to_string()),
                    ("transcripts", f.transcripts.to_string()),
                    ("coders", f.coders.to_string()),
                ],
            );
            if let Some(a) = agreement(f, l) {
                value = format!("{value} {a}");
            }
            some(value, "item_flow")
        }
        Rigour => agreement(f, l).map(|a| (a, w("item_flow"))),
        Questionnaire => {
            if r.themes.is_empty() {
                return None;
            }
            let categories: std::collections::BTreeSet<&str> =
                r.themes.iter().map(|x| x.category.as_str()).collect();
            let mut value = tw(
                l,
                "checklist.v_questionnaire",
                &[
                    ("themes", r.themes.len().to_string()),
                    ("categories", categories.len().to_string()),
                    ("min", r.scale.min.to_string()),
                    ("max", r.scale.max.to_string()),
                    ("low", r.scale.low_label.clone()),
                    ("high", r.scale.high_label.clone()),
                ],
            );
            if r.scale.dont_know {
                value = format!("{value} {}", t(l, "checklist.v_dont_know_offered"));
            }
            some(value, "themes")
        }
        ItemChanges => {
            let steps: Vec<_> = r.item_flow.iter().filter(|s| s.rated.is_some()).collect();
            if steps.is_empty() {
                return None;
            }
            let sum = |pick: fn(&super::ItemFlowStep) -> Option<usize>| -> usize {
                steps.iter().filter_map(|s| pick(s)).sum()
            };
            some(
                tw(
                    l,
                    "checklist.v_item_changes",
                    &[
                        ("reworded", sum(|s| s.reworded).to_string()),
                        ("merged", sum(|s| s.merged).to_string()),
                        ("split", sum(|s| s.split).to_string()),
                        ("dropped", sum(|s| s.dropped).to_string()),
                        ("added", sum(|s| s.added).to_string()),
                    ],
                ),
                "item_flow",
            )
        }
        Consensus => {
            let rule = &r.consensus_rule;
            let mut value = tw(
                l,
                "report.method_consensus",
                &[
                    ("share", crate::i18n::number(rule.share_percent, l)),
                    ("points", rule.points.to_string()),
                    ("iqr", crate::i18n::number(rule.max_iqr, l)),
                ],
            );
            value = format!(
                "{}; {}.",
                value.trim_end_matches('.'),
                t(l, &format!("report.rule_dk_{}", rule.dont_know.key()))
            );
            if let Some(at) = rule.locked_at {
                value = format!(
                    "{value} {}",
                    tw(
                        l,
                        "checklist.v_locked",
                        &[("date", crate::i18n::long_datetime(at, l, r.zone()))]
                    )
                );
            }
            some(value, "methods")
        }
        Stopping => {
            let rule = f.stopping_rule.as_ref()?;
            let mut value = tw(
                l,
                "checklist.v_stopping_rule",
                &[
                    ("rule", rule_words(rule, l)),
                    (
                        "planned",
                        f.planned_rounds.map(|p| p.to_string()).unwrap_or_default(),
                    ),
                ],
            );
            match &r.stopping {
                Some(s) => value = format!("{value} {}", s.explanation),
                None => value = format!("{value} {}", t(l, "checklist.v_stopping_later")),
            }
            some(value, "methods")
        }
        Analyses => {
            let mut parts = vec![t(l, "checklist.v_analyses_theme")];
            if r.kendall.is_some() {
                parts.push(t(l, "checklist.v_analyses_kendall"));
            }
            if r.stability.is_some() {
                parts.push(t(l, "checklist.v_analyses_stability"));
            }
            if r.groups.is_some() {
                parts.push(t(l, "checklist.v_analyses_groups"));
            }
            if r.themes.iter().any(|x| x.rand_ucla.is_some()) {
                parts.push(t(l, "checklist.v_analyses_rand_ucla"));
            }
            parts.push(t(l, "checklist.v_analyses_sensitivity"));
            if f.transcripts > 0 {
                parts.push(t(l, "checklist.v_analyses_qualitative"));
            }
            parts.push(t(
                l,
                &format!("report.rule_dk_{}", r.consensus_rule.dont_know.key()),
            ));
            parts.push(tw(l, "checklist.v_missing", &[k]));
            some(list(parts), "methods")
        }
        GroupWeighting => some(
            match &r.groups {
                Some(g) => tw(
                    l,
                    "checklist.v_weighting_groups",
                    &[("label", g.label.clone())],
                ),
                None => t(l, "checklist.v_weighting_none"),
            },
            "methods",
        ),
        Collection => some(
            tw(
                l,
                "checklist.v_collection",
                &[("version", env!("CARGO_PKG_VERSION").to_string())],
            ),
            "about",
        ),
        Language => some(
            t(
                l,
                &format!("checklist.v_language_{}", r.study.language.code()),
            ),
            "about",
        ),
        Dates => {
            let zone = r.zone();
            let day = |at: DateTime<Utc>| {
                crate::i18n::zone::local(at, zone)
                    .format("%Y-%m-%d")
                    .to_string()
            };
            let parts: Vec<String> = f
                .rounds
                .iter()
                .filter_map(|x| {
                    let opened = x.opened_at?;
                    Some(match x.closed_at {
                        Some(c) => tw(
                            l,
                            "checklist.v_dates",
                            &[
                                ("n", x.number.to_string()),
                                ("from", day(opened)),
                                ("to", day(c)),
                            ],
                        ),
                        None => tw(
                            l,
                            "checklist.v_dates_open",
                            &[("n", x.number.to_string()), ("from", day(opened))],
                        ),
                    })
                })
                .collect();
            (!parts.is_empty()).then(|| (list(parts), w("flow")))
        }
        Deviations => {
            let p = r.protocol.as_ref()?;
            let value = if p.amendments.is_empty() {
                t(l, "checklist.v_no_amendments")
            } else {
                tw(
                    l,
                    "checklist.v_amendments",
                    &[
                        ("n", p.amendments.len().to_string()),
                        (
                            "list",
                            p.amendments
                                .iter()
                                .map(|a| {
                                    format!(
                                        "{}: {} ({})",
                                        crate::i18n::long_date_of(a.at, l, r.zone()),
                                        a.changes
                                            .iter()
                                            .map(|c| crate::i18n::field_label(l, c)
                                                .unwrap_or_else(|| c.clone()))
                                            .collect::<Vec<_>>()
                                            .join(", "),
                                        a.reason
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join("; "),
                        ),
                    ],
                )
            };
            some(value, "methods")
        }
        Results => {
            let shown: Vec<_> = r.themes.iter().filter(|x| !x.hidden).collect();
            if shown.is_empty() || r.round.closed_at.is_none() {
                return None;
            }
            let count = |v: Verdict| shown.iter().filter(|x| x.consensus == v).count();
            some(
                tw(
                    l,
                    "checklist.v_results",
                    &[
                        ("round", r.round.number.to_string()),
                        ("themes", shown.len().to_string()),
                        ("high", count(Verdict::High).to_string()),
                        ("low", count(Verdict::Low).to_string()),
                        ("none", count(Verdict::None).to_string()),
                        (
                            "priority",
                            shown
                                .iter()
                                .filter(|x| x.meets_priority)
                                .count()
                                .to_string(),
                        ),
                    ],
                ),
                "themes",
            )
        }
        FlowChart => some(t(l, "checklist.v_flow_chart"), "flow"),
    }
}

fn agreement(f: &Facts, l: &str) -> Option<String> {
    let (kappa, transcripts) = f.agreement?;
    Some(tw(
        l,
        "checklist.v_agreement",
        &[
            ("kappa", crate::i18n::decimal(kappa, 2, l)),
            ("transcripts", transcripts.to_string()),
        ],
    ))
}

/// A stopping rule in words: its parts joined by "or".
pub fn rule_words(rule: &StoppingRule, l: &str) -> String {
    let mut parts = Vec::new();
    if rule.all_verdicts {
        parts.push(t(l, "checklist.rule_all_verdicts"));
    }
    if let Some(p) = rule.change_below_percent {
        parts.push(tw(
            l,
            "checklist.rule_change_below",
            &[("pct", crate::i18n::percent(p, l))],
        ));
    }
    if let Some(n) = rule.max_rounds {
        parts.push(tw(l, "checklist.rule_max_rounds", &[("n", n.to_string())]));
    }
    parts.join(&format!(" {} ", t(l, "checklist.or")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guideline_has_its_published_number_of_items_each_once() {
        for (g, count) in [("CREDES", 16), ("ACCORD", 35), ("DELPHISTAR", 38)] {
            let items: Vec<&str> = ITEMS
                .iter()
                .filter(|(x, ..)| *x == g)
                .map(|(_, i, ..)| *i)
                .collect();
            assert_eq!(items.len(), count, "{g}");
            let unique: std::collections::BTreeSet<_> = items.iter().collect();
            assert_eq!(unique.len(), count, "{g}: an item twice");
        }
        // ACCORD's sections: title 1, introduction 3, methods 21, results 5, discussion 2,
        // other information 3.
        for (prefix, count) in [("T", 1), ("I", 3), ("M", 21), ("R", 5), ("D", 2), ("O", 3)] {
            assert_eq!(
                ITEMS
                    .iter()
                    .filter(|(g, i, ..)| *g == "ACCORD" && i.starts_with(prefix))
                    .count(),
                count,
                "ACCORD {prefix}"
            );
        }
    }

    #[test]
    fn every_topic_is_said_in_both_languages() {
        for (_, _, topic, _) in ITEMS {
            for l in ["en", "da"] {
                let key = format!("checklist.topic_{topic}");
                assert_ne!(t(l, &key), key, "{l}: {key}");
            }
        }
    }
}
