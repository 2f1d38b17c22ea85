//! Addresses from before they were unique: an address one user has becomes their key, one that
//! several share identifies none of them (neither can be found by it, so a reset link never goes
//! to the wrong one), and a new account can still not take a key another user has.

use entity::user;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use spa_auth::users::{self, NewUser, UserError};
use spa_auth_tests::{create_user_with_hash_in, db_test};

use crate::domain;

/// Gives `username` the address `email` as a row from before addresses were unique (no key).
async fn with_unkeyed_address(db: &sea_orm::DatabaseConnection, username: &str, email: &str) {
    let u = create_user_with_hash_in(db, username, None).await;
    let mut active = u.into_active_model();
    active.email = Set(email.to_owned());
    active.email_key = Set(None);
    active.update(db).await.expect("the address is stored");
}

db_test! {
    async fn shared_addresses_identify_nobody_and_unique_ones_become_keys(db) {
        let d = domain(db).await;
        let db = &d.services.db;
        with_unkeyed_address(db, "ann", "Shared@Example.com").await;
        with_unkeyed_address(db, "ben", "shared@example.com").await;
        with_unkeyed_address(db, "cat", "Cat@Example.com").await;

        assert_eq!(users::assign_email_keys(db).await.expect("keys"), 1);
        let key_of = |name: &'static str| async move {
            users::find_by_username(db, name).await.expect("read").expect("user").email_key
        };
        assert_eq!(key_of("ann").await, None);
        assert_eq!(key_of("ben").await, None);
        assert_eq!(key_of("cat").await.as_deref(), Some("cat@example.com"));

        // A new account cannot take an address that is someone's key, whatever its case.
        let new = NewUser { username: "dan".into(), email: "CAT@example.com".into(), ..Default::default() };
        let taken = users::create(db, new, None).await;
        assert!(matches!(taken, Err(UserError::EmailTaken)), "{taken:?}");
        let all = user::Entity::find().all(db).await.expect("users");
        assert_eq!(all.len(), 3);
    }
}
