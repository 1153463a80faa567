//! The expert's pages behind their personal link: the invitation with its consent text, the
//! answer (accept, or decline with a reason and a suggestion), withdrawal and unsubscribing.
//! No account, no cookies, no JavaScript needed; the study's language throughout.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, routes, web};
use serde::Deserialize;

use super::{PageError, PageResult, field_errors};
use crate::domain::Invalid;
use crate::domain::candidate::Status;
use crate::ops::participation::{self, ConsentAnswer, Participant, Purpose, Referral};
use crate::ops::{AppError, AppResult};
use crate::web::api::participation::participant_for;
use crate::web::render::{Html, pages, text};
use crate::web::{AppState, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(answer)
        .service(withdraw)
        .service(unsubscribe_form)
        .service(unsubscribe)
        .service(round_form)
        .service(round_done)
        .service(round_save);
}

/// A bad link is a plain page in both languages: we do not know whose it was.
pub fn invalid_link(status: StatusCode) -> HttpResponse {
    lapsed_link(status, None)
}

/// A link that no longer works: in its study's language with whom to write to, when the link
/// was a person's and has expired or been revoked; else the plain page in both languages.
fn lapsed_link(status: StatusCode, study: Option<crate::db::models::Study>) -> HttpResponse {
    let ctx = match study {
        Some(s) => minijinja::context! {
            lang => if s.language == "en" { "en" } else { "da" },
            status => status.as_u16(),
            study => minijinja::context! { title => s.title, contact => s.contact },
        },
        None => minijinja::context! { lang => "da", status => status.as_u16() },
    };
    pages()
        .html(status, "p_invalid.html", ctx)
        .unwrap_or_else(|_| HttpResponse::build(status).finish())
}

pub(super) fn lang(p: &Participant) -> &str {
    if p.study.language == "en" { "en" } else { "da" }
}

