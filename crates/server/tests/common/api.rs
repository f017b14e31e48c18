//! A small REST client for the management API: a console session (cookie + CSRF header) or a
//! bearer token.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::http::Credential;

/// The password of the users [`user`] creates.
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub credential: Credential,
}

impl Api {
    pub fn anonymous(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: super::client(),
            credential: Credential::None,
        }
    }

    /// Signs in with e-mail and password; panics unless it succeeds.
    pub async fn login(base: &str, email: &str, password: &str) -> Self {
        let mut api = Self::anonymous(base);
        match super::http::login(&api.client, base, email, password).await {
            Ok(session) => api.credential = Credential::Session(session),
            Err(r) => panic!("login of {email} failed: {}", r.text),
        }
        api
    }

    /// The console session, when signed in with one.
    pub fn session(&self) -> Option<&super::http::Session> {
        match &self.credential {
            Credential::Session(s) => Some(s),
            _ => None,
        }
    }

    /// The same user through a personal access token with `scopes`.
    pub async fn with_token(&self, scopes: &[&str]) -> Self {
        let (s, body) = self
            .call(
                Method::POST,
                "/api/v1/me/tokens",
                Some(json!({"name": "test", "scopes": scopes})),
            )
            .await;
        assert_eq!(s, 201, "creating a token failed: {body}");
        Self {
            base: self.base.clone(),
            client: self.client.clone(),
            credential: Credential::Bearer(body["token"].as_str().expect("token").to_owned()),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        super::http::authorize(r, self.credential.auth())
    }

    /// Sends a JSON request; returns the status and the JSON body (`Null` when empty).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.request(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = super::http::Res::read(r.send().await.unwrap()).await;
        (res.status.as_u16(), res.body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

/// Creates an active, verified user directly in the database and signs them in.
pub async fn user(node: &super::TestNode, email: &str, role: onair_server::db::users::Role) -> Api {
    use onair_server::db::users::{NewUser, UserStatus};
    let hash = onair_server::security::password::hash(PASSWORD)
        .await
        .unwrap();
    node.sys()
        .db
        .create_user(NewUser {
            email,
            display_name: email.split('@').next().unwrap_or(email),
            password_hash: &hash,
            role,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await
        .unwrap();
    Api::login(&node.http, email, PASSWORD).await
}

/// A channel (`slug`, public) and a device on it, created through the API as `api`; returns
/// (channel id, device id, stream key).
pub async fn channel_with_device(api: &Api, slug: &str) -> (String, String, String) {
    let (s, ch) = api
        .post("/api/v1/channels", json!({"slug": slug, "title": slug}))
        .await;
    assert_eq!(s, 201, "{ch}");
    let channel_id = ch["id"].as_str().unwrap().to_owned();
    let (s, dev) = api
        .post(
            "/api/v1/devices",
            json!({"name": format!("{slug} encoder"), "channel_id": channel_id}),
        )
        .await;
    assert_eq!(s, 201, "{dev}");
    (
        channel_id,
        dev["id"].as_str().unwrap().to_owned(),
        dev["stream_key"].as_str().unwrap().to_owned(),
    )
}

/// Polls the recordings API until a complete recording of `channel_id` exists.
pub async fn complete_recording(api: &Api, channel_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (s, list) = api
            .get(&format!("/api/v1/recordings?channel_id={channel_id}"))
            .await;
        assert_eq!(s, 200, "{list}");
        if let Some(r) = list["items"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["status"] == "complete"))
        {
            return r.clone();
        }
        assert!(Instant::now() < deadline, "no complete recording: {list}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Downloads recording `id` as one MP4 (checking the status, type and length).
pub async fn download_recording(api: &Api, id: &str) -> bytes::Bytes {
    let res = api
        .request(Method::GET, &format!("/api/v1/recordings/{id}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "video/mp4");
    let len: usize = res.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = res.bytes().await.unwrap();
    assert_eq!(body.len(), len);
    body
}
