//! Sign-up, e-mail verification and resending the verification link.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Accepted, accepted, account_for, in_background, mail_limited, send_token_mail};
use crate::api::audit::audit;
use crate::api::extract::Body;
use crate::api::validate::Check;
use crate::caller::ClientIp;
use crate::db::audit::AuditResult;
use crate::db::sessions::TokenPurpose;
use crate::db::users::{NewUser, UserStatus, UserView};
use crate::security::secret;
use crate::system::System;
use crate::{AppState, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(verify))
        .routes(routes!(resend_verification))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    pub email: String,
    pub password: String,
    pub display_name: String,
}

/// Creates a pending viewer account and mails a verification link. The answer is the same
/// whether or not the address has an account (its owner is mailed about the attempt instead),
/// and is sent before the address is looked at.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignupBody,
    responses((status = 202, body = Accepted), (status = 403, body = crate::problem::ProblemBody),
              (status = 422, body = crate::problem::ProblemBody), (status = 429, body = crate::problem::ProblemBody)))]
async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<SignupBody>,
) -> Result<Response, Problem> {
    let sys = &state.sys;
    if !sys.settings.allow_signup {
        return Err(Problem::forbidden("sign-up is turned off on this server"));
    }
    let mut c = Check::new();
    c.email("email", &b.email);
    c.password_for("password", &b.password, &[&b.email, &b.display_name]);
    c.name("display_name", &b.display_name);
    c.done()?;
    mail_limited(sys, ip).await?;
    // Everything before the answer is the same for every address: the hash (the expensive
    // step, so an existing address is not answered faster for skipping it, and the client
    // waits for it, which bounds how fast one client can make us hash), then the answer. What
    // differs — an account, an audit row, a token and a mail for a new address; a lookup and
    // a mail for a known one — happens after it (see `in_background`).
    let hash = sys
        .hash_password(&b.password)
        .await
        .map_err(|e| Problem::internal(&e))?;
    let sys = state.sys.clone();
    in_background("a sign-up", async move {
        register(&sys, &b.email, b.display_name.trim(), &hash, ip).await
    });
    Ok(accepted("check your e-mail to verify the address"))
}

/// Sign-up's work after the answer: a pending account and its verification mail, or, for an
/// address that already has an account, a mail telling its owner.
async fn register(
    sys: &System,
    email: &str,
    display_name: &str,
    password_hash: &str,
    ip: std::net::IpAddr,
) -> Result<(), Problem> {
    match sys
        .db
        .create_user(NewUser {
            email,
            display_name,
            password_hash,
            role: sys.settings.signup_role,
            status: UserStatus::Pending,
            email_verified: false,
        })
        .await
    {
        Ok(user) => {
            audit(
                sys,
                Some(&user),
                "user.signup",
                Some(("user", &user.id)),
                &ip.to_string(),
                AuditResult::Ok,
                None,
            )
            .await;
            send_token_mail(sys, &user, TokenPurpose::VerifyEmail).await
        }
        Err(crate::db::DbError::Conflict(_)) => {
            if let Some(existing) = sys.db.user_by_email(email).await? {
                let (subject, body) = crate::mail::templates::signup_attempt();
                sys.mailer.send(&existing.email, subject, &body).await;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub token: String,
}

/// Verifies an e-mail address with the mailed token; a pending account becomes active.
#[utoipa::path(post, path = "/api/v1/auth/verify", tag = "auth", request_body = TokenBody,
    responses((status = 200, body = UserView), (status = 400, body = crate::problem::ProblemBody)))]
async fn verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<TokenBody>,
) -> Result<axum::Json<UserView>, Problem> {
    let sys = &state.sys;
    let invalid = || Problem::bad_request("invalid, used or expired verification token");
    if b.token.len() > secret::MAX_SECRET_LEN {
        return Err(invalid());
    }
    let Some(user_id) = sys
        .db
        .consume_user_token(TokenPurpose::VerifyEmail, &secret::digest(&b.token))
        .await?
    else {
        return Err(invalid());
    };
    sys.db.verify_email(&user_id).await?;
    let user = sys.db.user(&user_id).await?.ok_or_else(invalid)?;
    audit(
        sys,
        Some(&user),
        "user.verify_email",
        Some(("user", &user.id)),
        &ip.to_string(),
        AuditResult::Ok,
        None,
    )
    .await;
    Ok(axum::Json(UserView::from(&user)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    pub email: String,
}

/// Mails a new verification link to a pending account (same answer for every address).
#[utoipa::path(post, path = "/api/v1/auth/resend-verification", tag = "auth", request_body = EmailBody,
    responses((status = 202, body = Accepted), (status = 429, body = crate::problem::ProblemBody)))]
async fn resend_verification(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(b): Body<EmailBody>,
) -> Result<Response, Problem> {
    mail_limited(&state.sys, ip).await?;
    let sys = state.sys.clone();
    in_background("resending a verification link", async move {
        if let Some(user) = account_for(&sys, &b.email).await?
            && user.status == UserStatus::Pending
        {
            send_token_mail(&sys, &user, TokenPurpose::VerifyEmail).await?;
        }
        Ok(())
    });
    Ok(accepted(
        "if the address has a pending account, a new link was sent",
    ))
}
