//! The report's tables as plain rows of text and numbers, shared by the CSV and XLSX writers.

use super::Report;
use super::composition::Suppression;
use crate::domain::Language;
use crate::domain::stats::Verdict;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
    Empty,
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::Number(n as f64)
    }
}
impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Number(n as f64)
    }
}
impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Empty)
    }
}

pub struct Table {
    /// A file or sheet name: lower-case, no spaces.
    pub key: &'static str,
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Text that a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return first) — the cells that must be neutralised.
pub fn looks_like_formula(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

fn verdict(v: Verdict, lang: Language) -> String {
    let key = match v {
        Verdict::High => "tables.verdict_high",
        Verdict::Low => "tables.verdict_low",
        Verdict::None => "tables.verdict_none",
    };
    crate::i18n::text(lang.code(), key)
}

pub fn tables(r: &Report) -> Vec<Table> {
    let t = |key: &str| crate::i18n::text(r.language.code(), &format!("tables.{key}"));
    let mut out = Vec::new();

    let mut header: Vec<String> = [
        "theme",
        "category",
        "title",
        "n",
        "dont_know",
        "mean",
        "mean_display",
        "median",
        "q1",
        "q3",
        "iqr",
        "sd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for p in r.scale.min..=r.scale.max {
        header.push(format!("count_{p}"));
    }
    header.extend(
        [
            "pct_top2",
            "pct_bottom2",
            "consensus",
            "meets_priority",
            "rank",
        ]
        .map(String::from),
    );
    let fewer = crate::i18n::text_with(
        r.language.code(),
        "report.fewer_than",
        &[("k", r.min_group_size.to_string())],
    );
    let rows = r
        .themes
        .iter()
        .map(|th| {
            if th.hidden && r.for_funder {
                // Its name, then "fewer than k" where the figures would be.
                let mut row: Vec<Value> = vec![
                    th.number.into(),
                    th.category.clone().into(),
                    th.title.clone().into(),
                    fewer.clone().into(),
                ];
                row.resize(header.len(), Value::Empty);
                return row;
            }
            let mut row: Vec<Value> = vec![
                th.number.into(),
                th.category.clone().into(),
                th.title.clone().into(),
                th.n.into(),
                th.dont_know.into(),
                th.mean.into(),
                th.mean_display.clone().into(),
                th.median.into(),
                th.q1.into(),
                th.q3.into(),
                th.iqr.into(),
                th.sd.into(),
            ];
            row.extend(th.counts.iter().map(|c| Value::from(*c)));
            row.extend([
                th.pct_top2.into(),
                th.pct_bottom2.into(),
                verdict(th.consensus, r.language).into(),
                (if th.meets_priority { t("yes") } else { t("no") }).into(),
                th.rank.into(),
            ]);
            row
        })
        .collect();
    out.push(Table {
        key: "priorities",
        title: t("priorities"),
        header,
        rows,
    });

    let f = &r.flow;
    let mut rows: Vec<Vec<Value>> = vec![
        vec![t("identified").into(), f.identified.into()],
        vec![t("invited").into(), f.invited.into()],
        vec![t("accepted").into(), f.accepted.into()],
        vec![t("declined").into(), f.declined.into()],
        vec![t("no_reply").into(), f.no_reply.into()],
        vec![t("withdrawn").into(), f.withdrawn.into()],
    ];
    for rr in &f.rounds {
        rows.push(vec![
            format!("{} {}", t("responded_in_round"), rr.number).into(),
            rr.responded.into(),
        ]);
    }
    for (category, n) in &f.decline_categories {
        rows.push(vec![
            format!(
                "{}: {}",
                t("why_not_on_the_panel"),
                crate::i18n::text(r.language.code(), &format!("decline_category.{category}"))
            )
            .into(),
            (*n).into(),
        ]);
    }
    for (reason, n) in &f.decline_reasons {
        rows.push(vec![
            format!("{}: {reason}", t("declined")).into(),
            (*n).into(),
        ]);
    }
    out.push(Table {
        key: "flow",
        title: t("participant_flow"),
        header: vec![t("stage"), t("count")],
        rows,
    });

    if let Some(c) = &r.composition {
        let mut header = vec![t("attribute"), t("value")];
        header.extend(c.columns.iter().cloned());
        header.push(t("total"));
        let shown = |count: Option<usize>, suppressed: Option<Suppression>, released: bool| match (
            count,
            suppressed.filter(|_| !released),
        ) {
            (Some(n), None) => Value::from(n),
            (Some(n), Some(_)) => format!("{n} ({})", t("hidden_from_the_funder")).into(),
            (None, Some(Suppression::Secondary)) => "×".into(),
            (None, _) => format!("<{}", c.threshold).into(),
        };
        let rows = c
            .rows
            .iter()
            .map(|row| {
                let mut v: Vec<Value> =
                    vec![row.attribute.clone().into(), row.label.clone().into()];
                v.extend(
                    row.cells
                        .iter()
                        .map(|cell| shown(cell.count, cell.suppressed, cell.released)),
                );
                v.push(shown(row.total, row.total_suppressed, false));
                v
            })
            .collect();
        out.push(Table {
            key: "composition",
            title: t("panel_composition"),
            header,
            rows,
        });
    }

    if let Some(s) = &r.stability {
        let rows = s
            .themes
            .iter()
            .map(|th| {
                if th.hidden && r.for_funder {
                    return vec![
                        th.number.into(),
                        fewer.clone().into(),
                        Value::Empty,
                        Value::Empty,
                        Value::Empty,
                    ];
                }
                vec![
                    th.number.into(),
                    th.pairs.into(),
                    th.changed.into(),
                    th.pct_changed.into(),
                    th.wilcoxon.as_ref().map(|w| w.p).into(),
                ]
            })
            .collect();
        out.push(Table {
            key: "stability",
            title: t("stability"),
            header: ["theme", "pairs", "changed", "pct_changed", "wilcoxon_p"]
                .map(String::from)
                .to_vec(),
            rows,
        });
    }
    out.push(Table {
        key: "findings",
        title: t("findings"),
        header: vec![t("finding")],
        rows: r.findings.iter().map(|s| vec![s.clone().into()]).collect(),
    });
    if let Some(k) = &r.kendall {
        out.push(Table {
            key: "kendall",
            title: "Kendall's W".into(),
            header: [
                "raters",
                "raters_excluded",
                "objects",
                "w",
                "chi2",
                "df",
                "p",
            ]
            .map(String::from)
            .to_vec(),
            rows: vec![vec![
                k.raters.into(),
                k.raters_excluded.into(),
                k.objects.into(),
                k.w.into(),
                k.chi2.into(),
                k.df.into(),
                k.p.into(),
            ]],
        });
    }
    out
}
