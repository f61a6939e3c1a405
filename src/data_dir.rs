//! The data directory and the master key file in it (DESIGN.md §§5, 10).
//!
//! The directory is created 0700 and the key file 0600. Either one readable by group or others is refused with
//! the command that fixes it: a master key anyone on the machine can read protects nothing.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use sealform_core::keys::MasterKeys;
use sealform_crypto::{KeyEncryptionKey, MasterKey};

/// The next master key while `sealform keys rotate-master` is under way; replaces `master.key` when it finishes.
const NEXT_MASTER_KEY_FILE: &str = "master.key.next";

pub(crate) fn next_master_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(NEXT_MASTER_KEY_FILE)
}

/// The master keys to unwrap with: the current one, plus the next one when a master rotation was interrupted.
pub(crate) fn master_keys(data_dir: &Path) -> anyhow::Result<MasterKeys> {
    let (current, _) = master_key(data_dir)?;
    let next = load_next_master_key(data_dir)?;
    let others: Vec<Arc<dyn KeyEncryptionKey>> =
        next.into_iter().map(|k| Arc::new(k) as Arc<dyn KeyEncryptionKey>).collect();
    Ok(MasterKeys::new(Arc::new(current), others))
}

/// The pending next master key, if a rotation left one.
pub(crate) fn load_next_master_key(data_dir: &Path) -> anyhow::Result<Option<MasterKey>> {
    let path = next_master_key_path(data_dir);
    if path.exists() { load_key_file(&path).map(Some) } else { Ok(None) }
}

/// Writes a new next master key (0600, fsynced with its directory entry).
pub(crate) fn create_next_master_key(data_dir: &Path) -> anyhow::Result<MasterKey> {
    let path = next_master_key_path(data_dir);
    create_key_file(&path).with_context(|| format!("creating {}", path.display()))
}

/// Makes the next master key the current one: an atomic rename, then the directory is fsynced.
pub(crate) fn promote_next_master_key(data_dir: &Path) -> anyhow::Result<()> {
    let next = next_master_key_path(data_dir);
    let current = master_key_path(data_dir);
    std::fs::rename(&next, &current).with_context(|| format!("replacing {}", current.display()))?;
    sync_dir(data_dir).with_context(|| format!("syncing {}", data_dir.display()))
}

/// Environment variable that supplies the master key instead of the file (e.g. from a secrets manager).
pub(crate) const MASTER_KEY_ENV: &str = "SEALFORM_MASTER_KEY";
const MASTER_KEY_FILE: &str = "master.key";

pub(crate) fn master_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(MASTER_KEY_FILE)
}

/// Where the master key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeySource {
    Environment,
    ExistingFile,
    NewFile,
}

/// Loads the master key from the environment or the key file, creating the file on first use.
pub(crate) fn master_key(data_dir: &Path) -> anyhow::Result<(MasterKey, KeySource)> {
    if let Some(value) = std::env::var_os(MASTER_KEY_ENV) {
        let text = value.to_str().ok_or_else(|| anyhow!("{MASTER_KEY_ENV} is not valid UTF-8"))?;
        let key = MasterKey::parse(text).map_err(|e| anyhow!("{MASTER_KEY_ENV}: {e}"))?;
        return Ok((key, KeySource::Environment));
    }
    let path = master_key_path(data_dir);
    match create_key_file(&path) {
        Ok(key) => Ok((key, KeySource::NewFile)),
        // Another process (the server, or an admin command beside it) created it first: use theirs.
        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok((load_key_file(&path)?, KeySource::ExistingFile)),
        Err(err) => Err(err).with_context(|| format!("creating master key file {}", path.display())),
    }
}

/// Creates the data dir (0700) if needed and refuses one that group or others can enter.
pub(crate) fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
            return Ok(());
        }
        Err(err) => {
            return Err(err).with_context(|| format!("creating data directory {}", dir.display()));
        }
    }
    let meta = std::fs::metadata(dir).with_context(|| format!("reading data directory {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("data directory {} exists but is not a directory", dir.display());
    }
    refuse_if_shared(dir, &meta, "data directory", "is accessible", "700")
}

/// Refuses a file or directory that group or others can use, naming the `chmod` that fixes it.
fn refuse_if_shared(path: &Path, meta: &std::fs::Metadata, what: &str, verb: &str, fix: &str) -> anyhow::Result<()> {
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{what} {} {verb} by group or others (mode {mode:03o}); run `chmod {fix} {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// Makes a new or renamed directory entry durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn create_key_file(path: &Path) -> std::io::Result<MasterKey> {
    let key = MasterKey::generate().map_err(std::io::Error::other)?;
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(key.to_text().as_bytes())?;
    file.sync_all()?;
    // Make the new directory entry durable too, so a crash cannot leave data sealed under a vanished key.
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(key)
}

fn load_key_file(path: &Path) -> anyhow::Result<MasterKey> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading master key file {}", path.display()))?;
    refuse_if_shared(path, &meta, "master key file", "is readable", "600")?;
    // A concurrent creator may not have written it yet; wait briefly rather than fail.
    for _ in 0..50 {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading master key file {}", path.display()))?,
        );
        if !text.is_empty() {
            return MasterKey::parse(&text).map_err(|e| anyhow!("master key file {}: {e}", path.display()));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    bail!("master key file {} is empty", path.display())
}

/// Writes a small owner-only (0600) file, replacing an earlier one.
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn prepare(dir: &Path) -> anyhow::Result<(MasterKey, KeySource)> {
        ensure_private_dir(dir)?;
        master_key(dir)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn first_prepare_creates_private_dir_and_key_then_reuses_the_key() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("nested").join("data");
        let (first, source) = prepare(&dir).unwrap();
        assert_eq!(source, KeySource::NewFile);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&master_key_path(&dir)), 0o600);
        let (second, source) = prepare(&dir).unwrap();
        assert_eq!(source, KeySource::ExistingFile);
        assert_eq!(first.to_text(), second.to_text());
    }

    #[test]
    fn readable_key_file_or_open_dir_is_refused_with_the_fix() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("data");
        prepare(&dir).unwrap();
        let key = master_key_path(&dir);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = format!("{:#}", prepare(&dir).unwrap_err());
        assert!(err.contains("mode 644") && err.contains("chmod 600"), "{err}");

        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = format!("{:#}", prepare(&dir).unwrap_err());
        assert!(err.contains("chmod 700"), "{err}");
    }
}
