//! The panel's discussion on pages: a theme's thread behind the expert's personal link (no
//! account, no JavaScript), and the round's moderation page for researchers.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, get, post, web};
use serde::Deserialize;

use super::participant::{invalid_link, lang, resolve};
use super::{InLang, PageError, PageResult, field_errors, page_with_status, serde_value};
use crate::db::models::Round;
use crate::domain::Invalid;
use crate::ops::discussion::{self, PostEdit, PostInput};
use crate::ops::participation::Participant;
use crate::ops::{AppError, access, rounds, studies};
use crate::web::auth::{CsrfForm, PageResearcher};
use crate::web::flash::{Flash, redirect_with};
use crate::web::render::{Html, pages};
use crate::web::{AppState, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(thread_get)
        .service(thread_post)
        .service(own_post)
        .service(digest)
        .service(moderation_get)
        .service(moderation_post);
}

fn thread_path(token: &str, n: i32, theme: &str) -> String {
    format!("/p/{token}/rounds/{n}/themes/{theme}/discussion")
}

#[derive(Default, Deserialize)]
struct ThreadQuery {
    #[serde(default)]
    reply_to: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// What the expert typed, kept when the page comes back with an error.
#[derive(Default, Deserialize, serde::Serialize)]
struct PostForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    reply_to: String,
}

#[allow(clippy::too_many_arguments)]
async fn thread_page(
    state: &AppState,
    p: &Participant,
    token: &str,
    n: i32,
    theme: &str,
    status: StatusCode,
    form: &PostForm,
    errors: Option<&Invalid>,
    notice: Option<String>,
) -> PageResult {
    let lang = lang(p).to_string();
    let notice = notice.map(|m| crate::i18n::messages::notice(&lang, &m));
    let (who, th) = (p.clone(), theme.to_string());
    let thread = match state.db(move |c| discussion::thread(c, &who, n, &th)).await {
        Ok(t) => t,
        Err(AppError::NotFound) => return Ok(invalid_link(StatusCode::NOT_FOUND)),
        Err(AppError::Conflict(m)) => {
            // The expert left the panel (their page says so), or the study holds no
            // discussion (the round's page has none to link to).
            return Ok(see_other(&if m.contains("withdrawn") {
                format!("/p/{token}")
            } else {
                format!("/p/{token}/rounds/{n}")
            }));
        }
        Err(e) => return Err(PageError::from(e).in_lang(&lang)),
    };
    let replying = thread
        .posts
        .iter()
        .find(|post| Some(&post.id) == Some(&form.reply_to) && post.state == "published")
        .cloned();
    let ctx = minijinja::context! {
        lang => lang.clone(),
        tz => p.study.time_zone.clone(),
        token => token,
        study => minijinja::context! { title => p.study.title.clone(), contact => p.study.contact.clone() },
        n => n,
        thread => serde_value(&thread),
        here => thread_path(token, n, theme),
        replying => replying.map(|r| serde_value(&r)),
        form => serde_value(form),
        errors => field_errors(&lang, errors),
        notice => notice,
        max => discussion::MAX_POST,
    };
    pages()
        .html(status, "p_discussion.html", ctx)
        .map_err(|e| PageError::from(e).in_lang(&lang))
}

#[get("/p/{token}/rounds/{n}/themes/{theme}/discussion")]
async fn thread_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32, String)>,
    q: web::Query<ThreadQuery>,
) -> PageResult {
    let (token, n, theme) = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let notice = q.done.as_deref().and_then(|d| {
        let key = match d {
            "pending" => "discussion.done_pending",
            "published" => "discussion.done_published",
            "edited" => "discussion.done_edited",
            "withdrawn" => "discussion.done_withdrawn",
            "digest_on" => "discussion.done_digest_on",
            "digest_off" => "discussion.done_digest_off",
            _ => return None,
        };
        Some(crate::i18n::text(lang(&p), key))
    });
    let form = PostForm {
        reply_to: q.reply_to.clone().unwrap_or_default(),
        ..Default::default()
    };
    thread_page(
        &state,
        &p,
        &token,
        n,
        &theme,
        StatusCode::OK,
        &form,
        None,
        notice,
    )
    .await
}

