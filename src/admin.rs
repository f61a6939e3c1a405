//! `sealform admin …`: operator commands. They open the same database as the server and work while it runs
//! (SQLite in WAL mode lets a second process write; its writes wait on the busy timeout, not fail).

use std::io::Read as _;

use anyhow::{Context as _, bail};
use sealform_core::admin;
use sealform_core::clock::SystemClock;
use sealform_core::store::Store;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::cli::{AdminCommand, OrgCommand};
use crate::config::Config;
use crate::data_dir;
use crate::stores::{self, with_store};

/// Longest password read from stdin; anything longer is refused by the policy anyway.
const MAX_STDIN_PASSWORD_BYTES: u64 = 4096;

pub(crate) async fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    // Organisation keys will be wrapped with the master key, so it must exist before the first organisation.
    data_dir::prepare(&config.data_dir)?;
    let store = stores::open(config).await?;
    with_store!(store, |store| run_with(store, command).await)
}

async fn run_with<S: Store>(store: S, command: AdminCommand) -> anyhow::Result<()> {
    let result = execute(&store, command).await;
    store.close().await;
    result
}

async fn execute<S: Store>(store: &S, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Bootstrap { org, email, password_stdin } => {
            let password = password_from_stdin(password_stdin)?;
            let created = admin::bootstrap(store, &SystemClock, &org, &email, password).await?;
            println!("created organisation {} ({}) with owner {}", org.trim(), created.org_id, created.owner_id);
        }
        AdminCommand::Org(OrgCommand::Create { name, owner_email, password_stdin }) => {
            let password = password_from_stdin(password_stdin)?;
            let created = admin::create_organisation(store, &SystemClock, &name, &owner_email, password).await?;
            let owner = if created.owner_is_new { "new owner" } else { "existing user as owner" };
            println!("created organisation {} ({}) with {owner} {}", name.trim(), created.org_id, created.owner_id);
        }
        AdminCommand::Org(OrgCommand::List) => {
            for org in store.list_organisations().await.context("listing organisations")? {
                println!("{}\t{}", org.id, org.name);
            }
        }
    }
    Ok(())
}

/// Reads the password from standard input: everything up to the first newline. Never from an argument, which
/// other users can see in the process list and which lands in shell history.
fn password_from_stdin(requested: bool) -> anyhow::Result<SecretString> {
    if !requested {
        bail!("pass the password on standard input with --password-stdin");
    }
    let mut raw = Zeroizing::new(Vec::new());
    std::io::stdin()
        .take(MAX_STDIN_PASSWORD_BYTES)
        .read_to_end(&mut raw)
        .context("reading the password from standard input")?;
    let text = std::str::from_utf8(&raw).context("the password on standard input is not valid UTF-8")?;
    let line = text.split(['\n', '\r']).next().unwrap_or_default();
    if line.is_empty() {
        bail!("no password on standard input");
    }
    Ok(SecretString::from(line.to_owned()))
}
