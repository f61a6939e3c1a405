//! `sealform admin …`: operator commands. They open the same database as the server and work while it runs
//! (SQLite in WAL mode lets a second process write; its writes wait on the busy timeout, not fail).

use std::io::Read as _;

use anyhow::{Context as _, bail};
use sealform_core::admin::{self, OrganisationRequest};
use sealform_core::api_keys::ApiRateLimit;
use sealform_core::clock::SystemClock;
use sealform_core::store::Store;
use sealform_core::user::Role;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::cli::{AdminCommand, OrgCommand, UserCommand};
use crate::config::Config;
use crate::stores::{Operator, operator_command};

/// Longest password read from stdin; anything longer is refused by the policy anyway.
const MAX_STDIN_PASSWORD_BYTES: u64 = 4096;

pub(crate) async fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    // Organisation keys are wrapped with the master key, which the command prepares before the first organisation.
    operator_command!(config, |store, op| execute(&store, config, &op, command).await)
}

async fn execute<S: Store>(store: &S, config: &Config, op: &Operator, command: AdminCommand) -> anyhow::Result<()> {
    let master = op.masters.current().as_ref();
    let audit = op.audit();
    match command {
        AdminCommand::Bootstrap { org, key_suite, email, password_stdin } => {
            let password = password_from_stdin(password_stdin)?;
            let request = OrganisationRequest { name: &org, suite: key_suite.into(), owner_email: &email, password };
            let created = admin::bootstrap(store, master, &SystemClock, audit, request).await?;
            println!("created organisation {} ({}) with owner {}", org.trim(), created.org_id, created.owner_id);
        }
        AdminCommand::Org(OrgCommand::Create { name, key_suite, owner_email, password_stdin }) => {
            let password = password_from_stdin(password_stdin)?;
            let request =
                OrganisationRequest { name: &name, suite: key_suite.into(), owner_email: &owner_email, password };
            let created = admin::create_organisation(store, master, &SystemClock, audit, request).await?;
            let owner = if created.owner_is_new { "new owner" } else { "existing user as owner" };
            println!("created organisation {} ({}) with {owner} {}", name.trim(), created.org_id, created.owner_id);
        }
        AdminCommand::Org(OrgCommand::List) => {
            for org in store.list_organisations().await.context("listing organisations")? {
                println!("{}\t{}", org.id, org.name);
            }
        }
        AdminCommand::User(UserCommand::Add { org, email, role, password_stdin }) => {
            let role: Role = role.parse()?;
            let org = crate::keys::resolve_org(store, &org).await?;
            let password = password_from_stdin(password_stdin)?;
            let user = admin::add_user(store, &SystemClock, audit, org.id, &email, role, password).await?;
            println!("added user {user} to {} as {role}", org.name);
        }
        AdminCommand::User(UserCommand::Invite { org, email, role }) => {
            let role: Role = role.parse()?;
            let org = crate::keys::resolve_org(store, &org).await?;
            let mailer = crate::mail::LettreMailer::new(
                config.smtp_url.as_ref(),
                &config.mail_from,
                config.data_dir.join("mail"),
            )?;
            sealform_core::invitations::invite(
                store,
                &mailer,
                &SystemClock,
                audit,
                org.id,
                org.name.as_str(),
                &email,
                role,
                &config.public_url,
            )
            .await?;
            println!("invitation to {} as {role} sent to {email}", org.name);
        }
        AdminCommand::User(UserCommand::Deactivate { email }) => {
            let user = admin::deactivate_user(store, &SystemClock, audit, None, &email).await?;
            println!("deactivated user {user}; their sessions have ended");
        }
        AdminCommand::Org(OrgCommand::RequireMfa { name, required }) => {
            let org = crate::keys::resolve_org(store, &name).await?;
            admin::set_mfa_required(store, &SystemClock, audit, org.id, required).await?;
            let state = if required { "now requires" } else { "no longer requires" };
            println!("{} {state} two-step sign-in", org.name);
        }
        AdminCommand::Org(OrgCommand::ApiLimit { name, per_minute, burst }) => {
            let org = crate::keys::resolve_org(store, &name).await?;
            let limit = ApiRateLimit::new(per_minute, burst.unwrap_or(per_minute))?;
            admin::set_api_rate_limit(store, &SystemClock, audit, org.id, limit).await?;
            println!(
                "{}: each API key may now make {} requests a minute, {} at once",
                org.name, limit.per_minute, limit.burst
            );
        }
        AdminCommand::Org(OrgCommand::Delete { name, confirm }) => {
            if name != confirm {
                bail!("--confirm must repeat the organisation name exactly");
            }
            let org = crate::keys::resolve_org(store, &name).await?;
            admin::delete_organisation(store, &SystemClock, audit, org.id).await?;
            println!("deleted organisation {} ({}); its keys are destroyed", org.name, org.id);
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
