//! The report as PDF, typeset by Typst as a library: a fixed layout (`report.typ`, compiled into
//! the binary) reads the report's figures and texts from a JSON file in an in-memory world, with
//! the charts as SVG files beside it. Fonts are Typst's own, embedded; nothing external runs.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Serialize;
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use super::composition::Suppression;
use super::{Report, sentences, svg};
use crate::error::{AppError, AppResult};
use crate::i18n::decimal;
use crate::i18n::{text, text_with};

const LAYOUT: &str = include_str!("report.typ");

struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

static FONTS: LazyLock<Fonts> = LazyLock::new(|| {
    let fonts: Vec<Font> = typst_assets::fonts()
        .flat_map(|data| Font::iter(Bytes::new(data)))
        .collect();
    Fonts {
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
    }
});

static LIBRARY: LazyLock<LazyHash<Library>> = LazyLock::new(|| LazyHash::new(Library::default()));

fn file_id(name: &str) -> FileId {
    RootedPath::new(
        VirtualRoot::Project,
        VirtualPath::new(name).expect("a plain file name"),
    )
    .intern()
}

/// A world with one source and a few data files, all in memory.
struct ReportWorld {
    main: Source,
    files: HashMap<FileId, Bytes>,
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.book
    }
    fn main(&self) -> FileId {
        self.main.id()
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }
    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.files.get(&id).cloned().ok_or(FileError::AccessDenied)
    }
    fn font(&self, index: usize) -> Option<Font> {
        FONTS.fonts.get(index).cloned()
    }
    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

/// Everything the layout prints, already as text in the report's language.
#[derive(Serialize)]
struct Data {
    lang: String,
    labels: HashMap<&'static str, String>,
    title: String,
    subtitle: String,
    dates: String,
    findings: Vec<String>,
    themes: Vec<ThemeLine>,
    legend: String,
    priorities: Vec<PriorityTheme>,
    responses: Vec<[String; 4]>,
    decline_reasons: String,
    composition: Option<CompositionData>,
    stability: Option<StabilityData>,
    /// The panel groups' section, after the table of the themes.
    groups: Option<Section>,
    /// Sections after stability: sensitivity, minority views, the flow of items.
    further: Vec<Section>,
    /// After the definitions: the reporting checklists, one section per guideline.
    appendix: Vec<Section>,
    changes: Vec<String>,
    comments: Vec<String>,
    method: Vec<String>,
    definitions: Vec<(String, String)>,
    /// Who ran the study and how, in two sentences.
    about: Vec<String>,
    ranked: Vec<RankedLine>,
    hidden_note: String,
    key_terms: Vec<(String, String)>,
}

/// A theme in the ranked list that opens the report.
#[derive(Serialize)]
struct RankedLine {
    mean: String,
    heading: String,
    priority: bool,
    words: String,
}

#[derive(Serialize)]
struct ThemeLine {
    code: String,
    title: String,
    n: String,
    mean: String,
    median: String,
    iqr: String,
    top2: String,
    consensus: String,
    priority: bool,
    bar: String,
    /// The mean's 95 % confidence interval, under the mean.
    ci: String,
}

/// A section the layout prints as it comes: paragraphs, tables, blocks of quotes, notes.
#[derive(Serialize, Default)]
struct Section {
    heading: String,
    /// A figure after the paragraphs: the file's path and its caption (none when empty).
    figure: String,
    figure_caption: String,
    paragraphs: Vec<String>,
    tables: Vec<SectionTable>,
    blocks: Vec<Block>,
    notes: Vec<String>,
}

#[derive(Serialize, Default)]
struct SectionTable {
    /// Relative column widths (fractions of the line); empty for automatic widths.
    fr: Vec<f64>,
    caption: String,
    header: Vec<String>,
    /// Which columns hold numbers (right-aligned).
    numeric: Vec<bool>,
    rows: Vec<CompositionRow>,
}

/// A heading with its paragraphs and quotes (a theme's minority view).
#[derive(Serialize)]
struct Block {
    heading: String,
    paragraphs: Vec<String>,
    quotes: Vec<String>,
}

#[derive(Serialize)]
struct PriorityTheme {
    heading: String,
    statements: Vec<(String, String)>,
}

#[derive(Serialize)]
struct CompositionData {
    caption: String,
    columns: Vec<String>,
    rows: Vec<CompositionRow>,
    note: String,
}

/// A row of counts, or the heading of the attribute the following rows belong to.
#[derive(Serialize)]
struct CompositionRow {
    group: bool,
    cells: Vec<String>,
}

