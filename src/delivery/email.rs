//! Sending a stored email through the configured relay with lettre.
//!
//! The outbox holds each email fully formatted (RFC 5322 bytes) with its envelope, so a retry
//! after a restart sends byte for byte what was built, and the report of a period is built once.

use lettre::address::{Address, Envelope};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Attempt, DeliveryError};
use crate::config::delivery::{SmtpConfig, SmtpTls};
use crate::report::weekly::message::{Rendered, content_id};

/// Sender and recipients, as stored next to the message.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredEnvelope {
    pub from: String,
    pub to: Vec<String>,
}

/// A connection factory to the relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    relay: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("relay", &self.relay).finish()
    }
}

impl Mailer {
    /// Builds the transport; TLS is verified against the public roots plus `ca_file`.
    pub fn new(config: &SmtpConfig) -> Result<Mailer, DeliveryError> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
            .port(config.port)
            .timeout(Some(config.timeout.as_std()));
        if config.tls != SmtpTls::None {
            let mut parameters = TlsParameters::builder(config.host.clone());
            if let Some(ca_file) = &config.ca_file {
                let ca_problem = |reason: String| DeliveryError::CaFile {
                    path: ca_file.clone(),
                    reason,
                };
                let pem = std::fs::read(ca_file).map_err(|e| ca_problem(format!("cannot read it: {e}")))?;
                let certificate = Certificate::from_pem(&pem).map_err(|e| ca_problem(e.to_string()))?;
                parameters = parameters.add_root_certificate(certificate);
            }
            let parameters = parameters
                .build_rustls()
                .map_err(|e| DeliveryError::Tls(e.to_string()))?;
            builder = builder.tls(match config.tls {
                SmtpTls::Tls => Tls::Wrapper(parameters),
                _ => Tls::Required(parameters),
            });
        }
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(username.clone(), password.expose().to_string()));
        }
        Ok(Mailer {
            transport: builder.build(),
            relay: format!("{}:{}", config.host, config.port),
        })
    }

    /// Sends one stored message once and says what to do next.
    pub async fn send(&self, envelope: &StoredEnvelope, body: &[u8]) -> Attempt {
        let from = match envelope.from.parse::<lettre::message::Mailbox>() {
            Ok(mailbox) => mailbox.email,
            Err(e) => return Attempt::Permanent(format!("sender {:?}: {e}", envelope.from)),
        };
        let to: Result<Vec<Address>, _> = envelope.to.iter().map(|a| a.parse::<Address>()).collect();
        let to = match to {
            Ok(to) => to,
            Err(e) => return Attempt::Permanent(format!("recipients {:?}: {e}", envelope.to)),
        };
        let envelope = match Envelope::new(Some(from), to) {
            Ok(envelope) => envelope,
            Err(e) => return Attempt::Permanent(format!("envelope: {e}")),
        };
        match self.transport.send_raw(&envelope, body).await {
            Ok(_) => Attempt::Delivered,
            // 5xx: the relay refuses this message for good (unknown recipient, too large).
            Err(error) if error.is_permanent() => {
                Attempt::Permanent(format!("SMTP relay {} refused the message: {error}", self.relay))
            }
            Err(error) => Attempt::Retry {
                error: format!("SMTP relay {}: {}", self.relay, crate::net::error_chain(&error)),
                retry_after: None,
            },
        }
    }
}

/// The weekly report as one MIME email, formatted (RFC 5322 bytes), ready for the outbox:
/// `multipart/alternative` of the text part and a `multipart/related` HTML part whose charts
/// are inline PNG parts referenced by Content-ID.
pub fn weekly_report(
    rendered: &Rendered,
    from: &str,
    to: &[String],
    message_id_seed: &str,
) -> Result<Vec<u8>, DeliveryError> {
    let address = |key: &'static str, text: &str| -> Result<Mailbox, DeliveryError> {
        text.parse()
            .map_err(|e: lettre::address::AddressError| DeliveryError::Address {
                key,
                address: text.to_string(),
                reason: e.to_string(),
            })
    };
    let from = address("report.from", from)?;
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(rendered.subject.clone())
        .message_id(Some(format!("<{message_id_seed}@headroom>")));
    for recipient in to {
        builder = builder.to(address("report.to", recipient)?);
    }
    let mut related = MultiPart::related().singlepart(SinglePart::html(rendered.html_for_mail.clone()));
    let png = ContentType::parse("image/png").map_err(|e| DeliveryError::Email(e.to_string()))?;
    for (index, bytes) in &rendered.charts {
        related = related.singlepart(Attachment::new_inline(content_id(*index)).body(bytes.clone(), png.clone()));
    }
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(rendered.text.clone()))
        .multipart(related);
    let message = builder
        .multipart(body)
        .map_err(|e| DeliveryError::Email(e.to_string()))?;
    Ok(message.formatted())
}
