//! Where requests go and how they authenticate: the provider (named, or known by the base
//! URL's host), the base URL as users paste it, the key (a variable, a command or the key
//! itself), the model, and the provider's forms of the protocol. Part of `config`, which
//! resolves everything else.

use std::time::Duration;

use super::layers::{Layers, Origin};
use super::{ConfigError, Target, file, resolve_mock_opts};
use crate::cli;
use crate::client::provider::{self, Auth, BudgetField, Provider, UrlShape};
use crate::client::{ApiKey, EndpointSettings, Protocol, ResponseFormat, Route};

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
    let given = given_routes(&args, layers, openai_only)?;
    let specs = given.as_ref().map(|(given, _)| given.specs()).unwrap_or_default();
    let parsed = specs
        .iter()
        .map(|spec| spec.url.as_deref().map(parse_base_url).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let first = parsed.iter().flatten().next();
    if let Some(a) = first
        && let Some(b) = parsed.iter().flatten().find(|b| b.deployment != a.deployment)
    {
        return Err(ConfigError::Invalid(format!(
            "{} and {} name different Azure deployments; the endpoints of one run serve one model",
            a.base, b.base
        )));
    }
    let (provider, provider_origin): (Option<&Provider>, Origin) = match named_provider {
        Some((p, origin)) => (Some(p), origin),
        None => match first {
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

    // The key: variables named by flag (one for all routes, or one each), else the route's
    // own in `endpoints`, else whatever the profile or file says (a variable, a command or
    // the key itself), else the preset's variable.
    let vars = split_list(args.api_key_env.as_deref().unwrap_or(""));
    if vars.iter().any(|name| !is_variable_name(name)) {
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
    // Routes as (its spec, where its URL was parsed, its key's variable from the flag).
    let mut paired: Vec<(RouteSpec, Option<&ParsedUrl>, Option<String>)> = if specs.is_empty() {
        vec![(RouteSpec::default(), None, None)]
    } else {
        specs.into_iter().zip(parsed.iter().map(Option::as_ref)).map(|(s, p)| (s, p, None)).collect()
    };
    match (paired.len(), vars.len()) {
        (_, 0) => {}
        (_, 1) => paired.iter_mut().for_each(|route| route.2 = Some(vars[0].clone())),
        (1, _) => {
            let (spec, parsed, _) = paired.remove(0);
            paired = vars.iter().map(|var| (spec.clone(), parsed, Some(var.clone()))).collect();
        }
        (routes, keys) if routes == keys => {
            paired.iter_mut().zip(&vars).for_each(|(route, var)| route.2 = Some(var.clone()));
        }
        (routes, keys) => {
            return Err(ConfigError::Invalid(format!(
                "{routes} base URLs and {keys} key variables: name one variable for all of them, or one per URL in the same order"
            )));
        }
    }
    let mut shared: Option<(Option<ApiKey>, String)> = None;
    let mut keys: Vec<(Option<ApiKey>, String)> = Vec::new();
    for (spec, _, var) in &paired {
        keys.push(if args.mock {
            (None, "none (the mock needs none)".into())
        } else if let Some(var) = var {
            (key_in(env, var), format!("${var}"))
        } else if let Some(own) = &spec.key {
            let origin = given.as_ref().map_or(Origin::Default, |(_, o)| o.clone());
            key_from(own.clone(), &origin, layers)?
        } else if let Some(resolved) = &shared {
            resolved.clone()
        } else {
            shared.insert(resolve_key(layers, default_var)?).clone()
        });
    }
    let key_origin = if args.api_key_env.is_some() { Origin::Flag } else { Origin::Default };
    if !args.mock {
        let shown = keys
            .iter()
            .map(|(key, source)| {
                format!("{source} ({})", if key.is_some() { "set, not shown" } else { "not set" })
            })
            .collect::<Vec<_>>()
            .join(", ");
        layers.show("api key", shown, key_origin);
    }
    if !args.mock
        && key_required
        && let Some((_, source)) = keys.iter().find(|(key, _)| key.is_none())
    {
        let var = source.strip_prefix('$').unwrap_or(default_var).to_string();
        return Err(ConfigError::MissingKey { var });
    }

    let target = if args.mock {
        Target::Mock(Box::new(resolve_mock_opts(&args.mock_opt)?))
    } else {
        let mut routes = Vec::new();
        for ((_, parsed, _), (api_key, _)) in paired.iter().zip(keys) {
            let base_url = match parsed {
                Some(parsed) => parsed.base.clone(),
                None => match provider.and_then(|p| p.base_url) {
                    Some(url) => url.to_string(),
                    None => {
                        return Err(ConfigError::Invalid(format!(
                            "{} needs a base URL: {}",
                            provider.map_or("this provider", |p| p.name),
                            provider.map_or("", |p| p.hint)
                        )));
                    }
                },
            };
            if let Some(notice) = parsed.and_then(|p| p.notice.clone()) {
                layers.notices.borrow_mut().push(notice);
            }
            let twin = routes.iter().any(|r: &Route| {
                r.base_url == base_url
                    && r.api_key.as_ref().map(ApiKey::expose) == api_key.as_ref().map(ApiKey::expose)
            });
            if twin {
                return Err(ConfigError::Invalid(format!(
                    "{base_url} is listed twice with the same key: list each endpoint once (two keys of one API are two entries)"
                )));
            }
            routes.push(Route { base_url, api_key });
        }
        let origin = match &given {
            Some((_, origin)) if paired.iter().any(|(_, parsed, _)| parsed.is_some()) => origin.clone(),
            _ => preset(provider.map_or("", |p| p.name)),
        };
        let shown = routes.iter().map(|r| r.base_url.as_str()).collect::<Vec<_>>().join(", ");
        layers.show("base url", shown, origin);
        Target::Routes(routes)
    };

    // The model: named, else the deployment in an Azure URL, else the preset's default.
    let model = layers.pick_text(args.model.clone(), Some("KO2EN_MODEL"), |p| p.model.clone());
    let model = match model {
        Some(m) => m,
        None if args.mock => (crate::mock::MOCK_MODEL.to_string(), Origin::Default),
        None => match (first.and_then(|p| p.deployment.clone()), provider) {
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
            .or_else(|| Some((first?.api_version.clone()?, Origin::Flag)))
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

/// Where a key comes from, as a profile, the file or an `endpoints` entry says it.
#[derive(Debug, Clone)]
enum KeySource {
    Var(String),
    Cmd(String),
    Literal(String),
}

impl KeySource {
    /// What `p` (or an entry of its `endpoints`) says, the variable first.
    fn of(var: &Option<String>, cmd: &Option<String>, literal: &Option<String>) -> Option<KeySource> {
        var.clone()
            .map(KeySource::Var)
            .or_else(|| cmd.clone().map(KeySource::Cmd))
            .or_else(|| literal.clone().map(KeySource::Literal))
    }
}

/// The key as the profile or file says it (`api_key_env`, `api_key_cmd` or `api_key`, the
/// nearest layer winning), else from the preset's variable. Returns the key and where it was
/// looked for, for messages.
fn resolve_key(layers: &Layers, default_var: &str) -> Result<(Option<ApiKey>, String), ConfigError> {
    match layers.configured(|p| KeySource::of(&p.api_key_env, &p.api_key_cmd, &p.api_key)) {
        None => Ok((key_in(layers.env, default_var), format!("${default_var}"))),
        Some((source, origin)) => key_from(source, &origin, layers),
    }
}

/// The key `source` gives, and where it was looked for.
fn key_from(
    source: KeySource,
    origin: &Origin,
    layers: &Layers,
) -> Result<(Option<ApiKey>, String), ConfigError> {
    match source {
        KeySource::Var(var) => {
            if !is_variable_name(&var) {
                return Err(ConfigError::Invalid(format!(
                    "api_key_env ({origin}) takes the name of the variable that holds the key, not the key; put the key itself under api_key_cmd or api_key"
                )));
            }
            Ok((key_in(layers.env, &var), format!("${var}")))
        }
        KeySource::Cmd(cmd) => {
            let key = run_key_command(&cmd, origin)?;
            // The command is shown, never the key, even when the command spells it out.
            let shown = crate::redact::redact(&cmd, &[key.expose()]);
            Ok((Some(key), format!("the command `{shown}`")))
        }
        KeySource::Literal(key) => {
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

/// Where a run's routes were given, before they are parsed: URLs (a flag, a variable or a
/// `base_url`, several separated by commas), or a profile's `endpoints`.
enum Given {
    Urls(String),
    Entries(Vec<file::Route>),
}

/// One route as given: its URL (else the provider's) and its own key (else the run's).
#[derive(Debug, Clone, Default)]
struct RouteSpec {
    url: Option<String>,
    key: Option<KeySource>,
}

impl Given {
    fn specs(&self) -> Vec<RouteSpec> {
        match self {
            Given::Urls(text) => {
                split_list(text).into_iter().map(|url| RouteSpec { url: Some(url), key: None }).collect()
            }
            Given::Entries(entries) => entries
                .iter()
                .map(|entry| match entry {
                    file::Route::Url(url) => RouteSpec { url: Some(url.trim().to_string()), key: None },
                    file::Route::Table(t) => RouteSpec {
                        url: t.base_url.as_ref().map(|u| u.trim().to_string()),
                        key: KeySource::of(&t.api_key_env, &t.api_key_cmd, &t.api_key),
                    },
                })
                .collect(),
        }
    }
}

/// The routes as the nearest source gives them: `--base-url` (repeatable), `KO2EN_BASE_URL`,
/// `OPENAI_BASE_URL` (for OpenAI, before a profile's), the profile's or file's `endpoints` or
/// `base_url`.
fn given_routes(
    args: &cli::EndpointArgs,
    layers: &Layers,
    openai_only: bool,
) -> Result<Option<(Given, Origin)>, ConfigError> {
    let var = |name: &str| (layers.env)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    if !args.base_url.is_empty() {
        return Ok(Some((Given::Urls(args.base_url.join(",")), Origin::Flag)));
    }
    if let Some(urls) = var("KO2EN_BASE_URL") {
        return Ok(Some((Given::Urls(urls), Origin::Env("KO2EN_BASE_URL"))));
    }
    // The profile and file come after both variables in precedence.
    if let Some(urls) = var("OPENAI_BASE_URL").filter(|_| openai_only) {
        return Ok(Some((Given::Urls(urls), Origin::Env("OPENAI_BASE_URL"))));
    }
    let both = |p: &file::Profile| p.endpoints.is_some() && p.base_url.is_some();
    if let Some((_, origin)) = layers.configured(|p| both(p).then_some(())) {
        return Err(ConfigError::Invalid(format!(
            "the {origin} gives both base_url and endpoints: keep one (endpoints lists every URL)"
        )));
    }
    Ok(layers.configured(|p| match (&p.endpoints, &p.base_url) {
        (Some(entries), _) if !entries.is_empty() => Some(Given::Entries(entries.clone())),
        (_, Some(url)) if !url.trim().is_empty() => Some(Given::Urls(url.clone())),
        _ => None,
    }))
}

/// A comma-separated list, blanks dropped.
fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
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
        let cmd = crate::redact::redact(cmd, &[]);
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
