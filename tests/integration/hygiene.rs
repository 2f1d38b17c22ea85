//! Headers every response carries, `no-store` on the API, and JSON errors for whatever poem
//! itself would answer in plain text (unknown paths, wrong methods).

use reqwest::Method;
use spa_auth_tests::{
    StatusCode, assert_hygiene, db_test, error_body, header, header_str, spawn_app, spawn_app_with,
};

fn spa_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>app</title>",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app-abc123.js"), "console.log(1)").unwrap();
    dir
}

db_test!(
    async fn every_response_carries_the_hygiene_headers(db) {
        let dir = spa_dir();
        let path = dir.path().display().to_string();
        let app = spawn_app_with(db, |args| {
            args.extend(["--spa-dir".to_owned(), path]);
        })
        .await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "browser").await;

        type Case<'a> = (Method, &'a str, Option<&'a str>, Vec<(&'a str, &'a str)>, u16);
        let cases: Vec<Case> = vec![
            (Method::GET, "/healthz", None, vec![], 200),
            (Method::GET, "/api/me", Some(&token), vec![], 200),
            (Method::GET, "/api/auth/sessions", Some(&token), vec![], 200),
            (Method::GET, "/api/me", None, vec![], 401),
            (Method::POST, "/api/auth/login", None, vec![], 401),
            (Method::POST, "/api/auth/login", None, vec![("authorization", "Bearer x")], 400),
            (
                Method::POST,
                "/api/auth/logout",
                Some(&token),
                vec![("sec-fetch-site", "cross-site")],
                403,
            ),
            (Method::GET, "/api/unknown", None, vec![], 404),
            (Method::GET, "/api", None, vec![], 404),
            (Method::GET, "/api/auth/login", None, vec![], 405),
            (Method::PUT, "/api/me", Some(&token), vec![], 405),
            (Method::GET, "/", None, vec![], 200),
            (Method::GET, "/sessions", None, vec![], 200),
            (Method::GET, "/assets/app-abc123.js", None, vec![], 200),
            (Method::GET, "/assets/missing-000.js", None, vec![], 404),
            (Method::GET, "/openapi.json", None, vec![], 200),
        ];
        for (method, path, tok, headers, status) in cases {
            let what = format!("{method} {path}");
            let resp = app.send(method.clone(), path, tok, &headers).await;
            assert_eq!(resp.status().as_u16(), status, "{what}");
            assert_hygiene(&resp, &what);
            if path.starts_with("/api/") {
                assert_eq!(header_str(&resp, "cache-control"), Some("no-store"), "{what}");
            }
        }
        // The API's own headers are not dropped by the error path.
        let resp = app.send(Method::POST, "/api/auth/logout", Some(&token), &[]).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_hygiene(&resp, "logout");
        assert_eq!(header_str(&resp, "cache-control"), Some("no-store"));
    }
);

db_test!(
    async fn unknown_paths_and_wrong_methods_are_json_errors(db) {
        let app = spawn_app(db).await;

        for path in ["/api/unknown", "/api/auth", "/nowhere", "/", "/api/auth/sessions/x/y"] {
            let resp = app.send(Method::GET, path, None, &[]).await;
            assert_hygiene(&resp, path);
            let (status, code, _) = error_body(resp).await;
            assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "not_found"), "{path}");
        }

        for (method, path, allow) in [
            (Method::GET, "/api/auth/login", vec!["POST"]),
            (Method::DELETE, "/api/auth/login", vec!["POST"]),
            (Method::PUT, "/api/me", vec!["GET", "HEAD"]),
            (Method::POST, "/api/me", vec!["GET", "HEAD"]),
            (Method::GET, "/api/auth/logout", vec!["POST"]),
            (Method::GET, "/api/auth/password", vec!["POST"]),
            (Method::PATCH, "/api/auth/sessions", vec!["GET", "HEAD", "DELETE"]),
            (Method::GET, "/api/auth/sessions/00000000-0000-0000-0000-000000000000", vec!["DELETE"]),
            (Method::POST, "/healthz", vec!["GET", "HEAD"]),
        ] {
            let what = format!("{method} {path}");
            let resp = app.send(method.clone(), path, None, &[]).await;
            let got_allow = header_str(&resp, "allow")
                .unwrap_or_else(|| panic!("{what}: 405 without Allow"))
                .to_owned();
            let mut got: Vec<&str> = got_allow.split(',').map(str::trim).collect();
            got.sort();
            let mut want = allow.clone();
            want.sort();
            assert_eq!(got, want, "{what}: Allow {got_allow:?}");
            if path.starts_with("/api/") {
                assert_eq!(header_str(&resp, "cache-control"), Some("no-store"), "{what}");
            }
            assert_hygiene(&resp, &what);
            let (status, code, _) = error_body(resp).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
                "{what}"
            );
        }

        // Unauthenticated and malformed: JSON, never a browser prompt.
        let resp = app.me(None).await;
        assert!(resp.headers().get(header::WWW_AUTHENTICATE).is_none());
        let (status, code, _) = error_body(resp).await;
        assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "not_authenticated"));
    }
);

db_test!(
    async fn the_served_spec_is_byte_for_byte_the_committed_file(db) {
        let app = spawn_app(db).await;
        let resp = app.send(Method::GET, "/openapi.json", None, &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let served = resp.text().await.expect("a body");
        // Not assert_eq!: a failure would print two 200 KB documents.
        assert!(
            served == include_str!("../../openapi/openapi.json"),
            "/openapi.json differs from openapi/openapi.json ({} bytes served, {} committed)",
            served.len(),
            include_str!("../../openapi/openapi.json").len()
        );
    }
);
