//! Round-1 pages for researchers: the transcripts with upload and REFI-QDA exchange, the coding
//! page (the transcript as text with its coded passages; a passage is chosen by sentence
//! check boxes, which work without a script, or by selecting text with `coding.js`), the
//! theme-by-interview overview and two coders' agreement.

use std::collections::{BTreeMap, HashSet};

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::{
    InLang, PageResult, field, field_errors, multipart_form, page_with_status, serde_value,
    study_page,
};
use crate::db::models::Transcript;
use crate::domain::Invalid;
use crate::domain::agreement::sentences;
use crate::ops::access::{self, Role};
use crate::ops::coding::{self, ExcerptInput, ExcerptView};
use crate::ops::{AppError, codebook, refi, studies};
use crate::web::AppState;
use crate::web::auth::{CsrfForm, PageResearcher};
use crate::web::flash::{Flash, redirect_with};
use crate::web::render::text;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(coding_home)
        .service(upload)
        .service(import)
        .service(theme_css)
        .service(transcript_page)
        .service(transcript_action)
        .service(overview_page)
        .service(agreement_page);
}

/// The most pseudonyms the upload form offers as suggestions.
const SUGGESTED_PANELLISTS: usize = 200;

async fn home_view(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
    notice: Option<String>,
) -> PageResult {
    let p = study_page(state, who, &study_id, |c, id, study_id| {
        Ok((
            coding::transcripts(c, id, study_id)?,
            coding::pseudonyms(c, id, study_id)?,
            crate::ops::rounds::list(c, id, study_id)?,
            codebook::codebook(c, id, study_id, false)?,
        ))
    })
    .await?;
    let (list, panellists, rounds, book) = &p.data;
    let qualitative: Vec<_> = rounds
        .iter()
        .filter(|r| r.kind == crate::domain::round::Kind::Qualitative)
        .collect();
    let themes: usize = book.categories.iter().map(|c| c.themes.len()).sum();
    // A panel of thousands is searched by pseudonym, not scrolled through: the browser offers
    // the pseudonyms as suggestions only while they are few enough to send with the page.
    let suggestions: &[(String, String)] = if panellists.len() <= SUGGESTED_PANELLISTS {
        panellists
    } else {
        &[]
    };
    p.render(
        who,
        status,
        "coding.html",
        "coding",
        minijinja::context! {
            transcripts => serde_value(list), panellist_count => panellists.len(),
            suggestions => serde_value(&suggestions), example => panellists.first().map(|p| p.1.clone()),
            rounds => serde_value(&qualitative), themes => themes, errors => field_errors(who.lang(), errors),
            notice => notice,
        },
    )
}

#[get("/studies/{study}/coding")]
async fn coding_home(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    home_view(&state, &who, path.into_inner(), StatusCode::OK, None, None).await
}

/// A transcript from a file (text or Word) or pasted text.
#[post("/studies/{study}/transcripts")]
async fn upload(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    req: HttpRequest,
    payload: Multipart,
) -> PageResult {
    let study_id = path.into_inner();
    let fields = multipart_form(&who, &req, payload, coding::MAX_UPLOAD_BYTES + 64 * 1024).await?;
    let file = fields.get("file").filter(|f| !f.is_empty()).cloned();
    let filename = field(&fields, "file.filename");
    let (bytes, filename) = match file {
        Some(f) => (f, filename),
        None => (field(&fields, "text").into_bytes(), String::new()),
    };
    let (panellist, title, round) = (
        field(&fields, "panellist"),
        field(&fields, "title"),
        field(&fields, "round_id"),
    );
    let (id, sid) = (who.id(), study_id.clone());
    let result = state
        .db(move |c| {
            coding::add_transcript(
                c,
                &id,
                &sid,
                &panellist,
                &title,
                Some(round.as_str()).filter(|r| !r.is_empty()),
                &filename,
                &bytes,
            )
        })
        .await;
    match result {
        Ok(t) => Ok(redirect_with(
            &format!("/transcripts/{}", t.id),
            Flash::done("coding.transcript_added", &[]),
            who.secure,
        )),
        Err(AppError::Invalid(inv)) => {
            home_view(
                &state,
                &who,
                study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                None,
            )
            .await
        }
        Err(e) => Err(e).lang(&who),
    }
}

