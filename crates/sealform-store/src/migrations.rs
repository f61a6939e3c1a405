//! The embedded migrations and the readiness check shared by both backends.

use sealform_core::store::StoreError;
use sqlx::migrate::Migrator;

/// SQLite migrations, embedded at build time.
pub(crate) static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
/// PostgreSQL migrations, embedded at build time; same version numbers as [`SQLITE`].
pub(crate) static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// One row of `_sqlx_migrations`.
pub(crate) struct Applied {
    pub(crate) version: i64,
    pub(crate) success: bool,
    pub(crate) checksum: Vec<u8>,
}

/// Ok when every embedded migration was applied successfully with the same checksum and the database knows no
/// migration this binary lacks (a newer binary migrated it: running an older one against it is unsafe).
pub(crate) fn check_applied(migrator: &Migrator, applied: &[Applied]) -> Result<(), StoreError> {
    for migration in migrator.iter() {
        match applied.iter().find(|a| a.version == migration.version) {
            None => {
                return Err(StoreError::NotMigrated(format!("migration {} is not applied", migration.version)));
            }
            Some(a) if !a.success => {
                return Err(StoreError::NotMigrated(format!("migration {} failed part-way", migration.version)));
            }
            Some(a) if a.checksum != migration.checksum.as_ref() => {
                return Err(StoreError::NotMigrated(format!(
                    "migration {} differs from the one this binary embeds",
                    migration.version
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(unknown) = applied.iter().find(|a| !migrator.iter().any(|m| m.version == a.version)) {
        return Err(StoreError::NotMigrated(format!(
            "the database has migration {}, which this binary does not know; run a newer sealform",
            unknown.version
        )));
    }
    Ok(())
}

/// The query both backends use to list applied migrations.
pub(crate) const APPLIED_QUERY: &str = "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version";

#[cfg(test)]
mod tests {
    use super::*;

    fn all_applied(migrator: &Migrator) -> Vec<Applied> {
        migrator.iter().map(|m| Applied { version: m.version, success: true, checksum: m.checksum.to_vec() }).collect()
    }

    #[test]
    fn complete_history_is_ready() {
        assert!(check_applied(&SQLITE, &all_applied(&SQLITE)).is_ok());
        assert!(check_applied(&POSTGRES, &all_applied(&POSTGRES)).is_ok());
    }

    #[test]
    fn missing_failed_altered_or_unknown_migrations_are_not_ready() {
        assert!(check_applied(&SQLITE, &[]).is_err());

        let mut failed = all_applied(&SQLITE);
        failed[0].success = false;
        assert!(check_applied(&SQLITE, &failed).is_err());

        let mut altered = all_applied(&SQLITE);
        altered[0].checksum[0] ^= 1;
        assert!(check_applied(&SQLITE, &altered).is_err());

        let mut newer = all_applied(&SQLITE);
        newer.push(Applied { version: 9_999_999, success: true, checksum: vec![] });
        let err = check_applied(&SQLITE, &newer).unwrap_err().to_string();
        assert!(err.contains("9999999"), "{err}");
    }

    #[test]
    fn both_backends_share_version_numbers() {
        let sqlite: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
        let postgres: Vec<i64> = POSTGRES.iter().map(|m| m.version).collect();
        assert_eq!(sqlite, postgres);
    }
}
