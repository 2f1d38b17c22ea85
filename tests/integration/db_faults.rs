//! Only an outage is reported as one: a query the database refuses is a bug of ours, a 500
//! `internal`, and neither fakes "database down" (503, `/healthz`) nor stops other requests.

use sea_orm::ConnectionTrait;
use spa_auth_tests::{StatusCode, assert_error, db_test, spawn_app};

db_test!(
    async fn a_refused_query_is_a_500_and_not_an_outage(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let token = app.open_session(alice.id, "test").await;
        // Login's first query now fails with "no such table": not an outage.
        app.db
            .execute_unprepared("ALTER TABLE login_throttle RENAME TO login_throttle_gone")
            .await
            .expect("cannot rename the table");

        let resp = app.login("alice", "correct horse battery").await;
        assert!(resp.headers().get("retry-after").is_none(), "Retry-After on a 500");
        assert_error(resp, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;

        // The database is up, and says so; everything else still works.
        app.settle().await;
        assert_eq!(app.healthz().await.status(), StatusCode::OK);
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
    }
);
