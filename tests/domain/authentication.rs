//! The login and password-change sequences, as `http` calls them, without HTTP.

use entity::user;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use spa_auth::{
    authentication::{AuthError, Opened, change_password, log_in},
    passwords::Password,
    sessions::{Token, bump_epoch},
    users,
};
use spa_auth_tests::db_test;

use crate::{Domain, PASSWORD, client, domain};

async fn login(d: &Domain, username: &str, password: &str) -> Result<Opened, AuthError> {
    login_bringing(d, username, password, None).await
}

async fn login_bringing(
    d: &Domain,
    username: &str,
    password: &str,
    brought: Option<Token>,
) -> Result<Opened, AuthError> {
    log_in(
        &d.services,
        username,
        &Password::new(password),
        &client(),
        brought,
        true,
    )
    .await
}

/// Changes one column of a user behind the domain's back, epoch untouched: what a concurrent
/// writer's change looks like to a login that read the row before it.
async fn set_user(d: &Domain, id: uuid::Uuid, column: user::Column, value: sea_orm::Value) {
    user::Entity::update_many()
        .col_expr(column, Expr::value(value))
        .filter(user::Column::Id.eq(id))
        .exec(&d.db)
        .await
        .expect("cannot change the user");
}

#[track_caller]
fn assert_invalid(result: Result<Opened, AuthError>, what: &str) {
    assert!(
        matches!(result, Err(AuthError::InvalidCredentials)),
        "{what}: {result:?}"
    );
}

db_test!(
    async fn log_in_refuses_a_wrong_password_an_unknown_user_and_an_inactive_user_alike(db) {
        let d = domain(db).await;
        d.user("alice", PASSWORD).await;
        let bob = d.user("bob", PASSWORD).await;
        users::set_active(&d.db, bob, false).await.unwrap();
        assert_invalid(login(&d, "alice", "wrong horse battery").await, "wrong password");
        assert_invalid(login(&d, "nobody", PASSWORD).await, "unknown user");
        assert_invalid(login(&d, "bob", PASSWORD).await, "inactive user");
        assert!(d.session_ids().await.is_empty());
    }
);

db_test!(
    async fn log_in_with_the_right_password_opens_a_session_and_ends_the_one_brought(db) {
        let d = domain(db).await;
        let alice = d.user("alice", PASSWORD).await;
        let first = login(&d, "ALICE", PASSWORD).await.expect("login");
        assert_eq!(first.user.id, alice.id);
        assert!(d.reload(&alice).await.last_login.is_some());
        let current = d.services.sessions.authenticate(&first.token).await.unwrap();
        assert_eq!(current.expect("live").session.id, first.session.id);

        let second = login_bringing(&d, "alice", PASSWORD, Some(first.token)).await.expect("login");
        assert_eq!(d.session_ids().await, [second.session.id], "the brought session lives on");
    }
);

db_test!(
    async fn log_in_is_throttled_past_the_limit_even_with_the_right_password(db) {
        let d = domain(db).await;
        d.user("alice", PASSWORD).await;
        for _ in 0..3 {
            assert_invalid(login(&d, "alice", "wrong horse battery").await, "wrong password");
        }
        match login(&d, "alice", PASSWORD).await {
            Err(AuthError::Throttled { retry_after }) => assert!(retry_after >= 1),
            other => panic!("not throttled: {other:?}"),
        }
        assert!(d.session_ids().await.is_empty());
    }
);

db_test!(
    async fn a_login_is_recorded_only_if_the_user_did_not_move_since_it_was_read(db) {
        let d = domain(db).await;
        let alice = d.user("alice", PASSWORD).await;

        // The three things that may move while a password is being checked.
        let read = d.reload(&alice).await;
        bump_epoch(&d.db, alice.id).await.unwrap();
        let recorded = users::record_login_if_unchanged(&d.db, read, None).await.unwrap();
        assert!(recorded.is_none(), "epoch moved");

        let read = d.reload(&alice).await;
        let other_hash = d.services.passwords.hash(&Password::new("another one")).await.unwrap();
        set_user(&d, alice.id, user::Column::PasswordHash, Some(other_hash).into()).await;
        let recorded = users::record_login_if_unchanged(&d.db, read, None).await.unwrap();
        assert!(recorded.is_none(), "hash moved");

        let read = d.reload(&alice).await;
        set_user(&d, alice.id, user::Column::IsActive, false.into()).await;
        let recorded = users::record_login_if_unchanged(&d.db, read, None).await.unwrap();
        assert!(recorded.is_none(), "deactivated");

        set_user(&d, alice.id, user::Column::IsActive, true.into()).await;
        let read = d.reload(&alice).await;
        let recorded = users::record_login_if_unchanged(&d.db, read, None).await.unwrap();
        assert!(recorded.expect("unchanged").last_login.is_some());
        assert!(d.reload(&alice).await.last_login.is_some());
    }
);

db_test!(
    async fn change_password_ends_every_other_session_and_returns_a_new_one(db) {
        let d = domain(db).await;
        let alice = d.user("alice", PASSWORD).await;
        let here = login(&d, "alice", PASSWORD).await.expect("login");
        login(&d, "alice", PASSWORD).await.expect("login elsewhere");
        let current = d.services.sessions.authenticate(&here.token).await.unwrap().expect("live");

        let new = "a brand new passphrase";
        let opened = change_password(
            &d.services,
            &current,
            &Password::new(PASSWORD),
            &Password::new(new),
            &client(),
        )
        .await
        .expect("change");
        assert_eq!(d.session_ids().await, [opened.session.id]);
        assert!(d.services.sessions.authenticate(&here.token).await.unwrap().is_none());
        assert!(d.reload(&alice).await.security_epoch > current.user.security_epoch);
        assert_invalid(login(&d, "alice", PASSWORD).await, "old password");
        login(&d, "alice", new).await.expect("new password");
    }
);

db_test!(
    async fn change_password_refuses_a_wrong_current_password(db) {
        let d = domain(db).await;
        let alice = d.user("alice", PASSWORD).await;
        let here = login(&d, "alice", PASSWORD).await.expect("login");
        let current = d.services.sessions.authenticate(&here.token).await.unwrap().expect("live");
        let result = change_password(
            &d.services,
            &current,
            &Password::new("wrong horse battery"),
            &Password::new("a brand new passphrase"),
            &client(),
        )
        .await;
        assert!(matches!(result, Err(AuthError::WrongPassword)), "{result:?}");
        assert_eq!(d.session_ids().await, [here.session.id]);
        assert_eq!(d.reload(&alice).await.password_hash, alice.password_hash);
    }
);
