//! Rounds pages for researchers: rounds with their deadline, opening and closing, the response
//! progress and the comments and proposals between rounds.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web};
use serde::Deserialize;

use super::{
    Confirmation, InLang, PageResult, confirm_page, field_errors, page_with_status, serde_value,
    study_page,
};
use crate::db::models::Round;
use crate::domain::Invalid;
use crate::domain::moment::{self, Typed};
use crate::domain::round::{Kind, RoundInput};
use crate::i18n::Tz;
use crate::ops::access::{InStudy, ResearcherId, Role};
use crate::ops::progress::{CommentQuery, ProgressQuery};
use crate::ops::rounds::{self, RoundPatch};
use crate::ops::{AppError, AppResult, access, studies};
use crate::web::auth::{CsrfForm, PageResearcher};
use crate::web::flash::{Flash, redirect_with};
use crate::web::{AppState, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(rounds_page)
        .service(create_round)
        .service(round_page)
        .service(comments_page)
        .service(round_action)
        .service(remind);
}

pub(super) type Form = BTreeMap<String, String>;

pub(super) fn get(f: &Form, k: &str) -> String {
    f.get(k).cloned().unwrap_or_default()
}

pub(super) fn int(e: &mut Invalid, field: &str, v: &str) -> i32 {
    v.trim().parse().unwrap_or_else(|_| {
        e.add(field, "must be a whole number");
        0
    })
}

async fn rounds_view(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
    form: Form,
) -> PageResult {
    let p = study_page(state, who, &study_id, |c, id, study_id| {
        Ok((
            rounds::list(c, id, study_id)?,
            rounds::active_theme_count(c, study_id)?,
            rounds::interviews_outside_rounds(c, study_id)?,
        ))
    })
    .await?;
    let (list, themes, interviews) = &p.data;
    // Round 1 was the interviews when they were held outside a round and no round is 1.
    let interview_round = *interviews > 0 && !list.iter().any(|r| r.number == 1);
    p.render(
        who,
        status,
        "rounds.html",
        "rounds",
        minijinja::context! {
            rounds => serde_value(list), themes => themes, errors => field_errors(who.lang(), errors),
            form => serde_value(&form), interview_round => interview_round, interviews => interviews,
        },
    )
}

#[get("/studies/{study}/rounds")]
async fn rounds_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    rounds_view(
        &state,
        &who,
        path.into_inner(),
        StatusCode::OK,
        None,
        Form::new(),
    )
    .await
}

/// The deadline field as typed, read on the study's clock once the study is known.
fn deadline(e: &mut Invalid, v: &str) -> Option<Typed> {
    typed_moment(e, "closes_at", v)
}

/// A date-and-time field as typed (empty is none), its fault collected in `e`.
pub(super) fn typed_moment(e: &mut Invalid, field: &str, v: &str) -> Option<Typed> {
    e.take(moment::parse(field, v)).flatten()
}

/// The clock of the study that row `id` of type `T` belongs to, for a member of it.
pub(super) fn clock_of<T: InStudy>(
    c: &mut crate::db::DbConn,
    who: &ResearcherId,
    id: &str,
) -> AppResult<Tz> {
    let (_, study) = access::in_study::<T>(c, who, id, Role::Researcher)?;
    Ok(study.zone())
}

