//! `spa-auth import django`: copies the users of a Django site (`auth_user`, with groups) into
//! spa-auth, keeping their password hashes so that nobody has to reset a password.
//!
//! Idempotent: users are matched on `username_key`, so a second run updates what changed in
//! Django since and adds new users, never duplicates. Everything is written in one
//! transaction: an import applies whole or not at all.

use std::collections::{BTreeMap, HashMap};

use entity::user;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, TransactionTrait,
};
use uuid::Uuid;

mod read;

pub use read::{DjangoUser, connect_django, read_django_users};

use crate::passwords::django::{self as hashers, HashError};
use crate::{
    sessions::{Reason, Which},
    users::{username_key, valid_username},
};

/// Roles given for Django's `is_staff` and `is_superuser` flags.
pub const STAFF_ROLE: &str = "staff";
pub const SUPERUSER_ROLE: &str = "superuser";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot open the Django database: {0}")]
    Connect(DbErr),
    #[error(
        "not a Django database with django.contrib.auth migrated: cannot read table {table} ({source})"
    )]
    NotDjango { table: &'static str, source: DbErr },
    #[error("Django user id {id}: {column} is not a date ({value:?})")]
    BadDate {
        id: i64,
        column: &'static str,
        value: String,
    },
    #[error(
        "the spa-auth database is not migrated; run `spa-auth migrate` first (a dry run writes nothing, migrations included)"
    )]
    NotMigrated,
    #[error("spa-auth database: {0}")]
    Db(#[from] DbErr),
    #[error("{0} Django user(s) could not be imported (listed above)")]
    Skipped(usize),
}

/// Why a Django user was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Django allows `Alice` and `alice` as two users; spa-auth does not. Merging them would
    /// hand one person's account to another, so neither is imported.
    Clash(Vec<String>),
    InvalidUsername,
}

/// What one run did, or would do with `--dry-run`.
#[derive(Debug, Default)]
pub struct Report {
    pub dry_run: bool,
    pub imported: Vec<String>,
    /// Username and the fields that changed.
    pub updated: Vec<(String, Vec<&'static str>)>,
    pub unchanged: usize,
    /// Users stored with no usable password, and why.
    pub without_password: Vec<(String, HashError)>,
    pub skipped: Vec<(String, SkipReason)>,
}

impl Report {
    /// Lines for the operator: each change, each user without a password or skipped, and a
    /// summary. Never a password hash.
    pub fn lines(&self) -> Vec<String> {
        let (imported, updated) = match self.dry_run {
            true => ("would import", "would update"),
            false => ("imported", "updated"),
        };
        let mut out = Vec::new();
        out.extend(self.imported.iter().map(|u| format!("{imported} {u}")));
        out.extend(
            self.updated
                .iter()
                .map(|(u, fields)| format!("{updated} {u}: {}", fields.join(", "))),
        );
        out.extend(
            self.without_password
                .iter()
                .map(|(u, why)| format!("no usable password: {u} ({why})")),
        );
        out.extend(self.skipped.iter().map(|(u, why)| match why {
            SkipReason::Clash(others) => format!(
                "skipped {u}: username clashes ignoring case with {}; rename in Django and import again",
                others.join(", ")
            ),
            SkipReason::InvalidUsername => format!(
                "skipped {u:?}: not a valid username (letters, digits and @ . + - _, at most 150)"
            ),
        }));
        out.push(format!(
            "django import{}: {} imported, {} updated, {} unchanged, {} without usable password, {} skipped",
            if self.dry_run { " (dry run, nothing written)" } else { "" },
            self.imported.len(),
            self.updated.len(),
            self.unchanged,
            self.without_password.len(),
            self.skipped.len(),
        ));
        out
    }
}

/// A change to write.
enum Change {
    Insert(Box<user::ActiveModel>),
    /// `end_sessions`: the password, deactivation or roles changed, so sessions that were
    /// opened under the old state must not go on.
    Update {
        model: Box<user::ActiveModel>,
        id: Uuid,
        end_sessions: bool,
    },
}

/// Imports `django_users` into spa-auth's `db`; with `dry_run`, only reports.
pub async fn import(
    db: &DatabaseConnection,
    django_users: Vec<DjangoUser>,
    dry_run: bool,
) -> Result<Report, ImportError> {
    let fresh = if dry_run {
        // A dry run must not migrate. A database never migrated (or not there yet) has no
        // users, so the report can still be made; a half-migrated one cannot be compared.
        let pending = Migrator::get_pending_migrations_read_only(db).await;
        match pending {
            Err(_) => true,
            Ok(p) if p.len() == Migrator::migrations().len() => true,
            Ok(p) if p.is_empty() => false,
            Ok(_) => return Err(ImportError::NotMigrated),
        }
    } else {
        false
    };
    let existing: HashMap<String, user::Model> = match fresh {
        true => HashMap::new(),
        false => user::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.username_key.clone(), u))
            .collect(),
    };
    let (report, changes) = plan(django_users, &existing, dry_run);
    if !dry_run && !changes.is_empty() {
        let mut ended = Vec::new();
        let txn = db.begin().await?;
        for change in changes {
            match change {
                Change::Insert(model) => {
                    model.insert(&txn).await?;
                }
                Change::Update {
                    model,
                    id,
                    end_sessions,
                } => {
                    model.update(&txn).await?;
                    if end_sessions {
                        crate::sessions::end_sessions(&txn, id, Which::All, Reason::Imported)
                            .await?;
                        ended.push(id);
                    }
                }
            }
        }
        crate::users::assign_email_keys(&txn).await?;
        txn.commit().await?;
        // Like every other command that ends sessions: done means every running instance has
        // dropped what it cached about those users.
        for id in ended {
            crate::sessions::registry::settle_everywhere(db, id).await;
        }
    }
    Ok(report)
}

