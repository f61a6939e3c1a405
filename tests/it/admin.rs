//! `sealform admin bootstrap` and `admin org create`, including while the server runs, on SQLite and PostgreSQL.

use crate::support::{admin, assert_one_line_error, client, ok, start, stdout};

const PASSWORD: &str = "correct horse battery staple\n";

#[tokio::test]
async fn bootstrap_and_org_create_work_while_the_server_runs() {
    let server = start(&[]);
    let dir = server.data_dir().to_path_buf();

    let first = admin(
        &dir,
        &["admin", "bootstrap", "--org", "Riverside Clinic", "--email", "Owner@Riverside.example", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(stdout(&first).contains("created organisation Riverside Clinic"), "{}", stdout(&first));

    let again = admin(
        &dir,
        &["admin", "bootstrap", "--org", "Other", "--email", "x@other.example", "--password-stdin"],
        Some(PASSWORD),
    );
    assert_one_line_error(&again, "already bootstrapped");

    let second = admin(
        &dir,
        &[
            "admin",
            "org",
            "create",
            "--name",
            "Harbor Health",
            "--owner-email",
            "admin@harbor.example",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));

    // The same person can own a second organisation, proving it with their existing password...
    let shared = admin(
        &dir,
        &[
            "admin",
            "org",
            "create",
            "--name",
            "Riverside East",
            "--owner-email",
            "owner@riverside.example",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(stdout(&shared).contains("existing user as owner"), "{}", String::from_utf8_lossy(&shared.stderr));
    // ...and not with another.
    let wrong = admin(
        &dir,
        &[
            "admin",
            "org",
            "create",
            "--name",
            "Riverside West",
            "--owner-email",
            "owner@riverside.example",
            "--password-stdin",
        ],
        Some("not the password\n"),
    );
    assert_one_line_error(&wrong, "not its password");

    let duplicate = admin(
        &dir,
        &[
            "admin",
            "org",
            "create",
            "--name",
            "harbor health",
            "--owner-email",
            "new@harbor.example",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert_one_line_error(&duplicate, "exists already");

    let listed = stdout(&admin(&dir, &["admin", "org", "list"], None));
    assert_eq!(listed.lines().count(), 3, "{listed}");

    let page = client().get(&server.url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("3 organisations"), "the running server sees the CLI's writes: {page}");
}

#[test]
fn bootstrap_enforces_the_password_and_input_rules() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let short = admin(
        &data,
        &["admin", "bootstrap", "--org", "A", "--email", "a@a.example", "--password-stdin"],
        Some("short\n"),
    );
    assert_one_line_error(&short, "at least 8 characters");
    let common = admin(
        &data,
        &["admin", "bootstrap", "--org", "A", "--email", "a@a.example", "--password-stdin"],
        Some("Password123\n"),
    );
    assert_one_line_error(&common, "too common");
    let no_flag = admin(&data, &["admin", "bootstrap", "--org", "A", "--email", "a@a.example"], None);
    assert_one_line_error(&no_flag, "--password-stdin");
    let bad_email = admin(
        &data,
        &["admin", "bootstrap", "--org", "A", "--email", "not-an-email", "--password-stdin"],
        Some(PASSWORD),
    );
    assert_one_line_error(&bad_email, "e-mail address is not valid");
    let empty_org = admin(
        &data,
        &["admin", "bootstrap", "--org", "  ", "--email", "a@a.example", "--password-stdin"],
        Some(PASSWORD),
    );
    assert_one_line_error(&empty_org, "must not be empty");
}

#[tokio::test]
async fn server_and_admin_commands_run_on_postgres() {
    let Some(db) = sealform_testkit::postgres::fresh_database("it_admin_postgres") else {
        return;
    };
    let server = crate::support::server().args(["--database-url", &db.url]).start().unwrap_or_else(|e| panic!("{e}"));
    let ready: serde_json::Value =
        client().get(format!("{}/readyz", server.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["database"], "postgres");
    let dir = server.data_dir().to_path_buf();
    let created = admin(
        &dir,
        &[
            "--database-url",
            &db.url,
            "admin",
            "bootstrap",
            "--org",
            "PG Clinic",
            "--email",
            "pg@x.example",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let page = client().get(&server.url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("1 organisation"), "{page}");
}

#[test]
fn users_are_added_with_a_role_and_can_be_deactivated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let boot = admin(
        &data,
        &["admin", "bootstrap", "--org", "Clinic", "--email", "o@c.example", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(boot.status.success());
    let added = admin(
        &data,
        &[
            "admin",
            "user",
            "add",
            "--org",
            "Clinic",
            "--email",
            "aud@c.example",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(stdout(&added).contains("as auditor"), "{}", String::from_utf8_lossy(&added.stderr));
    let again = admin(
        &data,
        &[
            "admin",
            "user",
            "add",
            "--org",
            "Clinic",
            "--email",
            "aud@c.example",
            "--role",
            "reviewer",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert_one_line_error(&again, "member of this organisation already");
    let bad_role = admin(
        &data,
        &[
            "admin",
            "user",
            "add",
            "--org",
            "Clinic",
            "--email",
            "x@c.example",
            "--role",
            "superuser",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert_one_line_error(&bad_role, "form-manager");
    let gone = admin(&data, &["admin", "user", "deactivate", "--email", "aud@c.example"], None);
    assert!(stdout(&gone).contains("sessions have ended"), "{}", String::from_utf8_lossy(&gone.stderr));
    let export = stdout(&admin(&data, &["audit", "export", "--action", "user.deactivate"], None));
    assert_eq!(export.lines().count(), 1, "{export}");
}

/// The common-password list applies to passwords being chosen, not to an existing login proving itself: an owner
/// whose password predates the list (or joined it later) can still be named owner of another organisation.
#[tokio::test]
async fn the_common_password_list_applies_to_new_logins_only() {
    use sqlx::Connection as _;

    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    ok(&admin(
        &dir,
        &["admin", "bootstrap", "--org", "Riverside", "--email", "o@r.example", "--password-stdin"],
        Some(PASSWORD),
    ));
    let common = "Password123";
    let plain = sealform_core::password::PlainPassword::parse(secrecy::SecretString::from(common.to_owned())).unwrap();
    let old_hash = sealform_core::password::hash_password(&plain).unwrap();
    let mut raw =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.join("sealform.db").display())).await.unwrap();
    sqlx::query("UPDATE users SET password_hash = ? WHERE email = 'o@r.example'")
        .bind(old_hash.as_phc())
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();

    let org_create = |name: &str, email: &str| {
        admin(
            &dir,
            &["admin", "org", "create", "--name", name, "--owner-email", email, "--password-stdin"],
            Some(&format!("{common}\n")),
        )
    };
    let shared = ok(&org_create("Harbor", "o@r.example"));
    assert!(shared.contains("existing user as owner"), "{shared}");
    assert_one_line_error(&org_create("Bayside", "new@b.example"), "too common");
    let listed = ok(&admin(&dir, &["admin", "org", "list"], None));
    assert_eq!(listed.lines().count(), 2, "the refused organisation was not created: {listed}");
}
