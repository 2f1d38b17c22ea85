//! Helpers shared by the account-security tests (csrf, throttling, account, roles, races,
//! control characters). What any Rust test may use lives in the harness (`tests/src`).

use reqwest::Method;
use spa_auth_tests::{Api, Response, StatusCode, TestApp};

/// `POST /api/auth/password` with the given session and JSON body.
pub async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
    headers: &[(&str, &str)],
) -> Response {
    let body = serde_json::json!({"current_password": current, "new_password": new});
    app.send_body(
        Method::POST,
        "/api/auth/password",
        Some(token),
        headers,
        Some(&body),
    )
    .await
}

/// `GET /api/me` and the user's roles, asserting 200, on the test app or another instance.
pub async fn roles_of(app: &Api, token: &str) -> Vec<String> {
    let resp = app.me(Some(token)).await;
    assert_eq!(resp.status(), StatusCode::OK, "GET /api/me");
    let body: serde_json::Value = resp.json().await.expect("me body");
    body["roles"]
        .as_array()
        .expect("roles is an array")
        .iter()
        .map(|r| r.as_str().expect("role is a string").to_owned())
        .collect()
}
