//! Outgoing e-mail. Messages carry links and generic text only: never PHI, never an answer or a form's content.
//! The transport (SMTP, or files in the data dir for development and tests) lives with the binary.

use std::future::Future;
use std::pin::Pin;

use crate::DomainError;
use crate::user::Email;

/// One message.
#[derive(Clone, Debug)]
pub struct Mail {
    /// Recipient.
    pub to: Email,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// A way to send mail.
pub trait Mailer: Send + Sync {
    /// Sends one message.
    fn send(&self, mail: Mail) -> Pin<Box<dyn Future<Output = Result<(), DomainError>> + Send + '_>>;
}
