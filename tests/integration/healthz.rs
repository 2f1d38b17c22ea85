//! `GET /healthz`, and the probes `GET /livez` and `GET /readyz`.

use std::time::Duration;

use reqwest::Method;
use sea_orm::{ConnectionTrait, Database};
use spa_auth_tests::{
    Api, Background, Db, StatusCode, db_test, header, host_settings, spawn_app, spawn_app_with,
    spawn_host,
};

db_test!(
    async fn healthz_is_ok_while_the_database_answers(db) {
        let app = spawn_app(db).await;

        let resp = app.healthz().await;

        assert_eq!(resp.status(), StatusCode::OK);
        let content_type = resp.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap();
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"status": "ok"}));
    }
);

/// Asks `path` until it answers `want` (the watcher polls in the background), at most 10 s;
/// returns the last answer's JSON body.
async fn until(api: &Api, path: &str, want: StatusCode) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let resp = api.send(Method::GET, path, None, &[]).await;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if status == want {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} still answers {status} {body}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

db_test!(
    async fn livez_and_readyz_are_ok_once_the_watcher_has_polled(db) {
        let app = spawn_app(db).await;

        let body = until(&app, "/readyz", StatusCode::OK).await;
        assert_eq!(body, serde_json::json!({"status": "ok"}));
        let resp = app.send(Method::GET, "/livez", None, &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"status": "ok"}));
    }
);

db_test!(
    async fn readyz_is_503_in_a_host_that_never_runs_the_watcher(db) {
        let forgot = spawn_host(db, host_settings(), Background::Forgotten, |spa| spa.api()).await;
        let runs = spawn_host(db, host_settings(), Background::Run, |spa| spa.api()).await;

        // Given the watcher the time to poll, in the host that runs it.
        until(&runs, "/readyz", StatusCode::OK).await;
        let resp = forgot.send(Method::GET, "/readyz", None, &[]).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(spa_auth_tests::header_str(&resp, "retry-after"), Some("1"));
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "unavailable");
        assert!(body["message"].as_str().unwrap().contains("watcher"), "{body}");
        // Alive all the same: restarting would not help.
        let resp = forgot.send(Method::GET, "/livez", None, &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
);

/// PostgreSQL stops answering the service: its connections ended and new ones refused, for
/// as long as the returned guard is held.
async fn stop_postgres(url: &str) -> impl Drop {
    let name = url.rsplit('/').next().unwrap().to_owned();
    let admin = Database::connect(spa_auth_tests::test_pg()).await.unwrap();
    for sql in [
        format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    ] {
        admin.execute_unprepared(&sql).await.unwrap();
    }
    Restart { admin, name }
}

struct Restart {
    admin: sea_orm::DatabaseConnection,
    name: String,
}

impl Drop for Restart {
    fn drop(&mut self) {
        let (admin, sql) = (
            self.admin.clone(),
            format!("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true", self.name),
        );
        // Drop cannot await: on a thread of its own, so that the runtime is not blocked.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(admin.execute_unprepared(&sql)).unwrap();
        })
        .join()
        .unwrap();
    }
}

/// A service on PostgreSQL that gives up on the database quickly, once ready.
async fn ready_on_postgres() -> spa_auth_tests::TestApp {
    let app = spawn_app_with(Db::Postgres, |args| {
        args.extend(["--db-timeout", "500ms"].map(String::from));
    })
    .await;
    until(&app, "/readyz", StatusCode::OK).await;
    app
}

/// On PostgreSQL only: a SQLite file on this machine cannot be made to stop answering while
/// the service holds it open (in WAL mode every open connection keeps a shared lock on the
/// file, so no one can take it away, and readers wait for no writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_database_is_down_and_200_once_it_is_back() {
    let app = ready_on_postgres().await;

    let outage = stop_postgres(&app.test_db.url).await;

    let body = until(&app, "/readyz", StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["code"], "unavailable");
    assert!(
        body["message"].as_str().unwrap().contains("database"),
        "{body}"
    );
    assert_eq!(
        app.healthz().await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    drop(outage);
    until(&app, "/readyz", StatusCode::OK).await;
}

/// A database outage is not cured by a restart: liveness must not fail with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livez_stays_200_while_the_database_is_down() {
    let app = ready_on_postgres().await;

    let outage = stop_postgres(&app.test_db.url).await;
    until(&app, "/healthz", StatusCode::SERVICE_UNAVAILABLE).await;

    let resp = app.send(Method::GET, "/livez", None, &[]).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a database outage fails liveness"
    );
    let body: serde_json::Value = app
        .send(Method::GET, "/readyz", None, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["message"], "not ready: the database does not answer");
    drop(outage);
}
