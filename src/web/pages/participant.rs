//! The expert's pages behind their personal link: the invitation with its consent text, the
//! answer (accept, or decline with a reason and a suggestion), withdrawal and unsubscribing.
//! No account, no cookies, no JavaScript needed; the study's language throughout.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::{PageError, PageResult, field_errors};
use crate::domain::Invalid;
use crate::domain::candidate::Status;
use crate::ops::AppError;
use crate::ops::participation::{self, ConsentAnswer, Participant, Referral};
use crate::web::api::participation::participant;
use crate::web::render::{pages, text};
use crate::web::{AppState, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(answer)
        .service(withdraw)
        .service(unsubscribe_form)
        .service(unsubscribe);
}

/// A bad link is a plain page in both languages: we do not know whose it was.
pub fn invalid_link(status: StatusCode) -> HttpResponse {
    let ctx = minijinja::context! { lang => "da", status => status.as_u16() };
    pages()
        .html(status, "p_invalid.html", ctx)
        .unwrap_or_else(|_| HttpResponse::build(status).finish())
}

fn lang(p: &Participant) -> &str {
    if p.study.language == "en" { "en" } else { "da" }
}

async fn resolve(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<Participant, HttpResponse> {
    match participant(state, req, token.to_string()).await {
        Ok(p) => Ok(p),
        Err(AppError::NotFound) => Err(invalid_link(StatusCode::NOT_FOUND)),
        Err(AppError::TooManyRequests(_)) => Err(invalid_link(StatusCode::TOO_MANY_REQUESTS)),
        Err(e) => Err(actix_web::ResponseError::error_response(&PageError::from(
            e,
        ))),
    }
}

#[derive(Default, Deserialize, serde::Serialize)]
struct AnswerForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    referral_name: String,
    #[serde(default)]
    referral_email: String,
    #[serde(default)]
    referral_organisation: String,
}

async fn page(
    state: &AppState,
    p: Participant,
    token: &str,
    status: StatusCode,
    form: &AnswerForm,
    errors: Option<&Invalid>,
    notice: Option<&str>,
) -> PageResult {
    let lang = lang(&p).to_string();
    let p2 = p.clone();
    let (current, accepted) = state
        .db(move |c| participation::consent_texts(c, &p2))
        .await
        .map_err(|e| PageError::from(e).in_lang(&lang))?;
    let template = match p.status() {
        Status::Invited | Status::NoReply => "p_consent.html",
        _ => "p_status.html",
    };
    let ctx = minijinja::context! {
        lang => lang.clone(),
        token => token,
        study => minijinja::context! {
            title => p.study.title.clone(),
            purpose => p.study.purpose.clone(),
            funder => p.study.funder.clone(),
            contact => p.study.contact.clone(),
            retention_until => p.study.retention_until.map(|d| d.to_string()),
        },
        name => p.candidate.name.clone(),
        status => p.status().as_str(),
        consent_text => current.body,
        consent_version => current.version,
        consented_at => accepted.map(|(_, at)| crate::ops::studies::utc(at).to_rfc3339()),
        mail_opt_out => p.candidate.mail_opt_out_at.is_some(),
        form => super::serde_value(form),
        errors => field_errors(errors),
        notice => notice,
    };
    pages()
        .html(status, template, ctx)
        .map_err(|e| PageError::from(e).in_lang(&lang))
}

#[get("/p/{token}")]
async fn home(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> PageResult {
    let token = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    page(
        &state,
        p,
        &token,
        StatusCode::OK,
        &AnswerForm::default(),
        None,
        None,
    )
    .await
}

#[post("/p/{token}/consent")]
async fn answer(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<AnswerForm>,
) -> PageResult {
    let token = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let form = form.into_inner();
    let accept = match form.decision.as_str() {
        "accept" => true,
        "decline" => false,
        _ => {
            let inv = Invalid::one("decision", text(lang(&p), "p.choose"));
            return page(
                &state,
                p,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                Some(&inv),
                None,
            )
            .await;
        }
    };
    let referral = Referral {
        name: form.referral_name.clone(),
        email: form.referral_email.clone(),
        organisation: form.referral_organisation.clone(),
    };
    let body = ConsentAnswer {
        accept,
        reason: (!accept).then(|| form.reason.clone()),
        referral: (!accept).then_some(referral),
    };
    let env = state.mail.clone();
    let t = token.clone();
    match state
        .db(move |c| participation::answer(c, &env, &t, body))
        .await
    {
        Ok(_) => {
            state.wake_worker();
            Ok(see_other(&format!("/p/{token}")))
        }
        Err(AppError::Invalid(inv)) => {
            page(
                &state,
                p,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                Some(&inv),
                None,
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            page(
                &state,
                p,
                &token,
                StatusCode::CONFLICT,
                &form,
                None,
                Some(&m),
            )
            .await
        }
        Err(e) => Err(PageError::from(e).in_lang(lang(&p))),
    }
}

#[derive(Deserialize)]
struct WithdrawForm {
    #[serde(default)]
    reason: String,
}

#[post("/p/{token}/withdraw")]
async fn withdraw(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<WithdrawForm>,
) -> PageResult {
    let token = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let (t, reason) = (token.clone(), form.into_inner().reason);
    match state
        .db(move |c| participation::withdraw(c, &t, &reason))
        .await
    {
        Ok(_) => Ok(see_other(&format!("/p/{token}"))),
        Err(AppError::Conflict(m)) => {
            page(
                &state,
                p,
                &token,
                StatusCode::CONFLICT,
                &AnswerForm::default(),
                None,
                Some(&m),
            )
            .await
        }
        Err(AppError::Invalid(inv)) => {
            page(
                &state,
                p,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                &AnswerForm::default(),
                Some(&inv),
                None,
            )
            .await
        }
        Err(e) => Err(PageError::from(e).in_lang(lang(&p))),
    }
}

#[get("/p/{token}/unsubscribe")]
async fn unsubscribe_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> PageResult {
    let token = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let ctx = minijinja::context! {
        lang => lang(&p), token => token, study => minijinja::context! { title => p.study.title.clone() },
        done => p.candidate.mail_opt_out_at.is_some(),
    };
    pages()
        .html(StatusCode::OK, "p_unsubscribe.html", ctx)
        .map_err(PageError::from)
}

/// Also the target of mail clients' one-click unsubscribe (RFC 8058), which posts
/// `List-Unsubscribe=One-Click` here.
#[post("/p/{token}/unsubscribe")]
async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> PageResult {
    let token = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let t = token.clone();
    state
        .db(move |c| participation::unsubscribe(c, &t))
        .await
        .map_err(|e| PageError::from(e).in_lang(lang(&p)))?;
    let ctx = minijinja::context! {
        lang => lang(&p), token => token, study => minijinja::context! { title => p.study.title.clone() }, done => true,
    };
    pages()
        .html(StatusCode::OK, "p_unsubscribe.html", ctx)
        .map_err(PageError::from)
}
