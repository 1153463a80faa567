//! The report's tables as rows of values, shared by the CSV and XLSX writers. Each column has a
//! stable key (the machine CSV's header, for scripts) and a label in the report's language (the
//! spreadsheet's header, for people), and says how people see its numbers; each coded cell
//! (a verdict, a stage of the participant flow) has its code for scripts and its words for people.

use super::Report;
use super::composition::Suppression;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    /// A value scripts read as `code` and people as `label`.
    Code {
        code: String,
        label: String,
    },
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

/// How people see a column's numbers (scripts always get every digit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// A count or a rank.
    Whole,
    /// Rounded to this many decimals, as the report shows it (a mean to one).
    Decimals(usize),
    /// As it is, without trailing zeros (medians and quartiles, which are halves or quarters).
    Plain,
    /// A p-value: three decimals, "< 0,001" below that.
    P,
}

#[derive(Debug, Clone)]
pub struct Column {
    /// The machine CSV's header: lower-case, stable.
    pub key: String,
    /// The spreadsheet's header, in the report's language.
    pub label: String,
    pub shown: Shown,
    /// Only for scripts (a figure people get from another column's format).
    pub machine_only: bool,
}

pub struct Table {
    /// A file name: lower-case, no spaces.
    pub key: &'static str,
    /// A sheet's name, in the report's language.
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

/// Text that a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return first) — the cells that must be neutralised.
pub fn looks_like_formula(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

fn column(key: impl Into<String>, label: String, shown: Shown) -> Column {
    Column {
        key: key.into(),
        label,
        shown,
        machine_only: false,
    }
}

/// "yes" or "no": a code for scripts, a word for people.
fn yes_no(lang: &str, b: bool) -> Value {
    let key = if b { "yes" } else { "no" };
    Value::Code {
        code: key.into(),
        label: capital(&crate::i18n::text(lang, &format!("tables.{key}"))),
    }
}

/// A verdict: its code for scripts, its words for people.
fn verdict(lang: &str, v: crate::domain::stats::Verdict) -> Value {
    Value::Code {
        code: v.key().into(),
        label: crate::i18n::text(lang, &format!("verdict.{}", v.key())),
    }
}

/// A text with its first letter in upper case, as a table's cell starts.
fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub fn tables(r: &Report) -> Vec<Table> {
    let lang = r.language.code();
    let t = |key: &str| crate::i18n::text(lang, &format!("tables.{key}"));
    let code = |code: &str, label: String| Value::Code {
        code: code.to_string(),
        label,
    };
    let mut out = Vec::new();

    let mut columns = vec![
        column("theme", t("col_theme"), Shown::Whole),
        column("category", t("col_category"), Shown::Plain),
        column("title", t("col_title"), Shown::Plain),
        column("n", t("col_n"), Shown::Whole),
        column("dont_know", t("col_dont_know"), Shown::Whole),
        column("mean", t("col_mean"), Shown::Decimals(1)),
        Column {
            machine_only: true,
            ..column("mean_display", String::new(), Shown::Plain)
        },
        column("median", t("col_median"), Shown::Plain),
        column("q1", t("col_q1"), Shown::Plain),
        column("q3", t("col_q3"), Shown::Plain),
        column("iqr", t("col_iqr"), Shown::Plain),
        column("sd", t("col_sd"), Shown::Decimals(2)),
    ];
    for p in r.scale.min..=r.scale.max {
        let label = crate::i18n::text_with(lang, "tables.col_count", &[("point", p.to_string())]);
        columns.push(column(format!("count_{p}"), label, Shown::Whole));
    }
    columns.extend([
        column("pct_top2", t("col_top2"), Shown::Decimals(1)),
        column("pct_bottom2", t("col_bottom2"), Shown::Decimals(1)),
        column("consensus", t("col_consensus"), Shown::Plain),
        column("meets_priority", t("col_priority"), Shown::Plain),
        column("rank", t("col_rank"), Shown::Whole),
        column("ci95_low", t("col_ci95_low"), Shown::Decimals(2)),
        column("ci95_high", t("col_ci95_high"), Shown::Decimals(2)),
    ]);
    let rand = r.themes.iter().any(|t| t.rand_ucla.is_some());
    if rand {
        columns.extend([
            column("rand_ucla_ipr", "IPR".into(), Shown::Decimals(2)),
            column("rand_ucla_ipras", "IPRAS".into(), Shown::Decimals(2)),
            column("rand_ucla_disagreement", t("col_rand_ucla"), Shown::Plain),
        ]);
    }
    let fewer = crate::i18n::text_with(
        lang,
        "report.fewer_than",
        &[("k", r.min_group_size.to_string())],
    );
    let hidden = || code("hidden", fewer.clone());
    let yes_no = |b: bool| yes_no(lang, b);
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
                    hidden(),
                ];
                row.resize(columns.len(), Value::Empty);
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
                verdict(lang, th.consensus),
                yes_no(th.meets_priority),
                th.rank.into(),
                th.ci95.map(|c| c[0]).into(),
                th.ci95.map(|c| c[1]).into(),
            ]);
            if rand {
                match &th.rand_ucla {
                    Some(x) => row.extend([x.ipr.into(), x.ipras.into(), yes_no(x.disagreement)]),
                    None => row.extend([Value::Empty, Value::Empty, Value::Empty]),
                }
            }
            row
        })
        .collect();
    out.push(Table {
        key: "priorities",
        title: t("priorities"),
        columns,
        rows,
    });

    let f = &r.flow;
    let stage = |key: &str| code(key, capital(&t(key)));
    let mut rows: Vec<Vec<Value>> = vec![
        vec![stage("identified"), f.identified.into()],
        vec![stage("invited"), f.invited.into()],
        vec![stage("accepted"), f.accepted.into()],
        vec![stage("declined"), f.declined.into()],
        vec![stage("no_reply"), f.no_reply.into()],
        vec![stage("withdrawn"), f.withdrawn.into()],
    ];
    if f.waiting > 0 {
        rows.push(vec![stage("waiting"), f.waiting.into()]);
    }
    for rr in &f.rounds {
        rows.push(vec![
            code(
                &format!("responded_round_{}", rr.number),
                format!("{} {}", capital(&t("responded_in_round")), rr.number),
            ),
            rr.responded.into(),
        ]);
    }
    for (category, n) in &f.decline_categories {
        let label = crate::i18n::text(lang, &format!("decline_category.{category}"));
        rows.push(vec![
            code(
                &format!("decline_category:{category}"),
                format!("{}: {label}", capital(&t("why_not_on_the_panel"))),
            ),
            (*n).into(),
        ]);
    }
    for (reason, n) in &f.decline_reasons {
        rows.push(vec![
            code(
                &format!("declined:{reason}"),
                format!("{}: {reason}", capital(&t("declined"))),
            ),
            (*n).into(),
        ]);
    }
    out.push(Table {
        key: "flow",
        title: t("participant_flow"),
        columns: vec![
            column("stage", t("col_stage"), Shown::Plain),
            column("count", t("col_number"), Shown::Whole),
        ],
        rows,
    });

    if let Some(c) = &r.composition {
        let mut columns = vec![
            column("attribute", t("col_attribute"), Shown::Plain),
            column("value", t("col_value"), Shown::Plain),
        ];
        columns.extend(
            c.columns
                .iter()
                .map(|v| column(v.clone(), v.clone(), Shown::Whole)),
        );
        columns.push(column("total", t("col_total"), Shown::Whole));
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
                let mut v: Vec<Value> = vec![
                    code(&row.attribute, row.attribute_label.clone()),
                    row.label.clone().into(),
                ];
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
            columns,
            rows,
        });
    }

    if let Some(s) = &r.stability {
        let rows = s
            .themes
            .iter()
            .map(|th| {
                if th.hidden && r.for_funder {
                    let mut row = vec![th.number.into(), hidden()];
                    row.resize(7, Value::Empty);
                    return row;
                }
                vec![
                    th.number.into(),
                    th.pairs.into(),
                    th.changed.into(),
                    th.pct_changed.into(),
                    th.wilcoxon.as_ref().map(|w| w.p).into(),
                    th.cv_change.into(),
                    th.stable.map(yes_no).into(),
                ]
            })
            .collect();
        out.push(Table {
            key: "stability",
            title: t("stability"),
            columns: vec![
                column("theme", t("col_theme"), Shown::Whole),
                column("pairs", t("col_pairs"), Shown::Whole),
                column("changed", t("col_changed"), Shown::Whole),
                column("pct_changed", t("col_pct_changed"), Shown::Decimals(1)),
                column("wilcoxon_p", t("col_wilcoxon_p"), Shown::P),
                column("cv_change", t("col_cv_change"), Shown::Decimals(3)),
                column("stable", t("col_stable"), Shown::Plain),
            ],
            rows,
        });
    }
    if let Some(g) = &r.groups {
        out.extend(group_tables(r, g, &fewer));
    }
    out.push(sensitivity_table(r));
    if !r.minority_views.is_empty() {
        let rows = r
            .minority_views
            .iter()
            .flat_map(|m| {
                let statement = m.statement.iter().map(|s| {
                    vec![
                        m.number.into(),
                        code("statement", capital(&t("minority_statement"))),
                        s.clone().into(),
                    ]
                });
                let comments = m.comments.iter().map(|c| {
                    vec![
                        m.number.into(),
                        code("comment", capital(&t("minority_comment"))),
                        c.clone().into(),
                    ]
                });
                statement.chain(comments).collect::<Vec<_>>()
            })
            .collect();
        out.push(Table {
            key: "minority_views",
            title: t("minority_views"),
            columns: vec![
                column("theme", t("col_theme"), Shown::Whole),
                column("kind", t("col_kind"), Shown::Plain),
                column("text", t("col_text"), Shown::Plain),
            ],
            rows,
        });
    }
    out.push(Table {
        key: "findings",
        title: t("findings"),
        columns: vec![column("finding", t("col_finding"), Shown::Plain)],
        rows: r.findings.iter().map(|s| vec![s.clone().into()]).collect(),
    });
    if let Some(k) = &r.kendall {
        out.push(Table {
            key: "kendall",
            title: t("kendall"),
            columns: vec![
                column("raters", t("col_raters"), Shown::Whole),
                column("raters_excluded", t("col_raters_excluded"), Shown::Whole),
                column("objects", t("col_objects"), Shown::Whole),
                column("w", "W".into(), Shown::Decimals(3)),
                column("chi2", "χ²".into(), Shown::Decimals(2)),
                column("df", t("col_df"), Shown::Whole),
                column("p", "p".into(), Shown::P),
            ],
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
    if !r.item_flow.is_empty() {
        out.push(item_flow_table(r));
    }
    if let Some(cv) = &r.convergence {
        out.push(convergence_table(r, cv));
    }
    if !r.checklist.is_empty() {
        out.push(checklist_table(r));
    }
    out
}

/// A live round's snapshots: one row per theme and snapshot.
fn convergence_table(r: &Report, cv: &super::Convergence) -> Table {
    let lang = r.language.code();
    let t = |key: &str| crate::i18n::text(lang, key);
    let zone = r.zone();
    let mut rows = Vec::new();
    for th in &cv.themes {
        for (i, sn) in th.snapshots.iter().enumerate() {
            rows.push(vec![
                th.number.into(),
                (i + 1).into(),
                crate::i18n::zone::local(sn.published_at, zone)
                    .date_naive()
                    .to_string()
                    .into(),
                sn.n.into(),
                sn.median.into(),
                sn.counts
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .into(),
            ]);
        }
    }
    Table {
        key: "convergence",
        title: t("tables.convergence"),
        columns: vec![
            column("theme", t("tables.col_theme"), Shown::Whole),
            column("snapshot", t("tables.col_snapshot"), Shown::Whole),
            column("published", t("tables.col_published"), Shown::Plain),
            column("n", t("tables.col_n"), Shown::Whole),
            column("median", t("tables.col_median"), Shown::Plain),
            column("counts", t("tables.col_counts"), Shown::Plain),
        ],
        rows,
    }
}

/// What happened to the items, round by round (empty cells where a step does not apply).
fn item_flow_table(r: &Report) -> Table {
    let lang = r.language.code();
    let t = |key: &str| crate::i18n::text(lang, key);
    let rows = r
        .item_flow
        .iter()
        .map(|s| {
            let v = |key: &str| -> Value {
                s.verdicts
                    .as_ref()
                    .map(|v| v.get(key).copied().unwrap_or(0))
                    .into()
            };
            vec![
                s.round.into(),
                s.found.into(),
                s.interviews
                    .as_ref()
                    .map(|m| {
                        m.iter()
                            .map(|(theme, n)| format!("{theme}: {n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .into(),
                s.rated.into(),
                s.reworded.into(),
                s.merged.into(),
                s.split.into(),
                s.dropped.into(),
                s.added.into(),
                v("high"),
                v("low"),
                v("none"),
            ]
        })
        .collect();
    Table {
        key: "item_flow",
        title: t("tables.item_flow"),
        columns: vec![
            column("round", t("tables.col_round"), Shown::Whole),
            column("found", t("report.flow_found"), Shown::Whole),
            column("interviews", t("tables.col_interviews"), Shown::Plain),
            column("rated", t("report.flow_rated"), Shown::Whole),
            column("reworded", t("change.reworded"), Shown::Whole),
            column("merged", t("report.flow_merged"), Shown::Whole),
            column("split", t("change.split"), Shown::Whole),
            column("dropped", t("change.dropped"), Shown::Whole),
            column("added", t("report.flow_added"), Shown::Whole),
            column(
                "consensus_high",
                t("report.flow_verdict_high"),
                Shown::Whole,
            ),
            column("consensus_low", t("report.flow_verdict_low"), Shown::Whole),
            column(
                "consensus_none",
                t("report.flow_verdict_none"),
                Shown::Whole,
            ),
        ],
        rows,
    }
}

/// The checklist appendix: one row per guideline item.
fn checklist_table(r: &Report) -> Table {
    let lang = r.language.code();
    let t = |key: &str| crate::i18n::text(lang, key);
    let rows = r
        .checklist
        .iter()
        .map(|c| {
            vec![
                c.guideline.clone().into(),
                c.item.clone().into(),
                c.topic.clone().into(),
                yes_no(lang, c.filled),
                if c.filled {
                    c.value.clone().into()
                } else {
                    Value::Code {
                        code: String::new(),
                        label: t("checklist.to_be_completed"),
                    }
                },
                c.place.clone().into(),
            ]
        })
        .collect();
    Table {
        key: "checklist",
        title: t("tables.checklist"),
        columns: vec![
            column("guideline", t("checklist.guideline"), Shown::Plain),
            column("item", t("checklist.item"), Shown::Plain),
            column("topic", t("checklist.topic"), Shown::Plain),
            column("filled", t("checklist.filled"), Shown::Plain),
            column("value", t("checklist.answer"), Shown::Plain),
            column("where", t("checklist.where"), Shown::Plain),
        ],
        rows,
    }
}

/// The groups' figures per theme and the tests between them.
fn group_tables(r: &Report, g: &super::Groups, fewer: &str) -> Vec<Table> {
    let lang = r.language.code();
    let t = |key: &str| crate::i18n::text(lang, &format!("tables.{key}"));
    let mut rows = Vec::new();
    for th in &r.themes {
        for grp in &g.groups {
            let Some(x) = grp.themes.iter().find(|x| x.number == th.number) else {
                continue;
            };
            let mut row: Vec<Value> = vec![
                th.number.into(),
                Value::Code {
                    code: grp.value.clone(),
                    label: grp.label.clone(),
                },
            ];
            if x.hidden && r.for_funder {
                row.push(Value::Code {
                    code: "hidden".into(),
                    label: fewer.to_string(),
                });
                row.resize(8, Value::Empty);
            } else {
                row.extend([
                    x.n.into(),
                    x.mean.into(),
                    x.median.into(),
                    x.iqr.into(),
                    x.consensus.map(|v| verdict(lang, v)).into(),
                    Value::from(if x.hidden {
                        t("hidden_from_the_funder")
                    } else {
                        String::new()
                    }),
                ]);
            }
            rows.push(row);
        }
    }
    let figures = Table {
        key: "groups",
        title: t("groups"),
        columns: vec![
            column("theme", t("col_theme"), Shown::Whole),
            column("group", g.label.clone(), Shown::Plain),
            column("n", t("col_n"), Shown::Whole),
            column("mean", t("col_mean"), Shown::Decimals(1)),
            column("median", t("col_median"), Shown::Plain),
            column("iqr", t("col_iqr"), Shown::Plain),
            column("consensus", t("col_consensus"), Shown::Plain),
            column("note", t("col_note"), Shown::Plain),
        ],
        rows,
    };
    let tests = Table {
        key: "group_tests",
        title: t("group_tests"),
        columns: vec![
            column("theme", t("col_theme"), Shown::Whole),
            column("test", t("col_test"), Shown::Plain),
            column("statistic", t("col_statistic"), Shown::Decimals(2)),
            column("p", "p".into(), Shown::P),
            column("exact", t("col_exact"), Shown::Plain),
            column("groups", t("col_groups"), Shown::Plain),
        ],
        rows: g
            .tests
            .iter()
            .map(|x| {
                vec![
                    x.number.into(),
                    x.result.test.key().into(),
                    x.result.statistic.into(),
                    x.result.p.into(),
                    yes_no(lang, x.result.exact),
                    x.groups.join("; ").into(),
                ]
            })
            .collect(),
    };
    vec![figures, tests]
}

/// The verdicts under the locked rule and its neighbours: a row per rule, a column per theme.
fn sensitivity_table(r: &Report) -> Table {
    let lang = r.language.code();
    let t = |key: &str| crate::i18n::text(lang, &format!("tables.{key}"));
    let numbers: Vec<i32> = r
        .sensitivity
        .first()
        .map(|s| s.verdicts.keys().copied().collect())
        .unwrap_or_default();
    let mut columns = vec![
        column("rule", t("col_rule"), Shown::Plain),
        column("share_percent", t("col_share_percent"), Shown::Whole),
        column("points", t("col_points"), Shown::Whole),
        column("max_iqr", t("col_max_iqr"), Shown::Plain),
        column("dont_know", t("col_dont_know_rule"), Shown::Plain),
        column("locked", t("col_locked"), Shown::Plain),
        column("changed", t("col_changed_themes"), Shown::Plain),
    ];
    for n in &numbers {
        columns.push(column(
            format!("theme_{n}"),
            format!("{} {n}", t("col_theme")),
            Shown::Plain,
        ));
    }
    let words = super::sentences::sensitivity_rows(r);
    let rows = r
        .sensitivity
        .iter()
        .zip(words)
        .map(|(s, w)| {
            let mut row: Vec<Value> = vec![
                w.words.into(),
                s.rule.share_percent.into(),
                s.rule.points.into(),
                s.rule.max_iqr.into(),
                Value::Code {
                    code: s.rule.dont_know.key().into(),
                    label: crate::i18n::text(
                        lang,
                        &format!("report.rule_dk_{}", s.rule.dont_know.key()),
                    ),
                },
                yes_no(lang, s.locked),
                s.changed
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
                    .into(),
            ];
            for n in &numbers {
                row.push(
                    s.verdicts
                        .get(n)
                        .map_or(Value::Empty, |v| verdict(lang, *v)),
                );
            }
            row
        })
        .collect();
    Table {
        key: "sensitivity",
        title: t("sensitivity"),
        columns,
        rows,
    }
}
