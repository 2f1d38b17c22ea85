//! The user as the API shows it.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use entity::user;
use poem_openapi::{Object, types::Example};
use uuid::Uuid;

use crate::http::json::Rendered;

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

/// How many users a [`PerUser`] remembers: beyond that, the coldest are computed again when
/// next asked for.
const REMEMBERED: usize = 4096;

/// What the API makes of a user's row alone (`/api/me`'s body, forward auth's identity
/// headers), remembered per user and reused only for a row equal to the one it was made from
/// (`Eq` on the whole model): any change to the user (a new name, a role, a verified address, a
/// login) makes it afresh, so nothing about invalidation depends on it. Made on every request,
/// these were most of what a cached `/api/me` or forward-auth check cost.
pub struct PerUser<V> {
    seen: quick_cache::sync::Cache<Uuid, (Arc<user::Model>, V)>,
}

impl<V: Clone> PerUser<V> {
    pub fn new() -> Self {
        PerUser {
            seen: quick_cache::sync::Cache::new(REMEMBERED),
        }
    }

    /// What `make` makes of `user`, remembered; a failure of `make` is not remembered.
    pub fn get<E>(
        &self,
        user: &Arc<user::Model>,
        make: impl FnOnce(&user::Model) -> Result<V, E>,
    ) -> Result<V, E> {
        if let Some((seen, value)) = self.seen.get(&user.id)
            && (Arc::ptr_eq(&seen, user) || seen == *user)
        {
            return Ok(value);
        }
        let value = make(user)?;
        self.seen.insert(user.id, (user.clone(), value.clone()));
        Ok(value)
    }
}

/// `user` as `/api/me` shows it, written as JSON once per version of the user ([`PerUser`]):
/// six strings copied into a [`User`], fourteen escaped and two timestamps formatted were
/// most of a cached `/api/me`.
pub fn rendered(user: &Arc<user::Model>) -> Option<Rendered<User>> {
    static BODIES: LazyLock<PerUser<Rendered<User>>> = LazyLock::new(PerUser::new);
    BODIES
        .get(user, |user| Rendered::new(&User::from(user)).ok_or(()))
        .ok()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::http::json::{DirectJson, tests::same_json_as_poem_openapi};

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

    async fn body(resp: impl poem::IntoResponse) -> (String, Vec<u8>) {
        let resp = resp.into_response();
        let content_type = resp.content_type().unwrap_or_default().to_owned();
        let bytes = resp.into_body().into_vec().await.expect("a body");
        (content_type, bytes)
    }

    fn model() -> user::Model {
        user::Model {
            id: Uuid::new_v4(),
            username: "Alice".into(),
            username_key: "alice".into(),
            email: "alice@example.com".into(),
            email_key: Some("alice@example.com".into()),
            email_verified_at: None,
            first_name: "Alice".into(),
            last_name: "Liddell".into(),
            password_hash: None,
            is_active: true,
            date_joined: Utc.timestamp_opt(1_764_509_065, 435_072_000).unwrap(),
            last_login: None,
            roles: user::Roles(vec!["staff".into()]),
            security_epoch: 0,
            epoch_changed_at: 0,
        }
    }

    #[tokio::test]
    async fn a_remembered_body_is_the_one_the_user_would_get_written_afresh_and_follows_every_change()
     {
        let mut user = model();
        let first = Arc::new(user.clone());
        let fresh = body(DirectJson(User::from(&*first))).await;
        assert_eq!(body(rendered(&first).expect("a body")).await, fresh);
        // Asked again, for the same row in another session's copy: the same bytes.
        assert_eq!(
            body(rendered(&Arc::new(user.clone())).expect("a body")).await,
            fresh
        );
        // Every change to the row is seen at once: each field the body shows, and one it
        // does not (which writes the same bytes again).
        let changes: [&dyn Fn(&mut user::Model); 8] = [
            &|u| u.username = "Alice2".into(),
            &|u| u.email = "a2@example.com".into(),
            &|u| u.email_verified_at = Some(Utc::now()),
            &|u| u.first_name = "Al".into(),
            &|u| u.last_name = "L".into(),
            &|u| u.last_login = Some(Utc::now()),
            &|u| u.roles = user::Roles(vec![]),
            &|u| u.security_epoch += 1,
        ];
        for change in changes {
            change(&mut user);
            let now = Arc::new(user.clone());
            let expected = body(DirectJson(User::from(&*now))).await;
            assert_eq!(body(rendered(&now).expect("a body")).await, expected);
        }
    }
}
