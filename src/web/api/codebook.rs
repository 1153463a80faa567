//! The codebook through the API: categories, themes (with revisions, merges, splits and drops)
//! and their lettered statements.

use super::Routes;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;

use crate::ops::codebook::{
    self, CategoryCreated, CategoryInput, CategoryPatch, Codebook, MergeInput, ReasonInput,
    RevisionView, SplitInput, StatementInput, StatementPatch, StatementView, ThemeInput,
    ThemePatch, ThemeView,
};
use crate::web::AppState;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiResult, ErrorBody};

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(get_codebook)
        .route(add_category)
        .route(patch_category)
        .route(add_theme)
        .route(patch_theme)
        .route(drop_theme)
        .route(restore_theme)
        .route(merge_themes)
        .route(split_theme)
        .route(theme_revisions)
        .route(add_statement)
        .route(patch_statement)
        .route(delete_statement);
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CodebookQuery {
    /// Also list merged, split and dropped themes.
    #[serde(default)]
    pub all: bool,
}

/// The codebook: categories in order, their themes by number, the themes' statements.
#[utoipa::path(tag = "codebook", security(("bearer" = []), ("session" = [])), params(CodebookQuery), responses(
    (status = 200, body = Codebook), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/codebook")]
pub async fn get_codebook(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    q: web::Query<CodebookQuery>,
) -> ApiResult<web::Json<Codebook>> {
    let (id, study, all) = (who.id(), path.into_inner(), q.all);
    Ok(web::Json(
        state
            .db(move |c| codebook::codebook(c, &id, &study, all))
            .await?,
    ))
}

/// Adds a category: `code` (such as `A`) and `title`.
#[utoipa::path(tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = CategoryInput, responses(
    (status = 201, body = CategoryCreated), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/categories")]
pub async fn add_category(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<CategoryInput>,
) -> ApiResult<HttpResponse> {
    let (id, study, input) = (who.id(), path.into_inner(), body.into_inner());
    let cat = state
        .db(move |c| codebook::add_category(c, &id, &study, input))
        .await?;
    Ok(HttpResponse::Created().json(cat))
}

/// Renames, recodes or reorders a category.
#[utoipa::path(operation_id = "update_category", tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = CategoryPatch, responses(
    (status = 200, body = CategoryCreated), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[patch("/api/v1/categories/{category}")]
pub async fn patch_category(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<CategoryPatch>,
) -> ApiResult<web::Json<CategoryCreated>> {
    let (id, cat, patch) = (who.id(), path.into_inner(), body.into_inner());
    Ok(web::Json(
        state
            .db(move |c| codebook::update_category(c, &id, &cat, patch))
            .await?,
    ))
}

/// Adds a theme: `category_id`, `number`, `title`, optionally `description` and `statements`.
#[utoipa::path(tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = ThemeInput, responses(
    (status = 201, body = ThemeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/themes")]
pub async fn add_theme(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ThemeInput>,
) -> ApiResult<HttpResponse> {
    let (id, study, input) = (who.id(), path.into_inner(), body.into_inner());
    let theme = state
        .db(move |c| codebook::add_theme(c, &id, &study, input))
        .await?;
    Ok(HttpResponse::Created().json(theme))
}

/// Rewords, renumbers or moves a theme; the change and its reason become a revision.
#[utoipa::path(operation_id = "update_theme", tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = ThemePatch, responses(
    (status = 200, body = ThemeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[patch("/api/v1/themes/{theme}")]
pub async fn patch_theme(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ThemePatch>,
) -> ApiResult<web::Json<ThemeView>> {
    let (id, theme, patch) = (who.id(), path.into_inner(), body.into_inner());
    Ok(web::Json(
        state
            .db(move |c| codebook::update_theme(c, &id, &theme, patch))
            .await?,
    ))
}

/// Drops a theme from the codebook (it stays in the rounds that published it).
#[utoipa::path(tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = ReasonInput, responses(
    (status = 200, body = ThemeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
))]
#[post("/api/v1/themes/{theme}/drop")]
pub async fn drop_theme(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ReasonInput>,
) -> ApiResult<web::Json<ThemeView>> {
    let (id, theme, why) = (who.id(), path.into_inner(), body.into_inner().reason);
    Ok(web::Json(
        state
            .db(move |c| codebook::drop_theme(c, &id, &theme, &why))
            .await?,
    ))
}

