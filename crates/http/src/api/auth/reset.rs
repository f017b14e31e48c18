//! Password reset: a mailed single-use link, then a new password that ends every session and
//! access token of the account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::signup::EmailBody;
use super::{Accepted, accepted, account_for, in_background, mail_limited, send_token_mail};
use crate::api::audit::audit;
use crate::api::extract::Body;
use crate::api::validate::Check;
use crate::caller::ClientIp;
use crate::db::audit::AuditResult;
use crate::db::sessions::TokenPurpose;
use crate::db::users::UserStatus;
use crate::security::secret;
use crate::{AppState, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
}

/// Mails a password-reset link (same answer for every address).
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = EmailBody,
    responses((status = 202, body = Accepted), (status = 429, body = crate::problem::ProblemBody)))]
async fn request_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<EmailBody>,
) -> Result<Response, Problem> {
    mail_limited(&state.sys, ip).await?;
    let sys = state.sys.clone();
    in_background("a password-reset request", async move {
        if let Some(user) = account_for(&sys, &b.email).await?
            && user.status != UserStatus::Disabled
        {
            send_token_mail(&sys, &user, TokenPurpose::ResetPassword).await?;
            audit(
                &sys,
                Some(&user),
                "user.password_reset_request",
                Some(("user", &user.id)),
                &ip.to_string(),
                AuditResult::Ok,
                None,
            )
            .await;
        }
        Ok(())
    });
    Ok(accepted(
        "if the address has an account, a reset link was sent",
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    pub token: String,
    pub password: String,
}

/// Sets a new password with a mailed reset token; signs out every session of the account and
/// revokes its access tokens.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetBody,
    responses((status = 204), (status = 400, body = crate::problem::ProblemBody), (status = 422, body = crate::problem::ProblemBody)))]
async fn confirm_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<ResetBody>,
) -> Result<StatusCode, Problem> {
    let sys = &state.sys;
    let mut c = Check::new();
    c.password("password", &b.password);
    c.done()?;
    let invalid = || Problem::bad_request("invalid, used or expired reset token");
    if b.token.len() > secret::MAX_SECRET_LEN {
        return Err(invalid());
    }
    let Some(user_id) = sys
        .db
        .consume_user_token(TokenPurpose::ResetPassword, &secret::digest(&b.token))
        .await?
    else {
        return Err(invalid());
    };
    let hash = sys
        .hash_password(&b.password)
        .await
        .map_err(|e| Problem::internal(&e))?;
    sys.db.set_password_hash(&user_id, &hash).await?;
    // Receiving the mail proves the address.
    sys.db.verify_email(&user_id).await?;
    sys.db.revoke_all_sessions(&user_id, None).await?;
    // Tokens too: whoever made the reset necessary may hold one.
    sys.db.revoke_all_api_tokens(&user_id).await?;
    let user = sys.db.user(&user_id).await?;
    audit(
        sys,
        user.as_ref(),
        "user.password_reset",
        Some(("user", &user_id)),
        &ip.to_string(),
        AuditResult::Ok,
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
