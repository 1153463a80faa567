//! The calling researcher and their API tokens.

use super::Routes;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::utc;
use crate::ops::accounts;
use crate::web::AppState;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiResult, ErrorBody};

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(me)
        .route(list_tokens)
        .route(create_token)
        .route(revoke_token);
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub name: String,
    /// The language of the researcher's pages and e-mails: `da` or `en` (chosen in the pages'
    /// header or on the login page).
    pub locale: String,
}

/// The researcher this request authenticates as.
#[utoipa::path(operation_id = "get_me", tag = "accounts", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Me),
    (status = 401, body = ErrorBody),
))]
#[get("/api/v1/me")]
pub async fn me(who: ApiResearcher) -> web::Json<Me> {
    web::Json(Me {
        id: who.0.id.clone(),
        email: who.0.email,
        name: who.0.name,
        locale: who.0.locale,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<crate::db::models::ApiToken> for TokenView {
    fn from(t: crate::db::models::ApiToken) -> Self {
        TokenView {
            id: t.id,
            label: t.label,
            created_at: utc(t.created_at),
            last_used_at: t.last_used_at.map(utc),
            revoked_at: t.revoked_at.map(utc),
        }
    }
}

/// The caller's API tokens (never the tokens themselves: only their hashes are stored).
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<TokenView>),
    (status = 401, body = ErrorBody),
))]
#[get("/api/v1/tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    who: ApiResearcher,
) -> ApiResult<web::Json<Vec<TokenView>>> {
    let id = who.id();
    let tokens = state.db(move |c| accounts::api_tokens_of(c, &id)).await?;
    Ok(web::Json(tokens.into_iter().map(TokenView::from).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[serde(default)]
    pub label: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub label: String,
    /// The token itself, shown this once.
    pub token: String,
    pub created_at: DateTime<Utc>,
}

/// A new API token for the caller.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session" = [])), request_body = NewToken, responses(
    (status = 201, body = CreatedToken),
    (status = 401, body = ErrorBody),
    (status = 422, body = ErrorBody),
))]
#[post("/api/v1/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    who: ApiResearcher,
    body: web::Json<NewToken>,
) -> ApiResult<HttpResponse> {
    let id = who.id();
    let label = body.into_inner().label;
    let (token, raw) = state
        .db(move |c| accounts::create_api_token(c, &id, &label))
        .await?;
    Ok(HttpResponse::Created().json(CreatedToken {
        id: token.id,
        label: token.label,
        token: raw,
        created_at: utc(token.created_at),
    }))
}

/// Revokes one of the caller's tokens; it stops working at once.
#[utoipa::path(tag = "accounts", security(("bearer" = []), ("session" = [])), responses(
    (status = 204, description = "Revoked"),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
#[delete("/api/v1/tokens/{token}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = who.id();
    let token_id = path.into_inner();
    state
        .db(move |c| accounts::revoke_api_token(c, &id, &token_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
