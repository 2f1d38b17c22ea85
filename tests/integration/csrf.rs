//! Cross-site request forgery: every state-changing operation against the full matrix of
//! `Sec-Fetch-Site` x `Origin`, with a trusted origin configured. Refused requests are a JSON
//! 403 `csrf_rejected` and change nothing; allowed ones take effect. Plus CORS for the
//! trusted origin only.

use reqwest::Method;
use spa_auth_tests::{
    CHEAP_HASHING, StatusCode, TestApp, assert_error, db_test, header, header_str, spawn_app_with,
};

const TRUSTED: &str = "https://app.example.com";

/// `Sec-Fetch-Site`, as browsers send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
enum Site {
    SameOrigin,
    None,
    SameSite,
    CrossSite,
    Absent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The service's own origin, matching `Host`.
    Same,
    Foreign,
    Null,
    Absent,
    Trusted,
}

const SITES: [Site; 5] = [
    Site::SameOrigin,
    Site::None,
    Site::SameSite,
    Site::CrossSite,
    Site::Absent,
];
const ORIGINS: [Origin; 5] = [
    Origin::Same,
    Origin::Foreign,
    Origin::Null,
    Origin::Absent,
    Origin::Trusted,
];

/// The policy, written down independently of the server: a browser's `Sec-Fetch-Site`
/// decides when present (a trusted origin may be cross-site); without it, `Origin` is
/// compared with `Host`; a request with neither is not from a browser.
fn expected_allowed(site: Site, origin: Origin) -> bool {
    match site {
        Site::SameOrigin | Site::None => true,
        Site::SameSite | Site::CrossSite => origin == Origin::Trusted,
        Site::Absent => matches!(origin, Origin::Same | Origin::Absent | Origin::Trusted),
    }
}

fn headers(app: &TestApp, site: Site, origin: Origin) -> Vec<(&'static str, String)> {
    let mut h = Vec::new();
    match site {
        Site::SameOrigin => h.push(("sec-fetch-site", "same-origin".to_owned())),
        Site::None => h.push(("sec-fetch-site", "none".to_owned())),
        Site::SameSite => h.push(("sec-fetch-site", "same-site".to_owned())),
        Site::CrossSite => h.push(("sec-fetch-site", "cross-site".to_owned())),
        Site::Absent => {}
    }
    match origin {
        Origin::Same => h.push(("origin", app.address.clone())),
        Origin::Foreign => h.push(("origin", "https://evil.example".to_owned())),
        Origin::Null => h.push(("origin", "null".to_owned())),
        Origin::Trusted => h.push(("origin", TRUSTED.to_owned())),
        Origin::Absent => {}
    }
    h
}

fn as_refs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn trusted_app(db: spa_auth_tests::Db) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(["--trusted-origins", TRUSTED].map(String::from));
        args.extend(CHEAP_HASHING.map(String::from));
    })
    .await
}

/// Every combination, with how many were allowed and refused (so a test cannot pass by
/// exercising only one side).
fn matrix() -> Vec<(Site, Origin, bool)> {
    let mut all = Vec::new();
    for site in SITES {
        for origin in ORIGINS {
            all.push((site, origin, expected_allowed(site, origin)));
        }
    }
    assert_eq!(all.iter().filter(|c| c.2).count(), 15);
    all
}

async fn assert_csrf_rejected(resp: reqwest::Response, what: &str) {
    assert!(
        resp.headers().get(header::SET_COOKIE).is_none(),
        "{what}: a refused request sets a cookie"
    );
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{what}: not refused");
    assert_error(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
}

db_test!(
    async fn login_csrf_matrix(db) {
        let app = trusted_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;

        for (site, origin, allowed) in matrix() {
            let what = format!("login with {site:?} / {origin:?}");
            let h = headers(&app, site, origin);
            let before = app.sessions_of(alice.id).await.len();
            let resp = app.login_with("alice", "correct horse battery", &as_refs(&h)).await;
            if allowed {
                assert_eq!(resp.status(), StatusCode::OK, "{what}: refused");
                let token = app.session_cookie(&resp).expect("allowed login sets no cookie");
                assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK, "{what}");
                assert_eq!(app.sessions_of(alice.id).await.len(), before + 1, "{what}");
            } else {
                assert_csrf_rejected(resp, &what).await;
                assert_eq!(
                    app.sessions_of(alice.id).await.len(),
                    before,
                    "{what}: a refused login opened a session"
                );
            }
        }
    }
);