/// A refusal comes back on the thread: a fault beside the field, a conflict as a notice.
#[allow(clippy::too_many_arguments)]
async fn refused(
    state: &AppState,
    p: &Participant,
    token: &str,
    n: i32,
    theme: &str,
    form: &PostForm,
    e: AppError,
) -> PageResult {
    match e {
        AppError::Invalid(inv) => {
            thread_page(
                state,
                p,
                token,
                n,
                theme,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                Some(&inv),
                None,
            )
            .await
        }
        AppError::Conflict(m) => {
            thread_page(
                state,
                p,
                token,
                n,
                theme,
                StatusCode::CONFLICT,
                form,
                None,
                Some(m),
            )
            .await
        }
        AppError::NotFound => Ok(invalid_link(StatusCode::NOT_FOUND)),
        e => Err(PageError::from(e).in_lang(lang(p))),
    }
}

#[post("/p/{token}/rounds/{n}/themes/{theme}/discussion")]
async fn thread_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32, String)>,
    form: web::Form<PostForm>,
) -> PageResult {
    let (token, n, theme) = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let form = form.into_inner();
    if let Err(e) = state
        .saves
        .take(&p.candidate.id, &crate::i18n::text(lang(&p), "p.saves"))
    {
        return Err(PageError::from(e).in_lang(lang(&p)));
    }
    let input = PostInput {
        text: form.text.clone(),
        reply_to: Some(form.reply_to.clone()).filter(|r| !r.is_empty()),
    };
    let (who, th) = (p.clone(), theme.clone());
    match state
        .db(move |c| discussion::post_as_expert(c, &who, n, &th, &input))
        .await
    {
        Ok((id, thread)) => {
            let state_of = thread
                .posts
                .iter()
                .find(|post| post.id == id)
                .map_or("pending", |post| post.state.as_str());
            Ok(see_other(&format!(
                "{}?done={state_of}#post-{id}",
                thread_path(&token, n, &theme)
            )))
        }
        Err(e) => refused(&state, &p, &token, n, &theme, &form, e).await,
    }
}

#[derive(Deserialize)]
struct OwnPostForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    text: String,
}

/// The expert's own post waiting for approval: a changed text, or withdrawn.
#[post("/p/{token}/rounds/{n}/themes/{theme}/discussion/{post}")]
async fn own_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32, String, String)>,
    form: web::Form<OwnPostForm>,
) -> PageResult {
    let (token, n, theme, post) = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let form = form.into_inner();
    let who = p.clone();
    let withdraw = form.action == "withdraw";
    let text = form.text.clone();
    let result = state
        .db(move |c| {
            if withdraw {
                discussion::withdraw_own(c, &who, &post)
            } else {
                discussion::edit_own(c, &who, &post, &PostEdit { text })
            }
        })
        .await;
    match result {
        Ok(post) => Ok(see_other(&format!(
            "{}?done={}{}",
            thread_path(&token, n, &theme),
            if withdraw { "withdrawn" } else { "edited" },
            if withdraw {
                String::new()
            } else {
                format!("#post-{}", post.id)
            }
        ))),
        Err(e) => {
            let kept = PostForm::default();
            refused(&state, &p, &token, n, &theme, &kept, e).await
        }
    }
}

#[derive(Deserialize)]
struct DigestForm {
    #[serde(default)]
    daily: String,
}

/// The daily digest on or off, from a thread's page.
#[post("/p/{token}/rounds/{n}/themes/{theme}/discussion-digest")]
async fn digest(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32, String)>,
    form: web::Form<DigestForm>,
) -> PageResult {
    let (token, n, theme) = path.into_inner();
    let p = match resolve(&state, &req, &token).await {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let daily = form.daily == "on";
    let (who, th) = (p.clone(), theme.clone());
    match state
        .db(move |c| {
            // Only from a thread the expert can read.
            discussion::thread(c, &who, n, &th)?;
            discussion::set_digest(c, &who, daily)
        })
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "{}?done={}",
            thread_path(&token, n, &theme),
            if daily { "digest_on" } else { "digest_off" }
        ))),
        Err(e) => refused(&state, &p, &token, n, &theme, &PostForm::default(), e).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Researchers

#[derive(Default, Deserialize)]
struct ModerationQuery {
    #[serde(default)]
    writers: Option<String>,
}