/// A REFI-QDA codebook (`.qdc`) or project (`.qdpx`) into the study.
#[post("/studies/{study}/coding/import")]
async fn import(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    req: HttpRequest,
    payload: Multipart,
) -> PageResult {
    let study_id = path.into_inner();
    let fields = multipart_form(
        &who,
        &req,
        payload,
        crate::web::api::coding::MAX_PROJECT_BYTES + 64 * 1024,
    )
    .await?;
    let bytes = fields.get("qda").cloned().unwrap_or_default();
    let (id, sid) = (who.id(), study_id.clone());
    let result = if bytes.is_empty() {
        Err(AppError::Invalid(Invalid::one(
            "qda",
            text(who.lang(), "coding.choose_file"),
        )))
    } else if bytes.starts_with(b"PK") {
        state
            .db(move |c| refi::import_project(c, &id, &sid, &bytes, &BTreeMap::new()))
            .await
    } else {
        state
            .db(move |c| refi::import_codebook(c, &id, &sid, &bytes))
            .await
    };
    match result {
        Ok(s) => {
            let notice = crate::web::render::text_with(
                who.lang(),
                "coding.imported",
                &[
                    ("themes", s.themes_created.to_string()),
                    ("transcripts", s.transcripts_created.to_string()),
                    ("codings", s.codings_created.to_string()),
                    ("skipped", s.codings_skipped.to_string()),
                ],
            );
            home_view(&state, &who, study_id, StatusCode::OK, None, Some(notice)).await
        }
        Err(AppError::Invalid(inv)) => {
            let inv = Invalid(
                inv.0
                    .into_iter()
                    .map(|mut e| {
                        e.field = "qda".into();
                        e
                    })
                    .collect(),
            );
            home_view(
                &state,
                &who,
                study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                None,
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            home_view(
                &state,
                &who,
                study_id,
                StatusCode::CONFLICT,
                Some(&Invalid::one("qda", m)),
                None,
            )
            .await
        }
        Err(e) => Err(e).lang(&who),
    }
}

/// Each theme's colour as a class, so pages can colour codings under a strict style policy.
#[get("/studies/{study}/themes.css")]
async fn theme_css(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    let (id, sid) = (who.id(), path.into_inner());
    let themes = state
        .db(move |c| {
            studies::get(c, &id, &sid)?;
            codebook::themes_of(c, &sid)
        })
        .await
        .lang(&who)?;
    let css: String = themes
        .iter()
        .map(|t| format!(".th-{} {{ --c: {}; }}\n", t.id, coding::theme_colour(t)))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(css))
}

/// A run of the text with the same codings: the unit of highlighting and of selection.
#[derive(Debug, Serialize, PartialEq)]
pub struct Segment {
    pub text: String,
    /// Character offset of the run in the transcript.
    pub o: usize,
    /// The sentence that starts here: its number and `start-end`, for its check box.
    pub unit: Option<(usize, String)>,
    pub excerpts: Vec<String>,
    pub themes: Vec<String>,
}