db_test!(
    async fn logout_csrf_matrix(db) {
        let app = trusted_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;

        for (site, origin, allowed) in matrix() {
            let what = format!("logout with {site:?} / {origin:?}");
            let token = app.open_session(alice.id, "browser").await;
            let h = headers(&app, site, origin);
            let resp = app.send(Method::POST, "/api/auth/logout", Some(&token), &as_refs(&h)).await;
            if allowed {
                assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{what}: refused");
                assert_eq!(
                    app.me(Some(&token)).await.status(),
                    StatusCode::UNAUTHORIZED,
                    "{what}: the session survived the logout"
                );
            } else {
                assert_csrf_rejected(resp, &what).await;
                assert_eq!(
                    app.me(Some(&token)).await.status(),
                    StatusCode::OK,
                    "{what}: a refused logout ended the session"
                );
                assert!(app.session_for(&token).await.is_some(), "{what}");
            }
        }
    }
);

db_test!(
    async fn end_other_sessions_csrf_matrix(db) {
        let app = trusted_app(db).await;

        for (i, (site, origin, allowed)) in matrix().into_iter().enumerate() {
            let what = format!("DELETE /api/auth/sessions with {site:?} / {origin:?}");
            let user = app.create_user_with_hash(&format!("user{i}"), None).await;
            let current = app.open_session(user.id, "laptop").await;
            let other = app.open_session(user.id, "phone").await;
            let h = headers(&app, site, origin);
            let resp = app.send(
                Method::DELETE,
                "/api/auth/sessions",
                Some(&current),
                &as_refs(&h),
            )
            .await;
            if allowed {
                assert_eq!(resp.status(), StatusCode::OK, "{what}: refused");
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body, serde_json::json!({"ended": 1}), "{what}");
                assert_eq!(app.me(Some(&other)).await.status(), StatusCode::UNAUTHORIZED, "{what}");
            } else {
                assert_csrf_rejected(resp, &what).await;
                assert_eq!(
                    app.me(Some(&other)).await.status(),
                    StatusCode::OK,
                    "{what}: a refused request ended another session"
                );
            }
            assert_eq!(app.me(Some(&current)).await.status(), StatusCode::OK, "{what}");
        }
    }
);

db_test!(
    async fn end_one_session_csrf_matrix(db) {
        let app = trusted_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let current = app.open_session(alice.id, "laptop").await;

        for (site, origin, allowed) in matrix() {
            let what = format!("DELETE /api/auth/sessions/{{id}} with {site:?} / {origin:?}");
            let other = app.open_session(alice.id, "phone").await;
            let id = app.session_for(&other).await.unwrap().id;
            let h = headers(&app, site, origin);
            let path = format!("/api/auth/sessions/{id}");
            let resp = app.send(Method::DELETE, &path, Some(&current), &as_refs(&h)).await;
            if allowed {
                assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{what}: refused");
                assert_eq!(app.me(Some(&other)).await.status(), StatusCode::UNAUTHORIZED, "{what}");
            } else {
                assert_csrf_rejected(resp, &what).await;
                assert_eq!(app.me(Some(&other)).await.status(), StatusCode::OK, "{what}");
            }
        }
    }
);

