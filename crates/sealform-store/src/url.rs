//! Choosing a backend from the database URL. An unknown scheme is refused: never quietly create a new SQLite file.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (may hold a password: never printed).
    Postgres(String),
}

/// A database URL that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatabaseUrlError {
    /// Neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database URL scheme (expected sqlite://PATH or postgres://…)")]
    UnknownScheme,
    /// `sqlite://` with no path.
    #[error("the sqlite URL has no file path")]
    EmptyPath,
}

impl DatabaseUrl {
    /// The default: `sealform.db` in the data directory.
    #[must_use]
    pub fn default_in(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join("sealform.db"))
    }

    /// Parses `sqlite://PATH`, `sqlite:PATH`, `postgres://…` or `postgresql://…`.
    ///
    /// # Errors
    /// [`DatabaseUrlError`] for any other form.
    pub fn parse(url: &str) -> Result<Self, DatabaseUrlError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or(DatabaseUrlError::UnknownScheme)?;
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(DatabaseUrlError::EmptyPath);
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The URL with any password replaced by `[redacted]`, for `config show` and logs.
    #[must_use]
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => redact_password(url),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password in `scheme://user:password@host…` and any `password=` query parameter.
fn redact_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..].find(['/', '?']).map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = &out[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(authority_start + colon + 1..authority_start + at, "[redacted]");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (base, query) = out.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    format!("{key}=[redacted]")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_choose_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/sf.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/sf.db".into())
        );
        assert_eq!(DatabaseUrl::parse("sqlite:rel.db?mode=rwc").unwrap(), DatabaseUrl::Sqlite("rel.db".into()));
        assert!(matches!(DatabaseUrl::parse("postgresql://h/db").unwrap(), DatabaseUrl::Postgres(_)));
        assert_eq!(DatabaseUrl::parse("mysql://h/db").unwrap_err(), DatabaseUrlError::UnknownScheme);
        assert_eq!(DatabaseUrl::parse("/plain/path.db").unwrap_err(), DatabaseUrlError::UnknownScheme);
        assert_eq!(DatabaseUrl::parse("sqlite://").unwrap_err(), DatabaseUrlError::EmptyPath);
    }

    #[test]
    fn passwords_are_redacted() {
        let url = DatabaseUrl::parse("postgres://sf:s3cr3t@db.internal:5432/sealform?sslmode=require").unwrap();
        assert_eq!(url.redacted(), "postgres://sf:[redacted]@db.internal:5432/sealform?sslmode=require");
        let url = DatabaseUrl::parse("postgres://db/sealform?user=sf&password=s3cr3t").unwrap();
        assert_eq!(url.redacted(), "postgres://db/sealform?user=sf&password=[redacted]");
        assert!(!format!("{url:?}").contains("s3cr3t"));
        assert_eq!(DatabaseUrl::parse("postgres://sf@db/x").unwrap().redacted(), "postgres://sf@db/x");
    }
}
