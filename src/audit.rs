//! `sealform audit …`: verify the chain, export it for an auditor, print the checkpoint public key.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sealform_core::audit::{Action, AuditCtx, AuditScope, Auditor, Entry, Verdict, verify};
use sealform_core::clock::{Clock as _, SystemClock};
use sealform_core::store::Store;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::AuditCommand;
use crate::config::Config;
use crate::stores::operator_command;

/// Entries read per batch when exporting.
const EXPORT_BATCH: u32 = 5_000;

pub(crate) async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    operator_command!(config, |store, op| execute(&store, &op.auditor, command).await)
}

async fn execute<S: Store>(store: &S, auditor: &std::sync::Arc<Auditor>, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { from } => {
            let bar = ProgressBar::new_spinner().with_message("verifying the audit chain");
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}: {pos} entries ({per_sec})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            let mut progress = |n: u64| bar.set_position(n);
            let verdict = verify(store, auditor, from, &mut progress).await?;
            bar.finish_and_clear();
            match verdict {
                Verdict::Ok { entries } => println!("ok: {entries} entries"),
                Verdict::Broken { seq, fault } => bail!("audit chain broken at entry {seq}: {fault}"),
            }
        }
        AuditCommand::Export { from, to, action, actor, target } => {
            let from = from.as_deref().map(parse_time).transpose()?;
            let to = to.as_deref().map(parse_time).transpose()?;
            let action = action.as_deref().map(Action::parse).transpose()?.map(Action::as_str);
            let actor = actor
                .as_deref()
                .map(|a| a.parse::<uuid::Uuid>().map_err(|_| anyhow!("--actor must be an id")))
                .transpose()?;
            let scope = AuditScope::operator();
            let ctx = AuditCtx { auditor, scope: &scope };
            let entry = ctx.entry(Entry::ok(None, Action::AuditExport, Vec::new(), SystemClock.now()))?;
            store.append_audit(vec![entry]).await.context("recording the export in the audit trail")?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut after = 0;
            loop {
                let rows = store.audit_entries(after, EXPORT_BATCH).await?;
                let Some(last) = rows.last() else { break };
                after = last.seq;
                for row in rows {
                    let outside = from.is_some_and(|f| row.at < f) || to.is_some_and(|t| row.at >= t);
                    let other =
                        action.is_some_and(|a| row.action != a) || actor.is_some_and(|a| row.actor_id != Some(a));
                    if outside || other {
                        continue;
                    }
                    let detail = auditor.open_detail(&row)?;
                    if target.as_deref().is_some_and(|id| !detail.targets.iter().any(|t| t.id == id)) {
                        continue;
                    }
                    let line = json!({
                        "seq": row.seq,
                        "at": row.at.format(&Rfc3339)?,
                        "org_id": row.org.map(|o| o.to_string()),
                        "action": row.action,
                        "outcome": row.outcome,
                        "actor": detail.actor,
                        "targets": detail.targets,
                        "fields": detail.fields,
                        "ip": detail.context.ip,
                        "user_agent": detail.context.user_agent,
                        "request_id": detail.context.request_id,
                        "os_user": detail.context.os_user,
                    });
                    serde_json::to_writer(&mut out, &line)?;
                    out.write_all(b"\n")?;
                }
            }
            out.flush()?;
        }
        AuditCommand::PublicKey => {
            let key: String = auditor.verifier().as_bytes().iter().map(|b| format!("{b:02x}")).collect();
            println!("{key}");
        }
    }
    Ok(())
}

fn parse_time(text: &str) -> anyhow::Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| anyhow!("{text:?} is not an RFC 3339 time like 2026-01-01T00:00:00Z"))
}