db_test!(
    async fn password_change_csrf_matrix(db) {
        let app = trusted_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let mut password = "correct horse battery".to_owned();

        for (i, (site, origin, allowed)) in matrix().into_iter().enumerate() {
            let what = format!("password change with {site:?} / {origin:?}");
            let token = app.open_session(alice.id, "laptop").await;
            let other = app.open_session(alice.id, "phone").await;
            let hash_before = app.user("alice").await.password_hash;
            let new = format!("a new secret number {i}");
            let h = headers(&app, site, origin);
            let resp = app.change_password(&token, &password, &new, &as_refs(&h)).await;
            if allowed {
                assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{what}: refused");
                let rotated = app.session_cookie(&resp).expect("no rotated cookie");
                assert_eq!(app.me(Some(&rotated)).await.status(), StatusCode::OK, "{what}");
                assert_eq!(app.me(Some(&other)).await.status(), StatusCode::UNAUTHORIZED, "{what}");
                assert_ne!(app.user("alice").await.password_hash, hash_before, "{what}");
                password = new;
            } else {
                assert_csrf_rejected(resp, &what).await;
                assert_eq!(
                    app.user("alice").await.password_hash,
                    hash_before,
                    "{what}: a refused request changed the password"
                );
                assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK, "{what}");
                assert_eq!(app.me(Some(&other)).await.status(), StatusCode::OK, "{what}");
            }
        }
        // The password is the last one an allowed change set, and only that one.
        app.login_ok("alice", &password).await;
    }
);

db_test!(
    async fn safe_methods_are_never_refused(db) {
        let app = trusted_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "browser").await;

        for (site, origin, _) in matrix() {
            let h = headers(&app, site, origin);
            for path in ["/api/me", "/api/auth/sessions", "/healthz"] {
                for method in [Method::GET, Method::HEAD] {
                    let resp = app.send(method.clone(), path, Some(&token), &as_refs(&h)).await;
                    assert_eq!(
                        resp.status(),
                        StatusCode::OK,
                        "{method} {path} with {site:?} / {origin:?}"
                    );
                }
            }
        }
    }
);

db_test!(
    async fn a_look_alike_of_the_trusted_origin_is_not_trusted(db) {
        let app = trusted_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "browser").await;

        for origin in [
            "https://app.example.com.evil.example",
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://evil-app.example.com",
        ] {
            for site in [Some("cross-site"), Some("same-site"), None] {
                let mut h = vec![("origin", origin)];
                if let Some(s) = site {
                    h.push(("sec-fetch-site", s));
                }
                let resp = app.send(Method::POST, "/api/auth/logout", Some(&token), &h).await;
                assert!(
                    resp.headers().get("access-control-allow-origin").is_none(),
                    "CORS granted to {origin}"
                );
                assert_csrf_rejected(resp, &format!("logout from {origin} ({site:?})")).await;
            }
        }
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn cors_is_credentialed_for_the_trusted_origin_only(db) {
        let app = trusted_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "browser").await;

        // A simple request from the trusted origin.
        let resp = app.send(Method::GET, "/api/me", Some(&token), &[("origin", TRUSTED)]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header_str(&resp, "access-control-allow-origin"), Some(TRUSTED));
        assert_eq!(header_str(&resp, "access-control-allow-credentials"), Some("true"));
        let vary: Vec<String> = resp
            .headers()
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .collect();
        assert!(
            vary.iter().any(|v| v.split(',').any(|p| p.trim() == "origin")),
            "no Vary: Origin: {vary:?}"
        );
        assert_eq!(resp.headers().get_all("access-control-allow-origin").iter().count(), 1);

        // An error answer to the trusted origin is readable by it too.
        let resp = app.send(Method::GET, "/api/me", None, &[("origin", TRUSTED)]).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header_str(&resp, "access-control-allow-origin"), Some(TRUSTED));

        // A preflight from the trusted origin.
        for (path, method) in [
            ("/api/auth/login", "POST"),
            ("/api/auth/sessions", "DELETE"),
            ("/api/auth/password", "POST"),
        ] {
            let resp = app.send(
                Method::OPTIONS,
                path,
                None,
                &[
                    ("origin", TRUSTED),
                    ("access-control-request-method", method),
                    ("access-control-request-headers", "authorization, content-type"),
                ],
            )
            .await;
            assert_eq!(resp.status(), StatusCode::NO_CONTENT, "preflight of {method} {path}");
            assert_eq!(header_str(&resp, "access-control-allow-origin"), Some(TRUSTED));
            assert_eq!(header_str(&resp, "access-control-allow-credentials"), Some("true"));
            let methods = header_str(&resp, "access-control-allow-methods").unwrap_or_default();
            assert!(
                methods.split(',').any(|m| m.trim() == method),
                "allow-methods {methods:?} lacks {method}"
            );
            let allowed = header_str(&resp, "access-control-allow-headers")
                .unwrap_or_default()
                .to_ascii_lowercase();
            for h in ["authorization", "content-type"] {
                assert!(
                    allowed.split(',').any(|x| x.trim() == h),
                    "allow-headers {allowed:?} lacks {h}"
                );
            }
        }

        // Untrusted origins get no CORS at all, preflight or not.
        for origin in ["https://evil.example", "null", app.address.as_str()] {
            let resp = app.send(Method::GET, "/api/me", Some(&token), &[("origin", origin)]).await;
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.headers().get("access-control-allow-origin").is_none(), "{origin}");
            assert!(resp.headers().get("access-control-allow-credentials").is_none(), "{origin}");
            let resp = app.send(
                Method::OPTIONS,
                "/api/auth/login",
                None,
                &[("origin", origin), ("access-control-request-method", "POST")],
            )
            .await;
            assert!(!resp.status().is_server_error(), "preflight from {origin}: {}", resp.status());
            assert!(resp.headers().get("access-control-allow-origin").is_none(), "{origin}");
            assert!(resp.headers().get("access-control-allow-methods").is_none(), "{origin}");
        }
        // Never `*`, whatever is asked.
        let resp = app.send(Method::GET, "/api/me", Some(&token), &[]).await;
        assert!(resp.headers().get("access-control-allow-origin").is_none());
    }
);

