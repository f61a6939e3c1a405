//! `sealform api-key …`: create and revoke API keys.

use anyhow::{anyhow, bail};
use sealform_core::api_keys::{self, parse_scopes};
use sealform_core::audit::AuditCtx;
use sealform_core::clock::SystemClock;
use sealform_core::ids::FormId;
use sealform_core::store::Store;
use sealform_core::user::Email;

use crate::cli::ApiKeyCommand;
use crate::config::Config;
use crate::keys::resolve_org;
use crate::stores::operator_command;

pub(crate) async fn run(config: &Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    operator_command!(config, |store, op| execute(&store, op.audit(), command).await)
}

async fn execute<S: Store>(store: &S, audit: AuditCtx<'_>, command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create { email, name, scopes, form, org, expires_days } => {
            let scopes = parse_scopes(scopes.iter().map(String::as_str))?;
            let form = form
                .as_deref()
                .map(|f| f.parse::<FormId>().map_err(|_| anyhow!("--form must be a form id")))
                .transpose()?;
            let org = match org {
                Some(org) => resolve_org(store, &org).await?.id,
                None => {
                    let user =
                        store.user_by_email(&Email::parse(&email)?).await?.ok_or_else(|| anyhow!("no such user"))?;
                    let memberships = store.memberships_of(user.id).await?;
                    match memberships.as_slice() {
                        [only] => only.org_id,
                        [] => bail!("the user is not a member of any organisation"),
                        _ => bail!("the user belongs to several organisations: name one with --org"),
                    }
                }
            };
            let (key, _prefix) =
                api_keys::create(store, &SystemClock, audit, org, &email, &name, scopes, form, expires_days).await?;
            println!("{}", key.as_str());
        }
        ApiKeyCommand::Revoke { org, prefix } => {
            let org = resolve_org(store, &org).await?;
            api_keys::revoke(store, &SystemClock, audit, org.id, &prefix).await?;
            println!("revoked API key {prefix}");
        }
    }
    Ok(())
}
