//! What a team gets from putting its API behind spa-auth's forward auth, through each proxy:
//! the caller's identity, refusals with spa-auth's own JSON errors, no forged identity, CSRF
//! defence, role gates and logout that hold on the very next request, and no way through while
//! spa-auth is down.

use std::time::Duration;

use reqwest::Method;
use spa_auth_tests::{StatusCode, assert_error, set_cookies};

use crate::harness::{PASSWORD, Stack, percent_decoded};

proxy_test!(
    async fn a_logged_in_request_reaches_the_api_with_the_callers_identity(proxy, db) {
        let s = Stack::start(proxy, db).await;
        let token = s.logged_in("zoë").await;
        s.app.cli(&["user", "grant", "zoë", "billing"]).await;
        s.app.cli(&["user", "grant", "zoë", "auditor"]).await;

        let resp = s.via.send(Method::GET, "/api/orders/42?page=2", Some(&token), &[]).await;

        assert_eq!(resp.status(), StatusCode::OK, "{}", s.proxy.logs());
        let zoe = s.app.user("zoë").await;
        let session = s.app.session_for(&token).await.expect("the session is stored");
        let got = s.api.only();
        assert_eq!((got.method.as_str(), got.path.as_str()), ("GET", "/api/orders/42?page=2"));
        assert_eq!(got.header("x-auth-user-id"), Some(zoe.id.to_string().as_str()));
        // Header values are ASCII: spa-auth percent-encodes the rest as UTF-8.
        assert_eq!(got.header("x-auth-username"), Some("zo%C3%AB"));
        let email = got.header("x-auth-email").map(percent_decoded);
        assert_eq!(email.as_deref(), Some("zoë@example.com"));
        assert_eq!(got.header("x-auth-roles"), Some("auditor,billing"));
        assert_eq!(got.header("x-auth-session-id"), Some(session.id.to_string().as_str()));
    }
);

proxy_test!(
    async fn an_anonymous_request_gets_the_json_401_and_never_reaches_the_api(proxy, db) {
        let s = Stack::start(proxy, db).await;

        for method in [Method::GET, Method::POST] {
            let resp = s.via.send(method, "/api/orders/1", None, &[]).await;
            assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        }
        // A cookie that names no session: the proxy relays spa-auth's clearing Set-Cookie too.
        let resp = s.via.send(Method::GET, "/api/orders/1", Some("no-such-session"), &[]).await;
        let cookies = set_cookies(&resp);
        let cleared: Vec<_> = cookies.iter().map(|c| (c.name.as_str(), c.max_age())).collect();
        assert_eq!(cleared, [(s.via.cookie_name.as_str(), Some(0))], "{cookies:?}");
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;

        assert!(s.api.received().is_empty(), "{:#?}", s.api.received());
    }
);

proxy_test!(
    async fn identity_headers_sent_by_the_client_never_reach_the_api(proxy, db) {
        let s = Stack::start(proxy, db).await;
        // No email: spa-auth's X-Auth-Email is empty, the case where a proxy that only copies
        // non-empty values would let the client's own header through.
        let alice = s.create_user_without_email("alice").await;
        let token = s.via.login_ok("alice", PASSWORD).await;
        let bob = s.app.create_user("bob", PASSWORD).await;
        let bobs_session = s.app.open_session(bob.id, "bob's laptop").await;
        let bobs_session = s.app.session_for(&bobs_session).await.expect("bob's session");
        s.app.cli(&["user", "grant", "bob", "admin"]).await;
        let (bob_id, bob_session_id) = (bob.id.to_string(), bobs_session.id.to_string());
        let forged = [
            ("x-auth-user-id", bob_id.as_str()),
            ("x-auth-username", "bob"),
            ("x-auth-email", "bob@example.com"),
            ("x-auth-roles", "admin"),
            ("x-auth-session-id", bob_session_id.as_str()),
        ];

        let resp = s.via.send(Method::GET, "/api/orders/1", Some(&token), &forged).await;

        assert_eq!(resp.status(), StatusCode::OK, "{}", s.proxy.logs());
        let got = s.api.only();
        assert_eq!(got.header("x-auth-user-id"), Some(alice.id.to_string().as_str()));
        assert_eq!(got.header("x-auth-username"), Some("alice"));
        // Absent or empty both say "no email"; the client's value must not be there.
        assert_eq!(got.header("x-auth-email").unwrap_or(""), "", "{got:#?}");
        assert_eq!(got.header("x-auth-roles").unwrap_or(""), "", "{got:#?}");
        let session = s.app.session_for(&token).await.expect("alice's session");
        assert_eq!(got.header("x-auth-session-id"), Some(session.id.to_string().as_str()));
    }
);

