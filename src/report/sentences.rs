//! The report's findings as sentences, each computed from the figures (never typed by hand, so
//! they cannot contradict the tables), in Danish or English.

use super::Report;
use crate::domain::Language;
use crate::domain::stats::Verdict;
use crate::i18n::decimal;

/// "1, 2 and 9" / "1, 2 og 9".
pub fn list(numbers: &[i32], lang: Language) -> String {
    let and = if lang == Language::Da { "og" } else { "and" };
    match numbers {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!(
            "{} {and} {last}",
            init.iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Kendall's W in words (Schmidt 1997).
pub fn strength(w: f64, lang: Language) -> &'static str {
    let i = match w {
        w if w < 0.1 => 0,
        w if w < 0.3 => 1,
        w if w < 0.5 => 2,
        w if w < 0.7 => 3,
        _ => 4,
    };
    match lang {
        Language::Da => ["meget svag", "svag", "moderat", "stærk", "meget stærk"][i],
        Language::En => ["very weak", "weak", "moderate", "strong", "very strong"][i],
    }
}

/// A p-value as reported: "< 0,001" below a thousandth, else "= 0,012".
pub fn p_value(p: f64, lang: Language) -> String {
    if p < 0.001 {
        p_plain(p, lang.code())
    } else {
        format!("= {}", p_plain(p, lang.code()))
    }
}

/// A p-value in a table cell: "< 0,001" below a thousandth, else "0,012".
pub fn p_plain(p: f64, lang: &str) -> String {
    if p < 0.001 {
        format!("< {}", decimal(0.001, 3, lang))
    } else {
        decimal(p, 3, lang)
    }
}

/// A rule of the sensitivity table in words: "70 % in the top 2 points · IQR ≤ 1 · don't know
/// left out".
pub fn rule_in_words(v: &crate::domain::robustness::RuleVariant, lang: Language) -> String {
    let l = lang.code();
    let iqr = match v.max_iqr {
        Some(m) => {
            crate::i18n::text_with(l, "report.rule_iqr", &[("iqr", crate::i18n::number(m, l))])
        }
        None => crate::i18n::text(l, "report.rule_no_iqr"),
    };
    format!(
        "{} · {iqr} · {}",
        crate::i18n::text_with(
            l,
            "report.rule_share",
            &[
                ("share", decimal(v.share_percent, 0, l)),
                ("points", v.points.to_string())
            ]
        ),
        crate::i18n::text(l, &format!("report.rule_dk_{}", v.dont_know.key())),
    )
}

/// The sensitivity table's rows as the documents show them: the rule in words, how many themes
/// reach high and low consensus under it, and which change verdict.
pub fn sensitivity_rows(r: &Report) -> Vec<SensitivityRow> {
    r.sensitivity
        .iter()
        .map(|s| SensitivityRow {
            words: rule_in_words(&s.rule, r.language),
            locked: s.locked,
            high: s.verdicts.values().filter(|v| **v == Verdict::High).count(),
            low: s.verdicts.values().filter(|v| **v == Verdict::Low).count(),
            changed: s.changed.clone(),
        })
        .collect()
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SensitivityRow {
    pub words: String,
    pub locked: bool,
    pub high: usize,
    pub low: usize,
    pub changed: Vec<i32>,
}

/// The stopping rule's verdict in words: "Stop: 12 of 13 themes reached a verdict; 8 % of the
/// scores changed (the rule: under 15 %)."
pub fn stopping(
    v: &crate::domain::protocol::StoppingVerdict,
    rule: &crate::domain::protocol::StoppingRule,
    lang: Language,
) -> String {
    use crate::i18n::text_with as tw;
    let l = lang.code();
    let mut parts = Vec::new();
    if rule.all_verdicts {
        parts.push(tw(
            l,
            "report.stop_verdicts",
            &[
                ("with", v.with_verdict.to_string()),
                ("judged", v.judged.to_string()),
            ],
        ));
    }
    if let Some(limit) = rule.change_below_percent {
        parts.push(match v.pct_changed {
            Some(p) => tw(
                l,
                "report.stop_changed",
                &[
                    ("pct", crate::i18n::percent(p, l)),
                    ("limit", crate::i18n::percent(limit, l)),
                ],
            ),
            None => tw(
                l,
                "report.stop_changed_none",
                &[("limit", crate::i18n::percent(limit, l))],
            ),
        });
    }
    if let Some(max) = rule.max_rounds {
        parts.push(tw(
            l,
            "report.stop_rounds",
            &[
                ("held", v.rounds_held.to_string()),
                ("max", max.to_string()),
            ],
        ));
    }
    tw(
        l,
        if v.met {
            "report.stop_met"
        } else {
            "report.stop_not_met"
        },
        &[("why", parts.join("; "))],
    )
}

/// The themes whose verdict changes under at least one neighbouring rule.
pub fn fragile_themes(r: &Report) -> Vec<i32> {
    let mut out: Vec<i32> = r
        .sensitivity
        .iter()
        .flat_map(|s| s.changed.iter().copied())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

pub fn findings(r: &Report) -> Vec<String> {
    let lang = r.language;
    let da = lang == Language::Da;
    let d = |v: f64, places: usize| decimal(v, places, lang.code());
    let mut out = Vec::new();
    // Themes scored by fewer than k are left out of every finding, and the findings say so.
    let shown: Vec<&super::ThemeRow> = r.themes.iter().filter(|t| !t.hidden).collect();
    let total = shown.len();

    if r.round.panellists > 0 {
        let pct = 100.0 * r.round.responded as f64 / r.round.panellists as f64;
        out.push(if da {
            format!(
                "{} af {} paneldeltagere ({} %) besvarede runde {}.",
                r.round.responded,
                r.round.panellists,
                d(pct, 0),
                r.round.number
            )
        } else {
            format!(
                "{} of the {} panellists ({} %) answered round {}.",
                r.round.responded,
                r.round.panellists,
                d(pct, 0),
                r.round.number
            )
        });
    }

    if !r.hidden_themes.is_empty() {
        let k = r.min_group_size;
        let n = r.hidden_themes.len();
        out.push(if da {
            format!(
                "Tema {} fik færre end {k} gyldige scorer og indgår ikke i resultaterne nedenfor.",
                list(&r.hidden_themes, lang)
            )
        } else {
            format!(
                "Theme{} {} had fewer than {k} valid scores and {} left out of the findings below.",
                if n > 1 { "s" } else { "" },
                list(&r.hidden_themes, lang),
                if n > 1 { "are" } else { "is" }
            )
        });
    }

    let numbers = |f: &dyn Fn(&super::ThemeRow) -> bool| -> Vec<i32> {
        shown.iter().filter(|t| f(t)).map(|t| t.number).collect()
    };
    let rule = &r.consensus_rule;
    let high = numbers(&|t| t.consensus == Verdict::High);
    out.push(match (high.len(), da) {
        (0, true) => "Intet tema opnåede konsensus om en høj vurdering.".into(),
        (0, false) => "No theme reached consensus on a high score.".into(),
        (k, true) => format!(
            "{k} af de {total} temaer opnåede konsensus om en høj vurdering (mindst {} % af de gyldige scorer i de {} højeste trin og et interkvartilinterval på højst {}): tema {}.",
            d(rule.share_percent, 0), rule.points, d(rule.max_iqr, 1), list(&high, lang)
        ),
        (k, false) => format!(
            "{k} of the {total} themes reached consensus on a high score (at least {} % of the valid scores in the {} highest points and an interquartile range of at most {}): theme{} {}.",
            d(rule.share_percent, 0), rule.points, d(rule.max_iqr, 1), if k > 1 { "s" } else { "" }, list(&high, lang)
        ),
    });
    let low = numbers(&|t| t.consensus == Verdict::Low);
    out.push(match (low.len(), da) {
        (0, true) => "Intet tema opnåede konsensus om en lav vurdering.".into(),
        (0, false) => "No theme reached consensus on a low score.".into(),
        (_, true) => format!(
            "Tema {} opnåede konsensus om en lav vurdering.",
            list(&low, lang)
        ),
        (k, false) => format!(
            "Theme{} {} reached consensus on a low score.",
            if k > 1 { "s" } else { "" },
            list(&low, lang)
        ),
    });

    let top = numbers(&|t| t.n > 0 && t.counts.last().is_some_and(|c| 3 * c >= 2 * t.n));
    if !top.is_empty() {
        out.push(if da {
            format!(
                "Tema {} blev placeret i den højeste kategori af mindst to tredjedele af panelet.",
                list(&top, lang)
            )
        } else {
            format!(
                "Theme{} {} {} placed in the highest category by at least two thirds of the panel.",
                if top.len() > 1 { "s" } else { "" },
                list(&top, lang),
                if top.len() > 1 { "were" } else { "was" }
            )
        });
    }
    let every_top_two = total > 0
        && shown.iter().all(|t| {
            let k = t.counts.len();
            t.counts[k.saturating_sub(2)..].iter().sum::<usize>() >= 2
        });
    if every_top_two {
        out.push(if da {
            "Alle temaer blev placeret i en af de to højeste kategorier af mindst to paneldeltagere.".into()
        } else {
            "Every theme was placed in one of the two highest categories by at least two panellists.".into()
        });
    }

    let priority = numbers(&|t| t.meets_priority);
    let threshold = d(
        rule.priority_threshold,
        if rule.priority_threshold.fract() == 0.0 {
            0
        } else {
            1
        },
    );
    out.push(match (priority.len(), da) {
        (0, true) => format!("Intet tema nåede et gennemsnit på {threshold} eller mere."),
        (0, false) => format!("No theme reached a mean of {threshold} or more."),
        (k, true) => format!("{k} {} et gennemsnit på {threshold} eller mere og er panelets prioriteter: tema {}.", if k == 1 { "tema nåede" } else { "temaer nåede" }, list(&priority, lang)),
        (k, false) => format!("{k} theme{} reached a mean of {threshold} or more and {} the panel's priorities: theme{} {}.", if k == 1 { "" } else { "s" }, if k == 1 { "is" } else { "are" }, if k == 1 { "" } else { "s" }, list(&priority, lang)),
    });

    if let Some(k) = &r.kendall {
        out.push(if da {
            format!(
                "Panelets enighed om temaernes rækkefølge er {} (Kendalls W = {}; χ² = {} med {} frihedsgrader; p {}). {} paneldeltagere, der vurderede alle temaer, indgår.",
                strength(k.w, lang), d(k.w, 3), d(k.chi2, 2), k.df, p_value(k.p, lang), k.raters
            )
        } else {
            format!(
                "The panel's agreement on the order of the themes is {} (Kendall's W = {}; χ² = {} on {} degrees of freedom; p {}). {} panellists who scored every theme are counted.",
                strength(k.w, lang), d(k.w, 3), d(k.chi2, 2), k.df, p_value(k.p, lang), k.raters
            )
        });
    }
    if let Some(s) = &r.stability
        && let Some(pct) = s.pct_changed
    {
        out.push(if da {
            format!(
                "Mellem runde {} og runde {} ændrede {} % af de parrede scorer sig.",
                s.previous_round,
                r.round.number,
                d(pct, 0)
            )
        } else {
            format!(
                "Between round {} and round {}, {} % of the paired scores changed.",
                s.previous_round,
                r.round.number,
                d(pct, 0)
            )
        });
    }
    out
}

/// The method section, paragraph by paragraph.
pub fn method(r: &Report) -> Vec<String> {
    use crate::i18n::text_with as tw;
    let l = r.language.code();
    let d = |v: f64, places: usize| decimal(v, places, l);
    let short = |v: f64| d(v, if v.fract() == 0.0 { 0 } else { 1 });
    let mut out = vec![tw(
        l,
        "report.method_recruitment",
        &[
            ("identified", r.flow.identified.to_string()),
            ("invited", r.flow.invited.to_string()),
            ("accepted", r.flow.accepted.to_string()),
        ],
    )];
    let mut round = tw(
        l,
        "report.method_round",
        &[("number", r.round.number.to_string())],
    );
    if r.round.validation {
        round = format!("{round} {}", tw(l, "report.method_validation", &[]));
    }
    if r.round.feedback {
        round = format!(
            "{round} {}",
            tw(
                l,
                "report.method_feedback",
                &[("k", r.min_group_size.to_string())]
            )
        );
    }
    out.push(round);
    let mut scale = tw(
        l,
        "report.method_scale",
        &[
            ("min", r.scale.min.to_string()),
            ("max", r.scale.max.to_string()),
            ("low", r.scale.low_label.clone()),
            ("high", r.scale.high_label.clone()),
        ],
    );
    if r.scale.dont_know {
        scale = format!("{scale} {}", tw(l, "report.method_dont_know", &[]));
    }
    out.push(scale);
    let rule = &r.consensus_rule;
    let mut consensus = tw(
        l,
        "report.method_consensus",
        &[
            ("share", d(rule.share_percent, 0)),
            ("points", rule.points.to_string()),
            ("iqr", short(rule.max_iqr)),
        ],
    );
    if rule.dont_know == crate::domain::DontKnow::NotAgreeing {
        consensus = format!(
            "{consensus} {}",
            tw(l, "report.method_dk_not_agreeing", &[])
        );
    }
    if let Some(at) = rule.locked_at {
        consensus = format!(
            "{consensus} {}",
            tw(
                l,
                "report.method_locked",
                &[("date", crate::i18n::long_datetime(at, l, r.zone()))]
            )
        );
    }
    consensus = format!(
        "{consensus} {}",
        tw(
            l,
            "report.method_priority",
            &[("threshold", short(rule.priority_threshold))]
        )
    );
    out.push(consensus);
    out.push(tw(
        l,
        "report.method_anonymity",
        &[("k", r.min_group_size.to_string())],
    ));
    out.push(match &r.protocol {
        Some(p) => {
            let mut s = tw(
                l,
                if p.before_rating {
                    "report.method_registered"
                } else {
                    "report.method_registered_late"
                },
                &[
                    (
                        "date",
                        crate::i18n::long_datetime(p.registered_at, l, r.zone()),
                    ),
                    ("sha", p.sha256.clone()),
                ],
            );
            if !p.amendments.is_empty() {
                s = format!(
                    "{s} {}",
                    tw(
                        l,
                        "report.method_amendments",
                        &[("n", p.amendments.len().to_string())]
                    )
                );
            }
            s
        }
        None => tw(l, "report.method_not_registered", &[]),
    });
    for a in r.protocol.iter().flat_map(|p| &p.amendments) {
        out.push(tw(
            l,
            "report.amendment",
            &[
                ("date", crate::i18n::long_datetime(a.at, l, r.zone())),
                (
                    "changes",
                    a.changes
                        .iter()
                        .map(|c| crate::i18n::field_label(l, c).unwrap_or_else(|| c.clone()))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                ("reason", a.reason.clone()),
                ("sha", a.sha256.clone()),
            ],
        ));
    }
    if let Some(s) = &r.stopping {
        out.push(s.explanation.clone());
    }
    out.extend(further_methods(r));
    out
}

/// The methods of the statistics beyond the priority table, each said where the report uses it.
fn further_methods(r: &Report) -> Vec<String> {
    use crate::i18n::text_with as tw;
    let l = r.language.code();
    let k = ("k", r.min_group_size.to_string());
    let mut out = vec![tw(l, "report.method_ci", &[])];
    if r.themes.iter().any(|t| t.rand_ucla.is_some()) {
        out.push(tw(l, "report.method_rand_ucla", &[]));
    }
    if r.stability.is_some() {
        out.push(tw(
            l,
            "report.method_stability",
            &[("pct", decimal(super::STABLE_BELOW_PERCENT, 0, l))],
        ));
    }
    if let Some(g) = &r.groups {
        out.push(tw(
            l,
            "report.method_groups",
            &[("attribute", g.label.clone()), k.clone()],
        ));
    }
    out.push(tw(l, "report.method_sensitivity", &[]));
    out.push(tw(l, "report.method_minority", &[k]));
    out
}

/// One theme in one plain sentence, for a reader who came for the priorities: how much of the
/// panel put it at the top of the scale, and whether the panel agreed (by the locked rule).
pub fn theme_in_words(r: &Report, t: &super::ThemeRow) -> String {
    let l = r.language.code();
    let share = t
        .pct_top2
        .map(|p| crate::i18n::percent(p, l))
        .unwrap_or_else(|| "–".into());
    let verdict = crate::i18n::text(l, &format!("report.in_words_{}", t.consensus.key()));
    crate::i18n::text_with(
        l,
        "report.in_words",
        &[("share", share), ("verdict", verdict)],
    )
}

/// The two words a reader must not confuse, each said once where the report first uses it:
/// (term, what it means in this study).
pub fn key_terms(r: &Report) -> Vec<(String, String)> {
    use crate::i18n::{text as t, text_with as tw};
    let l = r.language.code();
    let rule = &r.consensus_rule;
    let mut consensus = tw(
        l,
        "report.term_consensus_def",
        &[
            ("share", crate::i18n::number(rule.share_percent, l)),
            ("points", rule.points.to_string()),
            ("iqr", crate::i18n::number(rule.max_iqr, l)),
        ],
    );
    if rule.dont_know == crate::domain::DontKnow::NotAgreeing {
        consensus = format!(
            "{consensus} {}",
            tw(l, "report.method_dk_not_agreeing", &[])
        );
    }
    if let Some(at) = rule.locked_at {
        consensus = format!(
            "{consensus} {}",
            tw(
                l,
                "report.term_consensus_locked",
                &[("date", crate::i18n::long_date_of(at, l, r.zone()))]
            )
        );
    }
    vec![
        (
            t(l, "report.term_priority"),
            tw(
                l,
                "report.term_priority_def",
                &[("threshold", crate::i18n::number(rule.priority_threshold, l))],
            ),
        ),
        (t(l, "report.term_consensus"), consensus),
    ]
}

/// The appendix of definitions: (term, definition).
pub fn definitions(r: &Report) -> Vec<(String, String)> {
    use crate::i18n::text as t;
    let l = r.language.code();
    vec![
        ("n".into(), t(l, "report.def_n")),
        (t(l, "report.mean"), t(l, "report.def_mean")),
        (
            format!("{}, Q1, Q3, IQR", t(l, "report.median")),
            t(l, "report.def_quartiles"),
        ),
        ("SD".into(), t(l, "report.def_sd")),
        (t(l, "report.top2"), t(l, "report.def_top2")),
        (t(l, "tables.kendall"), t(l, "report.def_kendall")),
        ("Wilcoxon".into(), t(l, "report.def_wilcoxon")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_words() {
        assert_eq!(list(&[1, 2, 3, 4, 9], Language::Da), "1, 2, 3, 4 og 9");
        assert_eq!(list(&[1, 2], Language::En), "1 and 2");
        assert_eq!(list(&[7], Language::En), "7");
        assert_eq!(strength(0.337665, Language::En), "moderate");
        assert_eq!(strength(0.337665, Language::Da), "moderat");
        assert_eq!(p_value(0.000272, Language::Da), "< 0,001");
        assert_eq!(p_value(0.0123, Language::En), "= 0.012");
        assert_eq!(crate::i18n::whole(10_000), "10\u{a0}000");
        assert_eq!(crate::i18n::whole(1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(crate::i18n::whole(999), "999");
    }
}