/// Whether a logout with these headers got past the CSRF check (then it is a 401, for want
/// of a session) or was refused by it.
async fn logout_passes(app: &TestApp, headers: &[(&str, &str)]) -> bool {
    let resp = app
        .send(Method::POST, "/api/auth/logout", None, headers)
        .await;
    match resp.status() {
        StatusCode::FORBIDDEN => {
            assert_csrf_rejected(resp, &format!("{headers:?}")).await;
            false
        }
        _ => {
            assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
            true
        }
    }
}

db_test!(
    async fn with_a_public_url_the_origin_must_match_its_scheme_host_and_port(db) {
        let app = spawn_app_with(db, |args| {
            args.extend(
                ["--public-url", "https://auth.example.test/", "--trusted-origins", TRUSTED]
                    .map(String::from),
            );
        })
        .await;
        let same_site = ("sec-fetch-site", "same-origin");
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("origin", "https://auth.example.test")], true),
            (&[("origin", "https://AUTH.example.test:443")], true),
            (&[same_site, ("origin", "https://auth.example.test")], true),
            (&[("sec-fetch-site", "cross-site"), ("origin", TRUSTED)], true),
            (&[], true),
            // The http page of the same host, or another port: another origin.
            (&[("origin", "http://auth.example.test")], false),
            (&[same_site, ("origin", "http://auth.example.test")], false),
            (&[("origin", "https://auth.example.test:8443")], false),
            (&[("origin", "null")], false),
        ];
        for (headers, passes) in cases {
            assert_eq!(logout_passes(&app, headers).await, *passes, "{headers:?}");
        }
        // Matching the Host header is not enough any more: the public URL decides.
        let own = app.address.clone();
        assert!(!logout_passes(&app, &[("origin", own.as_str())]).await);
    }
);

db_test!(
    async fn without_a_public_url_the_origin_is_compared_with_host(db) {
        let app = spawn_app_with(db, |_| {}).await;
        let https = app.address.replace("http://", "https://");
        for own in [app.address.as_str(), https.as_str()] {
            // Host has no scheme: both schemes of this host pass (set the public URL to tell).
            assert!(logout_passes(&app, &[("origin", own)]).await, "{own}");
        }
        assert!(!logout_passes(&app, &[("origin", "http://127.0.0.1:1")]).await);
    }
);