/// Decides what to do with each Django user, given spa-auth's users by `username_key`.
fn plan(
    django_users: Vec<DjangoUser>,
    existing: &HashMap<String, user::Model>,
    dry_run: bool,
) -> (Report, Vec<Change>) {
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    let mut changes = Vec::new();

    // Usernames per key, to find the Django users that spa-auth cannot tell apart.
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in &django_users {
        by_key
            .entry(username_key(&u.username))
            .or_default()
            .push(u.username.clone());
    }

    for du in django_users {
        let key = username_key(&du.username);
        if let Some(names) = by_key.get(&key).filter(|n| n.len() > 1) {
            let others = names
                .iter()
                .filter(|n| **n != du.username)
                .cloned()
                .collect();
            report
                .skipped
                .push((du.username.clone(), SkipReason::Clash(others)));
            continue;
        }
        if !valid_username(&du.username) {
            report
                .skipped
                .push((du.username.clone(), SkipReason::InvalidUsername));
            continue;
        }
        // A hash that cannot verify is stored as no password at all, so that the account
        // can only get one through `spa-auth user set-password`.
        let django_hash = match hashers::check(&du.password) {
            Ok(_) => Some(du.password.clone()),
            Err(why) => {
                report.without_password.push((du.username.clone(), why));
                None
            }
        };
        let roles = du.roles();
        match existing.get(&key) {
            None => {
                report.imported.push(du.username.clone());
                changes.push(Change::Insert(Box::new(user::ActiveModel {
                    id: Set(Uuid::new_v4()),
                    username_key: Set(key),
                    username: Set(du.username),
                    // Django's addresses need not be unique: `assign_email_keys` below gives
                    // a key to those no other user has.
                    email_key: Set(None),
                    email_verified_at: Set((!du.email.is_empty()).then_some(du.date_joined)),
                    email: Set(du.email),
                    first_name: Set(du.first_name),
                    last_name: Set(du.last_name),
                    password_hash: Set(django_hash),
                    is_active: Set(du.is_active),
                    date_joined: Set(du.date_joined),
                    last_login: Set(du.last_login),
                    roles: Set(user::Roles(roles)),
                    security_epoch: Set(0),
                    epoch_changed_at: Set(0),
                })));
            }
            Some(current) => {
                let (model, fields, end_sessions) = update(current, du.clone(), django_hash, roles);
                // The report lists a user without a password only if that is the outcome:
                // a user whose spa-auth password is kept has one.
                if model.password_hash.as_ref().is_some() {
                    report.without_password.retain(|(u, _)| *u != du.username);
                }
                if fields.is_empty() {
                    report.unchanged += 1;
                } else {
                    report.updated.push((du.username.clone(), fields));
                    changes.push(Change::Update {
                        model: Box::new(model),
                        id: current.id,
                        end_sessions,
                    });
                }
            }
        }
    }
    (report, changes)
}

