//! Recruitment pages: the overview with the candidate list and invitations, adding and importing
//! candidates, a candidate's page, the panel attributes, the study's letters and consent text,
//! and the message log.

use std::collections::BTreeMap;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, get, post, web};
use serde::Deserialize;

use super::{
    InLang, Notice, PageError, PageResult, field_errors, page, page_with_status, serde_value,
    study_page,
};
use crate::db::models::Candidate;
use crate::domain::Invalid;
use crate::domain::candidate::{CandidateInput, Stratum};
use crate::mail::Kind;
use crate::mail::templates::CustomLetter;
use crate::ops::AppError;
use crate::ops::recruitment::{self, CandidatePatch};
use crate::ops::studies;
use crate::web::AppState;
use crate::web::auth::{CsrfForm, PageResearcher};
use crate::web::flash::{Flash, redirect_with};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(overview)
        .service(invite)
        .service(new_candidate_form)
        .service(new_candidate)
        .service(import_form)
        .service(import)
        .service(candidate_page)
        .service(update_candidate)
        .service(withdraw_candidate)
        .service(erase_candidate)
        .service(strata_form)
        .service(save_strata)
        .service(strata_values_form)
        .service(save_strata_values)
        .service(letters)
        .service(letter_form)
        .service(save_letter)
        .service(letter_preview_saved)
        .service(consent_form)
        .service(save_consent)
        .service(messages);
}

/// Which candidates the list shows and which are ticked: `status`, `s.{stratum key}` (values
/// to match) and `select=all` (every invitable candidate shown, ticked) — a plain GET, so the
/// filters and "select all" work without JavaScript too.
type ListQuery = BTreeMap<String, String>;

