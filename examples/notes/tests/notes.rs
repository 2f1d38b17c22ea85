//! The notes example, black-box over HTTP on SQLite and PostgreSQL: its own spec, its own
//! endpoints per user, and spa-auth's promises (revocation on the next request, CSRF) holding
//! for an API spa-auth does not know.

use reqwest::Method;
use serde_json::{Value, json};
use spa_auth_tests::{
    Background, Db, Host, StatusCode, assert_error, db_test, host_settings, spawn_host,
};

const PASSWORD: &str = "correct horse battery";

async fn notes_app(db: Db) -> Host {
    spawn_host(db, host_settings(), Background::Run, notes::app).await
}

/// A user, logged in through spa-auth's API as the notes app mounts it; the session token.
async fn logged_in(app: &Host, username: &str) -> String {
    app.create_user(username, PASSWORD).await;
    app.login_ok(username, PASSWORD).await
}

async fn write(app: &Host, token: &str, text: &str) -> reqwest::Response {
    let body = json!({ "text": text });
    app.send_body(Method::POST, "/api/notes", Some(&body), Some(token), &[])
        .await
}

async fn texts(app: &Host, path: &str, token: &str) -> Vec<String> {
    let resp = app.send(Method::GET, path, Some(token), &[]).await;
    assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
    let notes: Vec<Value> = resp.json().await.expect("a JSON list of notes");
    notes
        .iter()
        .map(|n| n["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Alice, logged in and seen by the notes API a few times (so the cache holds her session);
/// her session token.
async fn alice_seen(app: &Host) -> String {
    let alice = logged_in(app, "alice").await;
    for _ in 0..3 {
        texts(app, "/api/notes", &alice).await;
    }
    alice
}

#[test]
fn its_own_spec_lists_session_cookie_on_every_operation() {
    let spec = notes::openapi(notes::Store::default()).spec();
    let spec: Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(
        spec["components"]["securitySchemes"]["sessionCookie"]["in"],
        "cookie"
    );
    let mut operations = 0;
    for (path, methods) in spec["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            assert_eq!(
                op["security"],
                json!([{"sessionCookie": []}]),
                "{method} {path}"
            );
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path} documents no 401"
            );
            operations += 1;
        }
    }
    assert_eq!(operations, 3);
}

db_test!(
    async fn a_logged_in_user_sees_only_their_own_notes(db) {
        let app = notes_app(db).await;
        let alice = logged_in(&app, "alice").await;
        let bob = logged_in(&app, "bob").await;
        assert_eq!(write(&app, &alice, "alice's").await.status(), StatusCode::CREATED);
        assert_eq!(write(&app, &bob, "bob's").await.status(), StatusCode::CREATED);

        assert_eq!(texts(&app, "/api/notes", &alice).await, ["alice's"]);
        assert_eq!(texts(&app, "/api/notes", &bob).await, ["bob's"]);
    }
);

db_test!(
    async fn without_a_session_the_notes_api_is_401(db) {
        let app = notes_app(db).await;
        let resp = app.send(Method::GET, "/api/notes", None, &[]).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn the_admin_endpoint_is_403_forbidden_until_the_role_is_granted(db) {
        let app = notes_app(db).await;
        let alice = logged_in(&app, "alice").await;
        let bob = logged_in(&app, "bob").await;
        write(&app, &bob, "bob's").await;
        let resp = app.send(Method::GET, "/api/notes/all", Some(&alice), &[]).await;
        assert_error(resp, StatusCode::FORBIDDEN, "forbidden").await;

        app.cli(&["user", "grant", "alice", "admin"]).await;

        assert_eq!(texts(&app, "/api/notes/all", &alice).await, ["bob's"]);
    }
);

db_test!(
    async fn revoking_the_admin_role_with_the_cli_applies_on_the_next_request(db) {
        let app = notes_app(db).await;
        let alice = logged_in(&app, "alice").await;
        app.cli(&["user", "grant", "alice", "admin"]).await;
        for _ in 0..3 {
            texts(&app, "/api/notes/all", &alice).await;
        }

        app.cli(&["user", "revoke", "alice", "admin"]).await;

        let resp = app.send(Method::GET, "/api/notes/all", Some(&alice), &[]).await;
        assert_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }
);

db_test!(
    async fn ending_a_users_sessions_with_the_cli_logs_them_out_on_the_next_request(db) {
        let app = notes_app(db).await;
        let alice = alice_seen(&app).await;

        app.cli(&["sessions", "revoke", "alice"]).await;

        let resp = app.send(Method::GET, "/api/notes", Some(&alice), &[]).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn deactivating_a_user_with_the_cli_refuses_their_next_notes_request(db) {
        let app = notes_app(db).await;
        let alice = alice_seen(&app).await;

        app.cli(&["user", "deactivate", "alice"]).await;

        let resp = write(&app, &alice, "too late").await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn a_cross_site_post_to_the_notes_api_is_refused_with_csrf_rejected(db) {
        let app = notes_app(db).await;
        let alice = logged_in(&app, "alice").await;
        let body = json!({ "text": "forged" });
        let cross_site = [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")];
        let resp = app
            .send_body(Method::POST, "/api/notes", Some(&body), Some(&alice), &cross_site)
            .await;
        assert_error(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
        assert!(texts(&app, "/api/notes", &alice).await.is_empty(), "the forged note was written");
    }
);