/// The transcript as lines of segments, cut at sentence, passage and line boundaries.
pub fn segments(body: &str, excerpts: &[ExcerptView]) -> Vec<Vec<Segment>> {
    let chars: Vec<char> = body.chars().collect();
    let units = sentences(body);
    let mut cuts: Vec<usize> = vec![0, chars.len()];
    for u in &units {
        cuts.extend([u.start, u.end]);
    }
    for e in excerpts {
        cuts.extend([e.start.min(chars.len()), e.end.min(chars.len())]);
    }
    for (i, c) in chars.iter().enumerate() {
        if *c == '\n' {
            cuts.extend([i, i + 1]);
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut lines = vec![Vec::new()];
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if chars[a] == '\n' {
            lines.push(Vec::new());
            continue;
        }
        let covering: Vec<&ExcerptView> = excerpts
            .iter()
            .filter(|e| e.start <= a && e.end >= b)
            .collect();
        let mut themes: Vec<String> = Vec::new();
        for e in &covering {
            for t in &e.themes {
                if !themes.contains(&t.theme_id) {
                    themes.push(t.theme_id.clone());
                }
            }
        }
        let unit = units
            .iter()
            .position(|u| u.start == a)
            .map(|n| (n + 1, format!("{}-{}", units[n].start, units[n].end)));
        lines.last_mut().expect("one line").push(Segment {
            text: chars[a..b].iter().collect(),
            o: a,
            unit,
            excerpts: covering.iter().map(|e| e.id.clone()).collect(),
            themes,
        });
    }
    lines
}

#[derive(Deserialize)]
struct TranscriptQuery {
    #[serde(default)]
    theme: Option<String>,
    /// `1`: the sentences' check boxes shown (the way without a mouse; without JavaScript
    /// they are always there).
    #[serde(default)]
    boxes: Option<String>,
}

/// How the transcript page is shown: filtered to one theme, with or without the check boxes.
#[derive(Debug, Clone, Default)]
struct View {
    filter: Option<String>,
    boxes: bool,
}

impl View {
    /// The page's address with this view.
    fn path(&self, transcript: &str) -> String {
        let mut q: Vec<(&str, &str)> = Vec::new();
        if let Some(th) = &self.filter {
            q.push(("theme", th));
        }
        if self.boxes {
            q.push(("boxes", "1"));
        }
        if q.is_empty() {
            format!("/transcripts/{transcript}")
        } else {
            format!(
                "/transcripts/{transcript}?{}",
                serde_urlencoded::to_string(&q).unwrap_or_default()
            )
        }
    }
}

/// Speaker labels that look like a person's name: a line that opens with a label and a colon,
/// where the label holds a name of one of the study's candidates or two capitalised words.
/// Transcripts should call speakers by pseudonym ("E03") or role ("Interviewer").
fn named_speakers(body: &str, names: &[String]) -> Vec<String> {
    let known: std::collections::HashSet<String> = names
        .iter()
        .flat_map(|n| n.split_whitespace().map(str::to_lowercase))
        .filter(|w| w.chars().count() > 2)
        .collect();
    let mut found: Vec<String> = Vec::new();
    for line in body.lines() {
        let Some((label, _)) = line.split_once(':') else {
            continue;
        };
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 40 || label.contains(['.', '?', '!']) {
            continue;
        }
        let words: Vec<&str> = label
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .filter(|w| !w.is_empty())
            .collect();
        let capitalised = words
            .iter()
            .filter(|w| {
                let mut cs = w.chars();
                cs.next().is_some_and(char::is_uppercase) && cs.all(char::is_lowercase)
            })
            .count();
        let a_name = words.iter().any(|w| known.contains(&w.to_lowercase()))
            || (words.len() <= 4 && capitalised >= 2);
        if a_name && !found.iter().any(|f| f == label) {
            found.push(label.to_string());
        }
    }
    found
}

async fn transcript_view(
    state: &AppState,
    who: &PageResearcher,
    transcript_id: String,
    view: View,
    status: StatusCode,
    errors: Option<&Invalid>,
    notice: Option<String>,
) -> PageResult {
    let id = who.id();
    let (detail, study, book, overview, names) = state
        .db(move |c| {
            let d = coding::transcript(c, &id, &transcript_id)?;
            let study = studies::get(c, &id, &d.study_id)?;
            let book = codebook::codebook(c, &id, &d.study_id, false)?;
            let overview = coding::overview(c, &id, &d.study_id)?;
            let names = crate::ops::recruitment::candidate_names(c, &d.study_id)?;
            Ok((d, study, book, overview, names))
        })
        .await
        .lang(who)?;
    let filter = view.filter.clone().filter(|f| !f.is_empty());
    let named = named_speakers(&detail.body, &names);
    let other_view = View {
        boxes: !view.boxes,
        ..view.clone()
    };
    let shown: Vec<ExcerptView> = detail
        .excerpts
        .iter()
        .filter(|e| {
            filter
                .as_ref()
                .is_none_or(|f| e.themes.iter().any(|t| &t.theme_id == f))
        })
        .cloned()
        .collect();
    let lines = segments(&detail.body, &shown);
    let column = overview.transcripts.iter().position(|t| t.id == detail.id);
    // Per theme: passages here, and in how many interviews it occurs.
    let counts: BTreeMap<String, (usize, usize)> = overview
        .rows
        .iter()
        .map(|r| {
            (
                r.theme_id.clone(),
                (column.map_or(0, |i| r.counts[i]), r.interviews),
            )
        })
        .collect();
    page_with_status(
        who,
        status,
        "transcript.html",
        minijinja::context! {
            study => serde_value(&study), tr => serde_value(&detail), lines => serde_value(&lines),
            excerpts => serde_value(&shown), book => serde_value(&book), counts => serde_value(&counts),
            filter => filter, errors => field_errors(who.lang(), errors), notice => notice, tab => "coding",
            interviews => overview.transcripts.len(), boxes => view.boxes,
            toggle_boxes => other_view.path(&detail.id), named => named,
        },
    )
}

#[get("/transcripts/{transcript}")]
async fn transcript_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    q: web::Query<TranscriptQuery>,
) -> PageResult {
    let q = q.into_inner();
    let view = View {
        filter: q.theme.filter(|t| !t.is_empty()),
        boxes: q.boxes.as_deref() == Some("1"),
    };
    transcript_view(
        &state,
        &who,
        path.into_inner(),
        view,
        StatusCode::OK,
        None,
        None,
    )
    .await
}

