//! Second factors in tests: a server key, and an authenticator app that makes RFC 6238 codes
//! with `totp-rs`, as a phone would, never one the server has accepted before.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use totp_rs::{Builder, Secret, Totp};

use crate::{Api, StatusCode};

/// Base64 of 32 bytes: the `SPA_AUTH_SECRET_KEY` of test apps that offer TOTP.
pub const TEST_SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The arguments that give a test app a secret key, so TOTP can be turned on.
pub const TOTP_ARGS: [&str; 2] = ["--secret-key", TEST_SECRET_KEY];

/// A TOTP authenticator for one enrolled secret.
pub struct Authenticator {
    pub secret: String,
    totp: Totp,
    /// The last step whose code this app handed out: the server takes each step once.
    last: Option<u64>,
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
}

impl Authenticator {
    /// For the base32 secret an enrolment returned.
    pub fn new(secret: &str) -> Authenticator {
        let bytes = Secret::try_from_base32(secret).expect("a base32 secret");
        let totp = Builder::new()
            .with_secret(bytes)
            .with_account_name("test")
            .build()
            .expect("an RFC 6238 secret");
        Authenticator {
            secret: secret.to_owned(),
            totp,
            last: None,
        }
    }

    /// The code of `step`, a 30-second time step.
    pub fn code_at(&self, step: u64) -> String {
        self.totp.generate(step * 30).to_string()
    }

    /// The step now.
    pub fn step_now() -> u64 {
        now().as_secs() / 30
    }

    /// A code the server accepts now and has not seen: the server takes one step either way,
    /// so three codes in a row need no wait. Avoids the last two seconds of a step, so that the
    /// step does not move between making the code and the server checking it.
    pub async fn code(&mut self) -> String {
        loop {
            let t = now();
            if t.as_secs() % 30 >= 28 {
                tokio::time::sleep(Duration::from_millis(2_100)).await;
                continue;
            }
            let step = t.as_secs() / 30;
            let next = self.last.map_or(step - 1, |l| (l + 1).max(step - 1));
            if next > step + 1 {
                tokio::time::sleep(Duration::from_secs(30 - t.as_secs() % 30)).await;
                continue;
            }
            self.last = Some(next);
            return self.code_at(next);
        }
    }

    /// Turns TOTP on for the session's user: enrols, confirms with a code; returns the
    /// authenticator and the recovery codes.
    pub async fn enrol(api: &Api, token: &str) -> (Authenticator, Vec<String>) {
        let resp = api
            .send(Method::POST, "/api/auth/totp", Some(token), &[])
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "POST /api/auth/totp");
        let body: serde_json::Value = resp.json().await.expect("JSON");
        let secret = body["secret"].as_str().expect("a secret");
        let mut app = Authenticator::new(secret);
        let code = app.code().await;
        let body = serde_json::json!({ "code": code });
        let resp = api
            .send_body(
                Method::POST,
                "/api/auth/totp/confirm",
                Some(&body),
                Some(token),
                &[],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "POST /api/auth/totp/confirm");
        let body: serde_json::Value = resp.json().await.expect("JSON");
        let codes = body["recovery_codes"]
            .as_array()
            .expect("recovery codes")
            .iter()
            .map(|c| c.as_str().expect("a string").to_owned())
            .collect();
        (app, codes)
    }
}

impl Api {
    /// `POST /api/auth/second-factor` with `body` and the half-open session's token.
    pub async fn second_factor(&self, token: &str, body: serde_json::Value) -> reqwest::Response {
        self.send_body(
            Method::POST,
            "/api/auth/second-factor",
            Some(&body),
            Some(token),
            &[],
        )
        .await
    }

    /// Logs in with the password of a user with TOTP: checks the 202 and returns the token
    /// of the half-open session.
    pub async fn login_pending(&self, username: &str, password: &str) -> String {
        let resp = self.login(username, password).await;
        let token = self.session_cookie(&resp);
        assert_eq!(resp.status(), StatusCode::ACCEPTED, "login of {username}");
        token.expect("a half-open session's cookie")
    }

    /// Logs in with password and a code; returns the session token.
    pub async fn login_with_totp(
        &self,
        username: &str,
        password: &str,
        app: &mut Authenticator,
    ) -> String {
        let pending = self.login_pending(username, password).await;
        let code = app.code().await;
        let resp = self
            .second_factor(&pending, serde_json::json!({ "code": code }))
            .await;
        let token = self.session_cookie(&resp);
        assert_eq!(resp.status(), StatusCode::OK, "second step of {username}");
        token.expect("the upgraded session's cookie")
    }
}
