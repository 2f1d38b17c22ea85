//! "Remember me": `POST /api/auth/login?remember=false` opens a session whose cookie dies with
//! the browser (no `Max-Age`) and which idles out after the short idle timeout; without the
//! parameter a login is remembered, as it always was.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::{ConnectionTrait, sea_query::Query};
use spa_auth::{server::Application, sessions::Token};
use spa_auth_tests::{
    DEFAULT_COOKIE_NAME, FOURTEEN_DAYS, Response, SetCookie, StatusCode, TestApp, TestDb,
    assert_error, base_args, command, db_test, parse_settings, spawn_app, spawn_app_with,
};

const PASSWORD: &str = "correct horse battery";

const TWELVE_HOURS: i64 = 12 * 60 * 60;

/// `POST /api/auth/login` + `query` as alice.
async fn login(app: &TestApp, query: &str) -> Response {
    login_as(app, "alice", query).await
}

async fn login_as(app: &TestApp, username: &str, query: &str) -> Response {
    app.client
        .post(app.url(&format!("/api/auth/login{query}")))
        .basic_auth(username, Some(PASSWORD))
        .send()
        .await
        .expect("login request failed")
}

/// Logs alice in with `query`, checks it worked and returns the session's `Set-Cookie`.
async fn login_ok(app: &TestApp, query: &str) -> SetCookie {
    login_ok_as(app, "alice", query).await
}

async fn login_ok_as(app: &TestApp, username: &str, query: &str) -> SetCookie {
    let resp = login_as(app, username, query).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "login{query} of {username} failed"
    );
    app.session_set_cookie(&resp).expect("no session cookie")
}

/// The session cookie with every attribute but a lifetime: the browser drops it when it
/// closes, and nothing else about it is weaker than a remembered one.
fn assert_browser_session_cookie(cookie: &SetCookie) {
    assert_eq!(cookie.name, DEFAULT_COOKIE_NAME, "{}", cookie.raw);
    assert!(!cookie.value.is_empty(), "{}", cookie.raw);
    assert!(!cookie.has("Max-Age"), "a lifetime: {}", cookie.raw);
    assert!(!cookie.has("Expires"), "a lifetime: {}", cookie.raw);
    assert!(
        cookie.has("HttpOnly") && cookie.has("Secure"),
        "{}",
        cookie.raw
    );
    assert_eq!(cookie.attr("Path"), Some("/"), "{}", cookie.raw);
    assert_eq!(cookie.attr("SameSite"), Some("Lax"), "{}", cookie.raw);
    assert!(!cookie.has("Domain"), "{}", cookie.raw);
}

