//! E-mail transports: SMTP (with TLS or STARTTLS, via lettre on rustls/aws-lc-rs) when `smtp_url` is set, otherwise
//! `.eml` files in `<data dir>/mail` for development and tests.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use anyhow::Context as _;
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use sealform_core::DomainError;
use sealform_core::mail::{Mail, Mailer};
use secrecy::{ExposeSecret as _, SecretString};

/// Sends through an SMTP server or writes files.
pub(crate) enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

pub(crate) struct LettreMailer {
    from: Mailbox,
    transport: Transport,
}

impl LettreMailer {
    /// SMTP from `smtp_url` (`smtps://user:pass@host:465` or `smtp://host:587?tls=required`), else files in `dir`.
    pub(crate) fn new(smtp_url: Option<&SecretString>, from: &str, dir: PathBuf) -> anyhow::Result<Self> {
        let from: Mailbox = from.parse().with_context(|| format!("mail_from: {from:?} is not an address"))?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&dir).with_context(|| format!("creating mail directory {}", dir.display()))?;
                Transport::Files(AsyncFileTransport::new(dir))
            }
        };
        Ok(Self { from, transport })
    }
}

impl Mailer for LettreMailer {
    fn send(&self, mail: Mail) -> Pin<Box<dyn Future<Output = Result<(), DomainError>> + Send + '_>> {
        Box::pin(async move {
            let to: Mailbox =
                mail.to.as_str().parse().map_err(|_| DomainError::Invalid("e-mail address is not valid".into()))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject)
                .body(mail.body)
                .map_err(|e| DomainError::Internal(format!("building e-mail: {e}")))?;
            let sent = match &self.transport {
                Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
                Transport::Files(files) => files.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            };
            sent.map_err(|cause| {
                tracing::error!(%cause, "sending e-mail failed");
                DomainError::Internal("the e-mail could not be sent".into())
            })
        })
    }
}
