//! The report as an HTML document (print-friendly), for the funder's page, the researchers'
//! preview and the `.html` download.

use std::collections::BTreeMap;

use minijinja::value::Serde;

use super::{Audience, Report, svg};
use crate::error::AppResult;
use crate::templates::pages;

/// The figures and small texts the template needs beside the report itself.
fn extras(r: &Report) -> (String, String, BTreeMap<String, String>) {
    let points = r.scale.points();
    let bars = r
        .themes
        .iter()
        .map(|t| {
            let label = t
                .counts
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{}: {c}", r.scale.min + i as i32))
                .collect::<Vec<_>>()
                .join(", ");
            (
                t.theme_id.clone(),
                svg::distribution(&t.counts, r.scale.min, &label),
            )
        })
        .collect();
    (
        svg::flow(r),
        svg::legend(points, r.scale.min, &r.scale.low_label, &r.scale.high_label),
        bars,
    )
}

/// The themes a reader may see ranked, highest mean first (by the report's rank); themes below
/// the group size have no rank.
pub fn ranked(r: &Report) -> Vec<&super::ThemeRow> {
    let mut out: Vec<&super::ThemeRow> = r
        .themes
        .iter()
        .filter(|t| !t.hidden && t.rank.is_some())
        .collect();
    out.sort_by_key(|t| (t.rank, t.number));
    out
}

/// The report's body (without the page around it), as researchers preview it; `again` is the
/// query string that asks for the same report, kept on the download links.
pub fn body_with(
    r: &Report,
    audience: Audience,
    downloads: &str,
    again: &str,
) -> AppResult<String> {
    render("report_body.html", r, audience, downloads, again, None)
}

/// A complete HTML document.
pub fn document(r: &Report, audience: Audience, downloads: &str) -> AppResult<String> {
    render("report_doc.html", r, audience, downloads, "", None)
}

/// The funder's document as a funder's account reads it: the same report, with a bar above it
/// that leads back to the account's list and logs out (`account`: `name`, `csrf`).
pub fn document_for_account(
    r: &Report,
    downloads: &str,
    account: minijinja::Value,
) -> AppResult<String> {
    render(
        "report_doc.html",
        r,
        Audience::Funder,
        downloads,
        "",
        Some(account),
    )
}

fn render(
    template: &str,
    r: &Report,
    audience: Audience,
    downloads: &str,
    again: &str,
    account: Option<minijinja::Value>,
) -> AppResult<String> {
    let (flow, legend, bars) = extras(r);
    let ctx = minijinja::context! {
        lang => r.language.code(),
        tz => r.study.time_zone.clone(),
        r => minijinja::Value::from(Serde(r)),
        flow_svg => minijinja::Value::from_safe_string(flow),
        item_flow_svg => minijinja::Value::from_safe_string(svg::item_flow(r)),
        checklist_guidelines => super::checklist::guidelines(r.language.code()),
        legend_svg => minijinja::Value::from_safe_string(legend),
        bars => bars.into_iter().map(|(k, v)| (k, minijinja::Value::from_safe_string(v))).collect::<BTreeMap<_, _>>(),
        researcher => audience == Audience::Researcher,
        downloads => downloads,
        again => again,
        account => account,
        method => super::sentences::method(r),
        definitions => super::sentences::definitions(r),
        priorities => r.themes.iter().filter(|t| t.meets_priority).map(|t| minijinja::Value::from(Serde(t))).collect::<Vec<_>>(),
        ranked => ranked(r).into_iter().map(|t| minijinja::context! { theme => Serde(t), words => super::sentences::theme_in_words(r, t) }).collect::<Vec<_>>(),
        key_terms => super::sentences::key_terms(r),
        rand_ucla => r.themes.iter().any(|t| t.rand_ucla.is_some()),
        sensitivity => minijinja::Value::from(Serde(super::sentences::sensitivity_rows(r))),
        fragile_themes => super::sentences::fragile_themes(r),
    };
    pages().render(template, ctx)
}