/// Brings a dropped theme back.
#[utoipa::path(tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = ReasonInput, responses(
    (status = 200, body = ThemeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/themes/{theme}/restore")]
pub async fn restore_theme(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ReasonInput>,
) -> ApiResult<web::Json<ThemeView>> {
    let (id, theme, why) = (who.id(), path.into_inner(), body.into_inner().reason);
    Ok(web::Json(
        state
            .db(move |c| codebook::restore_theme(c, &id, &theme, &why))
            .await?,
    ))
}

/// Merges two or more themes into a new one.
#[utoipa::path(tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = MergeInput, responses(
    (status = 201, body = ThemeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/themes/merge")]
pub async fn merge_themes(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<MergeInput>,
) -> ApiResult<HttpResponse> {
    let (id, study, input) = (who.id(), path.into_inner(), body.into_inner());
    let theme = state
        .db(move |c| codebook::merge_themes(c, &id, &study, input))
        .await?;
    Ok(HttpResponse::Created().json(theme))
}

/// Splits a theme into two or more new ones, dividing its statements.
#[utoipa::path(tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = SplitInput, responses(
    (status = 201, body = Vec<ThemeView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/themes/{theme}/split")]
pub async fn split_theme(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<SplitInput>,
) -> ApiResult<HttpResponse> {
    let (id, theme, input) = (who.id(), path.into_inner(), body.into_inner());
    let made = state
        .db(move |c| codebook::split_theme(c, &id, &theme, input))
        .await?;
    Ok(HttpResponse::Created().json(made))
}

/// Every version of a theme: what changed, why, and the theme as it then was.
#[utoipa::path(operation_id = "list_theme_revisions", tag = "codebook", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<RevisionView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/themes/{theme}/revisions")]
pub async fn theme_revisions(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<RevisionView>>> {
    let (id, theme) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| codebook::revisions(c, &id, &theme))
            .await?,
    ))
}

/// Adds a lettered statement to a theme (`letter` defaults to the next free one).
#[utoipa::path(tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = StatementInput, responses(
    (status = 201, body = StatementView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/themes/{theme}/statements")]
pub async fn add_statement(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<StatementInput>,
) -> ApiResult<HttpResponse> {
    let (id, theme, input) = (who.id(), path.into_inner(), body.into_inner());
    let s = state
        .db(move |c| codebook::add_statement(c, &id, &theme, input))
        .await?;
    Ok(HttpResponse::Created().json(s))
}

/// Rewords a statement.
#[utoipa::path(operation_id = "update_statement", tag = "codebook", security(("bearer" = []), ("session" = [])), request_body = StatementPatch, responses(
    (status = 200, body = StatementView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[patch("/api/v1/statements/{statement}")]
pub async fn patch_statement(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<StatementPatch>,
) -> ApiResult<web::Json<StatementView>> {
    let (id, st, patch) = (who.id(), path.into_inner(), body.into_inner());
    Ok(web::Json(
        state
            .db(move |c| codebook::update_statement(c, &id, &st, patch))
            .await?,
    ))
}

/// Removes a statement (kept in earlier revisions and rounds).
#[utoipa::path(tag = "codebook", security(("bearer" = []), ("session" = [])), responses(
    (status = 204, description = "Removed"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[delete("/api/v1/statements/{statement}")]
pub async fn delete_statement(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, st) = (who.id(), path.into_inner());
    state
        .db(move |c| codebook::remove_statement(c, &id, &st, ""))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