#[post("/studies/{study}/rounds")]
async fn create_round(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Form>,
) -> PageResult {
    let study_id = path.into_inner();
    let mut e = Invalid::new();
    let closes_at = deadline(&mut e, &get(&f.form, "closes_at"));
    let kind = if Kind::parse(&get(&f.form, "kind")) == Some(Kind::Qualitative) {
        Kind::Qualitative
    } else {
        Kind::Rating
    };
    let on = |k: &str| f.form.contains_key(k);
    let input = RoundInput {
        kind,
        validation: kind == Kind::Rating && on("validation"),
        rating: kind == Kind::Rating && on("rating"),
        feedback: kind == Kind::Rating && on("feedback"),
        feedback_by_group: kind == Kind::Rating && on("feedback_by_group"),
        questionnaire: kind == Kind::Qualitative && on("questionnaire"),
        mode: if kind == Kind::Rating && on("live") {
            crate::domain::round::Mode::Live
        } else {
            crate::domain::round::Mode::Classic
        },
        closes_at: None,
        instructions: get(&f.form, "instructions"),
        reminder_days: None,
    };
    if !e.is_empty() {
        return rounds_view(
            &state,
            &f.who,
            study_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&e),
            f.form.clone(),
        )
        .await;
    }
    let (id, sid) = (f.who.id(), study_id.clone());
    let created = state
        .db(move |c| {
            let (study, _) = access::study(c, &id, &sid, Role::Researcher)?;
            let closes_at = closes_at
                .map(|t| t.resolve("closes_at", study.zone()))
                .transpose()?;
            rounds::create(c, &id, &sid, RoundInput { closes_at, ..input })
        })
        .await;
    match created {
        Ok(r) => Ok(see_other(&format!("/rounds/{}", r.id))),
        Err(AppError::Invalid(inv)) => {
            rounds_view(
                &state,
                &f.who,
                study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                f.form.clone(),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

/// The query of a list page (filters, search, page) as the browser sent it.
type ListQuery = BTreeMap<String, String>;

fn pairs_of(query: &ListQuery) -> Vec<(String, String)> {
    query
        .iter()
        .filter(|(k, _)| k.as_str() != "page")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

async fn round_view(
    state: &AppState,
    who: &PageResearcher,
    round_id: String,
    query: ListQuery,
    status: StatusCode,
    errors: Option<&Invalid>,
) -> PageResult {
    let id = who.id();
    let (opening, closing) = round_confirmations(state, who, &round_id).await?;
    let dialog = |c: Option<Confirmation>| {
        c.map(|c| minijinja::context! { text => c.dialog_text(), yes => c.yes })
    };
    let (confirm_open, confirm_close) = (dialog(opening), dialog(closing));
    let lang = who.lang().to_string();
    // A filter the form cannot send (edited by hand) is left out rather than refused.
    let page_no = super::page_number(&query);
    let mut wanted = ProgressQuery::parse(&pairs_of(&query), "s.").unwrap_or_default();
    wanted.paging = wanted.paging.page_number(page_no);
    let (round, study, progress, (themes, strata), (stopping, live)) = state
        .db(move |c| {
            let round = rounds::get(c, &id, &round_id)?;
            let study_id = access::study_id_of::<Round>(c, &id, &round_id)?;
            let progress = crate::ops::progress::progress(c, &id, &round_id, &wanted)?;
            let themes = crate::ops::progress::comment_overview(c, &id, &round_id)?;
            let strata = crate::ops::recruitment::strata_of(c, &study_id)?;
            // A closed rating round under a registered protocol says whether to stop.
            let stopping = if round.rating
                && round.state == crate::domain::round::State::Closed
                && crate::ops::protocol::registered(c, &study_id)?
            {
                let opts = crate::report::Options {
                    round: Some(round.number),
                    language: Some(crate::domain::Language::from_stored(&lang)),
                    ..Default::default()
                };
                crate::ops::reports::for_researcher(
                    c,
                    &id,
                    &study_id,
                    &opts,
                    crate::report::Audience::Researcher,
                )?
                .stopping
                .map(|s| s.explanation)
            } else {
                None
            };
            let live = if round.mode == crate::domain::round::Mode::Live {
                Some(crate::ops::live::for_researcher(c, &id, &round_id)?)
            } else {
                None
            };
            let study = studies::get(c, &id, &study_id)?;
            Ok((round, study, progress, (themes, strata), (stopping, live)))
        })
        .await
        .lang(who)?;
    let keep = |k: &str| matches!(k, "q" | "status") || k.starts_with("s.");
    let pager = super::pager(
        &query,
        keep,
        page_no,
        progress.total,
        progress.limit,
        "progress-h",
    );
    let filtered = query.iter().any(|(k, v)| keep(k) && !v.is_empty());
    let chosen: BTreeMap<String, String> = strata
        .iter()
        .map(|st| {
            let v = query.get(&format!("s.{}", st.key)).cloned();
            (st.key.clone(), v.unwrap_or_default())
        })
        .collect();
    page_with_status(
        who,
        status,
        "round.html",
        minijinja::context! {
            study => serde_value(&study), round => serde_value(&round),
            progress => serde_value(&progress), themes => serde_value(&themes),
            strata => serde_value(&strata), chosen => chosen, filtered => filtered,
            q => query.get("q").cloned().unwrap_or_default(),
            chosen_status => query.get("status").cloned().unwrap_or_default(),
            pager => pager,
            errors => field_errors(who.lang(), errors), tab => "rounds",
            confirm_open => confirm_open, confirm_close => confirm_close, stopping => stopping,
            live => live.map(|l| serde_value(&l)),
        },
    )
}

#[get("/rounds/{round}")]
async fn round_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> PageResult {
    round_view(
        &state,
        &who,
        path.into_inner(),
        query.into_inner(),
        StatusCode::OK,
        None,
    )
    .await
}

async fn comments_view(
    state: &AppState,
    who: &PageResearcher,
    (round_id, theme_id): (String, String),
    query: ListQuery,
    status: StatusCode,
    errors: Option<&Invalid>,
) -> PageResult {
    let (id, round) = (who.id(), round_id.clone());
    let page_no = super::page_number(&query);
    let mut wanted = CommentQuery::parse(&pairs_of(&query)).unwrap_or_default();
    wanted.paging = wanted.paging.page_number(page_no);
    let (study, comments) = state
        .db(move |c| {
            let comments =
                crate::ops::progress::theme_comments(c, &id, &round_id, &theme_id, &wanted)?;
            let study_id = access::study_id_of::<Round>(c, &id, &round_id)?;
            Ok((studies::get(c, &id, &study_id)?, comments))
        })
        .await
        .lang(who)?;
    let keep = |k: &str| matches!(k, "q" | "show");
    let pager = super::pager(
        &query,
        keep,
        page_no,
        comments.total,
        comments.limit,
        "comments-h",
    );
    page_with_status(
        who,
        status,
        "round_comments.html",
        minijinja::context! {
            study => serde_value(&study),
            round => minijinja::context! { id => round, number => comments.round_number, rating => comments.rating },
            c => serde_value(&comments), pager => pager,
            q => query.get("q").cloned().unwrap_or_default(),
            show => query.get("show").cloned().unwrap_or_default(),
            page => page_no,
            filtered => query.iter().any(|(k, v)| keep(k) && !v.is_empty()),
            errors => field_errors(who.lang(), errors), tab => "rounds",
        },
    )
}

#[get("/rounds/{round}/themes/{theme}/comments")]
async fn comments_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<(String, String)>,
    query: web::Query<ListQuery>,
) -> PageResult {
    comments_view(
        &state,
        &who,
        path.into_inner(),
        query.into_inner(),
        StatusCode::OK,
        None,
    )
    .await
}

#[derive(Deserialize)]
struct RoundActionForm {
    action: String,
    #[serde(default)]
    closes_at: String,
    #[serde(default)]
    answer_id: String,
    #[serde(default)]
    theme_id: String,
    #[serde(default)]
    statement: String,
    #[serde(default)]
    confirmed: String,
    /// The theme's comment list the form was on (its filter and page), to go back to.
    #[serde(default)]
    show: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
}

impl RoundActionForm {
    /// The theme's comment page the form came from, with its filter and page.
    fn comments_page(&self, round_id: &str) -> (String, ListQuery) {
        let query: ListQuery = [("show", &self.show), ("q", &self.q), ("page", &self.page)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let path = format!("/rounds/{round_id}/themes/{}/comments", self.theme_id);
        let url = if query.is_empty() {
            path
        } else {
            format!(
                "{path}?{}",
                serde_urlencoded::to_string(&query).unwrap_or_default()
            )
        };
        (url, query)
    }
}

/// What opening and closing a round would do, said in numbers for the researcher to confirm:
/// (opening, closing), each when it applies to the round's state.
async fn round_confirmations(
    state: &AppState,
    who: &PageResearcher,
    round_id: &str,
) -> Result<(Option<Confirmation>, Option<Confirmation>), super::PageError> {
    let (id, rid) = (who.id(), round_id.to_string());
    let sender = state.settings.mail.from.clone();
    let (open, close, warnings) = state
        .db(move |c| {
            let study = access::study_id_of::<Round>(c, &id, &rid)?;
            Ok((
                rounds::opening_preview(c, &id, &rid)?,
                rounds::closing_preview(c, &id, &rid)?,
                crate::ops::todo::sending_warnings(c, &id, &study, &sender)?,
            ))
        })
        .await
        .lang(who)?;
    let l = who.lang();
    let tw = crate::web::render::text_with;
    let number = |n: i32| [("number", n.to_string())];
    let back = format!("/rounds/{round_id}");
    let opening = (open.emails > 0 || open.locks_rule).then(|| {
        let mut lines = Vec::new();
        if open.emails > 0 {
            lines.push(tw(
                l,
                "confirm.open_emails",
                &[("n", open.emails.to_string())],
            ));
        }
        if open.locks_rule {
            lines.push(crate::web::render::text(l, "confirm.open_lock"));
        }
        if open.emails > 0 {
            lines.extend(super::warning_lines(
                l,
                &warnings,
                &state.settings.mail.from,
            ));
        }
        Confirmation {
            title: tw(l, "confirm.open_title", &number(open.number)),
            lines,
            yes: tw(l, "confirm.open_yes", &number(open.number)),
            action: back.clone(),
            fields: vec![("action".into(), "open".into())],
            cancel: back.clone(),
        }
    });
    let mut lines = Vec::new();
    if close.days_early > 0 {
        lines.push(tw(
            l,
            "confirm.close_early",
            &[("n", close.days_early.to_string())],
        ));
    }
    if close.not_answered > 0 {
        lines.push(tw(
            l,
            "confirm.close_unanswered",
            &[("n", close.not_answered.to_string())],
        ));
    }
    lines.push(crate::web::render::text(l, "confirm.close_final"));
    let closing = Confirmation {
        title: tw(l, "confirm.close_title", &number(close.number)),
        lines,
        yes: tw(l, "confirm.close_yes", &number(close.number)),
        action: back.clone(),
        fields: vec![("action".into(), "close".into())],
        cancel: back,
    };
    Ok((opening, Some(closing)))
}

#[post("/rounds/{round}")]
async fn round_action(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<RoundActionForm>,
) -> PageResult {
    let round_id = path.into_inner();
    // Opening and closing cannot be undone: said in numbers and confirmed first.
    if f.form.confirmed != "1" && matches!(f.form.action.as_str(), "open" | "close") {
        let (opening, closing) = round_confirmations(&state, &f.who, &round_id).await?;
        let asked = if f.form.action == "open" {
            opening
        } else {
            closing
        };
        if let Some(c) = asked {
            return confirm_page(&f.who, c);
        }
    }
    let (id, rid, env) = (f.who.id(), round_id.clone(), state.mail.clone());
    let here = format!("/rounds/{round_id}");
    let result: Result<(Flash, String), AppError> = match f.form.action.as_str() {
        "open" => state
            .db(move |c| rounds::open(c, &env, &id, &rid))
            .await
            .map(|o| {
                (
                    Flash::done("rounds.opened", &[("n", o.queued.to_string())]),
                    here.clone(),
                )
            }),
        "close" => state
            .db(move |c| rounds::close(c, &id, &rid))
            .await
            .map(|r| {
                (
                    Flash::done("rounds.closed_done", &[("number", r.number.to_string())]),
                    here.clone(),
                )
            }),
        "deadline" => {
            let mut e = Invalid::new();
            let closes_at = deadline(&mut e, &f.form.closes_at);
            let lang = f.who.lang().to_string();
            match closes_at {
                Some(typed) if e.is_empty() => state
                    .db(move |c| {
                        let tz = clock_of::<Round>(c, &id, &rid)?;
                        let patch = RoundPatch {
                            closes_at: Some(typed.resolve("closes_at", tz)?),
                            ..Default::default()
                        };
                        let r = rounds::update(c, &env, &id, &rid, patch)?;
                        // Said on the study's clock, as the page shows deadlines.
                        Ok(r.closes_at
                            .map(|d| crate::i18n::long_datetime(d, &lang, tz))
                            .unwrap_or_default())
                    })
                    .await
                    .map(|when| {
                        (
                            Flash::done("rounds.deadline_set", &[("date", when)]),
                            here.clone(),
                        )
                    }),
                _ => Err(AppError::Invalid(if e.is_empty() {
                    Invalid::one("closes_at", "must be a date and time")
                } else {
                    e
                })),
            }
        }
        "clear" | "unclear" => {
            let (answer, cleared) = (f.form.answer_id.clone(), f.form.action == "clear");
            let key = if cleared {
                "rounds.comment_cleared"
            } else {
                "rounds.comment_uncleared"
            };
            // Back to the comment, not the top of the page.
            let to = format!(
                "{}#answer-{}",
                f.form.comments_page(&round_id).0,
                f.form.answer_id
            );
            state
                .db(move |c| rounds::clear_comment(c, &id, &answer, cleared))
                .await
                .map(|_| (Flash::done(key, &[]), to))
        }
        "minority" => {
            let (theme, statement) = (f.form.theme_id.clone(), f.form.statement.clone());
            let to = format!("{}#minority", f.form.comments_page(&round_id).0);
            state
                .db(move |c| rounds::set_minority_statement(c, &id, &rid, &theme, &statement))
                .await
                .map(|kept| {
                    let key = if kept.is_some() {
                        "rounds.minority_saved"
                    } else {
                        "rounds.minority_removed"
                    };
                    (Flash::done(key, &[]), to)
                })
        }
        _ => Err(AppError::Invalid(Invalid::one("action", "unknown action"))),
    };
    let (status, errors) = match result {
        Ok((flash, to)) => {
            state.wake_worker();
            return Ok(redirect_with(&to, flash, f.who.secure));
        }
        Err(AppError::Invalid(inv)) => (StatusCode::UNPROCESSABLE_ENTITY, inv),
        Err(AppError::Conflict(m)) => (StatusCode::CONFLICT, Invalid::one("round", m)),
        Err(e) => return Err(e).lang(&f.who),
    };
    // A refusal is shown on the page the form was on.
    if matches!(f.form.action.as_str(), "clear" | "unclear" | "minority")
        && !f.form.theme_id.is_empty()
    {
        let query = f.form.comments_page(&round_id).1;
        let at = (round_id, f.form.theme_id.clone());
        comments_view(&state, &f.who, at, query, status, Some(&errors)).await
    } else {
        round_view(
            &state,
            &f.who,
            round_id,
            ListQuery::new(),
            status,
            Some(&errors),
        )
        .await
    }
}

/// A reminder now to an open round's non-responders (all, or those chosen on the study's
/// overview), confirmed with its number first; back to the round on the overview.
#[post("/rounds/{round}/reminders")]
async fn remind(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    let round_id = path.into_inner();
    let mut ids: Vec<String> = f
        .form
        .iter()
        .filter(|(k, _)| k == "candidate_ids")
        .map(|(_, v)| v.clone())
        .collect();
    ids.sort();
    ids.dedup();
    let all = f.form.iter().any(|(k, v)| k == "to" && v == "all");
    let (id, rid) = (f.who.id(), round_id.clone());
    let (study_id, number, reachable) = state
        .db(move |c| crate::ops::todo::reachable(c, &id, &rid))
        .await
        .lang(&f.who)?;
    let back = format!("/studies/{study_id}#todo-round-{number}");
    let n = if all { reachable } else { ids.len() };
    if n > 0 && !super::confirmed(&f.form) {
        let l = f.who.lang();
        let count = [("n", n.to_string())];
        return confirm_page(
            &f.who,
            Confirmation {
                title: crate::web::render::text_with(l, "todo.remind_title", &count),
                lines: Vec::new(),
                yes: crate::web::render::text_with(l, "todo.remind_yes", &count),
                action: format!("/rounds/{round_id}/reminders"),
                fields: f.form.clone(),
                cancel: back,
            },
        );
    }
    let input = crate::ops::todo::RemindInput {
        candidate_ids: (!all).then_some(ids),
    };
    let (id, rid, env) = (f.who.id(), round_id.clone(), state.mail.clone());
    let flash = match state
        .db(move |c| crate::ops::todo::remind_now(c, &env, &id, &rid, input))
        .await
    {
        Ok(r) => {
            state.wake_worker();
            let said = Flash::done("todo.reminded", &[("n", r.queued.to_string())]);
            if r.skipped.is_empty() {
                said
            } else {
                said.and(
                    "todo.reminded_skipped",
                    &[("n", r.skipped.len().to_string())],
                )
            }
        }
        Err(AppError::Invalid(_)) => Flash::failed("fault.choose_panellist", &[]),
        Err(AppError::Conflict(_)) => {
            Flash::failed("fault.remind_not_open", &[("n", number.to_string())])
        }
        Err(e) => return Err(e).lang(&f.who),
    };
    Ok(redirect_with(&back, flash, f.who.secure))
}