pub(super) async fn resolve(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<Participant, HttpResponse> {
    resolve_for(state, req, token, Purpose::Access).await
}

async fn resolve_for(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    purpose: Purpose,
) -> Result<Participant, HttpResponse> {
    answered(
        state,
        token,
        participant_for(state, req, token.to_string(), purpose).await,
    )
    .await
}

/// [`resolve`], then `f` with the participant, in one trip to the database. What `f` finds,
/// errors included, is the caller's to show: the link itself was fine.
async fn resolve_with<T, F>(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    f: F,
) -> Result<(Participant, T), HttpResponse>
where
    T: Send + 'static,
    F: FnOnce(&mut crate::db::DbConn, &Participant) -> T + Send + 'static,
{
    let found = crate::web::api::participation::with_participant(
        state,
        req,
        token.to_string(),
        move |c, p| Ok((p.clone(), f(c, p))),
    )
    .await;
    match found {
        Ok((p, t)) => answered(state, token, Ok(p)).await.map(|p| (p, t)),
        Err(e) => Err(refused(state, token, e).await),
    }
}

/// A link's resolution as the page answers it: the participant, or why not.
async fn answered(
    state: &AppState,
    token: &str,
    found: AppResult<Participant>,
) -> Result<Participant, HttpResponse> {
    match found {
        Ok(p) => {
            // The expert reads the study's language, errors included.
            crate::web::language::reads(lang(&p));
            Ok(p)
        }
        Err(e) => Err(refused(state, token, e).await),
    }
}

/// The page for a link that does not work: lapsed or unknown, too many guesses, or an error.
async fn refused(state: &AppState, token: &str, e: AppError) -> HttpResponse {
    match e {
        AppError::NotFound => {
            let t = token.to_string();
            let study = state
                .db(move |c| crate::ops::participation::lapsed_link_study(c, &t))
                .await
                .ok()
                .flatten();
            lapsed_link(StatusCode::NOT_FOUND, study)
        }
        AppError::TooManyRequests(_) => invalid_link(StatusCode::TOO_MANY_REQUESTS),
        e => actix_web::ResponseError::error_response(&PageError::from(e)),
    }
}

#[derive(Default, Deserialize, serde::Serialize)]
struct AnswerForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    reason_category: String,
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
    let t = token.to_string();
    let rounds = state
        .db(move |c| crate::ops::answers::my_rounds(c, &t))
        .await
        .map_err(|e| PageError::from(e).in_lang(&lang))?;
    let rounds: Vec<_> = rounds
        .iter()
        .map(|m| {
            minijinja::context! {
                number => m.round.number,
                accepting => m.round.accepting(crate::db::now()),
                closes_at => m.round.closes_at.map(|c| crate::db::utc(c).to_rfc3339()),
                submitted => m.submitted_at.is_some(),
                answered => m.answered,
            }
        })
        .collect();
    let template = match p.status() {
        Status::Invited | Status::NoReply => "p_consent.html",
        _ => "p_status.html",
    };
    let ctx = minijinja::context! {
        lang => lang.clone(),
        tz => p.study.time_zone.clone(),
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
        consented_at => accepted.map(|(_, at)| crate::db::utc(at).to_rfc3339()),
        mail_opt_out => p.candidate.mail_opt_out_at.is_some(),
        form => super::serde_value(form),
        errors => field_errors(&lang, errors),
        notice => notice,
        rounds => rounds,
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
    let category = crate::domain::candidate::DeclineCategory::ALL
        .into_iter()
        .find(|c| c.as_str() == form.reason_category);
    let body = ConsentAnswer {
        accept,
        reason: (!accept).then(|| form.reason.clone()),
        referral: (!accept).then_some(referral),
        reason_category: if accept { None } else { category },
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
            let m = crate::i18n::messages::notice(lang(&p), &m);
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
            let m = crate::i18n::messages::notice(lang(&p), &m);
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

/// The unsubscribe page: by the one-purpose link in every e-mail (`/unsubscribe/…`), or from the expert's
/// own page with their personal link. Links sent in the older form keep working.
#[routes]
#[get("/unsubscribe/{token}")]
#[get("/p/{token}/unsubscribe")]
async fn unsubscribe_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> PageResult {
    let token = path.into_inner();
    let p = match resolve_for(&state, &req, &token, Purpose::Unsubscribe).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let ctx = minijinja::context! {
        lang => lang(&p), tz => p.study.time_zone.clone(), token => token, study => minijinja::context! { title => p.study.title.clone() },
        done => p.candidate.mail_opt_out_at.is_some(), here => req.path(), personal => req.path().starts_with("/p/"),
    };
    pages()
        .html(StatusCode::OK, "p_unsubscribe.html", ctx)
        .map_err(PageError::from)
}

/// Also the target of mail clients' one-click unsubscribe (RFC 8058), which posts
/// `List-Unsubscribe=One-Click` here.
#[routes]
#[post("/unsubscribe/{token}")]
#[post("/p/{token}/unsubscribe")]
async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> PageResult {
    let token = path.into_inner();
    let p = match resolve_for(&state, &req, &token, Purpose::Unsubscribe).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let t = token.clone();
    state
        .db(move |c| participation::unsubscribe(c, &t))
        .await
        .map_err(|e| PageError::from(e).in_lang(lang(&p)))?;
    let ctx = minijinja::context! {
        lang => lang(&p), tz => p.study.time_zone.clone(), token => token, study => minijinja::context! { title => p.study.title.clone() }, done => true,
        personal => req.path().starts_with("/p/"),
    };
    pages()
        .html(StatusCode::OK, "p_unsubscribe.html", ctx)
        .map_err(PageError::from)
}

/// One theme's inputs as posted by the form, to show them again after a validation error.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct Posted {
    score: String,
    comment: String,
    proposal: String,
    reason: String,
}

/// Answers from the form: `score.ID` (a point, `dk` or empty), `comment.ID`, `proposal.ID`,
/// `reason.ID` for each theme.
fn answers_from_form(
    pairs: &[(String, String)],
) -> (
    Vec<crate::domain::round::AnswerInput>,
    std::collections::BTreeMap<String, Posted>,
) {
    let mut posted: std::collections::BTreeMap<String, Posted> = std::collections::BTreeMap::new();
    for (k, v) in pairs {
        let Some((field, id)) = k.split_once('.') else {
            continue;
        };
        let entry = posted.entry(id.to_string()).or_default();
        match field {
            "score" => entry.score = v.clone(),
            "comment" => entry.comment = v.clone(),
            "proposal" => entry.proposal = v.clone(),
            "reason" => entry.reason = v.clone(),
            _ => {}
        }
    }
    let answers = posted
        .iter()
        .map(|(id, p)| crate::domain::round::AnswerInput {
            theme_id: id.clone(),
            score: p.score.trim().parse().ok(),
            dont_know: p.score == "dk",
            comment: Some(p.comment.clone()),
            proposal: Some(p.proposal.clone()),
            reason: Some(p.reason.clone()),
        })
        .collect();
    (answers, posted)
}

/// The position of the answer an error names (`answers[3].score` → 3).
fn answer_index(field: &str) -> Option<usize> {
    field
        .strip_prefix("answers[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

#[allow(clippy::too_many_arguments)]
async fn round_page(
    state: &AppState,
    p: &Participant,
    token: &str,
    number: i32,
    status: StatusCode,
    posted: Option<std::collections::BTreeMap<String, Posted>>,
    errors: Option<&Invalid>,
    notice: Option<String>,
) -> PageResult {
    let who = p.clone();
    let content = state.db(move |c| round_content(c, &who, number)).await;
    render_round(p, token, number, status, (posted, errors, notice), content)
}

/// What a round's page shows: a written questionnaire (round 1: open questions), or the
/// round's themes with the expert's answers.
type RoundContent = Result<crate::ops::interviews::Questionnaire, crate::ops::answers::ExpertRound>;

fn round_content(
    c: &mut crate::db::DbConn,
    p: &Participant,
    number: i32,
) -> AppResult<RoundContent> {
    use crate::ops::answers;
    // The round is read once, then shown as what it is.
    let pid = answers::panellist(p)?;
    let r = answers::shown_round(c, &p.study.id, number)?;
    if r.questionnaire {
        crate::ops::interviews::questionnaire_in(c, &pid, r).map(Ok)
    } else {
        answers::expert_round_in(c, p, &pid, r).map(Err)
    }
}

/// What the expert posted, what was wrong with it, and a notice, for the page shown again.
type Again<'a> = (
    Option<std::collections::BTreeMap<String, Posted>>,
    Option<&'a Invalid>,
    Option<String>,
);

fn render_round(
    p: &Participant,
    token: &str,
    number: i32,
    status: StatusCode,
    (posted, errors, notice): Again<'_>,
    content: AppResult<RoundContent>,
) -> PageResult {
    let lang = lang(p).to_string();
    // A refusal from the operations arrives in English; the page's own notices pass unchanged.
    let notice = notice.map(|m| crate::i18n::messages::notice(&lang, &m));
    let round = match content {
        Ok(Ok(q)) => {
            let drafts = posted.map(|p| {
                p.into_iter()
                    .map(|(k, v)| (k, v.comment))
                    .collect::<std::collections::BTreeMap<_, _>>()
            });
            let ctx = minijinja::context! {
                lang => lang.clone(),
                tz => p.study.time_zone.clone(),
                token => token,
                study => minijinja::context! { title => p.study.title.clone(), contact => p.study.contact.clone() },
                q => super::serde_value(&q),
                drafts => drafts,
                errors => field_errors(&lang, errors),
                notice => notice,
            };
            return pages()
                .html(status, "p_questionnaire.html", ctx)
                .map_err(|e| PageError::from(e).in_lang(&lang));
        }
        Ok(Err(r)) => r,
        Err(AppError::NotFound) => return Ok(invalid_link(StatusCode::NOT_FOUND)),
        Err(e) => return Err(PageError::from(e).in_lang(&lang)),
    };
    // Errors name answers by their position in the posted list; show them by theme instead.
    let mut theme_errors: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::new();
    if let (Some(inv), Some(posted)) = (errors, &posted) {
        let ids: Vec<&String> = posted.keys().collect();
        for e in &inv.0 {
            let key = answer_index(&e.field)
                .and_then(|i| ids.get(i))
                .map(|s| s.to_string())
                .unwrap_or_default();
            theme_errors.entry(key).or_default().push(e.message.clone());
        }
    }
    let ctx = minijinja::context! {
        lang => lang.clone(),
        tz => p.study.time_zone.clone(),
        token => token,
        study => minijinja::context! { title => p.study.title.clone(), contact => p.study.contact.clone() },
        round => super::serde_value(&round),
        posted => posted.map(|p| super::serde_value(&p)),
        theme_errors => super::serde_value(&theme_errors),
        notice => notice,
        api => format!("/api/v1/participation/{token}/rounds/{number}/answers"),
    };
    pages()
        .html(status, "p_round.html", ctx)
        .map_err(|e| PageError::from(e).in_lang(&lang))
}

#[derive(Deserialize)]
struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

#[get("/p/{token}/rounds/{n}")]
async fn round_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32)>,
    q: web::Query<SavedQuery>,
) -> PageResult {
    let (token, n) = path.into_inner();
    // The link and the page's content in one trip to the database.
    let (p, content) =
        match resolve_with(&state, &req, &token, move |c, p| round_content(c, p, n)).await {
            Ok(found) => found,
            Err(resp) => return Ok(resp),
        };
    let notice = q.saved.as_deref().map(|s| {
        text(
            lang(&p),
            if s == "submitted" {
                "round.submitted_notice"
            } else {
                "round.saved_notice"
            },
        )
    });
    render_round(&p, &token, n, StatusCode::OK, (None, None, notice), content)
}

#[post("/p/{token}/rounds/{n}")]
async fn round_save(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32)>,
    form: web::Form<Vec<(String, String)>>,
) -> PageResult {
    let (token, n) = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    if let Err(e) = state
        .saves
        .take(&p.candidate.id, &text(lang(&p), "p.saves"))
    {
        return Err(PageError::from(e).in_lang(lang(&p)));
    }
    let pairs = form.into_inner();
    let submit = pairs.iter().any(|(k, v)| k == "action" && v == "submit");
    if pairs.iter().any(|(k, _)| k.starts_with("q.")) {
        return questionnaire_save(&state, &p, &token, n, &pairs, submit).await;
    }
    let (answers, posted) = answers_from_form(&pairs);
    let input = crate::ops::answers::AnswersInput { answers, submit };
    let live_minutes = state.settings.rounds.live_snapshot_minutes;
    let who = p.clone();
    // The page that follows reads the round itself: the save answers with nothing.
    match state
        .db(move |c| crate::ops::answers::save_for(c, &who, n, input, live_minutes).map(|_| ()))
        .await
    {
        Ok(_) => Ok(see_other(&after_saving(&token, n, submit))),
        Err(AppError::Invalid(inv)) => {
            round_page(
                &state,
                &p,
                &token,
                n,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(posted),
                Some(&inv),
                None,
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            round_page(
                &state,
                &p,
                &token,
                n,
                StatusCode::CONFLICT,
                None,
                None,
                Some(m),
            )
            .await
        }
        Err(AppError::NotFound) => Ok(invalid_link(StatusCode::NOT_FOUND)),
        Err(e) => Err(PageError::from(e).in_lang(lang(&p))),
    }
}

/// Where a save leads: back to the form with a word that it was saved, or, when the expert
/// says they are done, to the page that thanks them and says what comes next.
fn after_saving(token: &str, n: i32, submit: bool) -> String {
    if submit {
        format!("/p/{token}/rounds/{n}/done")
    } else {
        format!("/p/{token}/rounds/{n}?saved=saved")
    }
}

/// After "save and finish": thanks, what happens next and when, and the way back to the
/// answers while they can still change.
#[get("/p/{token}/rounds/{n}/done")]
async fn round_done(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32)>,
) -> PageResult {
    let (token, n) = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let lang = lang(&p).to_string();
    let t = token.clone();
    let rounds = state
        .db(move |c| crate::ops::answers::my_rounds(c, &t))
        .await
        .map_err(|e| PageError::from(e).in_lang(&lang))?;
    let Some(mine) = rounds.iter().find(|m| m.round.number == n) else {
        return Ok(invalid_link(StatusCode::NOT_FOUND));
    };
    let ctx = minijinja::context! {
        lang => lang.clone(),
        tz => p.study.time_zone.clone(),
        token => token,
        study => minijinja::context! { title => p.study.title.clone(), contact => p.study.contact.clone() },
        number => n,
        accepting => mine.round.accepting(crate::db::now()),
        closes_at => mine.round.closes_at.map(|c| crate::db::utc(c).to_rfc3339()),
    };
    pages()
        .html(StatusCode::OK, "p_done.html", ctx)
        .map_err(|e| PageError::from(e).in_lang(&lang))
}

