//! `GET /healthz`.

use spa_auth_tests::{StatusCode, db_test, header, spawn_app};

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