async fn moderation_view(
    state: &AppState,
    who: &PageResearcher,
    round_id: String,
    writers: bool,
    status: StatusCode,
    errors: Option<&Invalid>,
) -> PageResult {
    let id = who.id();
    let (study, round, posts) = state
        .db(move |c| {
            let study_id = access::study_id_of::<Round>(c, &id, &round_id)?;
            let round = rounds::get(c, &id, &round_id)?;
            let posts = discussion::for_round(c, &id, &round_id, writers)?;
            Ok((studies::get(c, &id, &study_id)?, round, posts))
        })
        .await
        .lang(who)?;
    let threads: Vec<_> = round
        .themes
        .iter()
        .map(|t| {
            let posts: Vec<_> = posts
                .posts
                .iter()
                .filter(|p| p.theme_id == t.theme_id && p.state != "pending")
                .collect();
            minijinja::context! {
                theme_id => t.theme_id.clone(),
                number => t.snapshot.number,
                title => t.snapshot.title.clone(),
                posts => serde_value(&posts),
            }
        })
        .collect();
    let pending: Vec<_> = posts
        .posts
        .iter()
        .filter(|p| p.state == "pending")
        .collect();
    let titles: std::collections::BTreeMap<&str, String> = round
        .themes
        .iter()
        .map(|t| {
            (
                t.theme_id.as_str(),
                format!("{}. {}", t.snapshot.number, t.snapshot.title),
            )
        })
        .collect();
    let open = round.state == crate::domain::round::State::Open;
    page_with_status(
        who,
        status,
        "round_discussion.html",
        minijinja::context! {
            study => serde_value(&study),
            round => serde_value(&round),
            pending => serde_value(&pending),
            threads => threads,
            titles => serde_value(&titles),
            moderation => posts.moderation.as_str(),
            writers => writers,
            open => open,
            errors => field_errors(who.lang(), errors),
            tab => "rounds",
            max => discussion::MAX_POST,
        },
    )
}

#[get("/rounds/{round}/discussion")]
async fn moderation_get(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    q: web::Query<ModerationQuery>,
) -> PageResult {
    let writers = q.writers.as_deref() == Some("1");
    moderation_view(
        &state,
        &who,
        path.into_inner(),
        writers,
        StatusCode::OK,
        None,
    )
    .await
}

#[derive(Deserialize)]
struct ModerationForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    post_id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    theme_id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    reply_to: String,
}

#[post("/rounds/{round}/discussion")]
async fn moderation_post(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<ModerationForm>,
) -> PageResult {
    let round_id = path.into_inner();
    let here = format!("/rounds/{round_id}/discussion");
    let id = f.who.id();
    let form = &f.form;
    let (post, reason, theme) = (
        form.post_id.clone(),
        form.reason.clone(),
        form.theme_id.clone(),
    );
    let input = PostInput {
        text: form.text.clone(),
        reply_to: Some(form.reply_to.clone()).filter(|r| !r.is_empty()),
    };
    let (rid, action) = (round_id.clone(), form.action.clone());
    let result: Result<(&str, String), AppError> = state
        .db(move |c| match action.as_str() {
            "approve" => discussion::approve(c, &id, &post)
                .map(|_| ("discussion.approved", format!("#post-{post}"))),
            "hide" => discussion::hide(c, &id, &post, &reason)
                .map(|_| ("discussion.hidden", format!("#post-{post}"))),
            "clear" | "unclear" => {
                let cleared = action == "clear";
                discussion::clear(c, &id, &post, cleared).map(|_| {
                    (
                        if cleared {
                            "discussion.cleared"
                        } else {
                            "discussion.uncleared"
                        },
                        format!("#post-{post}"),
                    )
                })
            }
            "reply" => discussion::post_as_facilitator(c, &id, &rid, &theme, &input)
                .map(|p| ("discussion.replied", format!("#post-{}", p.id))),
            _ => Err(AppError::Invalid(Invalid::one("action", "unknown action"))),
        })
        .await;
    match result {
        Ok((key, anchor)) => Ok(redirect_with(
            &format!("{here}{anchor}"),
            Flash::done(key, &[]),
            f.who.secure,
        )),
        Err(AppError::Invalid(inv)) => {
            moderation_view(
                &state,
                &f.who,
                round_id,
                false,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            moderation_view(
                &state,
                &f.who,
                round_id,
                false,
                StatusCode::CONFLICT,
                Some(&Invalid::one("discussion", m)),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}