#[derive(Serialize)]
struct StabilityData {
    heading: String,
    rows: Vec<[String; 6]>,
    note: String,
}

fn data(r: &Report) -> Data {
    let l = r.language.code();
    let num = |v: Option<f64>| v.map_or_else(|| "–".into(), |x| crate::i18n::number(x, l));
    let pct = |v: Option<f64>| v.map_or_else(|| "–".into(), |x| crate::i18n::percent(x, l));
    let mut labels = HashMap::new();
    for key in [
        "kicker",
        "summary",
        "priorities_h",
        "theme",
        "mean",
        "median",
        "top2",
        "consensus",
        "distribution",
        "flow_h",
        "flow_caption",
        "response_caption",
        "round",
        "panellists",
        "responded",
        "composition_h",
        "characteristic",
        "total",
        "changes_h",
        "comments_h",
        "comments_intro",
        "method_h",
        "definitions_h",
        "pairs",
        "changed",
        "no_priorities",
        "ranked_h",
        "ranked_intro",
        "terms_h",
        "figures_h",
        "priority_badge",
        "cv_change",
        "stable",
    ] {
        labels.insert(key, text(l, &format!("report.{key}")));
    }
    labels.insert(
        "priorities_intro",
        text_with(
            l,
            "report.priorities_intro",
            &[
                ("min", r.scale.min.to_string()),
                ("max", r.scale.max.to_string()),
                ("low", r.scale.low_label.clone()),
                ("high", r.scale.high_label.clone()),
            ],
        ),
    );
    labels.insert(
        "priorities_caption",
        text_with(
            l,
            "report.priorities_caption",
            &[("number", r.round.number.to_string())],
        ),
    );
    labels.insert(
        "priority_list_h",
        text_with(
            l,
            "report.priority_list_h",
            &[("threshold", num(Some(r.consensus_rule.priority_threshold)))],
        ),
    );
    labels.insert(
        "page",
        if l == "da" {
            "Side".into()
        } else {
            "Page".into()
        },
    );
    let mut subtitle = text_with(
        l,
        "report.about_round",
        &[("number", r.round.number.to_string())],
    );
    if !r.study.funder.is_empty() {
        subtitle = format!(
            "{subtitle} · {}",
            text_with(
                l,
                "report.for_funder",
                &[("funder", r.study.funder.clone())]
            )
        );
    }
    let date = |t: chrono::DateTime<chrono::Utc>| crate::i18n::long_date_of(t, l, r.zone());
    let mut dates = text_with(l, "report.generated", &[("date", date(r.generated_at))]);
    if let (Some(o), Some(c)) = (r.round.opened_at, r.round.closed_at.or(r.round.closes_at)) {
        dates = format!(
            "{} · {dates}",
            text_with(
                l,
                "report.round_dates",
                &[("opened", date(o)), ("closed", date(c))]
            )
        );
    }
    let fewer = text_with(
        l,
        "report.fewer_than",
        &[("k", r.min_group_size.to_string())],
    );
    let themes = r
        .themes
        .iter()
        .enumerate()
        .map(|(i, t)| ThemeLine {
            code: format!("{}{}", t.category, t.number),
            title: t.title.clone(),
            n: if t.hidden && r.for_funder {
                fewer.clone()
            } else {
                t.n.to_string()
            },
            mean: t.mean_display.clone().unwrap_or_else(|| "–".into()),
            median: num(t.median),
            iqr: num(t.iqr),
            top2: pct(t.pct_top2),
            consensus: text(l, &format!("verdict.{}", t.consensus.key())),
            priority: t.meets_priority,
            bar: format!("bar-{i}.svg"),
            ci: t
                .ci95
                .filter(|_| !(t.hidden && r.for_funder))
                .map(|c| format!("{}–{}", decimal(c[0], 2, l), decimal(c[1], 2, l)))
                .unwrap_or_default(),
        })
        .collect();
    let priorities = r
        .themes
        .iter()
        .filter(|t| t.meets_priority)
        .map(|t| PriorityTheme {
            heading: format!(
                "{}{}. {} ({} {})",
                t.category,
                t.number,
                t.title,
                text(l, "report.mean"),
                t.mean_display.clone().unwrap_or_default()
            ),
            statements: t
                .statements
                .iter()
                .map(|s| (s.letter.clone(), s.text.clone()))
                .collect(),
        })
        .collect();
    let responses = r
        .flow
        .rounds
        .iter()
        .map(|rr| {
            [
                rr.number.to_string(),
                rr.panellists.to_string(),
                rr.responded.to_string(),
                pct(rr.response_rate),
            ]
        })
        .collect();
    let mut decline_lines = Vec::new();
    if !r.flow.decline_categories.is_empty() {
        decline_lines.push(format!(
            "{}: {}.",
            text(l, "report.decline_categories"),
            r.flow
                .decline_categories
                .iter()
                .map(|(k, v)| format!("{} ({v})", text(l, &format!("decline_category.{k}"))))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if !r.flow.decline_reasons.is_empty() {
        decline_lines.push(format!(
            "{} ({}): {}.",
            text(l, "report.decline_reasons"),
            text(l, "report.hidden_for_funder"),
            r.flow
                .decline_reasons
                .iter()
                .map(|(k, v)| format!("{k} ({v})"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let decline_reasons = decline_lines.join(" ");
    let composition = r.composition.as_ref().map(|c| {
        let shown = |count: Option<usize>, suppressed: Option<Suppression>, released: bool| match (
            count,
            suppressed.filter(|_| !released),
        ) {
            (Some(n), None) => n.to_string(),
            (Some(n), Some(_)) => format!("{n}*"),
            (None, Some(Suppression::Secondary)) => "×".into(),
            (None, _) => format!("<{}", c.threshold),
        };
        CompositionData {
            caption: text_with(
                l,
                "report.composition_caption",
                &[("n", c.total.to_string())],
            ),
            columns: c.columns.clone(),
            rows: c
                .rows
                .iter()
                .enumerate()
                .flat_map(|(i, row)| {
                    let mut out = Vec::new();
                    if i == 0 || c.rows[i - 1].attribute != row.attribute {
                        out.push(CompositionRow {
                            group: true,
                            cells: vec![row.attribute_label.clone()],
                        });
                    }
                    let mut v = vec![row.label.clone()];
                    v.extend(
                        row.cells
                            .iter()
                            .map(|cell| shown(cell.count, cell.suppressed, cell.released)),
                    );
                    v.push(shown(row.total, row.total_suppressed, false));
                    out.push(CompositionRow {
                        group: false,
                        cells: v,
                    });
                    out
                })
                .collect(),
            // Counts behind the marks mean a researcher's copy; a funder's has none.
            note: match (
                c.any_suppressed,
                c.rows
                    .iter()
                    .flat_map(|r| &r.cells)
                    .any(|x| x.suppressed.is_some() && x.count.is_some()),
            ) {
                (false, _) => String::new(),
                (true, true) => text_with(
                    l,
                    "report.suppressed_researcher",
                    &[("k", c.threshold.to_string())],
                ),
                (true, false) => format!(
                    "{} {}",
                    text_with(
                        l,
                        "report.suppressed_funder",
                        &[("k", c.threshold.to_string())],
                    ),
                    text(l, "report.suppressed_secondary")
                ),
            },
        }
    });
    let stability = r.stability.as_ref().map(|s| StabilityData {
        heading: text_with(
            l,
            "report.stability_h",
            &[
                ("previous", s.previous_round.to_string()),
                ("number", r.round.number.to_string()),
            ],
        ),
        rows: s
            .themes
            .iter()
            .map(|t| {
                if t.hidden && r.for_funder {
                    return [
                        t.number.to_string(),
                        fewer.clone(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ];
                }
                [
                    t.number.to_string(),
                    t.pairs.to_string(),
                    t.changed.to_string(),
                    t.wilcoxon
                        .as_ref()
                        .map(|w| sentences::p_plain(w.p, l))
                        .unwrap_or_else(|| "–".into()),
                    t.cv_change
                        .map(|c| decimal(c, 2, l))
                        .unwrap_or_else(|| "–".into()),
                    match t.stable {
                        Some(true) => text(l, "report.yes"),
                        Some(false) => text(l, "report.no"),
                        None => "–".into(),
                    },
                ]
            })
            .collect(),
        note: s
            .pct_stable
            .map(|p| {
                text_with(
                    l,
                    "report.pct_stable",
                    &[("pct", crate::i18n::percent(p, l))],
                )
            })
            .unwrap_or_default(),
    });
    let groups = r.groups.as_ref().map(|g| groups_section(r, g, &fewer));
    let further = [
        Some(sensitivity_section(r)),
        minority_section(r),
        convergence_section(r),
        item_flow_section(r),
        discussion_section(r),
    ]
    .into_iter()
    .flatten()
    .collect();
    let appendix = checklist_sections(r);
    Data {
        lang: l.into(),
        labels,
        title: r.study.title.clone(),
        subtitle,
        dates,
        findings: r.findings.clone(),
        themes,
        legend: "legend.svg".into(),
        priorities,
        responses,
        decline_reasons,
        composition,
        stability,
        groups,
        further,
        appendix,
        changes: r
            .changes
            .iter()
            .map(|c| {
                let mut s = format!(
                    "{} {} ({}): {}",
                    text(l, "report.theme"),
                    c.number,
                    c.title,
                    text(l, &format!("change.{}", c.change))
                );
                if !c.reason.is_empty() {
                    s = format!("{s} — {}", c.reason);
                }
                s
            })
            .collect(),
        comments: r
            .comments
            .iter()
            .map(|c| {
                format!(
                    "{} {}: “{}”",
                    text(l, "report.theme"),
                    c.theme_number,
                    c.text
                )
            })
            .collect(),
        method: sentences::method(r),
        definitions: sentences::definitions(r),
        about: {
            let mut about = Vec::new();
            if !r.study.contact.is_empty() {
                about.push(text_with(
                    l,
                    "report.run_by",
                    &[("contact", r.study.contact.clone())],
                ));
            }
            about.push(
                sentences::method(r)
                    .into_iter()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            about
        },
        ranked: super::html::ranked(r)
            .into_iter()
            .map(|t| RankedLine {
                mean: t.mean_display.clone().unwrap_or_default(),
                heading: format!("{}{}. {}", t.category, t.number, t.title),
                priority: t.meets_priority,
                words: sentences::theme_in_words(r, t),
            })
            .collect(),
        hidden_note: if r.hidden_themes.is_empty() {
            String::new()
        } else {
            text_with(
                l,
                "report.ranked_hidden",
                &[
                    ("k", r.min_group_size.to_string()),
                    (
                        "themes",
                        r.hidden_themes
                            .iter()
                            .map(i32::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ],
            )
        },
        key_terms: sentences::key_terms(r),
    }
}

fn row(cells: Vec<String>) -> CompositionRow {
    CompositionRow {
        group: false,
        cells,
    }
}

fn group_row(title: String) -> CompositionRow {
    CompositionRow {
        group: true,
        cells: vec![title],
    }
}

/// The panel groups: sizes, each theme's figures per group with its test, the summary.
fn groups_section(r: &Report, g: &super::Groups, fewer: &str) -> Section {
    let l = r.language.code();
    let k = ("k", r.min_group_size.to_string());
    let number = ("number", r.round.number.to_string());
    let sizes = SectionTable {
        fr: Vec::new(),
        caption: text_with(
            l,
            "report.groups_sizes_caption",
            std::slice::from_ref(&number),
        ),
        header: vec![
            g.label.clone(),
            text(l, "report.panellists"),
            text(l, "report.responded"),
        ],
        numeric: vec![false, true, true],
        rows: g
            .groups
            .iter()
            .map(|x| {
                row(vec![
                    x.label.clone(),
                    x.panellists.to_string(),
                    x.responded.to_string(),
                ])
            })
            .collect(),
    };
    let mut rows = Vec::new();
    for th in &r.themes {
        let mut title = format!("{}{}. {}", th.category, th.number, th.title);
        if g.disagreeing.contains(&th.number) {
            title = format!("{title} — {}", text(l, "report.groups_disagree_badge"));
        } else if g.in_every_group.contains(&th.number) {
            title = format!("{title} — {}", text(l, "report.groups_every_badge"));
        }
        if let Some(test) = g.tests.iter().find(|x| x.number == th.number) {
            title = format!("{title} ({})", test_words(test, l));
        }
        rows.push(group_row(title));
        for grp in &g.groups {
            let Some(x) = grp.themes.iter().find(|x| x.number == th.number) else {
                continue;
            };
            let num = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| crate::i18n::number(v, l));
            rows.push(row(if x.hidden && r.for_funder {
                vec![
                    grp.label.clone(),
                    fewer.to_string(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]
            } else {
                vec![
                    grp.label.clone(),
                    if x.hidden {
                        format!("{} {}", x.n, text(l, "report.hidden_mark"))
                    } else {
                        x.n.to_string()
                    },
                    x.mean_display.clone().unwrap_or_else(|| "–".into()),
                    num(x.median),
                    num(x.iqr),
                    x.consensus
                        .map_or_else(|| "–".into(), |v| text(l, &format!("verdict.{}", v.key()))),
                ]
            }));
        }
    }
    let figures = SectionTable {
        fr: Vec::new(),
        caption: text_with(l, "report.groups_caption", &[number]),
        header: vec![
            g.label.clone(),
            "n".into(),
            text(l, "report.mean"),
            text(l, "report.median"),
            "IQR".into(),
            text(l, "report.consensus"),
        ],
        numeric: vec![false, true, true, true, true, false],
        rows,
    };
    let list = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(", ");
    let summary = format!(
        "{} {}",
        if g.in_every_group.is_empty() {
            text(l, "report.groups_every_none")
        } else {
            text_with(
                l,
                "report.groups_every",
                &[("themes", list(&g.in_every_group))],
            )
        },
        if g.disagreeing.is_empty() {
            text(l, "report.groups_disagree_none")
        } else {
            text_with(
                l,
                "report.groups_disagree",
                &[("themes", list(&g.disagreeing))],
            )
        }
    );
    Section {
        heading: text_with(l, "report.groups_h", &[("attribute", g.label.clone())]),
        paragraphs: vec![text_with(
            l,
            "report.groups_intro",
            &[("attribute", g.label.clone()), k.clone()],
        )],
        tables: vec![sizes, figures],
        figure: String::new(),
        figure_caption: String::new(),
        blocks: Vec::new(),
        notes: vec![
            summary,
            text_with(
                l,
                if r.for_funder {
                    "report.groups_hidden_funder"
                } else {
                    "report.groups_hidden_researcher"
                },
                &[k],
            ),
        ],
    }
}

/// "Mann–Whitney U = 7,5, p = 0,722 · approximate p".
fn test_words(test: &super::groups::GroupTest, l: &str) -> String {
    let statistic = match test.result.test {
        crate::domain::compare::TestKind::MannWhitney => {
            crate::i18n::number(test.result.statistic, l)
        }
        crate::domain::compare::TestKind::KruskalWallis => decimal(test.result.statistic, 2, l),
    };
    let p = sentences::p_plain(test.result.p, l);
    let p = if test.result.p < 0.001 {
        p
    } else {
        format!("= {p}")
    };
    format!(
        "{} · {}",
        text_with(
            l,
            &format!("report.test_{}", test.result.test.key()),
            &[("statistic", statistic), ("p", p)]
        ),
        text(
            l,
            if test.result.exact {
                "report.p_exact"
            } else {
                "report.p_approx"
            }
        )
    )
}

fn sensitivity_section(r: &Report) -> Section {
    let l = r.language.code();
    let fragile = sentences::fragile_themes(r);
    let rows = sentences::sensitivity_rows(r)
        .into_iter()
        .map(|s| {
            row(vec![
                if s.locked {
                    format!("{} ({})", s.words, text(l, "report.locked_rule"))
                } else {
                    s.words
                },
                s.high.to_string(),
                s.low.to_string(),
                if s.locked {
                    "–".into()
                } else if s.changed.is_empty() {
                    text(l, "report.sensitivity_same")
                } else {
                    s.changed
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ])
        })
        .collect();
    Section {
        heading: text(l, "report.sensitivity_h"),
        paragraphs: vec![text(l, "report.sensitivity_intro")],
        tables: vec![SectionTable {
            fr: Vec::new(),
            caption: String::new(),
            header: vec![
                text(l, "report.rule"),
                text(l, "verdict.high"),
                text(l, "verdict.low"),
                text(l, "report.sensitivity_changed"),
            ],
            numeric: vec![false, true, true, false],
            rows,
        }],
        figure: String::new(),
        figure_caption: String::new(),
        blocks: Vec::new(),
        notes: vec![if fragile.is_empty() {
            text(l, "report.sensitivity_robust")
        } else {
            text_with(
                l,
                "report.sensitivity_fragile",
                &[(
                    "themes",
                    fragile
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                )],
            )
        }],
    }
}

fn minority_section(r: &Report) -> Option<Section> {
    let l = r.language.code();
    (!r.minority_views.is_empty()).then(|| Section {
        heading: text(l, "report.minority_h"),
        paragraphs: vec![text_with(
            l,
            "report.minority_intro",
            &[("k", r.min_group_size.to_string())],
        )],
        blocks: r
            .minority_views
            .iter()
            .map(|m| Block {
                heading: format!("{} {}", text(l, "report.theme"), m.number),
                paragraphs: m.statement.iter().cloned().collect(),
                quotes: m.comments.iter().map(|c| format!("“{c}”")).collect(),
            })
            .collect(),
        ..Default::default()
    })
}

/// The panel's discussion per theme, as the report's reader may see it.
fn discussion_section(r: &Report) -> Option<Section> {
    let l = r.language.code();
    let count = |key: &str, n: usize| text_with(l, key, &[("n", n.to_string())]);
    (!r.discussion.is_empty()).then(|| Section {
        heading: text(l, "report.discussion_h"),
        paragraphs: vec![text(
            l,
            if r.for_funder {
                "report.discussion_intro_funder"
            } else {
                "report.discussion_intro"
            },
        )],
        blocks: r
            .discussion
            .iter()
            .map(|d| {
                let mut heading = format!(
                    "{} {}: {}",
                    text(l, "report.theme"),
                    d.theme_number,
                    count("report.discussion_count", d.posts)
                );
                if let Some(w) = d.writers {
                    heading = format!("{heading} ({})", count("report.discussion_writers", w));
                }
                Block {
                    heading,
                    paragraphs: Vec::new(),
                    quotes: d
                        .shown
                        .iter()
                        .map(|p| {
                            let day = crate::i18n::long_date(p.day, l);
                            match &p.handle {
                                Some(h) => format!("{h}, {day}: “{}”", p.text),
                                None => format!("{day}: “{}”", p.text),
                            }
                        })
                        .collect(),
                }
            })
            .collect(),
        ..Default::default()
    })
}

/// A live round's convergence: the snapshots of each theme and how many revised.
fn convergence_section(r: &Report) -> Option<Section> {
    let l = r.language.code();
    let cv = r.convergence.as_ref()?;
    let zone = r.zone();
    Some(Section {
        heading: text(l, "report.convergence_h"),
        paragraphs: vec![
            text_with(
                l,
                "report.convergence_intro",
                &[("k", r.min_group_size.to_string())],
            ),
            text_with(
                l,
                "report.convergence_revised",
                &[
                    ("revised", cv.revised_by.to_string()),
                    (
                        "pct",
                        cv.pct_revised
                            .map_or_else(|| "–".into(), |p| crate::i18n::percent(p, l)),
                    ),
                    ("revisions", cv.revisions.to_string()),
                ],
            ),
        ],
        tables: vec![SectionTable {
            fr: vec![2.0, 3.0],
            header: vec![
                text(l, "report.theme"),
                text(l, "report.convergence_snapshots"),
            ],
            numeric: vec![false, false],
            rows: cv
                .themes
                .iter()
                .map(|th| {
                    let snaps = th
                        .snapshots
                        .iter()
                        .map(|sn| {
                            text_with(
                                l,
                                "report.convergence_snapshot",
                                &[
                                    ("date", crate::i18n::long_date_of(sn.published_at, l, zone)),
                                    ("n", sn.n.to_string()),
                                    (
                                        "median",
                                        sn.median.map_or_else(
                                            || "–".into(),
                                            |m| crate::i18n::number(m, l),
                                        ),
                                    ),
                                ],
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    row(vec![
                        format!("{}. {}", th.number, th.title),
                        if snaps.is_empty() {
                            "–".into()
                        } else {
                            snaps
                        },
                    ])
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// What happened to the items: the figure and its table.
fn item_flow_section(r: &Report) -> Option<Section> {
    let l = r.language.code();
    let table = super::tables::tables(r)
        .into_iter()
        .find(|t| t.key == "item_flow")?;
    // The columns people read, without the per-theme interview counts (the figure has them).
    let keep: Vec<usize> = (0..table.columns.len())
        .filter(|&i| table.columns[i].key != "interviews")
        .collect();
    let cell = |v: &super::tables::Value| match v {
        super::tables::Value::Number(n) => crate::i18n::number(*n, l),
        super::tables::Value::Text(s) | super::tables::Value::Code { label: s, .. } => s.clone(),
        super::tables::Value::Empty => "–".into(),
    };
    Some(Section {
        heading: text(l, "report.item_flow_h"),
        figure: "/item-flow.svg".into(),
        figure_caption: text(l, "report.item_flow_caption"),
        tables: vec![SectionTable {
            header: keep
                .iter()
                .map(|&i| table.columns[i].label.clone())
                .collect(),
            numeric: keep.iter().map(|_| true).collect(),
            rows: table
                .rows
                .iter()
                .map(|r| row(keep.iter().map(|&i| cell(&r[i])).collect()))
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// The reporting checklists: one section per guideline, "to be completed" where the data do
/// not answer.
fn checklist_sections(r: &Report) -> Vec<Section> {
    let l = r.language.code();
    if r.checklist.is_empty() {
        return Vec::new();
    }
    let answered = r.checklist.iter().filter(|c| c.filled).count();
    super::checklist::guidelines(l)
        .into_iter()
        .enumerate()
        .map(|(i, (g, reference))| {
            let mut paragraphs = Vec::new();
            if i == 0 {
                paragraphs.push(text(l, "checklist.intro"));
                paragraphs.push(text_with(
                    l,
                    "checklist.summary",
                    &[
                        ("filled", answered.to_string()),
                        ("total", r.checklist.len().to_string()),
                        ("missing", (r.checklist.len() - answered).to_string()),
                    ],
                ));
            }
            paragraphs.push(reference);
            Section {
                heading: if i == 0 {
                    format!("{} — {g}", text(l, "checklist.h"))
                } else {
                    g.to_string()
                },
                paragraphs,
                tables: vec![SectionTable {
                    fr: vec![0.5, 1.6, 2.6, 1.1],
                    header: vec![
                        text(l, "checklist.item"),
                        text(l, "checklist.topic"),
                        text(l, "checklist.answer"),
                        text(l, "checklist.where"),
                    ],
                    numeric: vec![false; 4],
                    rows: r
                        .checklist
                        .iter()
                        .filter(|c| c.guideline == *g)
                        .map(|c| {
                            row(vec![
                                c.item.clone(),
                                c.topic.clone(),
                                if c.filled {
                                    breakable(&c.value)
                                } else {
                                    text(l, "checklist.to_be_completed")
                                },
                                c.place.clone(),
                            ])
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect()
}

/// A text whose long fingerprints may wrap: a zero-width space after every 16 hex digits of a
/// run of 32 or more, so a SHA-256 stays inside its table cell.
fn breakable(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for word in s.split_inclusive(|c: char| !c.is_ascii_hexdigit()) {
        let hex = word.trim_end_matches(|c: char| !c.is_ascii_hexdigit());
        if hex.len() >= 32 {
            for (i, c) in word.chars().enumerate() {
                if i > 0 && i < hex.len() && i % 16 == 0 {
                    out.push('\u{200b}');
                }
                out.push(c);
            }
        } else {
            out.push_str(word);
        }
    }
    out
}

/// Typesets the report. Takes a moment for large studies: call it off the async workers.
pub fn render(r: &Report) -> AppResult<Vec<u8>> {
    let data = data(r);
    let mut files = HashMap::new();
    let json = serde_json::to_vec(&data).map_err(|e| AppError::Internal(e.into()))?;
    files.insert(file_id("/report.json"), Bytes::new(json));
    files.insert(file_id("/flow.svg"), Bytes::new(svg::flow(r).into_bytes()));
    files.insert(
        file_id("/item-flow.svg"),
        Bytes::new(svg::item_flow(r).into_bytes()),
    );
    files.insert(
        file_id("/legend.svg"),
        Bytes::new(
            svg::legend(
                r.scale.points(),
                r.scale.min,
                &r.scale.low_label,
                &r.scale.high_label,
            )
            .into_bytes(),
        ),
    );
    for (i, t) in r.themes.iter().enumerate() {
        files.insert(
            file_id(&format!("/bar-{i}.svg")),
            Bytes::new(svg::distribution(&t.counts, r.scale.min, &t.title).into_bytes()),
        );
    }
    typeset(
        LAYOUT,
        files,
        format!("orakel-{}-{}", r.study.id, r.round.number),
    )
}

/// Compiles `layout` with its data files and writes the PDF, `ident` naming the document.
fn typeset(layout: &str, files: HashMap<FileId, Bytes>, ident: String) -> AppResult<Vec<u8>> {
    let pdf = compile(layout, files, ident);
    // Typst memoizes what it laid out in a cache of the whole process, kept until evicted: each
    // report's pages would stay there, and eight reports took the server past 800 MB. No two
    // reports share enough to be worth keeping; one compiling meanwhile only recomputes.
    typst::comemo::evict(0);
    pdf
}

fn compile(layout: &str, files: HashMap<FileId, Bytes>, ident: String) -> AppResult<Vec<u8>> {
    let world = ReportWorld {
        main: Source::new(file_id("/main.typ"), layout.to_string()),
        files,
    };
    let document: PagedDocument = typst::compile(&world).output.map_err(|errors| {
        AppError::Internal(anyhow::anyhow!(
            "typesetting the report: {:?}",
            errors
                .iter()
                .map(|e| e.message.to_string())
                .collect::<Vec<_>>()
        ))
    })?;
    let options = typst_pdf::PdfOptions {
        ident: typst::foundations::Smart::Custom(ident),
        ..Default::default()
    };
    typst_pdf::pdf(&document, &options).map_err(|errors| {
        AppError::Internal(anyhow::anyhow!(
            "writing the PDF: {:?}",
            errors
                .iter()
                .map(|e| e.message.to_string())
                .collect::<Vec<_>>()
        ))
    })
}

const PROTOCOL_LAYOUT: &str = include_str!("protocol.typ");

/// The protocol's page as the layout prints it.
#[derive(Serialize)]
struct ProtocolPage {
    lang: String,
    heading: String,
    title: String,
    status: String,
    sha_label: String,
    sha: String,
    rows: Vec<(String, String)>,
    amendments_h: String,
    amendments: Vec<String>,
    note: String,
}

/// The protocol on one page, to deposit with a registry beside its JSON: what is fixed, when
/// it was registered, the fingerprint of the document as it stands, and every amendment.
pub fn protocol(
    view: &crate::ops::protocol::ProtocolView,
    study_id: &str,
    study_title: &str,
    groups_label: Option<String>,
    lang: crate::domain::Language,
    tz: crate::i18n::Tz,
) -> AppResult<Vec<u8>> {
    let l = lang.code();
    let p = &view.protocol;
    let c = &p.consensus;
    let rule = format!(
        "{}; {}",
        text_with(
            l,
            "home.consensus_rule",
            &[
                ("share", crate::i18n::number(c.share_percent, l)),
                ("points", c.points.to_string()),
                ("iqr", crate::i18n::number(c.max_iqr, l)),
            ],
        ),
        text(l, &format!("report.rule_dk_{}", c.dont_know.key()))
    );
    let feedback = p
        .feedback
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "{}: {}",
                text_with(
                    l,
                    "protocol.feedback_of_round",
                    &[("n", (i + 1).to_string())]
                ),
                text(l, &format!("protocol.feedback_{f}"))
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let label = |field: &str| crate::i18n::field_label(l, field).unwrap_or_else(|| field.into());
    let rows = vec![
        (text(l, "settings.consensus"), rule),
        (
            label("priority_threshold"),
            crate::i18n::number(p.priority_threshold, l),
        ),
        (label("min_group_size"), p.min_group_size.to_string()),
        (
            label("groups_by"),
            groups_label.unwrap_or_else(|| text(l, "settings.groups_by_none")),
        ),
        (label("planned_rounds"), p.planned_rounds.to_string()),
        (label("feedback"), feedback),
        (
            label("stopping"),
            super::checklist::rule_words(&p.stopping, l),
        ),
        (
            label("analyses"),
            p.analyses
                .iter()
                .map(|a| text(l, &format!("protocol.analysis_{a}")))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    ];
    let status = match view.registered_at {
        Some(at) => text_with(
            l,
            "protocol.registered",
            &[("date", crate::i18n::long_datetime(at, l, tz))],
        ),
        None => text(l, "protocol.pdf_draft"),
    };
    let page = ProtocolPage {
        lang: l.into(),
        heading: text(l, "protocol.pdf_heading"),
        title: study_title.into(),
        status,
        sha_label: text(
            l,
            if view.amendments.is_empty() {
                "protocol.pdf_sha"
            } else {
                "protocol.pdf_sha_amended"
            },
        ),
        sha: view.current_sha256.clone().unwrap_or_default(),
        rows,
        amendments_h: text(l, "protocol.amendments_h"),
        amendments: view
            .amendments
            .iter()
            .map(|a| {
                format!(
                    "{}: {} — {} (SHA-256 {})",
                    crate::i18n::long_datetime(a.at, l, tz),
                    a.changes
                        .iter()
                        .map(|c| label(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    a.reason,
                    a.sha256
                )
            })
            .collect(),
        note: text(l, "protocol.pdf_note"),
    };
    let mut files = HashMap::new();
    let json = serde_json::to_vec(&page).map_err(|e| AppError::Internal(e.into()))?;
    files.insert(file_id("/protocol.json"), Bytes::new(json));
    typeset(
        PROTOCOL_LAYOUT,
        files,
        format!("orakel-protocol-{study_id}"),
    )
}
