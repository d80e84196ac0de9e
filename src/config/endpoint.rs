//! Where requests go and how they authenticate: the provider (named, or known by the base
//! URL's host), the base URL as users paste it, the key (a variable, a command or the key
//! itself), the model, and the provider's forms of the protocol. Part of `config`, which
//! resolves everything else.

use std::time::Duration;

use super::layers::{Layers, Origin};
use super::{ConfigError, Target, file, resolve_mock_opts};
use crate::cli;
use crate::client::provider::{self, Auth, BudgetField, Provider, UrlShape};
use crate::client::{ApiKey, EndpointSettings, Protocol, ResponseFormat};

/// The model for an endpoint no preset knows, when nothing names one: OpenAI's cheap model,
/// which most proxies route.
pub(super) const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Azure's api-version for the classic deployments URL: the latest GA version
/// (learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle).
const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// The base URL as given, made into one: a pasted `…/chat/completions` is cut off, and an
/// Azure deployments URL gives its deployment and api-version. Returns the base and what the
/// URL said beside it.
struct ParsedUrl {
    base: String,
    deployment: Option<String>,
    api_version: Option<String>,
    notice: Option<String>,
}

fn parse_base_url(given: &str) -> Result<ParsedUrl, ConfigError> {
    if !(given.starts_with("http://") || given.starts_with("https://")) {
        return Err(ConfigError::Invalid(format!(
            "--base-url must start with http:// or https://, got {given:?}"
        )));
    }
    let (path, query) = given.split_once('?').unwrap_or((given, ""));
    let mut api_version = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("api-version", v)) if !v.is_empty() => api_version = Some(v.to_string()),
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "the base URL {path} has a query ({pair}) ko2en does not know; give the URL without it"
                )));
            }
        }
    }
    let mut base = path.trim_end_matches('/').to_string();
    let mut notice = None;
    if let Some(cut) = base.strip_suffix("/chat/completions") {
        notice = Some(format!("using {cut} as the base URL: ko2en adds /chat/completions itself"));
        base = cut.trim_end_matches('/').to_string();
    }
    let mut deployment = None;
    if let Some((resource, rest)) = base.split_once("/openai/deployments/") {
        deployment = Some(rest.trim_matches('/').to_string()).filter(|d| !d.is_empty() && !d.contains('/'));
        if deployment.is_none() {
            return Err(ConfigError::Invalid(format!("cannot read the deployment's name from {given}")));
        }
        base = resource.to_string();
    }
    Ok(ParsedUrl { base, deployment, api_version, notice })
}