/// The current session as `GET /api/auth/sessions` shows it.
async fn listed(app: &TestApp, token: &str) -> serde_json::Value {
    let resp = app
        .send(reqwest::Method::GET, "/api/auth/sessions", Some(token), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let list: Vec<serde_json::Value> = resp.json().await.expect("the list is not JSON");
    list.into_iter()
        .find(|s| s["current"] == true)
        .expect("the current session is not listed")
}

fn at(session: &serde_json::Value, field: &str) -> DateTime<Utc> {
    let text = session[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {session}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{field} is not RFC 3339 ({e}): {session}"))
        .to_utc()
}

/// Idle 10 s, short idle 2 s, absolute 20 s, refresh 1 s: a session without remember-me
/// idles out long before a remembered one, and neither reaches the absolute limit.
async fn short_idle(db: spa_auth_tests::Db) -> TestApp {
    let app = spawn_app_with(db, |args| {
        args.extend(
            [
                "--session-idle-timeout",
                "10s",
                "--session-idle-timeout-short",
                "2s",
                "--session-absolute-timeout",
                "20s",
                "--session-refresh-interval",
                "1s",
            ]
            .map(String::from),
        );
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    app
}

async fn at_ms(start: Instant, ms: u64) {
    tokio::time::sleep_until((start + Duration::from_millis(ms)).into()).await;
}

db_test!(
    async fn a_login_is_remembered_unless_asked_otherwise(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;

        for query in ["", "?remember=true"] {
            let cookie = login_ok(&app, query).await;

            let max_age = cookie.max_age().expect("no Max-Age");
            assert!(
                (FOURTEEN_DAYS - 5..=FOURTEEN_DAYS).contains(&max_age),
                "login{query}: Max-Age {max_age} is not the 14-day idle timeout"
            );
            let session = listed(&app, &cookie.value).await;
            assert_eq!(session["persistent"], true, "login{query}: {session}");
            let idle = at(&session, "expires_at") - at(&session, "created_at");
            assert_eq!(idle.num_seconds(), FOURTEEN_DAYS, "login{query}: {session}");
        }
    }
);

db_test!(
    async fn without_remember_me_the_cookie_dies_with_the_browser_and_idles_out_after_12_hours(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;

        let cookie = login_ok(&app, "?remember=false").await;

        assert_browser_session_cookie(&cookie);
        let session = listed(&app, &cookie.value).await;
        assert_eq!(session["persistent"], false, "{session}");
        let idle = at(&session, "expires_at") - at(&session, "created_at");
        assert_eq!(idle.num_seconds(), TWELVE_HOURS, "{session}");
        // The absolute limit is the same for both kinds.
        let row = app.session_for(&cookie.value).await.expect("stored");
        assert!(!row.persistent);
        let absolute = row.absolute_expires_at - row.created_at;
        assert_eq!(absolute.num_days(), 30, "absolute limit: {row:?}");
    }
);

db_test!(
    async fn sliding_keeps_a_browser_session_cookie_and_the_short_idle_limit(db) {
        let app = short_idle(db).await;
        let token = login_ok(&app, "?remember=false").await.value;
        let start = Instant::now();

        // Past the refresh interval: /api/me slides the idle deadline by the short limit.
        at_ms(start, 1200).await;
        let resp = app.me(Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let renewed = app.session_set_cookie(&resp).expect("the slid session's cookie");
        assert_eq!(renewed.value, token, "renewal keeps the token");
        assert_browser_session_cookie(&renewed);
        let row = app.session_for(&token).await.expect("stored");
        assert!(row.last_seen_at > row.created_at, "the session did not slide");
        assert_eq!((row.expires_at - row.last_seen_at).num_seconds(), 2, "{row:?}");

        // Past the first deadline, alive thanks to the use above; forward auth slides it
        // the same way.
        at_ms(start, 2400).await;
        let resp = app
            .send(reqwest::Method::GET, "/api/auth/verify", Some(&token), &[])
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "the used session expired");
        let renewed = app.session_set_cookie(&resp).expect("the slid session's cookie");
        assert_browser_session_cookie(&renewed);
        let row = app.session_for(&token).await.expect("stored");
        assert_eq!((row.expires_at - row.last_seen_at).num_seconds(), 2, "{row:?}");
    }
);

db_test!(
    async fn a_session_without_remember_me_past_its_short_idle_limit_is_refused(db) {
        let app = short_idle(db).await;
        let remembered = login_ok(&app, "").await.value;
        let forgotten = login_ok(&app, "?remember=false").await.value;

        // Past the short limit (2 s), within the normal one (10 s).
        tokio::time::sleep(Duration::from_millis(2300)).await;

        let resp = app.me(Some(&forgotten)).await;
        let cleared = app.session_set_cookie(&resp).and_then(|c| c.max_age());
        assert_eq!(cleared, Some(0), "the dead cookie is not cleared");
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        assert_eq!(app.me(Some(&remembered)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_password_change_keeps_whether_the_session_is_remembered(db) {
        let app = spawn_app(db).await;

        let cases = [("alice", "?remember=false", false), ("bob", "", true)];
        for (username, query, persistent) in cases {
            app.create_user(username, PASSWORD).await;
            let token = login_ok_as(&app, username, query).await.value;

            let resp = app.change_password(&token, PASSWORD, "a brand new secret", &[]).await;

            assert_eq!(resp.status(), StatusCode::NO_CONTENT);
            let cookie = app.session_set_cookie(&resp).expect("no rotated cookie");
            assert_ne!(cookie.value, token, "the token was not rotated");
            match persistent {
                false => assert_browser_session_cookie(&cookie),
                true => assert!(
                    cookie.max_age().is_some_and(|s| s > FOURTEEN_DAYS - 5),
                    "{}",
                    cookie.raw
                ),
            }
            let session = listed(&app, &cookie.value).await;
            assert_eq!(session["persistent"], persistent, "login{query}: {session}");
            let idle = at(&session, "expires_at") - at(&session, "created_at");
            let expected = if persistent { FOURTEEN_DAYS } else { TWELVE_HOURS };
            assert_eq!(idle.num_seconds(), expected, "login{query}: {session}");
        }
    }
);

db_test!(
    async fn a_session_stored_without_the_column_as_before_the_upgrade_is_remembered(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", PASSWORD).await;
        let token = Token::generate().expect("no random bytes");
        let now = Utc::now();
        // Last seen two hours ago, past the refresh interval: the next request slides it.
        let seen = now - chrono::Duration::hours(2);
        // What an instance of the previous version inserts, still running during a rolling
        // upgrade: every column but `persistent`.
        use session::Column as C;
        let insert = Query::insert()
            .into_table(session::Entity)
            .columns([
                C::Id,
                C::TokenHash,
                C::UserId,
                C::CreatedAt,
                C::LastSeenAt,
                C::ExpiresAt,
                C::AbsoluteExpiresAt,
            ])
            .values_panic([
                uuid::Uuid::new_v4().into(),
                token.hash().into(),
                alice.id.into(),
                seen.into(),
                seen.into(),
                (now + chrono::Duration::days(1)).into(),
                (now + chrono::Duration::days(29)).into(),
            ])
            .to_owned();
        app.db.execute(&insert).await.expect("cannot insert the old session");

        let resp = app.me(Some(token.expose())).await;

        assert_eq!(resp.status(), StatusCode::OK);
        let renewed = app.session_set_cookie(&resp).expect("the slid session's cookie");
        let max_age = renewed.max_age().expect("a remembered session's cookie has a Max-Age");
        assert!(
            (FOURTEEN_DAYS - 5..=FOURTEEN_DAYS).contains(&max_age),
            "Max-Age {max_age} is not the 14-day idle timeout"
        );
        assert_eq!(listed(&app, token.expose()).await["persistent"], true);
    }
);

db_test!(
    async fn a_remember_value_that_is_not_a_boolean_is_a_json_400_and_opens_no_session(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", PASSWORD).await;

        for query in ["?remember=banana", "?remember=1", "?remember="] {
            let resp = login(&app, query).await;

            assert!(app.session_cookie(&resp).is_none(), "login{query} set a cookie");
            assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
        }
        assert!(app.sessions().await.is_empty(), "a session was opened");
    }
);

db_test!(
    async fn a_short_idle_timeout_that_contradicts_the_other_lifetimes_is_refused_at_startup(db) {
        let test_db = TestDb::create(db).await;
        // Longer than the idle timeout (14 days, then 1 h), zero, not above the refresh interval.
        let refused: [&[&str]; 4] = [
            &["--session-idle-timeout-short", "15days"],
            &[
                "--session-idle-timeout",
                "1h",
                "--session-refresh-interval",
                "1m",
                "--session-idle-timeout-short",
                "2h",
            ],
            &["--session-idle-timeout-short", "0s"],
            &["--session-idle-timeout-short", "30m", "--session-refresh-interval", "30m"],
        ];
        for extra in refused {
            let mut args = base_args(&test_db.url);
            args.extend(extra.iter().map(|s| s.to_string()));
            match Application::build(&parse_settings(&args)).await {
                Ok(_) => panic!("started with {extra:?}"),
                Err(e) => assert!(
                    e.to_string().contains("SPA_AUTH_SESSION_IDLE_TIMEOUT_SHORT"),
                    "{extra:?}: the error does not name the setting: {e}"
                ),
            }
        }
        // Unset, it follows an idle timeout shorter than 12 h; set, it may equal it.
        let accepted: [&[&str]; 2] = [
            &["--session-idle-timeout", "30m", "--session-refresh-interval", "1m"],
            &[
                "--session-idle-timeout",
                "30m",
                "--session-refresh-interval",
                "1m",
                "--session-idle-timeout-short",
                "30m",
            ],
        ];
        for extra in accepted {
            let mut args = base_args(&test_db.url);
            args.extend(extra.iter().map(|s| s.to_string()));
            if let Err(e) = Application::build(&parse_settings(&args)).await {
                panic!("refused {extra:?}: {e}");
            }
        }

        // The variable, as the binary reads it.
        let out = command()
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &test_db.url])
            .env("SPA_AUTH_SESSION_IDLE_TIMEOUT_SHORT", "15days")
            .output()
            .expect("cannot run spa-auth");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "spa-auth serve started: {stderr}");
        assert!(stderr.contains("SPA_AUTH_SESSION_IDLE_TIMEOUT_SHORT"), "{stderr}");
    }
);
