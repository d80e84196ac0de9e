//! The commands that set ko2en up rather than run a batch: `config show`, `config init` and
//! `check` (one tiny request to the endpoint a run would use).

use std::time::Instant;

use anyhow::Result;

use super::{Outcome, connect, say};

/// `ko2en config show`: the resolved settings, one per line, with where each came from.
pub(super) fn config_show(settings: &crate::config::ConfigShowSettings) -> anyhow::Result<Outcome> {
    if settings.providers {
        for p in crate::client::provider::PROVIDERS {
            let url = p.base_url.unwrap_or("(your resource's URL)");
            let model = p.default_model.unwrap_or("(name one)");
            say!("{:<13} {url}  key ${}  model {model}", p.name, p.key_var);
        }
        return Ok(Outcome::Success);
    }
    match &settings.file {
        Some(path) => say!("{:<18} {}", "config file", path.display()),
        None => say!("{:<18} (none; `ko2en config init` writes one)", "config file"),
    }
    if let Some(profile) = &settings.profile {
        say!("{:<18} {profile}", "profile");
    }
    for line in &settings.shown {
        say!("{:<18} {}  ({})", line.key, line.value, line.origin);
    }
    for notice in &settings.notices {
        eprintln!("ko2en: {notice}");
    }
    Ok(Outcome::Success)
}

/// `ko2en config init`: the commented example, never over an existing file.
pub(super) fn config_init(path: &std::path::Path) -> anyhow::Result<Outcome> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!(
                "{} already exists; ko2en does not overwrite it (edit it, or name another file)",
                path.display()
            )
        }
        Err(e) => anyhow::bail!("cannot create {}: {e}", path.display()),
    };
    std::io::Write::write_all(&mut file, crate::config::EXAMPLE_CONFIG.as_bytes())?;
    eprintln!("ko2en: wrote {}; `ko2en config show` prints what a run would use", path.display());
    Ok(Outcome::Success)
}

/// `ko2en check`: one tiny request to each route, and what it showed about the endpoint.
pub(super) async fn check_endpoint(settings: crate::config::CheckSettings) -> Result<Outcome> {
    for notice in &settings.notices {
        eprintln!("ko2en: {notice}");
    }
    let (clients, _mock) = connect(&settings.target, &settings.endpoint).await?;
    let mut outcome = Outcome::Success;
    for (i, client) in clients.iter().enumerate() {
        if i > 0 {
            say!("");
        }
        if check_route(client).await == Outcome::Stopped {
            outcome = Outcome::Stopped;
        }
    }
    Ok(outcome)
}

/// One route's check. A form the server refuses is stepped down and tried again, as a run
/// would, and reported.
async fn check_route(client: &crate::client::Client) -> Outcome {
    use crate::client::{ChatRequest, ClientError, ReplySchema};
    say!("url              {}", client.chat_url());
    say!("model            {}", client.model());
    let schema = ReplySchema {
        name: "check",
        schema: serde_json::json!({
            "type": "object",
            "properties": {"ok": {"type": "boolean"}},
            "required": ["ok"],
            "additionalProperties": false,
        }),
    };
    // The wire puts the schema in the prompt where the server does not enforce it.
    let system = "Reply with one JSON object.".to_string();
    let messages =
        crate::prompt::Messages::new(system, "Is this endpoint working? Answer {\"ok\": true}.".into());
    let kind = crate::sizing::AnswerKind::Summary;
    let request = ChatRequest { messages: &messages, schema: &schema, max_tokens: 64, kind, input_tokens: 0 };
    for _ in 0..3 {
        let wire = client.prepare(&request);
        let started = Instant::now();
        let attempt = client.send(&wire, &|_| {}).await;
        let latency = started.elapsed();
        if let Some(server) = &attempt.server {
            let figure = |limit: Option<u32>, remaining: Option<u32>, unit: &str| match (limit, remaining) {
                (Some(l), Some(r)) => Some(format!("{l} {unit}/min ({r} left)")),
                (Some(l), None) => Some(format!("{l} {unit}/min")),
                (None, Some(r)) => Some(format!("{r} {unit} left")),
                (None, None) => None,
            };
            let limits: Vec<String> = [
                figure(server.limit_requests, server.remaining_requests, "requests"),
                figure(server.limit_tokens, server.remaining_tokens, "tokens"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !limits.is_empty() {
                say!("limits           {}", limits.join(", "));
            }
        }
        match &attempt.result {
            Ok(response) => {
                say!("key              accepted");
                say!("response format  {} (accepted)", client.response_format().name());
                let json = serde_json::from_str::<serde_json::Value>(response.content.trim()).is_ok();
                say!(
                    "answer           {}",
                    if json { "valid JSON" } else { "not JSON: runs will repair or fail its answers" }
                );
                say!("latency          {:.2} s", latency.as_secs_f64());
                return Outcome::Success;
            }
            Err(error) => {
                if let Some(Some(change)) = client.adapt(error, &wire) {
                    say!("note             {change}");
                    continue;
                }
                let message = match error {
                    e if e.misconfiguration()
                        || matches!(e, ClientError::Status { status: 401 | 403, .. }) =>
                    {
                        client.misconfigured(e)
                    }
                    e => format!("{e}"),
                };
                eprintln!("ko2en: check failed: {message}");
                return Outcome::Stopped;
            }
        }
    }
    eprintln!("ko2en: check failed: the endpoint refused every form of the request");
    Outcome::Stopped
}
