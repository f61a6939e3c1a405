//! `sealform keys …` and organisation deletion, through the binary.

use std::path::Path;

use crate::support::{admin, assert_one_line_error, ok, server};

const PASSWORD: &str = "correct horse battery staple\n";

fn bootstrap(dir: &Path) {
    ok(&admin(
        dir,
        &["admin", "bootstrap", "--org", "Riverside", "--email", "o@riverside.example", "--password-stdin"],
        Some(PASSWORD),
    ));
}

#[test]
fn rotation_retires_the_old_key_and_status_shows_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    bootstrap(&dir);
    let status = ok(&admin(&dir, &["keys", "status", "--org", "Riverside"], None));
    assert_eq!(status.lines().filter(|l| l.contains("\tactive\t")).count(), 1, "{status}");
    assert!(status.contains("HybridMlKem768X25519"), "{status}");

    let rotated = ok(&admin(&dir, &["keys", "rotate", "--org", "riverside", "--suite", "rsa"], None));
    assert!(rotated.contains("retired and destroyed"), "{rotated}");
    let status = ok(&admin(&dir, &["keys", "status", "--org", "Riverside"], None));
    assert!(status.contains("\tretired\t") && status.contains("RsaOaep3072Sha256\tactive"), "{status}");

    let unknown = admin(&dir, &["keys", "rotate", "--org", "Nowhere"], None);
    assert_one_line_error(&unknown, "no organisation named");
}

#[test]
fn master_rotation_replaces_the_key_file_and_the_old_key_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    bootstrap(&dir);
    let key_path = dir.join("master.key");
    let old_key = std::fs::read_to_string(&key_path).unwrap();

    let rotated = ok(&admin(&dir, &["keys", "rotate-master"], None));
    assert!(rotated.contains("2 key(s) re-wrapped"), "{rotated}");
    let new_key = std::fs::read_to_string(&key_path).unwrap();
    assert_ne!(old_key, new_key);
    assert!(!dir.join("master.key.next").exists());

    // The new key serves; the old one, supplied by the environment, is refused at start with a clear message.
    let serving = server().data_dir(&dir).start();
    assert!(serving.is_ok(), "{}", serving.err().unwrap_or_default());
    drop(serving);
    let refused = server().data_dir(&dir).env("SEALFORM_MASTER_KEY", old_key.trim()).start().map(|_| ()).unwrap_err();
    assert!(refused.contains("master key does not match the database"), "{refused}");
}

#[test]
fn interrupted_master_rotation_is_finished_by_running_it_again() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    bootstrap(&dir);
    // Simulate a crash after the next key was written but before anything was re-wrapped.
    std::fs::copy(dir.join("master.key"), dir.join("master.key.copy")).unwrap();
    ok(&admin(&dir, &["keys", "rotate-master"], None));
    // Put the old key back as current and the new one as pending: as if the rename never happened.
    std::fs::rename(dir.join("master.key"), dir.join("master.key.next")).unwrap();
    std::fs::rename(dir.join("master.key.copy"), dir.join("master.key")).unwrap();
    let serving = server().data_dir(&dir).start();
    assert!(
        serving.is_ok(),
        "both keys are held while a rotation is unfinished: {}",
        serving.err().unwrap_or_default()
    );
    drop(serving);
    let finished = ok(&admin(&dir, &["keys", "rotate-master"], None));
    assert!(finished.contains("0 key(s) re-wrapped"), "{finished}");
    assert!(!dir.join("master.key.next").exists());
    assert!(server().data_dir(&dir).start().is_ok());
}

#[test]
fn deleting_an_organisation_needs_its_name_twice() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    bootstrap(&dir);
    let wrong = admin(&dir, &["admin", "org", "delete", "--name", "Riverside", "--confirm", "Riversid"], None);
    assert_one_line_error(&wrong, "--confirm");
    let deleted = ok(&admin(&dir, &["admin", "org", "delete", "--name", "Riverside", "--confirm", "Riverside"], None));
    assert!(deleted.contains("keys are destroyed"), "{deleted}");
    assert_eq!(ok(&admin(&dir, &["admin", "org", "list"], None)).lines().count(), 0);
}
