//! Forward auth (`GET /api/auth/verify`) as a reverse proxy calls it: the identity headers of
//! a live session, the 401 of a dead one, role gates and the cross-site policy applied to the
//! request the proxy holds. The proxies themselves (nginx, Caddy) are in `tests/proxies`.

use std::time::{Duration, Instant};

use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use spa_auth_tests::{
    Api, Instance, Response, StatusCode, TestApp, assert_error, db_test, header_str, spawn_app,
    spawn_app_with,
};

/// `GET /api/auth/verify` + `query`, with the session cookie when given and extra headers, as
/// a proxy sends it.
async fn verify(api: &Api, token: Option<&str>, query: &str, headers: &[(&str, &str)]) -> Response {
    let path = format!("/api/auth/verify{query}");
    api.send(reqwest::Method::GET, &path, token, headers).await
}

/// Asserts a 200 and returns the identity headers, in the order the README lists them.
async fn identity(resp: Response) -> [String; 5] {
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "verify refused a live session"
    );
    let names = [
        "x-auth-user-id",
        "x-auth-username",
        "x-auth-email",
        "x-auth-roles",
        "x-auth-session-id",
    ];
    let values = names.map(|n| {
        header_str(&resp, n)
            .unwrap_or_else(|| panic!("{n} missing"))
            .to_owned()
    });
    assert!(
        resp.headers().get("www-authenticate").is_none(),
        "a proxy would show a login pop-up"
    );
    let body = resp.bytes().await.expect("verify body");
    assert!(body.is_empty(), "verify answers no body: {body:?}");
    values
}

async fn grant(app: &TestApp, username: &str, role: &str) {
    let out = app.cli(&["user", "grant", username, role]).await;
    assert!(out.contains("granted"), "{out}");
}

db_test!(
    async fn a_live_session_is_answered_with_the_identity_headers_and_no_body(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "laptop").await;
        grant(&app, "alice", "staff").await;
        grant(&app, "alice", "admin").await;
        let session = app.session_for(&token).await.expect("the session is stored");

        let [id, username, email, roles, session_id] =
            identity(verify(&app, Some(&token), "", &[]).await).await;

        assert_eq!(id, alice.id.to_string());
        assert_eq!(username, "alice");
        assert_eq!(email, alice.email);
        assert_eq!(roles, "admin,staff");
        assert_eq!(session_id, session.id.to_string());
    }
);

db_test!(
    async fn no_cookie_an_unknown_one_or_an_ended_session_is_a_401_that_clears_the_cookie(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        assert_eq!(verify(&app, Some(&token), "", &[]).await.status(), StatusCode::OK);
        assert_eq!(app.logout(Some(&token)).await.status(), StatusCode::NO_CONTENT);
        // Well-formed, never issued.
        let unknown = spa_auth::sessions::Token::generate().expect("a token");
        let unknown = unknown.expose().to_owned();

        for (what, token) in [("none", None), ("unknown", Some(unknown.as_str())), ("ended", Some(&token))] {
            let resp = verify(&app, token, "", &[]).await;
            assert!(resp.headers().get("www-authenticate").is_none(), "{what}: a pop-up");
            assert!(resp.headers().get("x-auth-user-id").is_none(), "{what}: an identity");
            let cleared = app.session_set_cookie(&resp).and_then(|c| c.max_age());
            assert_eq!(cleared, Some(0), "{what}: the cookie is not cleared");
            assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        }
    }
);

