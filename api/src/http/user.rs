//! The user as the API shows it.

use chrono::{DateTime, Utc};
use entity::user;
use poem_openapi::{Object, types::Example};
use uuid::Uuid;

/// A user as the API shows it.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[oai(example)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    /// Whether the user proved they receive mail at `email`.
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub date_joined: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::json::rfc3339_opt")]
    pub last_login: Option<DateTime<Utc>>,
    /// Permission names; a change applies to the very next request of every session.
    pub roles: Vec<String>,
}

impl Example for User {
    fn example() -> Self {
        User {
            id: Uuid::nil(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            first_name: "Alice".into(),
            last_name: "Liddell".into(),
            date_joined: DateTime::UNIX_EPOCH,
            last_login: Some(DateTime::UNIX_EPOCH),
            roles: vec!["staff".into()],
        }
    }
}

impl From<&user::Model> for User {
    fn from(m: &user::Model) -> Self {
        User {
            id: m.id,
            username: m.username.clone(),
            email_verified: m.email_verified_at.is_some(),
            email: m.email.clone(),
            first_name: m.first_name.clone(),
            last_name: m.last_name.clone(),
            date_joined: m.date_joined,
            last_login: m.last_login,
            roles: m.roles.0.clone(),
        }
    }
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        User::from(&m)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::http::json::tests::same_json_as_poem_openapi;

    #[tokio::test]
    async fn a_user_reads_the_same_as_poem_openapi_writes_it() {
        same_json_as_poem_openapi(User::example()).await;
        same_json_as_poem_openapi(User {
            username: "zo\u{eb} \"the\" <admin>\n\t\u{1}".into(),
            first_name: String::new(),
            date_joined: Utc.timestamp_opt(1_764_509_065, 435_072_001).unwrap(),
            last_login: None,
            roles: vec![],
            ..User::example()
        })
        .await;
    }
}