/// The passages chosen in the form: a selection (`start`, `end`) when the script made one,
/// else each run of consecutive checked sentences.
fn chosen_passages(form: &[(String, String)]) -> Vec<(usize, usize)> {
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
    };
    if let (Some(s), Some(e)) = (get("start"), get("end"))
        && e > s
    {
        return vec![(s, e)];
    }
    let mut units: Vec<(usize, usize)> = form
        .iter()
        .filter(|(k, _)| k == "unit")
        .filter_map(|(_, v)| {
            let (a, b) = v.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    units.sort_unstable();
    units.dedup();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (s, e) in units {
        match runs.last_mut() {
            // Sentences are consecutive when only white space lies between them; the caller
            // checks that against the text.
            Some(last) if last.1 <= s => runs.push((s, e)),
            Some(last) => last.1 = last.1.max(e),
            None => runs.push((s, e)),
        }
    }
    runs
}

/// Joins runs of sentences with only white space between them.
fn join_adjacent(body: &str, runs: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let chars: Vec<char> = body.chars().collect();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (s, e) in runs {
        if let Some(last) = out.last_mut()
            && last.1 <= s
            && s <= chars.len()
            && chars[last.1..s]
                .iter()
                .all(|c| c.is_whitespace() && *c != '\n')
        {
            last.1 = e;
            continue;
        }
        out.push((s, e));
    }
    out
}

/// The coding page's actions: `code` (the chosen passage to the checked themes),
/// `remove_coding`, `remove_excerpt` and `delete`.
#[post("/transcripts/{transcript}")]
async fn transcript_action(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    let tid = path.into_inner();
    let get = |k: &str| {
        f.form
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let action = get("action");
    let view = View {
        filter: Some(get("filter")).filter(|x| !x.is_empty()),
        boxes: get("boxes") == "1",
    };
    let id = f.who.id();
    let t = tid.clone();
    let result: Result<Option<String>, AppError> = match action.as_str() {
        "code" => {
            let themes: Vec<String> = f
                .form
                .iter()
                .filter(|(k, _)| k == "theme")
                .map(|(_, v)| v.clone())
                .collect();
            let runs = chosen_passages(&f.form);
            let lang = f.who.lang().to_string();
            state
                .db(move |c| {
                    if runs.is_empty() {
                        return Err(
                            Invalid::one("passage", text(&lang, "coding.no_passage")).into()
                        );
                    }
                    if themes.is_empty() {
                        return Err(Invalid::one("theme", text(&lang, "coding.no_theme")).into());
                    }
                    let body = access::in_study::<Transcript>(c, &id, &t, Role::Researcher)?
                        .0
                        .body;
                    let runs = join_adjacent(&body, runs);
                    // One transaction per passage would leave half a coding on a fault; the
                    // passages are checked together first.
                    coding::add_excerpts(
                        c,
                        &id,
                        &t,
                        runs.into_iter()
                            .map(|(start, end)| ExcerptInput {
                                start,
                                end,
                                theme_ids: themes.clone(),
                            })
                            .collect(),
                    )?;
                    Ok(None)
                })
                .await
        }
        "remove_coding" => {
            let cid = get("coding_id");
            state
                .db(move |c| coding::remove_coding(c, &id, &cid).map(|_| None))
                .await
        }
        "remove_excerpt" => {
            let eid = get("excerpt_id");
            state
                .db(move |c| coding::remove_excerpt(c, &id, &eid).map(|_| None))
                .await
        }
        "delete" => {
            state
                .db(move |c| {
                    let study = access::study_id_of::<Transcript>(c, &id, &t)?;
                    coding::remove_transcript(c, &id, &t)?;
                    Ok(Some(format!("/studies/{study}/coding")))
                })
                .await
        }
        _ => Err(AppError::Invalid(Invalid::one("action", "unknown action"))),
    };
    let back = view.path(&tid);
    match result {
        Ok(Some(to)) => Ok(redirect_with(
            &to,
            Flash::done("coding.transcript_removed", &[]),
            f.who.secure,
        )),
        Ok(None) => {
            let key = match action.as_str() {
                "code" => "coding.coded",
                "remove_coding" => "coding.coding_removed",
                _ => "coding.excerpt_removed",
            };
            Ok(redirect_with(&back, Flash::done(key, &[]), f.who.secure))
        }
        Err(AppError::Invalid(inv)) => {
            transcript_view(
                &state,
                &f.who,
                tid,
                view,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                None,
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

#[get("/studies/{study}/coding/overview")]
async fn overview_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    let p = study_page(&state, &who, &path.into_inner(), coding::overview).await?;
    p.render(
        &who,
        StatusCode::OK,
        "coding_overview.html",
        "coding",
        minijinja::context! { o => serde_value(&p.data) },
    )
}

#[derive(Deserialize)]
struct AgreementQuery {
    #[serde(default)]
    a: String,
    #[serde(default)]
    b: String,
}

#[get("/studies/{study}/coding/agreement")]
async fn agreement_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    q: web::Query<AgreementQuery>,
) -> PageResult {
    let AgreementQuery { a, b } = q.into_inner();
    let p = study_page(&state, &who, &path.into_inner(), |c, id, sid| {
        let coders = coding::coders(c, id, sid)?;
        // By default the first two coders, as most studies have two.
        let (a, b) = match (a.is_empty(), coders.as_slice()) {
            (true, [x, y, ..]) => (x.id.clone(), y.id.clone()),
            _ => (a, b),
        };
        // A choice that cannot be compared is said on the page; other faults fail it.
        let result = if a.is_empty() || b.is_empty() {
            (None, None, Default::default())
        } else {
            match coding::agreement(c, id, sid, &a, &b) {
                Ok(r) => (Some(r), None, (a, b)),
                Err(AppError::Invalid(inv)) => (None, Some(inv), Default::default()),
                Err(e) => return Err(e),
            }
        };
        Ok((coders, result))
    })
    .await?;
    let (coders, (agreement, errors, chosen)) = &p.data;
    let seen: HashSet<&str> = coders.iter().map(|c| c.id.as_str()).collect();
    p.render(
        &who,
        if errors.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "coding_agreement.html",
        "coding",
        minijinja::context! {
            coders => serde_value(coders), r => serde_value(&agreement),
            a => &chosen.0, b => &chosen.1, errors => field_errors(who.lang(), errors.as_ref()),
            enough => seen.len() >= 2,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::coding::CodedTheme;

    fn ex(id: &str, start: usize, end: usize, theme: &str) -> ExcerptView {
        ExcerptView {
            id: id.into(),
            transcript_id: "t".into(),
            start,
            end,
            quote: String::new(),
            coder_id: None,
            coder: String::new(),
            themes: vec![CodedTheme {
                coding_id: format!("c-{id}"),
                theme_id: theme.into(),
                number: 1,
                title: String::new(),
                colour: String::new(),
                coder_id: "k".into(),
                coder: "Koder".into(),
            }],
        }
    }

    #[test]
    fn segments_keep_every_character_once_at_its_offset() {
        let body = "Første sætning om løn. Anden om ledelse!\nTredje linje.";
        let lines = segments(body, &[ex("x", 7, 30, "A"), ex("y", 23, 40, "B")]);
        assert_eq!(lines.len(), 2);
        let chars: Vec<char> = body.chars().collect();
        let mut rebuilt = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                rebuilt.push('\n');
            }
            for s in line {
                let here: String = chars[s.o..s.o + s.text.chars().count()].iter().collect();
                assert_eq!(here, s.text);
                rebuilt.push_str(&s.text);
            }
        }
        assert_eq!(rebuilt, body);
        let both = lines[0].iter().find(|s| s.o == 23).unwrap();
        assert_eq!(both.themes, vec!["A", "B"]);
        assert_eq!(lines[0][0].unit, Some((1, "0-22".into())));
        assert_eq!(lines[1][0].unit, Some((3, "41-54".into())));
    }

    #[test]
    fn checked_sentences_become_passages() {
        let body = "En. To. Tre.\nFire.";
        let form = |v: &[&str]| -> Vec<(String, String)> {
            v.iter()
                .map(|x| ("unit".to_string(), x.to_string()))
                .collect()
        };
        let runs = join_adjacent(body, chosen_passages(&form(&["0-3", "4-7", "13-18"])));
        assert_eq!(runs, vec![(0, 7), (13, 18)]);
        let runs = join_adjacent(body, chosen_passages(&form(&["0-3", "8-12"])));
        assert_eq!(runs, vec![(0, 3), (8, 12)]);
        let mut with_selection = form(&["0-3"]);
        with_selection.push(("start".into(), "2".into()));
        with_selection.push(("end".into(), "6".into()));
        assert_eq!(chosen_passages(&with_selection), vec![(2, 6)]);
    }
}
