//! Helpers for the account flows (sign-up, verification, reset): a service that mails through
//! a real SMTP server, and the requests and links of those flows.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::{
    Db, NO_THROTTLE, TestApp,
    smtp::{Mail, SmtpServer},
    spawn_app_with,
};

/// The public URL the links of every test service point to.
pub const PUBLIC_URL: &str = "https://auth.example.com";

/// A service that mails through `smtp`, with `extra` arguments (e.g. `--signup open`).
pub async fn spawn_with_mail(db: Db, smtp: &SmtpServer, extra: &[&str]) -> TestApp {
    let url = smtp.url();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    spawn_app_with(db, move |args| {
        args.extend(
            [
                "--smtp-url",
                &url,
                "--mail-from",
                "spa-auth <no-reply@example.com>",
                "--public-url",
                PUBLIC_URL,
                "--mail-poll",
                "100ms",
            ]
            .map(String::from),
        );
        args.extend(NO_THROTTLE.map(String::from));
        args.extend(extra);
    })
    .await
}

/// `POST path` with a JSON body and an optional session.
pub async fn post(app: &TestApp, path: &str, body: Value, token: Option<&str>) -> Response {
    app.send_body(Method::POST, path, Some(&body), token, &[])
        .await
}

pub async fn sign_up(app: &TestApp, username: &str, email: &str, password: &str) -> Response {
    let body = json!({"username": username, "email": email, "password": password});
    post(app, "/api/auth/signup", body, None).await
}

/// The link a mail asks its reader to follow: the first one in the text that points somewhere
/// below the site (mails name the site itself too, e.g. "you have an account at …").
pub fn action_link(mail: &Mail) -> Option<String> {
    mail.text
        .split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
        .filter(|w| w.starts_with("https://") || w.starts_with("http://"))
        .map(|w| w.trim_end_matches(['.', ',', ')', ';', ':']).to_owned())
        .find(|link| {
            let after_scheme = link.split_once("://").map_or("", |(_, rest)| rest);
            after_scheme
                .split_once('/')
                .is_some_and(|(_, path)| !path.is_empty())
        })
}

/// The token of a link's fragment (`…#token=X` or `…#invite=X`).
pub fn token_of(mail: &Mail) -> String {
    let link = action_link(mail)
        .unwrap_or_else(|| panic!("no link in the mail {:?}: {}", mail.subject, mail.text));
    let fragment = link
        .split_once('#')
        .map(|(_, f)| f)
        .unwrap_or_else(|| panic!("the link {link} has no fragment"));
    let (_, token) = fragment
        .split_once('=')
        .unwrap_or_else(|| panic!("the fragment of {link} has no token"));
    token.to_owned()
}

/// Where a mailed link points, without its fragment.
pub fn link_path(mail: &Mail) -> String {
    let link = action_link(mail).unwrap_or_else(|| panic!("no link in {}", mail.text));
    let no_fragment = link.split('#').next().unwrap_or_default();
    no_fragment
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("the link {link} does not start with {PUBLIC_URL}"))
        .to_owned()
}

pub async fn verify_email(app: &TestApp, token: &str) -> Response {
    post(app, "/api/auth/email/verify", json!({"token": token}), None).await
}

pub async fn request_reset(app: &TestApp, email: &str) -> Response {
    post(
        app,
        "/api/auth/password-reset",
        json!({"email": email}),
        None,
    )
    .await
}

pub async fn confirm_reset(app: &TestApp, token: &str, new_password: &str) -> Response {
    let body = json!({"token": token, "new_password": new_password});
    post(app, "/api/auth/password-reset/confirm", body, None).await
}

/// The `n`th message (from 0, in order of arrival) delivered to `to`, waiting up to 20 s
/// for it.
pub async fn nth_mail_to(smtp: &SmtpServer, to: &str, n: usize) -> Mail {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut to_them = smtp.messages_to(to);
        if to_them.len() > n {
            return to_them.swap_remove(n);
        }
        if tokio::time::Instant::now() > deadline {
            let delivered: Vec<_> = smtp
                .messages()
                .into_iter()
                .map(|m| (m.to, m.subject))
                .collect();
            panic!("no mail #{n} to {to} within 20 s; delivered: {delivered:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The first message delivered to `to`.
pub async fn mail_to(smtp: &SmtpServer, to: &str) -> Mail {
    nth_mail_to(smtp, to, 0).await
}

/// Waits until the outbox has nothing left to deliver (every row sent, failed or dropped).
pub async fn outbox_drained(app: &TestApp) {
    use entity::mail_outbox;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let pending = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::SentAt.is_null())
            .filter(mail_outbox::Column::FailedAt.is_null())
            .count(&app.db)
            .await
            .expect("the outbox is readable");
        if pending == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} messages still waiting after 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Sends every body to `POST path` at once; the statuses, in the order of `bodies`.
pub async fn post_all_at_once(
    app: &TestApp,
    path: &str,
    bodies: Vec<Value>,
) -> Vec<reqwest::StatusCode> {
    let handles: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (api, path) = (app.api.clone(), path.to_owned());
            tokio::spawn(async move {
                api.send_body(Method::POST, &path, Some(&body), None, &[])
                    .await
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::with_capacity(handles.len());
    for h in handles {
        statuses.push(h.await.expect("a request task panicked"));
    }
    statuses
}
