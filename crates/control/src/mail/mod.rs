//! Outgoing e-mail (verification and password-reset links). Every message is written to the
//! `mail_outbox` table first; with `--smtp-url` it is then sent over SMTP (lettre) and marked
//! sent, and its body (with the one-time token) is then removed from the outbox; otherwise its
//! text is logged and kept, so a node without mail still works offline: an operator reads the
//! link from the log or the outbox.

pub mod templates;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::db::Db;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP URL: {0}")]
    SmtpUrl(String),
    #[error("invalid sender address {0:?}")]
    From(String),
}

#[derive(Clone)]
pub struct Mailer {
    db: Db,
    from: Mailbox,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Mailer {
    pub fn new(db: Db, from: &str, smtp_url: Option<&str>) -> Result<Self, MailError> {
        let from: Mailbox = from.parse().map_err(|_| MailError::From(from.to_owned()))?;
        let smtp = match smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailError::SmtpUrl(e.to_string()))?
                    .build(),
            ),
            None => None,
        };
        Ok(Self { db, from, smtp })
    }

    /// Queues a message and sends it in the background. Failures are recorded in the outbox
    /// and logged; the caller's request does not wait for SMTP.
    pub async fn send(&self, to: &str, subject: &str, body: &str) {
        let id = match self.db.queue_mail(to, subject, body).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "queueing mail failed");
                return;
            }
        };
        let Some(smtp) = self.smtp.clone() else {
            tracing::info!(
                to,
                subject,
                "mail (no SMTP configured; kept in the outbox):\n{body}"
            );
            return;
        };
        let message = to.parse::<Mailbox>().ok().and_then(|to_box| {
            Message::builder()
                .from(self.from.clone())
                .to(to_box)
                .subject(subject)
                .body(body.to_owned())
                .ok()
        });
        let db = self.db.clone();
        let to = to.to_owned();
        tokio::spawn(async move {
            let error = match message {
                None => Some("invalid message or recipient".to_owned()),
                Some(m) => smtp.send(m).await.err().map(|e| e.to_string()),
            };
            if let Some(e) = &error {
                tracing::warn!(%to, error = %e, "sending mail failed");
                metrics::counter!("onair_mail_failed_total").increment(1);
            } else {
                metrics::counter!("onair_mail_sent_total").increment(1);
            }
            if let Err(e) = db.mark_mail(&id, error.as_deref()).await {
                tracing::warn!(error = %e, "recording mail result failed");
            }
        });
    }
}