#[get("/studies/{study}/recruitment")]
async fn overview(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> PageResult {
    overview_page(&state, &who, path.into_inner(), None, &query).await
}

/// Whether a candidate can be invited (again) from the list.
fn invitable(c: &recruitment::CandidateView) -> bool {
    use crate::domain::candidate::Status;
    matches!(
        c.status,
        Status::Identified | Status::Declined | Status::NoReply
    ) && c.email.is_some()
        && !c.mail_opt_out
        && !c.erased
}

async fn overview_page(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    notice: Option<Notice>,
    query: &ListQuery,
) -> PageResult {
    let status = notice.as_ref().map_or(StatusCode::OK, Notice::status);
    let sender = state.settings.mail.from.clone();
    let p = study_page(state, who, &study_id, move |c, id, study_id| {
        Ok((
            recruitment::overview(c, id, study_id)?,
            recruitment::list(c, id, study_id)?,
            recruitment::strata_of(c, study_id)?,
            crate::ops::todo::sending_warnings(c, id, study_id, &sender)?,
        ))
    })
    .await?;
    let (recruitment, list, strata, warnings) = &p.data;
    // The filters, search, order and page as the form sent them; a bad value is left out.
    let pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k.as_str() != "page" && k.as_str() != "select")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut wanted = recruitment::CandidateQuery::parse(&pairs, "s.").unwrap_or_default();
    let page_no = super::page_number(query);
    wanted.paging = wanted.paging.page_number(page_no);
    let matching = wanted.all_matching(list.clone());
    let invitable_matching = matching.iter().filter(|c| invitable(c)).count();
    let shown: Vec<&recruitment::CandidateView> = wanted.paging.take(&matching);
    let select_all = query.get("select").is_some_and(|s| s == "all");
    let rows: Vec<minijinja::Value> = shown
        .iter()
        .map(|c| {
            let can = invitable(c);
            minijinja::context! { can_invite => can, ticked => can && select_all, ..serde_value(c) }
        })
        .collect();
    let invitable_shown = shown.iter().filter(|c| invitable(c)).count();
    let filtered = wanted.narrowed();
    // The filters as they stand, for the "select all / none" and page links to keep.
    let kept: Vec<(&String, &String)> = query
        .iter()
        .filter(|(k, v)| {
            (matches!(k.as_str(), "status" | "q" | "source" | "sort") || k.starts_with("s."))
                && !v.is_empty()
        })
        .collect();
    let link_with = |extra: &[(&str, String)]| {
        let mut pairs: Vec<(&str, &str)> =
            kept.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        format!(
            "?{}#candidates-h",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    // "Select all / none" stay on the page they are on.
    let link = |select: &str| {
        let mut extra = vec![("select", select.to_string())];
        if page_no > 1 {
            extra.push(("page", page_no.to_string()));
        }
        link_with(&extra)
    };
    let sources: std::collections::BTreeSet<String> =
        list.iter().map(|c| c.source.clone()).collect();
    // Every filter with its value ("" for any), so the form shows what is chosen.
    let chosen: BTreeMap<String, String> = strata
        .iter()
        .map(|st| {
            let key = format!("s.{}", st.key);
            let v = query.get(&key).cloned().unwrap_or_default();
            (st.key.clone(), v)
        })
        .collect();
    let wanted_status = query.get("status").filter(|s| !s.is_empty());
    let warning_text =
        super::warning_lines(who.lang(), warnings, &state.settings.mail.from).join(" ");
    p.render(
        who,
        status,
        "recruitment.html",
        "recruitment",
        minijinja::context! {
            recruitment => serde_value(recruitment),
            candidates => rows, strata => serde_value(strata),
            total => list.len(), matching => matching.len(), filtered => filtered,
            invitable_shown => invitable_shown, invitable_matching => invitable_matching,
            pager => super::pager(
                query,
                |k| matches!(k, "status" | "q" | "source" | "sort") || k.starts_with("s."),
                page_no,
                matching.len(),
                wanted.paging.limit,
                "candidates-h",
            ),
            kept => kept.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>(),
            q => query.get("q").cloned().unwrap_or_default(),
            chosen_source => query.get("source").cloned().unwrap_or_default(),
            chosen_sort => query.get("sort").cloned().unwrap_or_default(),
            sources => sources.into_iter().collect::<Vec<_>>(),
            ticked => if select_all { invitable_shown } else { 0 },
            chosen => chosen, chosen_status => wanted_status.cloned().unwrap_or_default(),
            select_all_link => link("all"), select_none_link => link("none"),
            warning_text => warning_text,
            statuses => crate::domain::candidate::Status::ALL.map(|s| s.as_str()),
            notice => notice.as_ref().map(serde_value),
        },
    )
}

#[post("/studies/{study}/invitations")]
async fn invite(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    let study_id = path.into_inner();
    let mut ids: Vec<String> = f
        .form
        .iter()
        .filter(|(k, _)| k == "candidate_ids")
        .map(|(_, v)| v.clone())
        .collect();
    // "Invite everyone matching this filter": the filter's invitable candidates, read anew.
    if f.form.iter().any(|(k, v)| k == "all_matching" && v == "1") {
        let wanted = recruitment::CandidateQuery::parse(&f.form, "s.").unwrap_or_default();
        let (id, sid) = (f.who.id(), study_id.clone());
        let list = state
            .db(move |c| recruitment::list(c, &id, &sid))
            .await
            .lang(&f.who)?;
        ids = wanted
            .all_matching(list)
            .iter()
            .filter(|c| invitable(c))
            .map(|c| c.id.clone())
            .collect();
    }
    // Invitations cannot be called back: how many go out is said and confirmed first.
    let chosen: std::collections::BTreeSet<&String> = ids.iter().collect();
    if !chosen.is_empty() && !super::confirmed(&f.form) {
        let l = f.who.lang();
        let n = [("n", chosen.len().to_string())];
        let back = format!("/studies/{study_id}/recruitment");
        let (id, sid, sender) = (
            f.who.id(),
            study_id.clone(),
            state.settings.mail.from.clone(),
        );
        let warnings = state
            .db(move |c| crate::ops::todo::sending_warnings(c, &id, &sid, &sender))
            .await
            .lang(&f.who)?;
        let mut lines = vec![crate::web::render::text_with(
            l,
            "confirm.invite_emails",
            &n,
        )];
        lines.extend(super::warning_lines(
            l,
            &warnings,
            &state.settings.mail.from,
        ));
        return super::confirm_page(
            &f.who,
            super::Confirmation {
                title: crate::web::render::text_with(l, "confirm.invite_title", &n),
                lines,
                yes: crate::web::render::text_with(l, "confirm.invite_yes", &n),
                action: format!("/studies/{study_id}/invitations"),
                fields: f.form.clone(),
                cancel: back,
            },
        );
    }
    let (id, sid, env) = (f.who.id(), study_id.clone(), state.mail.clone());
    match state
        .db(move |c| recruitment::invite(c, &env, &id, &sid, &ids))
        .await
    {
        Ok(r) => {
            state.wake_worker();
            let mut said = Flash::done("recruitment.invited", &[("n", r.queued.to_string())]);
            if !r.skipped.is_empty() {
                said = said.and("recruitment.skipped", &[("n", r.skipped.len().to_string())]);
            }
            Ok(redirect_with(
                &format!("/studies/{study_id}/recruitment"),
                said,
                f.who.secure,
            ))
        }
        Err(AppError::Invalid(inv)) => {
            let notice = Notice::failed(inv.say(f.who.lang()));
            overview_page(&state, &f.who, study_id, Some(notice), &ListQuery::new()).await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

/// The study's attributes and its candidates, for the pages that set a candidate's values.
async fn strata_and_candidates(
    state: &AppState,
    who: &PageResearcher,
    study_id: &str,
) -> Result<super::StudyPage<(Vec<Stratum>, Vec<recruitment::CandidateView>)>, PageError> {
    study_page(state, who, study_id, |c, id, study_id| {
        Ok((
            recruitment::strata_of(c, study_id)?,
            recruitment::list(c, id, study_id)?,
        ))
    })
    .await
}

fn empty_candidate_form() -> BTreeMap<String, String> {
    BTreeMap::new()
}

async fn candidate_form_page(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    status: StatusCode,
    form: BTreeMap<String, String>,
    errors: Option<&Invalid>,
) -> PageResult {
    let p = strata_and_candidates(state, who, &study_id).await?;
    let (strata, list) = &p.data;
    let referrers: Vec<_> = list
        .iter()
        .map(|c| minijinja::context! { id => c.id.clone(), name => c.name.clone() })
        .collect();
    p.render(
        who,
        status,
        "candidate_new.html",
        "recruitment",
        minijinja::context! {
            strata => serde_value(strata), referrers => referrers,
            form => serde_value(&form), errors => field_errors(who.lang(), errors),
        },
    )
}

#[get("/studies/{study}/candidates/new")]
async fn new_candidate_form(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    candidate_form_page(
        &state,
        &who,
        path.into_inner(),
        StatusCode::OK,
        empty_candidate_form(),
        None,
    )
    .await
}

/// Candidate fields from a form: the fixed ones, and `strata.KEY` for each attribute.
fn candidate_input(form: &BTreeMap<String, String>) -> CandidateInput {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    CandidateInput {
        name: get("name"),
        email: get("email"),
        organisation: get("organisation"),
        strata: form
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("strata.")
                    .map(|k| (k.to_string(), v.clone()))
            })
            .collect(),
        source: crate::domain::candidate::source_from_label(&get("source")),
        referred_by: form.get("referred_by").cloned().filter(|v| !v.is_empty()),
        notes: get("notes"),
    }
}

#[post("/studies/{study}/candidates/new")]
async fn new_candidate(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<BTreeMap<String, String>>,
) -> PageResult {
    let study_id = path.into_inner();
    let input = candidate_input(&f.form);
    let (id, sid) = (f.who.id(), study_id.clone());
    match state
        .db(move |c| recruitment::add(c, &id, &sid, input))
        .await
    {
        // Where the new candidate is, not the top of the list.
        Ok(cand) => Ok(redirect_with(
            &format!("/studies/{study_id}/recruitment#c-{}", cand.id),
            Flash::done("recruitment.added", &[("name", cand.name)]),
            f.who.secure,
        )),
        Err(AppError::Invalid(inv)) => {
            candidate_form_page(
                &state,
                &f.who,
                study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                f.form.clone(),
                Some(&inv),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

#[get("/studies/{study}/candidates/import")]
async fn import_form(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    let p = study_page(&state, &who, &path.into_inner(), |c, _, study_id| {
        recruitment::strata_of(c, study_id)
    })
    .await?;
    p.render(
        &who,
        StatusCode::OK,
        "candidates_import.html",
        "recruitment",
        minijinja::context! { strata => serde_value(&p.data), csv => "", errors => minijinja::context! {} },
    )
}

/// The import: a pasted text or an uploaded file; `action` is `preview` or `save`.
#[post("/studies/{study}/candidates/import")]
async fn import(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    req: HttpRequest,
    payload: Multipart,
) -> PageResult {
    let study_id = path.into_inner();
    let fields = super::multipart_form(
        &who,
        &req,
        payload,
        crate::domain::csv_import::MAX_BYTES + 64 * 1024,
    )
    .await?;
    let text_of = |k: &str| super::field(&fields, k);
    let file = fields.get("file").filter(|f| !f.is_empty()).cloned();
    let bytes = file.unwrap_or_else(|| fields.get("csv").cloned().unwrap_or_default());
    let save = text_of("action") == "save";
    let (id, sid) = (who.id(), study_id.clone());
    let b = bytes.clone();
    let result = if save {
        state
            .db(move |c| recruitment::import(c, &id, &sid, &b))
            .await
    } else {
        state
            .db(move |c| recruitment::import_preview(c, &id, &sid, &b).map(|p| (p, 0)))
            .await
    };
    let (preview, saved, file_errors) = match result {
        Ok((p, n)) => (Some(p), n, None),
        Err(AppError::Invalid(inv)) => (None, 0, Some(inv)),
        Err(e) => return Err(e).lang(&who),
    };
    if saved > 0 {
        let notice = crate::web::render::text_with(
            who.lang(),
            "recruitment.imported",
            &[("n", saved.to_string())],
        );
        return overview_page(
            &state,
            &who,
            study_id,
            Some(Notice::done(notice)),
            &ListQuery::new(),
        )
        .await;
    }
    let (id, sid) = (who.id(), study_id.clone());
    let (study, strata) = state
        .db(move |c| {
            Ok((
                studies::get(c, &id, &sid)?,
                recruitment::strata_of(c, &sid)?,
            ))
        })
        .await
        .lang(&who)?;
    let status = if file_errors.is_some() || (save && preview.is_some()) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    // The text goes back into the form so "save" sends exactly what was previewed; a file that
    // is not text (refused above) comes back without the control characters a page cannot hold.
    let csv_text: String = match std::str::from_utf8(&bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(&bytes).0.into_owned(),
    }
    .chars()
    .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
    .collect();
    page_with_status(
        &who,
        status,
        "candidates_import.html",
        minijinja::context! {
            study => serde_value(&study), strata => serde_value(&strata), csv => csv_text,
            preview => preview.as_ref().map(serde_value), errors => field_errors(who.lang(), file_errors.as_ref()),
            tab => "recruitment",
        },
    )
}

async fn candidate_detail_page(
    state: &AppState,
    who: &PageResearcher,
    candidate_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
) -> PageResult {
    let id = who.id();
    let detail = state
        .db({
            let id = id.clone();
            move |c| recruitment::detail(c, &id, &candidate_id)
        })
        .await
        .lang(who)?;
    let study_id = super::study_of::<Candidate>(state, who, &detail.candidate.id).await?;
    let p = study_page(state, who, &study_id, |c, _, study_id| {
        recruitment::strata_of(c, study_id)
    })
    .await?;
    p.render(
        who,
        status,
        "candidate.html",
        "recruitment",
        minijinja::context! {
            strata => serde_value(&p.data), c => serde_value(&detail), errors => field_errors(who.lang(), errors),
        },
    )
}

#[get("/candidates/{candidate}")]
async fn candidate_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    candidate_detail_page(&state, &who, path.into_inner(), StatusCode::OK, None).await
}

#[post("/candidates/{candidate}")]
async fn update_candidate(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<BTreeMap<String, String>>,
) -> PageResult {
    let cand = path.into_inner();
    let input = candidate_input(&f.form);
    let patch = CandidatePatch {
        name: Some(input.name),
        email: Some(input.email),
        organisation: Some(input.organisation),
        strata: Some(input.strata),
        source: Some(input.source),
        notes: Some(input.notes),
    };
    let (id, cid) = (f.who.id(), cand.clone());
    match state
        .db(move |c| recruitment::update(c, &id, &cid, patch))
        .await
    {
        Ok(_) => Ok(redirect_with(
            &format!("/candidates/{cand}"),
            Flash::done("candidate.saved", &[]),
            f.who.secure,
        )),
        Err(AppError::Invalid(inv)) => {
            candidate_detail_page(
                &state,
                &f.who,
                cand,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    reason: String,
}

#[post("/candidates/{candidate}/withdraw")]
async fn withdraw_candidate(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<ReasonForm>,
) -> PageResult {
    let cand = path.into_inner();
    let (id, cid, reason) = (f.who.id(), cand.clone(), f.form.reason.clone());
    state
        .db(move |c| recruitment::withdraw(c, &id, &cid, &reason))
        .await
        .lang(&f.who)?;
    Ok(redirect_with(
        &format!("/candidates/{cand}"),
        Flash::done("candidate.withdrawn_done", &[]),
        f.who.secure,
    ))
}

/// Erases the candidate's identity on their request (owners).
#[post("/candidates/{candidate}/erase")]
async fn erase_candidate(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<ReasonForm>,
) -> PageResult {
    let cand = path.into_inner();
    let (id, cid) = (f.who.id(), cand.clone());
    let env = state.mail.clone();
    let input = crate::ops::privacy::EraseInput {
        reason: f.form.reason.clone(),
    };
    state
        .db(move |c| crate::ops::privacy::erase_person(c, &env, &id, &cid, input))
        .await
        .lang(&f.who)?;
    Ok(redirect_with(
        &format!("/candidates/{cand}"),
        Flash::done("candidate.erased_done", &[]),
        f.who.secure,
    ))
}

#[get("/studies/{study}/strata")]
async fn strata_form(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    let p = study_page(&state, &who, &path.into_inner(), |c, _, study_id| {
        recruitment::strata_of(c, study_id)
    })
    .await?;
    p.render(
        &who,
        StatusCode::OK,
        "study_strata.html",
        "recruitment",
        minijinja::context! { rows => strata_rows(&p.data), errors => minijinja::context! {} },
    )
}

fn strata_rows(strata: &[Stratum]) -> Vec<minijinja::Value> {
    strata
        .iter()
        .map(|s| minijinja::context! { key => s.key.clone(), label => s.label.clone(), values => s.values.join("\n"), lines => s.values.len() + 1 })
        // Room for several new attributes at once; more after saving.
        .chain(
            std::iter::repeat_n(
                minijinja::context! { key => "", label => "", values => "", lines => 0 },
                if strata.is_empty() { 3 } else { 2 },
            ),
        )
        .collect()
}

#[post("/studies/{study}/strata")]
async fn save_strata(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    let study_id = path.into_inner();
    // Rows arrive as key[i], label[i], values[i]; a row with an empty key is dropped.
    let mut rows: BTreeMap<usize, Stratum> = BTreeMap::new();
    for (k, v) in &f.form {
        let Some((field, i)) = k.split_once('.') else {
            continue;
        };
        let Ok(i) = i.parse::<usize>() else { continue };
        let row = rows.entry(i).or_insert_with(|| Stratum {
            key: String::new(),
            label: String::new(),
            values: Vec::new(),
        });
        match field {
            "key" => row.key = v.trim().to_string(),
            "label" => row.label = v.clone(),
            "values" => {
                row.values = v
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            _ => {}
        }
    }
    let strata: Vec<Stratum> = rows.into_values().filter(|s| !s.key.is_empty()).collect();
    let (id, sid, input) = (f.who.id(), study_id.clone(), strata.clone());
    match state
        .db(move |c| {
            let strata = recruitment::set_strata(c, &id, &sid, input)?;
            let list = recruitment::list(c, &id, &sid)?;
            Ok(list
                .iter()
                .any(|c| !c.erased && recruitment::lacks_strata(&strata, c.status, &c.strata)))
        })
        .await
    {
        // New attributes want values: the page to give them is the next step.
        Ok(true) => Ok(redirect_with(
            &format!("/studies/{study_id}/strata/values"),
            Flash::done("recruitment.strata_saved", &[]).and("strata.saved_now_values", &[]),
            f.who.secure,
        )),
        Ok(false) => Ok(redirect_with(
            &format!("/studies/{study_id}/recruitment"),
            Flash::done("recruitment.strata_saved", &[]),
            f.who.secure,
        )),
        Err(AppError::Invalid(inv)) => {
            let id = f.who.id();
            let study = state
                .db(move |c| studies::get(c, &id, &study_id))
                .await
                .lang(&f.who)?;
            page_with_status(
                &f.who,
                StatusCode::UNPROCESSABLE_ENTITY,
                "study_strata.html",
                minijinja::context! { study => serde_value(&study), rows => strata_rows(&strata), errors => field_errors(f.who.lang(), Some(&inv)), tab => "recruitment" },
            )
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

/// Which candidates the attribute values page shows: `all=1` for every candidate, else those
/// the to-do list asks values for.
#[derive(Deserialize)]
struct ValuesQuery {
    #[serde(default)]
    all: Option<String>,
}

#[get("/studies/{study}/strata/values")]
async fn strata_values_form(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    query: web::Query<ValuesQuery>,
) -> PageResult {
    let all = query.all.is_some();
    strata_values_page(
        &state,
        &who,
        path.into_inner(),
        all,
        StatusCode::OK,
        None,
        None,
    )
    .await
}

/// The attribute values of several candidates in one table; `typed` puts back what a refused
/// form held.
async fn strata_values_page(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    all: bool,
    status: StatusCode,
    notice: Option<Notice>,
    typed: Option<recruitment::StrataValues>,
) -> PageResult {
    let p = strata_and_candidates(state, who, &study_id).await?;
    let (strata, list) = &p.data;
    let lacking =
        |c: &recruitment::CandidateView| recruitment::lacks_strata(strata, c.status, &c.strata);
    let waiting = list.iter().filter(|c| !c.erased && lacking(c)).count();
    let rows: Vec<_> = list
        .iter()
        .filter(|c| !c.erased && (all || lacking(c)))
        .map(|c| {
            let mut values = c.strata.clone();
            if let Some(t) = typed.as_ref().and_then(|t| t.get(&c.id)) {
                values.extend(t.clone());
            }
            minijinja::context! {
                id => c.id.clone(), name => c.name.clone(), organisation => c.organisation.clone(),
                status => serde_value(&c.status), source => c.source.clone(), values => values,
            }
        })
        .collect();
    p.render(
        who,
        status,
        "study_strata_values.html",
        "recruitment",
        minijinja::context! {
            strata => serde_value(strata), rows => rows, all => all, waiting => waiting,
            total => list.iter().filter(|c| !c.erased).count(), notice => serde_value(&notice),
        },
    )
}

#[post("/studies/{study}/strata/values")]
async fn save_strata_values(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    let study_id = path.into_inner();
    // Fields arrive as v.{candidate id}.{attribute key}.
    let mut values = recruitment::StrataValues::new();
    let mut all = false;
    for (k, v) in &f.form {
        if k == "all" {
            all = true;
        }
        let Some((cand, key)) = k.strip_prefix("v.").and_then(|r| r.split_once('.')) else {
            continue;
        };
        values
            .entry(cand.to_string())
            .or_default()
            .insert(key.to_string(), v.clone());
    }
    let (id, sid, input) = (f.who.id(), study_id.clone(), values.clone());
    match state
        .db(move |c| recruitment::set_strata_values(c, &id, &sid, input))
        .await
    {
        Ok(changed) => Ok(redirect_with(
            &format!(
                "/studies/{study_id}/strata/values{}",
                if all { "?all=1" } else { "" }
            ),
            if changed.is_empty() {
                Flash::done("strata.values_unchanged", &[])
            } else {
                Flash::done("strata.values_saved", &[("n", changed.len().to_string())])
            },
            f.who.secure,
        )),
        Err(AppError::Invalid(inv)) => {
            let notice = Notice::failed(inv.say(f.who.lang()));
            strata_values_page(
                &state,
                &f.who,
                study_id,
                all,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(notice),
                Some(values),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

#[get("/studies/{study}/letters")]
async fn letters(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    let env = state.mail.clone();
    let p = study_page(&state, &who, &path.into_inner(), move |c, id, study_id| {
        let list = Kind::letters()
            .map(|k| crate::ops::letters::letter(c, &env, id, study_id, k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((list, crate::ops::letters::consent_text(c, id, study_id)?))
    })
    .await?;
    let (list, consent) = &p.data;
    p.render(
        &who,
        StatusCode::OK,
        "study_letters.html",
        "letters",
        minijinja::context! { letters => serde_value(list), consent => serde_value(consent) },
    )
}

fn kind_or_404(name: &str) -> Result<Kind, PageError> {
    Kind::letter(name).ok_or(PageError::from(AppError::NotFound))
}

/// The names and conditions a letter of `kind` can use, with the preview's examples.
fn letter_help(kind: Kind, sample: &crate::mail::MailContext) -> minijinja::Value {
    serde_value(&crate::mail::templates::letter_help(kind, sample))
}

/// The values a preview fills in: the study's own, an example recipient and round.
fn sample_for(study: &studies::StudyView) -> crate::mail::MailContext {
    let mut sample = crate::mail::templates::sample_context(study.language);
    sample.study = crate::mail::StudyFacts {
        title: study.title.clone(),
        purpose: study.purpose.clone(),
        funder: study.funder.clone(),
        contact: study.contact.clone(),
    };
    sample
}

#[get("/studies/{study}/letters/{kind}")]
async fn letter_form(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<(String, String)>,
) -> PageResult {
    let (study_id, kind) = path.into_inner();
    let kind = kind_or_404(&kind)?;
    let env = state.mail.clone();
    let p = study_page(&state, &who, &study_id, move |c, id, study_id| {
        crate::ops::letters::letter(c, &env, id, study_id, kind)
    })
    .await?;
    let help = letter_help(kind, &sample_for(&p.study));
    p.render(
        &who,
        StatusCode::OK,
        "study_letter.html",
        "letters",
        minijinja::context! { letter => serde_value(&p.data), errors => minijinja::context! {}, help => help },
    )
}

#[derive(Deserialize, serde::Serialize)]
struct LetterForm {
    subject: String,
    letter: String,
    #[serde(default)]
    action: String,
}

#[post("/studies/{study}/letters/{kind}")]
async fn save_letter(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    f: CsrfForm<LetterForm>,
) -> PageResult {
    let (study_id, kind) = path.into_inner();
    let kind = kind_or_404(&kind)?;
    let id = f.who.id();
    let env = state.mail.clone();
    let custom = CustomLetter {
        subject: f.form.subject.clone(),
        letter: f.form.letter.clone(),
    };
    let action = f.form.action.clone();
    if action == "preview" {
        let (sid, env) = (study_id.clone(), state.mail.clone());
        let result = state
            .db(move |c| crate::ops::letters::preview_letter(c, &env, &id, &sid, kind, &custom))
            .await;
        return preview_document(&f.who, result);
    }
    let sid = study_id.clone();
    let result = state
        .db(move |c| match action.as_str() {
            "save" => {
                crate::ops::letters::set_letter(c, &env, &id, &sid, kind, Some(custom))?;
                Ok("letters.saved")
            }
            "reset" => {
                crate::ops::letters::set_letter(c, &env, &id, &sid, kind, None)?;
                Ok("letters.reset_done")
            }
            _ => Err(Invalid::one("action", "unknown action").into()),
        })
        .await;
    match result {
        Ok(key) => Ok(redirect_with(
            &format!("/studies/{study_id}/letters/{}", kind.as_str()),
            Flash::done(key, &[]),
            f.who.secure,
        )),
        Err(AppError::Invalid(inv)) => {
            let id = f.who.id();
            let study = state
                .db(move |c| studies::get(c, &id, &study_id))
                .await
                .lang(&f.who)?;
            let letter = crate::ops::letters::LetterView {
                kind,
                subject: f.form.subject.clone(),
                letter: f.form.letter.clone(),
                custom: true,
            };
            page_with_status(
                &f.who,
                StatusCode::UNPROCESSABLE_ENTITY,
                "study_letter.html",
                minijinja::context! { study => serde_value(&study), letter => serde_value(&letter), errors => field_errors(f.who.lang(), Some(&inv)), tab => "letters", help => letter_help(kind, &sample_for(&study)) },
            )
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

/// What a preview document may do: show its own inline styles (an e-mail's HTML has nothing
/// else), inside a frame of Orakel's own pages, and nothing more — no script, no form, no link
/// followed.
const PREVIEW_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox";

/// The body of an e-mail's HTML document: its `<body>` attributes' style and what is inside.
fn mail_body(html: &str) -> (String, String) {
    let Some(start) = html.find("<body") else {
        return (String::new(), html.to_string());
    };
    let open_end = html[start..].find('>').map_or(start, |i| start + i + 1);
    let tag = &html[start..open_end];
    let style = tag
        .split_once("style=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(s, _)| s.to_string())
        .unwrap_or_default();
    let end = html.rfind("</body>").unwrap_or(html.len());
    (style, html[open_end..end.max(open_end)].to_string())
}

/// The preview as its own small document: the subject, the HTML e-mail as the expert's mail
/// program shows it, and its text part, filled with the study's values and an example
/// recipient; or what is wrong with the letter.
fn preview_document(
    who: &PageResearcher,
    result: Result<crate::ops::letters::LetterPreview, AppError>,
) -> PageResult {
    let lang = who.lang();
    let ctx = match result {
        Ok(p) => {
            let (body_style, body) = mail_body(&p.html);
            // The e-mail speaks the study's language, the frame around it the reader's.
            let mail_lang = p
                .html
                .split_once("<html lang=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map_or(lang, |(l, _)| l)
                .to_string();
            minijinja::context! {
                lang => lang, mail_lang => mail_lang, subject => p.subject, text => p.text,
                body_style => body_style, body => body,
            }
        }
        Err(AppError::Invalid(inv)) => minijinja::context! {
            lang => lang, problem => inv.say(lang),
        },
        Err(e) => return Err(e).lang(who),
    };
    let html = crate::templates::pages()
        .render("letter_preview.html", ctx)
        .lang(who)?;
    Ok(actix_web::HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_SECURITY_POLICY,
            PREVIEW_POLICY,
        ))
        .insert_header((actix_web::http::header::X_FRAME_OPTIONS, "SAMEORIGIN"))
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// The letter as it stands, previewed (the frame on the letter's page).
#[get("/studies/{study}/letters/{kind}/preview")]
async fn letter_preview_saved(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<(String, String)>,
) -> PageResult {
    let (study_id, kind) = path.into_inner();
    let kind = kind_or_404(&kind)?;
    let (id, env) = (who.id(), state.mail.clone());
    let result = state
        .db(move |c| {
            let l = crate::ops::letters::letter(c, &env, &id, &study_id, kind)?;
            let custom = CustomLetter {
                subject: l.subject,
                letter: l.letter,
            };
            crate::ops::letters::preview_letter(c, &env, &id, &study_id, kind, &custom)
        })
        .await;
    preview_document(&who, result)
}

#[get("/studies/{study}/consent-text")]
async fn consent_form(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    let p = study_page(&state, &who, &path.into_inner(), |c, id, study_id| {
        crate::ops::letters::consent_text(c, id, study_id)
    })
    .await?;
    p.render(
        &who,
        StatusCode::OK,
        "study_consent.html",
        "letters",
        minijinja::context! { consent => serde_value(&p.data), errors => minijinja::context! {}, saved => false },
    )
}

#[derive(Deserialize)]
struct ConsentForm {
    body: String,
}

#[post("/studies/{study}/consent-text")]
async fn save_consent(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<ConsentForm>,
) -> PageResult {
    let study_id = path.into_inner();
    let (id, sid, body) = (f.who.id(), study_id.clone(), f.form.body.clone());
    let result = state
        .db(move |c| crate::ops::letters::set_consent_text(c, &id, &sid, &body))
        .await;
    let id = f.who.id();
    let study = state
        .db(move |c| studies::get(c, &id, &study_id))
        .await
        .lang(&f.who)?;
    match result {
        Ok(consent) => page(
            &f.who,
            "study_consent.html",
            minijinja::context! { study => serde_value(&study), consent => serde_value(&consent), errors => minijinja::context! {}, saved => true, tab => "letters" },
        ),
        Err(AppError::Invalid(inv)) => page_with_status(
            &f.who,
            StatusCode::UNPROCESSABLE_ENTITY,
            "study_consent.html",
            minijinja::context! { study => serde_value(&study), consent => minijinja::context! { body => f.form.body.clone(), version => 0 }, errors => field_errors(f.who.lang(), Some(&inv)), saved => false, tab => "letters" },
        ),
        Err(e) => Err(e).lang(&f.who),
    }
}

#[get("/studies/{study}/messages")]
async fn messages(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    query: web::Query<BTreeMap<String, String>>,
) -> PageResult {
    let query = query.into_inner();
    let page_no = super::page_number(&query);
    let pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k.as_str() != "page")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // A filter the form cannot send (edited by hand) is left out rather than refused.
    let mut wanted = recruitment::MessageQuery::parse(&pairs).unwrap_or_default();
    wanted.paging = wanted.paging.page_number(page_no);
    let p = study_page(&state, &who, &path.into_inner(), move |c, id, study_id| {
        recruitment::messages(c, id, study_id, &wanted)
    })
    .await?;
    let folder = match state.settings.mail.transport {
        crate::config::MailTransportKind::File => {
            Some(state.settings.mail.dir.display().to_string())
        }
        crate::config::MailTransportKind::Smtp => None,
    };
    let keep = |k: &str| matches!(k, "state" | "kind" | "to");
    let total = usize::try_from(p.data.total).unwrap_or(0);
    let pager = super::pager(&query, keep, page_no, total, p.data.limit, "messages-h");
    let all: i64 = p.data.counts.values().sum();
    let chosen = |k: &str| query.get(k).cloned().unwrap_or_default();
    p.render(
        &who,
        StatusCode::OK,
        "study_messages.html",
        "recruitment",
        minijinja::context! {
            messages => serde_value(&p.data.items), counts => serde_value(&p.data.counts),
            all => all, total => total, pager => pager, folder => folder,
            filtered => query.iter().any(|(k, v)| keep(k) && !v.is_empty()),
            chosen_state => chosen("state"), chosen_kind => chosen("kind"), to => chosen("to"),
            states => crate::domain::states::MessageState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            kinds => crate::mail::Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        },
    )
}