/// The update of an existing spa-auth user from Django: the fields that change, and whether
/// the user's sessions must end.
fn update(
    current: &user::Model,
    du: DjangoUser,
    django_hash: Option<String>,
    roles: Vec<String>,
) -> (user::ActiveModel, Vec<&'static str>, bool) {
    let mut model: user::ActiveModel = current.clone().into();
    let mut fields = Vec::new();
    macro_rules! take {
        ($field:ident, $value:expr) => {
            if current.$field != $value {
                model.$field = Set($value);
                fields.push(stringify!($field));
            }
        };
    }
    take!(username, du.username);
    if current.email != du.email {
        // Imported addresses count as verified; the key is given afresh after the import.
        model.email_key = Set(None);
        model.email_verified_at = Set((!du.email.is_empty()).then_some(du.date_joined));
    }
    take!(email, du.email);
    take!(first_name, du.first_name);
    take!(last_name, du.last_name);
    take!(is_active, du.is_active);
    take!(date_joined, du.date_joined);
    // Logging in to spa-auth moves last_login on; Django's older value must not undo that.
    take!(last_login, current.last_login.max(du.last_login));
    // Once the user has logged in to spa-auth (or been given a password there), the stored
    // hash is spa-auth's own argon2id and is newer than anything in Django: keep it. Only a
    // hash that still came from Django follows Django.
    let spa_auth_owns_password = current
        .password_hash
        .as_deref()
        .is_some_and(|h| !hashers::is_django_format(h));
    let password_changed = !spa_auth_owns_password && current.password_hash != django_hash;
    if password_changed {
        model.password_hash = Set(django_hash);
        fields.push("password");
    }
    let mut current_roles = current.roles.0.clone();
    current_roles.sort();
    current_roles.dedup();
    let roles_changed = current_roles != roles;
    if roles_changed {
        model.roles = Set(user::Roles(roles));
        fields.push("roles");
    }
    let deactivated = current.is_active && !du.is_active;
    // The epoch is moved by `sessions::end_sessions` when the change is applied, with the
    // timestamp every instance polls for; the plan does not write it itself.
    let end_sessions = password_changed || roles_changed || deactivated;
    (model, fields, end_sessions)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::{read::parse_sqlite_date, *};

    fn dj(id: i64, username: &str, password: &str) -> DjangoUser {
        DjangoUser {
            id,
            username: username.into(),
            email: format!("{username}@example.com"),
            first_name: "First".into(),
            last_name: "Last".into(),
            password: password.into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: DateTime::UNIX_EPOCH,
            last_login: None,
            groups: vec![],
        }
    }

    const PBKDF2: &str = "pbkdf2_sha256$1000$seasalt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA=";

    fn model_of(change: &Change) -> user::Model {
        let am = match change {
            Change::Insert(m) => m.as_ref().clone(),
            Change::Update { model, .. } => model.as_ref().clone(),
        };
        match user::Model::try_from(am) {
            Ok(m) => m,
            Err(e) => panic!("incomplete model: {e}"),
        }
    }

    #[test]
    fn roles_from_flags_and_groups() {
        let mut u = dj(1, "a", PBKDF2);
        u.is_staff = true;
        u.is_superuser = true;
        u.groups = vec!["editors".into(), "staff".into()];
        assert_eq!(u.roles(), ["editors", "staff", "superuser"]);
    }

    #[test]
    fn sqlite_dates_as_django_writes_them() {
        let with_micros = parse_sqlite_date("2024-05-01 09:30:00.123456");
        assert_eq!(
            with_micros.map(|d| d.to_rfc3339()),
            Some("2024-05-01T09:30:00.123456+00:00".into())
        );
        assert!(parse_sqlite_date("2024-05-01 09:30:00").is_some());
        assert!(parse_sqlite_date("2024-05-01 09:30:00+02:00").is_some());
        assert!(parse_sqlite_date("yesterday").is_none());
    }

    #[test]
    fn clashing_usernames_are_skipped_not_merged() {
        let users = vec![
            dj(1, "Alice", PBKDF2),
            dj(2, "alice", PBKDF2),
            dj(3, "bob", PBKDF2),
        ];
        let (report, changes) = plan(users, &HashMap::new(), false);
        assert_eq!(report.imported, ["bob"]);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            report.skipped,
            [
                ("Alice".into(), SkipReason::Clash(vec!["alice".into()])),
                ("alice".into(), SkipReason::Clash(vec!["Alice".into()])),
            ]
        );
    }

    #[test]
    fn unusable_and_unknown_hashes_become_no_password() {
        let users = vec![
            dj(1, "a", "!abc"),
            dj(2, "b", "md5$x$y"),
            dj(3, "c", PBKDF2),
        ];
        let (report, changes) = plan(users, &HashMap::new(), false);
        assert_eq!(report.without_password.len(), 2);
        let hashes: Vec<_> = changes.iter().map(|c| model_of(c).password_hash).collect();
        assert_eq!(hashes, [None, None, Some(PBKDF2.to_owned())]);
    }

    #[test]
    fn second_run_is_unchanged_and_keeps_spa_auth_passwords() {
        let (_, changes) = plan(vec![dj(1, "a", PBKDF2)], &HashMap::new(), false);
        let mut stored = model_of(&changes[0]);
        let existing = HashMap::from([(stored.username_key.clone(), stored.clone())]);
        let (report, changes) = plan(vec![dj(1, "a", PBKDF2)], &existing, false);
        assert_eq!((report.unchanged, changes.len()), (1, 0));

        // After a login to spa-auth: own hash, later last_login. Still unchanged.
        stored.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into());
        stored.last_login = Some(Utc::now());
        let existing = HashMap::from([(stored.username_key.clone(), stored.clone())]);
        let (report, _) = plan(vec![dj(1, "a", PBKDF2)], &existing, false);
        assert_eq!(report.unchanged, 1);

        // Deactivated and given a group in Django: updated, sessions end.
        let mut changed = dj(1, "a", PBKDF2);
        changed.is_active = false;
        changed.groups = vec!["editors".into()];
        let (report, changes) = plan(vec![changed], &existing, false);
        assert_eq!(report.updated, [("a".into(), vec!["is_active", "roles"])]);
        assert!(matches!(
            changes[0],
            Change::Update {
                end_sessions: true,
                ..
            }
        ));
        // The epoch is left to `end_sessions`, which also stamps `epoch_changed_at`.
        assert_eq!(model_of(&changes[0]).security_epoch, stored.security_epoch);
    }
}
