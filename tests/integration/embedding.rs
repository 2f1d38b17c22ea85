//! spa-auth as a library inside a host application (`spa_auth::SpaAuth`): the promises its
//! crate documentation makes, one each, through a small host API of the test's own.

use std::time::Duration;

use poem::{EndpointExt, Route};
use poem_openapi::{OpenApi, OpenApiService, payload::PlainText};
use reqwest::Method;
use spa_auth::{ProtectedError, SessionAuth, SpaAuth, http_types::HeaderMap};
use spa_auth_tests::{
    Background, Host, StatusCode, assert_error, db_test, host_settings, spawn_host,
};

const PASSWORD: &str = "correct horse battery";

struct HostApi;

#[OpenApi]
impl HostApi {
    /// Who is calling.
    #[oai(path = "/api/host/whoami", method = "get")]
    async fn whoami(&self, auth: SessionAuth) -> Result<PlainText<String>, ProtectedError> {
        Ok(PlainText(auth.current.user.username.clone()))
    }

    /// For admins only.
    #[oai(path = "/api/host/admin", method = "post")]
    async fn admin(&self, auth: SessionAuth) -> Result<PlainText<String>, ProtectedError> {
        auth.require_role("admin")?;
        Ok(PlainText("done".into()))
    }
}

fn host_app(spa: &SpaAuth) -> Route {
    let mine = OpenApiService::new(HostApi, "host", "1.0");
    Route::new()
        .nest_no_strip("/api/host", mine.with(spa.protect()))
        .nest("/", spa.api())
}

async fn host(db: spa_auth_tests::Db, background: Background) -> Host {
    spawn_host(db, host_settings(), background, host_app).await
}

/// Alice, logged in through spa-auth's API as the host mounts it; her session token.
async fn alice(host: &Host) -> String {
    host.create_user("alice", PASSWORD).await;
    host.login_ok("alice", PASSWORD).await
}

async fn whoami(host: &Host, token: &str) -> reqwest::Response {
    host.send(Method::GET, "/api/host/whoami", Some(token), &[])
        .await
}

db_test!(
    async fn a_host_that_forgot_the_background_never_serves_a_session_the_cli_ended(db) {
        let host = host(db, Background::Forgotten).await;
        let token = alice(&host).await;
        for _ in 0..3 {
            let resp = whoami(&host, &token).await;
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.text().await.unwrap(), "alice");
        }
        let cache = host.spa.state().sessions.cache();
        assert!(!cache.is_usable() && cache.is_empty(), "a cache nobody keeps honest was used");

        host.cli(&["sessions", "revoke", "alice"]).await;

        let resp = whoami(&host, &token).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn with_the_background_the_cache_is_used_and_a_session_the_cli_ended_is_refused_next(db) {
        let host = host(db, Background::Run).await;
        let token = alice(&host).await;
        // The cache is used from the watcher's first successful poll on, which a loaded
        // machine may take a moment to run.
        let cache = host.spa.state().sessions.cache();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !cache.is_usable() {
            assert!(tokio::time::Instant::now() < deadline, "the watcher never polled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for _ in 0..3 {
            assert_eq!(whoami(&host, &token).await.status(), StatusCode::OK);
        }
        assert_eq!(cache.len(), 1, "the session was not cached");

        host.cli(&["sessions", "revoke", "alice"]).await;

        let resp = whoami(&host, &token).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn a_protected_host_operation_without_a_session_is_401_and_clears_the_cookie(db) {
        let host = host(db, Background::Run).await;
        let resp = host
            .send(Method::GET, "/api/host/whoami", Some("not-a-live-session"), &[])
            .await;
        let cleared = host.session_set_cookie(&resp).expect("the dead cookie is cleared");
        assert!(cleared.value.is_empty(), "{}", cleared.raw);
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn require_role_is_403_forbidden_until_the_cli_grants_the_role_and_once_revoked(db) {
        let host = host(db, Background::Run).await;
        let token = alice(&host).await;
        let admin = || host.send(Method::POST, "/api/host/admin", Some(&token), &[]);
        assert_error(admin().await, StatusCode::FORBIDDEN, "forbidden").await;

        host.cli(&["user", "grant", "alice", "admin"]).await;
        assert_eq!(admin().await.status(), StatusCode::OK);

        host.cli(&["user", "revoke", "alice", "admin"]).await;
        assert_error(admin().await, StatusCode::FORBIDDEN, "forbidden").await;
    }
);

db_test!(
    async fn a_cross_site_post_to_a_protected_host_route_is_refused_with_csrf_rejected(db) {
        let host = host(db, Background::Run).await;
        let token = alice(&host).await;
        host.cli(&["user", "grant", "alice", "admin"]).await;
        let cross_site = [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")];
        let resp = host
            .send(Method::POST, "/api/host/admin", Some(&token), &cross_site)
            .await;
        assert_error(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
        let same = [("sec-fetch-site", "same-origin")];
        let resp = host.send(Method::POST, "/api/host/admin", Some(&token), &same).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_host_operation_that_slid_the_idle_deadline_resends_the_cookie(db) {
        let mut settings = host_settings();
        settings.session.session_refresh_interval = Duration::from_secs(1);
        let host = spawn_host(db, settings, Background::Run, host_app).await;
        let token = alice(&host).await;
        let resp = whoami(&host, &token).await;
        assert!(host.session_set_cookie(&resp).is_none(), "re-sent before any slide");

        tokio::time::sleep(Duration::from_millis(1100)).await;
        let resp = whoami(&host, &token).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let resent = host.session_set_cookie(&resp).expect("the slid session's cookie");
        assert_eq!(resent.value, token);
    }
);

db_test!(
    async fn authenticate_finds_the_session_of_a_cookie_header_and_none_once_logged_out(db) {
        let host = host(db, Background::Forgotten).await;
        let token = alice(&host).await;
        let mut headers = HeaderMap::new();
        assert!(host.spa.authenticate(&headers).await.unwrap().is_none());
        let cookie = format!("theme=dark; {}", host.cookie_header(&token));
        headers.insert("cookie", cookie.parse().unwrap());
        let found = host.spa.authenticate(&headers).await.unwrap().expect("alice's session");
        assert_eq!(found.current.user.username, "alice");
        assert!(found.set_cookie.is_none());

        assert_eq!(host.logout(Some(&token)).await.status(), StatusCode::NO_CONTENT);
        assert!(host.spa.authenticate(&headers).await.unwrap().is_none());
    }
);

/// The spec is the same whatever the database: one run.
#[test]
fn the_host_spec_lists_session_cookie_on_its_protected_operations() {
    let spec: serde_json::Value =
        serde_json::from_str(&OpenApiService::new(HostApi, "host", "1.0").spec()).unwrap();
    let scheme = &spec["components"]["securitySchemes"]["sessionCookie"];
    assert_eq!(scheme["in"], "cookie", "{spec:#}");
    for (path, method) in [("/api/host/whoami", "get"), ("/api/host/admin", "post")] {
        let security = &spec["paths"][path][method]["security"];
        assert_eq!(
            security,
            &serde_json::json!([{"sessionCookie": []}]),
            "{path}"
        );
        let responses = &spec["paths"][path][method]["responses"];
        assert!(
            responses["403"].is_object() && responses["401"].is_object(),
            "{path}"
        );
    }
}