pub(super) fn resolve_endpoint(
    args: cli::EndpointArgs,
    layers: &Layers,
) -> Result<(Target, EndpointSettings), ConfigError> {
    if !args.mock_opt.is_empty() && !args.mock {
        return Err(ConfigError::Invalid("--mock-opt only applies with --mock".into()));
    }
    let env = layers.env;

    // The provider: named, else recognised by the URL's host, else OpenAI.
    let named = layers.pick_text(args.provider.clone(), Some("KO2EN_PROVIDER"), |p| p.provider.clone());
    let named_provider = match &named {
        Some((name, origin)) => Some((
            provider::provider(name).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "no provider preset {name:?} ({origin}); known presets: {}",
                    provider::names()
                ))
            })?,
            origin.clone(),
        )),
        None => None,
    };
    // OPENAI_BASE_URL is OpenAI's variable: it only applies when no other provider is named.
    let openai_only = named_provider.as_ref().is_none_or(|(p, _)| p.name == "openai");
    let url_given = layers
        .pick_text(args.base_url.clone(), Some("KO2EN_BASE_URL"), |p| p.base_url.clone())
        .map(|(url, origin)| match origin {
            // The profile and file come after both variables in precedence.
            Origin::Profile(_) | Origin::File if openai_only => match env("OPENAI_BASE_URL") {
                Some(v) if !v.trim().is_empty() => (v.trim().to_string(), Origin::Env("OPENAI_BASE_URL")),
                _ => (url, origin),
            },
            _ => (url, origin),
        })
        .or_else(|| {
            let v = env("OPENAI_BASE_URL").filter(|v| !v.trim().is_empty() && openai_only)?;
            Some((v.trim().to_string(), Origin::Env("OPENAI_BASE_URL")))
        });
    let parsed = url_given.as_ref().map(|(url, _)| parse_base_url(url)).transpose()?;
    let (provider, provider_origin): (Option<&Provider>, Origin) = match named_provider {
        Some((p, origin)) => (Some(p), origin),
        None => match &parsed {
            Some(parsed) if parsed.deployment.is_some() => (provider::provider("azure"), Origin::Default),
            Some(parsed) => (provider::by_url(&parsed.base), Origin::Default),
            None => (provider::provider("openai"), Origin::Default),
        },
    };
    let preset = |name: &'static str| Origin::Preset(name);
    if !args.mock {
        layers.show(
            "provider",
            provider.map_or("(none: a generic OpenAI-compatible server)", |p| p.name),
            provider_origin,
        );
    }

    // The key: a variable named by flag, else whatever the profile or file says (a variable,
    // a command or the key itself), else the preset's variable.
    let api_key_env = args.api_key_env.clone();
    if let Some(name) = &api_key_env
        && !is_variable_name(name)
    {
        // Most likely the key itself, pasted where its variable's name belongs: never echoed.
        return Err(ConfigError::Invalid(
            "--api-key-env takes the name of the environment variable that holds the key (like \
             OPENAI_API_KEY), not the key itself; the value given is not shown. Put the key in a \
             variable and name that variable"
                .into(),
        ));
    }
    let key_required = provider.is_none_or(|p| p.key_required);
    let default_var = provider.map_or("OPENAI_API_KEY", |p| p.key_var);
    let (api_key, key_source): (Option<ApiKey>, String) = if args.mock {
        (None, "none (the mock needs none)".into())
    } else if let Some(var) = api_key_env {
        (key_in(env, &var), format!("${var}"))
    } else {
        resolve_key(layers, default_var)?
    };
    let key_origin = if args.api_key_env.is_some() { Origin::Flag } else { Origin::Default };
    if !args.mock {
        let state = if api_key.is_some() { "set, not shown" } else { "not set" };
        layers.show("api key", format!("{key_source} ({state})"), key_origin);
    }
    if api_key.is_none() && !args.mock && key_required {
        let var = key_source.strip_prefix('$').unwrap_or(default_var).to_string();
        return Err(ConfigError::MissingKey { var });
    }

    let target = if args.mock {
        Target::Mock(Box::new(resolve_mock_opts(&args.mock_opt)?))
    } else {
        let (base, origin) = match (&parsed, &url_given) {
            (Some(parsed), Some((_, origin))) => (parsed.base.clone(), origin.clone()),
            _ => match provider.and_then(|p| p.base_url) {
                Some(url) => (url.to_string(), preset(provider.map_or("", |p| p.name))),
                None => {
                    return Err(ConfigError::Invalid(format!(
                        "{} needs a base URL: {}",
                        provider.map_or("this provider", |p| p.name),
                        provider.map_or("", |p| p.hint)
                    )));
                }
            },
        };
        if let Some(notice) = parsed.as_ref().and_then(|p| p.notice.clone()) {
            layers.notices.borrow_mut().push(notice);
        }
        layers.show("base url", &base, origin);
        Target::Url(base)
    };

    // The model: named, else the deployment in an Azure URL, else the preset's default.
    let model = layers.pick_text(args.model.clone(), Some("KO2EN_MODEL"), |p| p.model.clone());
    let model = match model {
        Some(m) => m,
        None if args.mock => (crate::mock::MOCK_MODEL.to_string(), Origin::Default),
        None => match (parsed.as_ref().and_then(|p| p.deployment.clone()), provider) {
            (Some(deployment), _) => (deployment, Origin::Default),
            (None, Some(p)) => match p.default_model {
                Some(m) => (m.to_string(), preset(p.name)),
                None => {
                    return Err(ConfigError::Invalid(format!(
                        "{} has no default model: name one with -m/--model or model = \"…\" in a profile ({})",
                        p.name, p.hint
                    )));
                }
            },
            (None, None) => (DEFAULT_MODEL.to_string(), Origin::Default),
        },
    };
    layers.show("model", &model.0, model.1.clone());

    // The flag's value by the name a profile spells ("json_schema"), so both parse one way.
    let flag = args.response_format.map(|f| {
        match f {
            cli::ResponseFormatArg::JsonSchema => ResponseFormat::JsonSchema,
            cli::ResponseFormatArg::JsonObject => ResponseFormat::JsonObject,
            cli::ResponseFormatArg::Text => ResponseFormat::Text,
        }
        .name()
        .to_string()
    });
    let response_format = match layers.pick_text(flag, None, |p| p.response_format.clone()) {
        Some((name, origin)) => (
            ResponseFormat::parse(&name.replace('-', "_")).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "response_format ({origin}) must be json-schema, json-object or text"
                ))
            })?,
            origin,
        ),
        None => match provider {
            Some(p) => (p.response_format, preset(p.name)),
            None => (ResponseFormat::JsonSchema, Origin::Default),
        },
    };
    layers.show("response format", response_format.0.name(), response_format.1.clone());

    let budget_field = match layers.pick_text(args.token_param.clone(), None, |p| p.token_param.clone()) {
        Some((name, origin)) => (
            BudgetField::parse(&name).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "token_param {name:?} ({origin}) must be max_tokens, max_completion_tokens or auto"
                ))
            })?,
            origin,
        ),
        None => match provider {
            Some(p) => (p.budget_field, preset(p.name)),
            None => (BudgetField::ByModel, Origin::Default),
        },
    };
    layers.show("token parameter", budget_field.0.name(), budget_field.1.clone());

    let azure_deployments = provider.is_some_and(|p| p.azure_deployments) && !args.mock;
    let url_shape = if azure_deployments {
        let version = layers
            .pick_text(args.api_version.clone(), None, |p| p.api_version.clone())
            .or_else(|| Some((parsed.as_ref()?.api_version.clone()?, Origin::Flag)))
            .unwrap_or((DEFAULT_AZURE_API_VERSION.to_string(), Origin::Default));
        layers.show("api version", &version.0, version.1);
        UrlShape::AzureDeployment { api_version: version.0 }
    } else {
        UrlShape::OpenAi
    };

    let temperature = layers.pick(args.temperature, |p| p.temperature);
    if let Some((t, _)) = temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(ConfigError::Invalid(format!("--temperature must be between 0 and 2, got {t}")));
    }
    let timeout = layers.pick(args.timeout, |p| p.timeout).unwrap_or((120, Origin::Default));
    if timeout.0 == 0 {
        return Err(ConfigError::Invalid("--timeout must be at least 1 second".into()));
    }
    let stream =
        layers.pick(args.no_stream.then_some(false), |p| p.stream).unwrap_or((true, Origin::Default));
    let how = if stream.0 { "of silence, answers streamed" } else { "of the whole request, answers whole" };
    layers.show("timeout", format!("{} s {how}", timeout.0), timeout.1);
    layers.show("stream", stream.0, stream.1);
    let endpoint = EndpointSettings {
        api_key,
        model: model.0,
        response_format: response_format.0,
        temperature: temperature.map(|(t, _)| t),
        timeout: Duration::from_secs(timeout.0),
        stream: stream.0,
        protocol: Protocol {
            auth: if args.mock { Auth::Bearer } else { provider.map_or(Auth::Bearer, |p| p.auth) },
            url_shape,
            budget_field: budget_field.0,
            dialect: provider.map_or(crate::client::Dialect::Standard, |p| p.dialect),
        },
        hint: provider.map(|p| p.hint),
    };
    Ok((target, endpoint))
}

