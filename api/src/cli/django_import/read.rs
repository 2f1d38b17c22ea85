//! Reading Django's users (`auth_user` and their groups) from SQLite or PostgreSQL.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult,
    Statement,
};

use super::{ImportError, STAFF_ROLE, SUPERUSER_ROLE};

/// One row of Django's `auth_user`, with the names of its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DjangoUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    pub groups: Vec<String>,
}

impl DjangoUser {
    /// spa-auth roles: `staff`, `superuser` for the flags, and each group's name; sorted, so
    /// that a comparison with what is stored does not depend on order.
    pub fn roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = self.groups.clone();
        if self.is_staff {
            roles.push(STAFF_ROLE.into());
        }
        if self.is_superuser {
            roles.push(SUPERUSER_ROLE.into());
        }
        roles.sort();
        roles.dedup();
        roles
    }
}

/// Opens the Django database. A SQLite one is opened read-only unless the URL says
/// otherwise: the import never writes to Django, and a mistyped path must fail rather than
/// create an empty database.
pub async fn connect_django(url: &str) -> Result<DatabaseConnection, ImportError> {
    let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=ro")
    } else {
        url.to_owned()
    };
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(2).sqlx_logging(false);
    Database::connect(opts).await.map_err(ImportError::Connect)
}

/// Reads every Django user with its groups, ordered by id.
pub async fn read_django_users(db: &DatabaseConnection) -> Result<Vec<DjangoUser>, ImportError> {
    let backend = db.get_database_backend();
    // SQLite keeps Django's datetimes as text (`2024-05-01 09:30:00.123456`, UTC when
    // USE_TZ): read them as text and parse. PostgreSQL has timestamptz, read as such.
    // Booleans go through CASE and ids through CAST so that both backends yield the same
    // integer types (sqlx does not widen INT4 to i64 by itself).
    let date = |col: &str| match backend {
        DbBackend::Sqlite => format!("CAST({col} AS TEXT) AS {col}"),
        _ => col.to_owned(),
    };
    let sql = format!(
        "SELECT CAST(id AS BIGINT) AS id, username, email, first_name, last_name, password, \
         CASE WHEN is_active THEN 1 ELSE 0 END AS is_active, \
         CASE WHEN is_staff THEN 1 ELSE 0 END AS is_staff, \
         CASE WHEN is_superuser THEN 1 ELSE 0 END AS is_superuser, \
         {}, {} FROM auth_user ORDER BY id",
        date("date_joined"),
        date("last_login")
    );
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .map_err(|source| ImportError::NotDjango {
            table: "auth_user",
            source,
        })?;
    let groups_sql = "SELECT CAST(ug.user_id AS BIGINT) AS user_id, g.name AS name \
         FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id";
    let group_rows = db
        .query_all_raw(Statement::from_string(backend, groups_sql))
        .await
        .map_err(|source| ImportError::NotDjango {
            table: "auth_group, auth_user_groups",
            source,
        })?;
    let mut groups: HashMap<i64, Vec<String>> = HashMap::new();
    for row in group_rows {
        groups
            .entry(row.try_get("", "user_id")?)
            .or_default()
            .push(row.try_get("", "name")?);
    }
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("", "id")?;
            let flag = |col: &str| -> Result<bool, DbErr> { Ok(row.try_get::<i32>("", col)? != 0) };
            Ok(DjangoUser {
                id,
                username: row.try_get("", "username")?,
                email: row.try_get("", "email")?,
                first_name: row.try_get("", "first_name")?,
                last_name: row.try_get("", "last_name")?,
                password: row.try_get("", "password")?,
                is_active: flag("is_active")?,
                is_staff: flag("is_staff")?,
                is_superuser: flag("is_superuser")?,
                date_joined: read_date(row, backend, id, "date_joined")?.ok_or(
                    ImportError::BadDate {
                        id,
                        column: "date_joined",
                        value: "NULL".into(),
                    },
                )?,
                last_login: read_date(row, backend, id, "last_login")?,
                groups: groups.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

fn read_date(
    row: &QueryResult,
    backend: DbBackend,
    id: i64,
    column: &'static str,
) -> Result<Option<DateTime<Utc>>, ImportError> {
    if backend != DbBackend::Sqlite {
        return Ok(row.try_get::<Option<DateTime<Utc>>>("", column)?);
    }
    let Some(text) = row.try_get::<Option<String>>("", column)? else {
        return Ok(None);
    };
    parse_sqlite_date(&text)
        .map(Some)
        .ok_or(ImportError::BadDate {
            id,
            column,
            value: text,
        })
}

/// Django's SQLite backend stores `str(datetime)`: naive UTC with USE_TZ (the default), with
/// or without microseconds. An explicit offset is honoured too.
pub(super) fn parse_sqlite_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|n| n.and_utc())
}