db_test!(
    async fn a_role_gate_admits_any_of_its_roles_and_a_cli_change_applies_on_the_next_request(db) {
        let app = spawn_app(db).await;
        // A second instance with a warm cache: the change must reach it too.
        let other = Instance::start(&app.test_db.url, &[]).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "laptop").await;
        for _ in 0..3 {
            assert_eq!(verify(&other, Some(&token), "", &[]).await.status(), StatusCode::OK);
        }
        let gate = "?role=admin&role=billing";
        for api in [&app.api, &other.api] {
            assert_error(verify(api, Some(&token), gate, &[]).await, StatusCode::FORBIDDEN, "forbidden")
                .await;
        }

        grant(&app, "alice", "billing").await;
        for api in [&app.api, &other.api] {
            let [.., roles, _] = identity(verify(api, Some(&token), gate, &[]).await).await;
            assert_eq!(roles, "billing");
        }
        // A single role asked for is the same gate.
        assert_error(verify(&other, Some(&token), "?role=admin", &[]).await, StatusCode::FORBIDDEN, "forbidden")
            .await;

        let out = app.cli(&["user", "revoke", "alice", "billing"]).await;
        assert!(out.contains("revoked"), "{out}");
        for api in [&app.api, &other.api] {
            assert_error(verify(api, Some(&token), gate, &[]).await, StatusCode::FORBIDDEN, "forbidden")
                .await;
        }
        // Still logged in: no gate, no refusal.
        assert_eq!(verify(&other, Some(&token), "", &[]).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_cross_site_unsafe_original_request_is_refused_as_spa_auth_refuses_its_own(db) {
        let app = spawn_app_with(db, |args| {
            args.extend(["--trusted-origins", "https://app.example.com"].map(String::from));
        })
        .await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "laptop").await;
        let cross = ("sec-fetch-site", "cross-site");
        let evil = ("origin", "https://evil.example");

        let refused: [&[(&str, &str)]; 4] = [
            &[("x-original-method", "POST"), cross, evil],
            &[("x-forwarded-method", "DELETE"), cross, evil],
            // An old browser without Sec-Fetch-Site: Origin against the host it addressed.
            &[("x-forwarded-method", "PUT"), evil, ("x-forwarded-host", "shop.example.com")],
            &[("x-forwarded-method", "PATCH"), ("sec-fetch-site", "same-site")],
        ];
        for headers in refused {
            let resp = verify(&app, Some(&token), "", headers).await;
            assert_error(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
        }

        let admitted: [&[(&str, &str)]; 5] = [
            // Reading is never a forgery.
            &[("x-forwarded-method", "GET"), cross, evil],
            &[("x-original-method", "POST"), ("sec-fetch-site", "same-origin")],
            &[("x-forwarded-method", "POST"), ("origin", "https://shop.example.com"), ("x-forwarded-host", "shop.example.com")],
            &[("x-forwarded-method", "POST"), cross, ("origin", "https://app.example.com")],
            // Not a browser: nothing to forge with.
            &[("x-forwarded-method", "POST")],
        ];
        for headers in admitted {
            let resp = verify(&app, Some(&token), "", headers).await;
            assert_eq!(resp.status(), StatusCode::OK, "{headers:?}");
        }
    }
);

db_test!(
    async fn identity_values_reach_headers_percent_encoded_never_raw(db) {
        let app = spawn_app(db).await;
        let zoe = app.create_user_with_hash("zoë+tag", None).await;
        // As an imported account may hold it: whatever the old system stored.
        let mut active: entity::user::ActiveModel = zoe.clone().into();
        active.email = Set("o'brien, zoë\r\nX-Auth-Roles: admin@example.com".into());
        active.update(&app.db).await.expect("set the email");
        app.settle().await;
        grant(&app, "zoë+tag", "über").await;
        let token = app.open_session(zoe.id, "laptop").await;

        let [id, username, email, roles, _] =
            identity(verify(&app, Some(&token), "?role=%C3%BCber", &[]).await).await;

        assert_eq!(id, zoe.id.to_string());
        assert_eq!(username, "zo%C3%AB%2Btag");
        assert_eq!(email, "o%27brien%2C%20zo%C3%AB%0D%0AX-Auth-Roles:%20admin@example.com");
        assert_eq!(roles, "%C3%BCber");
    }
);

db_test!(
    async fn an_original_method_that_is_not_a_method_is_a_400_not_a_silent_pass(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "laptop").await;
        for name in ["x-forwarded-method", "x-original-method"] {
            let resp = verify(&app, Some(&token), "", &[(name, "PO ST")]).await;
            assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
        }
    }
);

db_test!(
    async fn a_role_no_user_can_have_is_a_gate_nobody_passes(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        grant(&app, "alice", "admin").await;
        let token = app.open_session(alice.id, "laptop").await;
        // The typo of `?role=admin&role=staff`, and an empty one.
        for gate in ["?role=admin%20staff", "?role=", "?role=admin,staff"] {
            let resp = verify(&app, Some(&token), gate, &[]).await;
            assert_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
        }
        assert_eq!(verify(&app, Some(&token), "?role=admin", &[]).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn verify_slides_the_idle_expiry_and_renews_the_cookie_like_api_me(db) {
        let app = spawn_app_with(db, |args| {
            args.extend(
                ["--session-idle-timeout", "2s", "--session-refresh-interval", "1s"]
                    .map(String::from),
            );
        })
        .await;
        app.create_user("alice", "correct horse battery").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        let start = Instant::now();
        let first = app.session_for(&token).await.expect("stored").expires_at;

        tokio::time::sleep_until((start + Duration::from_millis(1200)).into()).await;
        let resp = verify(&app, Some(&token), "", &[]).await;
        let renewed = app.session_set_cookie(&resp).expect("a renewed cookie");
        assert_eq!(renewed.value, token);
        assert!(renewed.max_age().is_some_and(|s| s > 0), "{}", renewed.raw);
        identity(resp).await;
        let second = app.session_for(&token).await.expect("stored").expires_at;
        assert!(second > first, "the idle deadline did not move");

        // Past the first deadline, alive through forward auth alone.
        tokio::time::sleep_until((start + Duration::from_millis(2400)).into()).await;
        assert_eq!(verify(&app, Some(&token), "", &[]).await.status(), StatusCode::OK);
    }
);