/// The key as the profile or file says it (`api_key_env`, `api_key_cmd` or `api_key`, the
/// nearest layer winning), else from the preset's variable. Returns the key and where it was
/// looked for, for messages.
fn resolve_key(layers: &Layers, default_var: &str) -> Result<(Option<ApiKey>, String), ConfigError> {
    enum Source {
        Var(String),
        Cmd(String),
        Literal(String),
    }
    let from = |p: &file::Profile| {
        p.api_key_env
            .clone()
            .map(Source::Var)
            .or_else(|| p.api_key_cmd.clone().map(Source::Cmd))
            .or_else(|| p.api_key.clone().map(Source::Literal))
    };
    let env = layers.env;
    match layers.configured(from) {
        None => Ok((key_in(env, default_var), format!("${default_var}"))),
        Some((Source::Var(var), origin)) => {
            if !is_variable_name(&var) {
                return Err(ConfigError::Invalid(format!(
                    "api_key_env ({origin}) takes the name of the variable that holds the key, not the key; put the key itself under api_key_cmd or api_key"
                )));
            }
            Ok((key_in(env, &var), format!("${var}")))
        }
        Some((Source::Cmd(cmd), origin)) => {
            let key = run_key_command(&cmd, &origin)?;
            // The command is shown, never the key, even when the command spells it out.
            let shown = crate::redact::redact(&cmd, Some(key.expose()));
            Ok((Some(key), format!("the command `{shown}`")))
        }
        Some((Source::Literal(key), origin)) => {
            if layers.file.readable_by_others {
                let path = layers.file.path.as_ref().map_or(String::new(), |p| p.display().to_string());
                layers.notices.borrow_mut().push(format!(
                    "warning: {path} holds an API key ({origin}) and others can read it; chmod 600 {path}, or use api_key_env or api_key_cmd"
                ));
            }
            Ok((Some(ApiKey::new(key.trim())), format!("api_key in the {origin}")))
        }
    }
}