/// Saves (or hands in) a written questionnaire posted as `q.<question id>` fields.
async fn questionnaire_save(
    state: &AppState,
    p: &Participant,
    token: &str,
    n: i32,
    pairs: &[(String, String)],
    submit: bool,
) -> PageResult {
    let answers: Vec<crate::ops::interviews::QuestionnaireAnswerInput> = pairs
        .iter()
        .filter_map(|(k, v)| {
            Some(crate::ops::interviews::QuestionnaireAnswerInput {
                question_id: k.strip_prefix("q.")?.to_string(),
                text: v.clone(),
            })
        })
        .collect();
    let posted: std::collections::BTreeMap<String, Posted> = answers
        .iter()
        .map(|a| {
            (
                a.question_id.clone(),
                Posted {
                    comment: a.text.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let ids: Vec<String> = answers.iter().map(|a| a.question_id.clone()).collect();
    let input = crate::ops::interviews::QuestionnaireInput { answers, submit };
    let t = token.to_string();
    match state
        .db(move |c| crate::ops::interviews::save_questionnaire(c, &t, n, input))
        .await
    {
        Ok(_) => Ok(see_other(&after_saving(token, n, submit))),
        Err(AppError::Invalid(inv)) => {
            // Errors name answers by position; the page names them by question.
            let inv = Invalid(
                inv.0
                    .into_iter()
                    .map(|mut e| {
                        if let Some(id) = answer_index(&e.field).and_then(|i| ids.get(i)) {
                            e.field = format!("q-{id}");
                        }
                        e
                    })
                    .collect(),
            );
            round_page(
                state,
                p,
                token,
                n,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(posted),
                Some(&inv),
                None,
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            round_page(
                state,
                p,
                token,
                n,
                StatusCode::CONFLICT,
                None,
                None,
                Some(m),
            )
            .await
        }
        Err(AppError::NotFound) => Ok(invalid_link(StatusCode::NOT_FOUND)),
        Err(e) => Err(PageError::from(e).in_lang(lang(p))),
    }
}
