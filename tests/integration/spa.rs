//! Serving a built SPA with `--spa-dir`: index.html for `/` and client routes (revalidated,
//! under a CSP), immutable hashed assets, a 404 for a missing asset, and never index.html
//! for an API path.

use reqwest::Method;
use spa_auth_tests::{
    StatusCode, assert_hygiene, db_test, error_body, header_str, spawn_app, spawn_app_with,
};

use std::time::Duration;

use crate::limits::raw_exchange;

const INDEX: &str = "<!doctype html><html><head><title>spa</title>\
<script type=\"module\" src=\"/assets/app-abc123.js\"></script></head><body></body></html>";
const SCRIPT: &str = "console.log('app-abc123');";

fn build_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app-abc123.js"), SCRIPT).unwrap();
    dir
}

db_test!(
    async fn the_spa_is_served_with_the_right_caching(db) {
        let dir = build_dir();
        let path = dir.path().display().to_string();
        let app = spawn_app_with(db, |args| args.extend(["--spa-dir".to_owned(), path])).await;

        for route in ["/", "/sessions", "/password", "/some/deep/client/route"] {
            let resp = app.send(Method::GET, route, None, &[]).await;
            assert_eq!(resp.status(), StatusCode::OK, "{route}");
            assert_hygiene(&resp, route);
            assert_eq!(header_str(&resp, "cache-control"), Some("no-cache"), "{route}");
            let csp = header_str(&resp, "content-security-policy")
                .unwrap_or_else(|| panic!("{route}: no CSP"))
                .to_owned();
            assert!(csp.contains("default-src 'self'"), "{route}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{route}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{route}: {csp}");
            let ct = header_str(&resp, "content-type").unwrap_or_default().to_owned();
            assert!(ct.starts_with("text/html"), "{route}: {ct}");
            assert_eq!(resp.text().await.unwrap(), INDEX, "{route}");
        }

        let resp = app.send(Method::GET, "/assets/app-abc123.js", None, &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_hygiene(&resp, "asset");
        let cache = header_str(&resp, "cache-control").unwrap_or_default().to_owned();
        assert!(cache.contains("immutable"), "asset Cache-Control: {cache}");
        assert!(cache.contains("max-age=31536000"), "asset Cache-Control: {cache}");
        let ct = header_str(&resp, "content-type").unwrap_or_default().to_owned();
        assert!(ct.contains("javascript"), "asset Content-Type: {ct}");
        assert_eq!(resp.text().await.unwrap(), SCRIPT);

        // A missing asset is a 404, never index.html served as JavaScript, and not cached.
        let resp = app.send(Method::GET, "/assets/app-old999.js", None, &[]).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let cache = header_str(&resp, "cache-control").unwrap_or_default().to_owned();
        assert!(!cache.contains("immutable"), "a 404 cached as immutable: {cache}");
        let body = resp.text().await.unwrap();
        assert!(!body.contains("<!doctype html>"), "index.html for a missing asset");

        // API paths are never the SPA.
        for path in ["/api/unknown", "/api", "/api/auth/nothing", "/api/me/extra"] {
            let resp = app.send(Method::GET, path, None, &[]).await;
            if path.starts_with("/api/") {
                assert_eq!(header_str(&resp, "cache-control"), Some("no-store"), "{path}");
            }
            let (status, code, _) = error_body(resp).await;
            assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "not_found"), "{path}");
        }
        // And the API still works next to it.
        assert_eq!(app.healthz().await.status(), StatusCode::OK);
        assert_eq!(app.me(None).await.status(), StatusCode::UNAUTHORIZED);
        // Nothing outside the directory is served.
        for path in ["/../Cargo.toml", "/assets/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"] {
            let resp = app.send(Method::GET, path, None, &[]).await;
            let status = resp.status();
            let body = resp.text().await.unwrap();
            assert!(!body.contains("root:") && !body.contains("[package]"), "{path}: {body}");
            assert!(!status.is_server_error(), "{path}: {status}");
        }
    }
);

db_test!(
    async fn without_a_spa_dir_the_root_is_a_json_404(db) {
        let app = spawn_app(db).await;
        for path in ["/", "/index.html", "/sessions", "/assets/app-abc123.js"] {
            let resp = app.send(Method::GET, path, None, &[]).await;
            assert_hygiene(&resp, path);
            let (status, code, _) = error_body(resp).await;
            assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "not_found"), "{path}");
        }
    }
);

db_test!(
    async fn nothing_outside_the_directory_or_hidden_in_it_is_served(db) {
        // The SPA directory sits next to a secret; inside it are a dotfile and symlinks out.
        let parent = tempfile::tempdir().unwrap();
        let secret = parent.path().join("secret.txt");
        std::fs::write(&secret, "TOP SECRET").unwrap();
        let spa = parent.path().join("spa");
        std::fs::create_dir(&spa).unwrap();
        std::fs::write(spa.join("index.html"), INDEX).unwrap();
        std::fs::create_dir(spa.join("assets")).unwrap();
        std::fs::write(spa.join("assets/app-abc123.js"), SCRIPT).unwrap();
        std::fs::write(spa.join(".env"), "TOP SECRET").unwrap();
        std::fs::create_dir(spa.join(".well-known")).unwrap();
        std::fs::write(spa.join(".well-known/security.txt"), "Contact: x").unwrap();
        std::os::unix::fs::symlink(&secret, spa.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(parent.path(), spa.join("assets/up")).unwrap();
        let path = spa.display().to_string();
        let spa_dir = path.clone();
        let app = spawn_app_with(db, |args| args.extend(["--spa-dir".to_owned(), spa_dir])).await;

        for refused in [
            "/..%2fsecret.txt",
            "/..%2Fsecret.txt",
            "/%2e%2e/secret.txt",
            "/.env",
            "/assets/.%2e/.env",
            "/leak.txt",
            "/assets/up/secret.txt",
        ] {
            // Sent as is: an HTTP client library would normalise some of these away.
            let head = format!("GET {refused} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let raw = raw_exchange(app.port, &[head.as_bytes()], Duration::ZERO, Duration::from_secs(5))
                .await;
            raw.assert_error(404, "not_found");
            assert!(!raw.body.contains(&path), "{refused}: the answer shows a path: {}", raw.body);
        }
        // What is meant to be served still is: assets, client routes, well-known files.
        let resp = app.send(Method::GET, "/assets/app-abc123.js", None, &[]).await;
        assert_eq!(resp.text().await.unwrap(), SCRIPT);
        let resp = app.send(Method::GET, "/a/client/route", None, &[]).await;
        assert_eq!(resp.text().await.unwrap(), INDEX);
        let resp = app.send(Method::GET, "/.well-known/security.txt", None, &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.text().await.unwrap(), "Contact: x");
    }
);

db_test!(
    async fn the_probes_answer_json_next_to_the_spa_never_its_index(db) {
        let dir = build_dir();
        let path = dir.path().display().to_string();
        let app = spawn_app_with(db, |args| args.extend(["--spa-dir".to_owned(), path])).await;

        for probe in ["/livez", "/readyz", "/healthz"] {
            // Ready once the watcher has polled; either way, the API answers, not the SPA.
            let resp = app.send(Method::GET, probe, None, &[]).await;
            let ct = header_str(&resp, "content-type").unwrap_or_default().to_owned();
            assert!(ct.starts_with("application/json"), "{probe}: {ct}");
            let body = resp.text().await.unwrap();
            assert!(!body.contains("<!doctype html>"), "{probe} served index.html");
            assert!(body.contains("\"status\":\"ok\"") || body.contains("unavailable"), "{probe}: {body}");
        }
    }
);