/// The key in variable `var`; blank counts as unset.
fn key_in(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Option<ApiKey> {
    env(var).filter(|k| !k.trim().is_empty()).map(|k| ApiKey::new(k.trim()))
}

/// Run `api_key_cmd` (through `sh -c`, as `llm` and `aichat` do) and take its first line.
/// Neither its output nor its error output is echoed: either may be the key.
fn run_key_command(cmd: &str, origin: &Origin) -> Result<ApiKey, ConfigError> {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| ConfigError::Invalid(format!("cannot run api_key_cmd ({origin}): {e}")))?;
    let key = String::from_utf8_lossy(&output.stdout).lines().next().unwrap_or("").trim().to_string();
    if !output.status.success() || key.is_empty() {
        let cmd = crate::redact::redact(cmd, None);
        return Err(ConfigError::Invalid(format!(
            "api_key_cmd `{cmd}` ({origin}) {}; run it yourself to see why",
            if output.status.success() {
                "printed nothing".to_string()
            } else {
                format!("failed ({})", output.status)
            }
        )));
    }
    Ok(ApiKey::new(key))
}

/// An environment variable's name as shells write one (letters, digits, `_`; not a digit
/// first), and not shaped like a key (`sk-…` is not a name anyway).
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// Whether `base_url` names a server on this machine or the local network (llama.cpp, Ollama,
/// LM Studio, vLLM on a workstation): such servers run a few requests at once and queue the
/// rest, so a run starts with few in flight and grows while their latency holds.
pub(super) fn is_local(base_url: &str) -> bool {
    let rest = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    }
    .to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") || host.ends_with(".local") {
        return true;
    }
    if host == "host.docker.internal" {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_unspecified() || ip.is_link_local()
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00
        }
        Err(_) => false,
    }
}