proxy_test!(
    async fn a_cross_site_post_is_refused_while_a_same_origin_one_passes(proxy, db) {
        let s = Stack::start(proxy, db).await;
        let token = s.logged_in("alice").await;
        // What a browser sends for a form or fetch from another site, plus the client's claim
        // that the method was a safe one: only the proxy may say what the method was.
        let cross_site = [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
            ("x-forwarded-method", "GET"),
            ("x-original-method", "GET"),
        ];
        for method in [Method::POST, Method::DELETE] {
            let resp = s.via.send(method, "/api/orders/1", Some(&token), &cross_site).await;
            assert_error(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
        }
        assert!(s.api.received().is_empty(), "{:#?}", s.api.received());

        // An older browser sends Origin alone: spa-auth compares it with the Host the proxy
        // passed on, so this passes only if the proxy forwarded the client's Host.
        let origin = s.origin();
        let order = serde_json::json!({"item": "tea"});
        let same_origin = [("origin", origin.as_str())];
        let resp = s
            .via
            .send_body(Method::POST, "/api/orders", Some(&order), Some(&token), &same_origin)
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{}", s.proxy.logs());
        assert_eq!(s.api.only().method, "POST");
    }
);

proxy_test!(
    async fn a_role_gated_location_follows_grant_and_revoke_on_the_next_request(proxy, db) {
        let s = Stack::start(proxy, db).await;
        let token = s.logged_in("alice").await;
        let admin = |token| s.via.send(Method::GET, "/api/admin/reports", Some(token), &[]);

        assert_error(admin(&token).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(s.api.received().is_empty(), "{:#?}", s.api.received());

        s.app.cli(&["user", "grant", "alice", "admin"]).await;
        assert_eq!(admin(&token).await.status(), StatusCode::OK, "{}", s.proxy.logs());
        assert_eq!(s.api.only().header("x-auth-roles"), Some("admin"));

        s.app.cli(&["user", "revoke", "alice", "admin"]).await;
        assert_error(admin(&token).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(s.api.received().len(), 1);
        // The ungated location stays open to her.
        let resp = s.via.send(Method::GET, "/api/orders/1", Some(&token), &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
);

proxy_test!(
    async fn after_logout_the_next_proxied_request_is_401(proxy, db) {
        let s = Stack::start(proxy, db).await;
        let token = s.logged_in("alice").await;
        let orders = || s.via.send(Method::GET, "/api/orders/1", Some(&token), &[]);
        assert_eq!(orders().await.status(), StatusCode::OK, "{}", s.proxy.logs());

        let resp = s.via.logout(Some(&token)).await;
        assert!(resp.status().is_success(), "logout: {}", resp.status());

        assert_error(orders().await, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        assert_eq!(s.api.received().len(), 1);
    }
);

proxy_test!(
    async fn with_spa_auth_down_the_proxy_fails_closed(proxy, db) {
        let mut s = Stack::start(proxy, db).await;
        let token = s.logged_in("alice").await;

        s.app.trigger_shutdown();
        s.app
            .wait_stopped(Duration::from_secs(15))
            .await
            .expect("spa-auth stops");

        // What deploy/README.md promises: nginx's auth_request fails with a 500, Caddy's
        // forward_auth with a 502 (Bad Gateway).
        let expected = match proxy {
            Kind::Nginx => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::Caddy => StatusCode::BAD_GATEWAY,
        };
        for method in [Method::GET, Method::POST] {
            let resp = s.via.send(method.clone(), "/api/orders/1", Some(&token), &[]).await;
            assert_eq!(resp.status(), expected, "{method} with spa-auth down");
        }
        assert!(s.api.received().is_empty(), "{:#?}", s.api.received());
    }
);

proxy_test!(
    async fn a_request_that_slides_the_session_renews_the_browsers_cookie(proxy, db) {
        let s = Stack::start_with(proxy, db, |args| {
            args.extend(["--session-refresh-interval", "1s"].map(String::from));
        })
        .await;
        let token = s.logged_in("alice").await;
        let first_deadline = s.app.session_for(&token).await.expect("session").expires_at;
        let orders = || s.via.send(Method::GET, "/api/orders/1", Some(&token), &[]);

        // Within the refresh interval nothing slides, and no cookie is sent.
        let resp = orders().await;
        assert_eq!(resp.status(), StatusCode::OK, "{}", s.proxy.logs());
        let cookies = resp.headers().get_all("set-cookie").iter().count();
        assert_eq!(cookies, 0, "{:?}", resp.headers());

        // Past it: this request moves the idle deadline, and the browser must learn it.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let resp = orders().await;

        assert_eq!(resp.status(), StatusCode::OK, "{}", s.proxy.logs());
        let renewed = s.via.session_set_cookie(&resp).expect("no renewed cookie");
        assert_eq!(renewed.value, token);
        assert!(renewed.has("HttpOnly") && renewed.has("Secure"), "{}", renewed.raw);
        let deadline = s.app.session_for(&token).await.expect("session").expires_at;
        assert!(deadline > first_deadline, "the idle deadline did not move");
        // What carried the cookie through Caddy stays between the proxy and spa-auth.
        let got = s.api.received();
        assert!(got.iter().all(|r| r.all("x-spa-auth-renewed").is_empty()), "{got:#?}");
        assert_eq!(got.len(), 2);
    }
);

proxy_test!(
    async fn the_role_gate_holds_however_the_path_is_spelled(proxy, db) {
        let s = Stack::start(proxy, db).await;
        let token = s.logged_in("alice").await;
        // Spellings that a proxy matching the raw path would not see as /api/admin, while an
        // API that decodes and normalises it would. (nginx answers the upper-case one from
        // spa-auth, 404; Caddy matches paths ignoring case, 403.)
        for path in [
            "/api/%61dmin/reports",
            "/API/ADMIN/reports",
            "/api/orders/..%2Fadmin/reports",
            "/api/orders/%2E%2E/admin/reports",
            "//api/admin/reports",
            "/api/admin%2Freports",
            "/api/./admin/reports",
        ] {
            let resp = s.via.send(Method::GET, path, Some(&token), &[]).await;
            let status = resp.status();
            assert!(
                matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{path}: {status}"
            );
            assert!(s.api.received().is_empty(), "{path}: {:#?}", s.api.received());
        }
    }
);
