//! `sealform keys …`: organisation key rotation and status, and master key rotation (DESIGN.md §5).

use std::time::Duration;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sealform_core::audit::{Action, AuditCtx, Entry};
use sealform_core::clock::{Clock as _, SystemClock};
use sealform_core::ids::OrgId;
use sealform_core::keys::{KeyState, Keyring, MasterKeys, MasterWrapped, rewrap_under};
use sealform_core::org::{OrgName, Organisation};
use sealform_core::rotation::{RotationOptions, RotationOutcome, rotate_org_key};
use sealform_core::store::Store;
use sealform_crypto::KeyEncryptionKey as _;

use crate::cli::KeysCommand;
use crate::config::Config;
use crate::data_dir;
use crate::stores::{Operator, operator_command};

pub(crate) async fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    operator_command!(config, |store, op| execute(&store, config, &op, command).await)
}

async fn execute<S: Store>(store: &S, config: &Config, op: &Operator, command: KeysCommand) -> anyhow::Result<()> {
    let masters = op.masters.clone();
    let audit = op.audit();
    match command {
        KeysCommand::Rotate { org, suite } => {
            let org = resolve_org(store, &org).await?;
            let keyring = Keyring::new(store.clone(), masters);
            let bar = progress_bar("re-wrapping data keys");
            let mut report = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let outcome = rotate_org_key(
                store,
                &keyring,
                &SystemClock,
                audit,
                org.id,
                RotationOptions { suite: suite.map(Into::into), max_batches: None },
                &mut report,
            )
            .await?;
            bar.finish_and_clear();
            match outcome {
                RotationOutcome::Completed { retired, active, rewrapped } => println!(
                    "rotated the key of {}: {rewrapped} data keys re-wrapped to {}; key {} retired and destroyed",
                    org.name,
                    hex(&active.0),
                    hex(&retired.0)
                ),
                RotationOutcome::Interrupted { rewrapped } => {
                    println!("rotation of {} paused after {rewrapped} data keys; run again to resume", org.name);
                }
            }
        }
        KeysCommand::Status { org } => {
            let org = resolve_org(store, &org).await?;
            println!("key\tsuite\tstate\tdata keys\tcreated");
            for key in store.tenant(org.id).org_keys().await.context("listing keys")? {
                let wrapped = store.tenant(org.id).count_wrapped_keys(key.id).await?;
                println!("{}\t{:?}\t{}\t{wrapped}\t{}", hex(&key.id.0), key.suite, key.state.as_str(), key.created_at);
            }
            let keys = store.tenant(org.id).org_keys().await?;
            if keys.iter().any(|k| k.state == KeyState::Retiring) {
                println!("a rotation is unfinished: run `sealform keys rotate --org {}` to resume it", org.id);
            }
        }
        KeysCommand::RotateMaster => rotate_master(store, config, &masters, audit).await?,
    }
    Ok(())
}

/// Re-wraps every organisation key under a new master key, then makes that key current. Crash-safe: the new key
/// is written (and fsynced) before any organisation key is re-wrapped to it, every wrapped key records which master
/// key wrapped it, and both keys are loaded until the rename completes; running the command again finishes the job.
async fn rotate_master<S: Store>(
    store: &S,
    config: &Config,
    masters: &MasterKeys,
    audit: AuditCtx<'_>,
) -> anyhow::Result<()> {
    if std::env::var_os(data_dir::MASTER_KEY_ENV).is_some() {
        bail!(
            "the master key comes from {}; rotate it where it is kept, or unset it to use the key file",
            data_dir::MASTER_KEY_ENV
        );
    }
    let next = match data_dir::load_next_master_key(&config.data_dir)? {
        Some(next) => next,
        None => data_dir::create_next_master_key(&config.data_dir)?,
    };
    let mut updates = Vec::new();
    for secret in store.master_wrapped_secrets().await? {
        if let Some(wrapped) = rewrap_under(masters, &next, &secret)? {
            updates.push(MasterWrapped { at: secret.at, wrapped, fingerprint: next.fingerprint() });
        }
    }
    let count = updates.len();
    let entry = audit.entry(Entry::ok(None, Action::MasterKeyRotate, Vec::new(), SystemClock.now()))?;
    store.replace_master_wrapped(updates, entry).await?;
    data_dir::promote_next_master_key(&config.data_dir)?;
    println!(
        "master key rotated: {count} key(s) re-wrapped. Back up the new {} now, and restart running \
         servers so they load it.",
        data_dir::master_key_path(&config.data_dir).display()
    );
    Ok(())
}

/// Finds an organisation by id or name.
pub(crate) async fn resolve_org<S: Store>(store: &S, name_or_id: &str) -> anyhow::Result<Organisation> {
    if let Ok(id) = name_or_id.parse::<OrgId>()
        && let Some(org) = store.list_organisations().await?.into_iter().find(|o| o.id == id)
    {
        return Ok(org);
    }
    let name = OrgName::parse(name_or_id)?;
    match store.organisation_by_name(&name).await? {
        Some(org) => Ok(org),
        None => bail!("no organisation named {:?}", name.as_str()),
    }
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn progress_bar(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(0).with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
