//! The theme-by-interview overview, and two coders' agreement on the same transcripts.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::*;
use crate::db::DbConn;
use crate::db::models::*;
use crate::db::schema::*;
use crate::domain::Invalid;
use crate::domain::agreement::{
    Unit, cohen_kappa, krippendorff_alpha_nominal, overlaps, sentences,
};
use crate::ops::AppResult;
use crate::ops::access::{self, ResearcherId, Role};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodingOverview {
    /// The transcripts, as columns.
    pub transcripts: Vec<TranscriptSummary>,
    pub rows: Vec<OverviewRow>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OverviewRow {
    pub theme_id: String,
    pub category: String,
    pub number: i32,
    pub title: String,
    pub colour: String,
    /// Passages coded to the theme in each transcript (in the order of `transcripts`).
    pub counts: Vec<usize>,
    pub excerpts: usize,
    /// In how many interviews the theme occurs.
    pub interviews: usize,
}

/// The theme-by-interview overview: passages per theme and transcript.
pub fn overview(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<CodingOverview> {
    let ts = transcripts(conn, researcher_id, study_id)?;
    let book = crate::ops::codebook::codebook_of(conn, study_id, false)?;
    let ids: Vec<String> = ts.iter().map(|t| t.id.clone()).collect();
    let pairs: Vec<(String, String)> = codings::table
        .inner_join(excerpts::table)
        .filter(excerpts::transcript_id.eq_any(&ids))
        .select((codings::theme_id, excerpts::transcript_id))
        .load(conn)?;
    let all_themes = crate::ops::codebook::themes_of(conn, study_id)?;
    let mut rows = Vec::new();
    for cat in &book.categories {
        for t in &cat.themes {
            let counts: Vec<usize> = ts
                .iter()
                .map(|tr| {
                    pairs
                        .iter()
                        .filter(|(th, x)| *th == t.id && *x == tr.id)
                        .count()
                })
                .collect();
            let theme = all_themes.iter().find(|x| x.id == t.id).expect("listed");
            rows.push(OverviewRow {
                theme_id: t.id.clone(),
                category: cat.code.clone(),
                number: t.number,
                title: t.title.clone(),
                colour: theme_colour(theme),
                excerpts: counts.iter().sum(),
                interviews: counts.iter().filter(|c| **c > 0).count(),
                counts,
            });
        }
    }
    Ok(CodingOverview {
        transcripts: ts,
        rows,
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Agreement {
    pub coder_a: String,
    pub coder_b: String,
    /// What a unit is.
    pub unit: String,
    /// Transcripts both coders coded.
    pub transcripts: usize,
    pub units: usize,
    pub themes: Vec<ThemeAgreement>,
    /// Over every theme and unit together.
    pub overall_kappa: Option<f64>,
    pub overall_alpha: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeAgreement {
    pub theme_id: String,
    pub number: i32,
    pub title: String,
    pub coded_by_a: usize,
    pub coded_by_b: usize,
    pub both: usize,
    pub kappa: Option<f64>,
    pub alpha: Option<f64>,
    /// The units one coded to the theme and the other did not.
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Difference {
    pub transcript_id: String,
    pub pseudonym: String,
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// Who coded it: `a` or `b`.
    pub coded_by: String,
}

/// A coder of the study, named by their coder id or (for a team member) their researcher id.
fn study_coder(conn: &mut DbConn, study_id: &str, id: &str, field: &str) -> AppResult<Coder> {
    coders::table
        .filter(coders::study_id.eq(study_id))
        .filter(coders::id.eq(id).or(coders::researcher_id.eq(id)))
        .select(Coder::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Invalid::one(field, "is not a coder of this study").into())
}

/// Agreement of two coders per theme over sentences, on the transcripts both coded: Cohen's
/// kappa and Krippendorff's alpha on coded / not coded.
pub fn agreement(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    coder_a: &str,
    coder_b: &str,
) -> AppResult<Agreement> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    agreement_of(conn, study_id, coder_a, coder_b)
}

/// `agreement` for a study the caller may already read (the report's checklist).
pub fn agreement_of(
    conn: &mut DbConn,
    study_id: &str,
    coder_a: &str,
    coder_b: &str,
) -> AppResult<Agreement> {
    let a = study_coder(conn, study_id, coder_a, "coder_a")?;
    let b = study_coder(conn, study_id, coder_b, "coder_b")?;
    if a.id == b.id {
        return Err(Invalid::one("coder_b", "choose two different coders").into());
    }
    let (coder_a, coder_b) = (a.id.as_str(), b.id.as_str());
    let ts: Vec<Transcript> = transcripts::table
        .filter(transcripts::study_id.eq(study_id))
        .order(transcripts::id)
        .select(Transcript::as_select())
        .load(conn)?;
    let ids: Vec<String> = ts.iter().map(|t| t.id.clone()).collect();
    let coded: Vec<(Excerpt, String, String)> = excerpts::table
        .inner_join(codings::table)
        .filter(excerpts::transcript_id.eq_any(&ids))
        .filter(codings::coder_id.eq_any([coder_a, coder_b]))
        .select((Excerpt::as_select(), codings::theme_id, codings::coder_id))
        .load(conn)?;
    let pseudonyms: HashMap<String, String> = panellists::table
        .filter(panellists::study_id.eq(study_id))
        .select((panellists::id, panellists::pseudonym))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let both: Vec<&Transcript> = ts
        .iter()
        .filter(|t| {
            [coder_a, coder_b].iter().all(|c| {
                coded
                    .iter()
                    .any(|(e, _, coder)| e.transcript_id == t.id && coder == c)
            })
        })
        .collect();
    let book = crate::ops::codebook::codebook_of(conn, study_id, false)?;
    let theme_list: Vec<(String, i32, String)> = book
        .categories
        .iter()
        .flat_map(|c| {
            c.themes
                .iter()
                .map(|t| (t.id.clone(), t.number, t.title.clone()))
        })
        .collect();
    let units: Vec<(&Transcript, Vec<Unit>)> =
        both.iter().map(|t| (*t, sentences(&t.body))).collect();
    let mut all_pairs = Vec::new();
    let mut all_alpha: Vec<Vec<Option<bool>>> = Vec::new();
    let mut out = Vec::new();
    for (tid, number, title) in &theme_list {
        let mut pairs = Vec::new();
        let mut differences = Vec::new();
        for (t, us) in &units {
            let marks = |coder: &str| -> Vec<(usize, usize)> {
                coded
                    .iter()
                    .filter(|(e, th, c)| e.transcript_id == t.id && th == tid && c == coder)
                    .map(|(e, _, _)| (e.start_offset as usize, e.end_offset as usize))
                    .collect()
            };
            let (ma, mb) = (marks(coder_a), marks(coder_b));
            for u in us {
                let a = ma.iter().any(|(s, e)| overlaps(*u, *s, *e));
                let b = mb.iter().any(|(s, e)| overlaps(*u, *s, *e));
                pairs.push((a, b));
                if a != b && differences.len() < 200 {
                    differences.push(Difference {
                        transcript_id: t.id.clone(),
                        pseudonym: pseudonyms.get(&t.panellist_id).cloned().unwrap_or_default(),
                        start: u.start,
                        end: u.end,
                        text: t.body.chars().skip(u.start).take(u.end - u.start).collect(),
                        coded_by: if a { "a".into() } else { "b".into() },
                    });
                }
            }
        }
        let alpha_units: Vec<Vec<Option<bool>>> = pairs
            .iter()
            .map(|(a, b)| vec![Some(*a), Some(*b)])
            .collect();
        out.push(ThemeAgreement {
            theme_id: tid.clone(),
            number: *number,
            title: title.clone(),
            coded_by_a: pairs.iter().filter(|p| p.0).count(),
            coded_by_b: pairs.iter().filter(|p| p.1).count(),
            both: pairs.iter().filter(|p| p.0 && p.1).count(),
            kappa: cohen_kappa(&pairs),
            alpha: krippendorff_alpha_nominal(&alpha_units),
            differences,
        });
        all_pairs.extend(pairs);
        all_alpha.extend(alpha_units);
    }
    Ok(Agreement {
        coder_a: a.name.clone(),
        coder_b: b.name.clone(),
        unit: "sentence".into(),
        transcripts: both.len(),
        units: units.iter().map(|(_, u)| u.len()).sum(),
        themes: out,
        overall_kappa: cohen_kappa(&all_pairs),
        overall_alpha: krippendorff_alpha_nominal(&all_alpha),
    })
}

/// A coder of the study: a team member, or someone whose coding was imported.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CoderView {
    pub id: String,
    pub name: String,
    /// The team member's researcher id; none for an imported coder.
    pub researcher_id: Option<String>,
}

/// The coders who coded anything in the study, for choosing a pair to compare.
pub fn coders(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<CoderView>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let active: Vec<String> = codings::table
        .inner_join(coders::table)
        .filter(coders::study_id.eq(study_id))
        .select(coders::id)
        .distinct()
        .load(conn)?;
    let mut out: Vec<CoderView> = coders::table
        .filter(coders::id.eq_any(&active))
        .select(Coder::as_select())
        .load(conn)?
        .into_iter()
        .map(|c| CoderView {
            id: c.id,
            name: c.name,
            researcher_id: c.researcher_id,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(out)
}
