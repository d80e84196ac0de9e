//! Provider presets: what differs between the servers that speak OpenAI's chat completions, as
//! data. One row per provider, each taken from the provider's own documentation (cited beside
//! it): where its endpoint is, which variable conventionally holds the key and how the key is
//! sent, which field carries the completion budget, the strongest structured output it
//! enforces, how its rate-limit headers must be read, and what to check when it refuses.
//!
//! A preset is a starting point, never a cage: every field can be overridden by a flag, the
//! environment or a profile (`config` resolves them; precedence is written there once).

use super::header::Dialect;
use super::settings::ResponseFormat;

/// How the key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `Authorization: Bearer KEY`: OpenAI and nearly everyone else.
    Bearer,
    /// `api-key: KEY`: Azure OpenAI.
    ApiKeyHeader,
}

/// Where `/chat/completions` hangs off the base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlShape {
    /// `{base}/chat/completions`.
    OpenAi,
    /// Azure's classic form: `{base}/openai/deployments/{model}/chat/completions?api-version=V`,
    /// the model being the deployment's name.
    AzureDeployment { api_version: String },
}

/// The field that carries the completion budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BudgetField {
    /// `max_completion_tokens` for OpenAI's reasoning models (which reject `max_tokens`),
    /// `max_tokens` for the rest: decided by the model's name.
    ByModel,
    MaxTokens,
    MaxCompletionTokens,
}

impl BudgetField {
    /// The name kept in the cache's record of what an endpoint takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            BudgetField::ByModel => "auto",
            BudgetField::MaxTokens => "max_tokens",
            BudgetField::MaxCompletionTokens => "max_completion_tokens",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<BudgetField> {
        match name {
            "max_tokens" => Some(BudgetField::MaxTokens),
            "max_completion_tokens" => Some(BudgetField::MaxCompletionTokens),
            "auto" | "by-model" => Some(BudgetField::ByModel),
            _ => None,
        }
    }
}

/// One provider's preset.
#[derive(Debug)]
pub(crate) struct Provider {
    pub(crate) name: &'static str,
    /// The base URL (…/v1); None where it names the user's own resource (Azure).
    pub(crate) base_url: Option<&'static str>,
    /// The variable the key is conventionally kept in.
    pub(crate) key_var: &'static str,
    /// Local servers accept any key or none.
    pub(crate) key_required: bool,
    pub(crate) auth: Auth,
    /// Whether the deployment is in the URL (Azure classic).
    pub(crate) azure_deployments: bool,
    pub(crate) budget_field: BudgetField,
    /// The strongest `response_format` the provider enforces.
    pub(crate) response_format: ResponseFormat,
    /// The model used when none is named; None where the user's own models are the only ones
    /// (local servers, Azure deployments).
    pub(crate) default_model: Option<&'static str>,
    pub(crate) dialect: Dialect,
    /// What to check first when the endpoint refuses the URL or the model.
    pub(crate) hint: &'static str,
}

const LOCAL_HINT: &str = "is the server running, and is --model a model it has loaded?";

/// The presets, by name. `ko2en config show --providers` lists them.
pub(crate) static PROVIDERS: &[Provider] = &[
    // https://platform.openai.com/docs/api-reference/chat/create
    // https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers
    Provider {
        name: "openai",
        base_url: Some("https://api.openai.com/v1"),
        key_var: "OPENAI_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::ByModel,
        response_format: ResponseFormat::JsonSchema,
        default_model: Some("gpt-4o-mini"),
        dialect: Dialect::Standard,
        hint: "does the base URL end in /v1, and is --model a model your key can use?",
    },
    // https://learn.microsoft.com/azure/ai-foundry/openai/reference (classic data plane:
    // /openai/deployments/{deployment-id}/chat/completions?api-version=…, `api-key` header;
    // `max_completion_tokens` from api-version 2024-09-01-preview on; -1 or missing limits).
    Provider {
        name: "azure",
        base_url: None,
        key_var: "AZURE_OPENAI_API_KEY",
        key_required: true,
        auth: Auth::ApiKeyHeader,
        azure_deployments: true,
        budget_field: BudgetField::MaxCompletionTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: None,
        dialect: Dialect::Standard,
        hint: "on Azure, --base-url is https://RESOURCE.openai.azure.com and --model is the deployment name",
    },
    // https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle (the v1 API:
    // {resource}/openai/v1/, no api-version, the model field is the deployment name).
    Provider {
        name: "azure-v1",
        base_url: None,
        key_var: "AZURE_OPENAI_API_KEY",
        key_required: true,
        auth: Auth::ApiKeyHeader,
        azure_deployments: false,
        budget_field: BudgetField::MaxCompletionTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: None,
        dialect: Dialect::Standard,
        hint: "on Azure, --base-url is https://RESOURCE.openai.azure.com/openai/v1 and --model is the deployment name",
    },
    // https://ai.google.dev/gemini-api/docs/openai
    Provider {
        name: "gemini",
        base_url: Some("https://generativelanguage.googleapis.com/v1beta/openai"),
        key_var: "GEMINI_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: Some("gemini-2.5-flash"),
        dialect: Dialect::Standard,
        hint: "Gemini's base URL ends in /v1beta/openai; is --model a Gemini model name?",
    },
    // https://docs.anthropic.com/en/api/openai-sdk (response_format is "ignored": the schema
    // goes in the prompt; rate limits come as x-ratelimit-* there).
    Provider {
        name: "anthropic",
        base_url: Some("https://api.anthropic.com/v1"),
        key_var: "ANTHROPIC_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::Text,
        default_model: Some("claude-haiku-4-5"),
        dialect: Dialect::Standard,
        hint: "Anthropic's OpenAI-compatible base URL is https://api.anthropic.com/v1; is --model a Claude model?",
    },
    // https://api-docs.deepseek.com/ and /guides/json_mode (json_object only; no rate-limit
    // headers: it holds connections open instead)
    Provider {
        name: "deepseek",
        base_url: Some("https://api.deepseek.com/v1"),
        key_var: "DEEPSEEK_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonObject,
        default_model: Some("deepseek-chat"),
        dialect: Dialect::Standard,
        hint: "is --model deepseek-chat or deepseek-reasoner?",
    },
    // https://openrouter.ai/docs/api-reference/overview
    Provider {
        name: "openrouter",
        base_url: Some("https://openrouter.ai/api/v1"),
        key_var: "OPENROUTER_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: Some("openai/gpt-4o-mini"),
        dialect: Dialect::Standard,
        hint: "OpenRouter model names carry their vendor, like openai/gpt-4o-mini",
    },
    // https://console.groq.com/docs/openai and https://console.groq.com/docs/rate-limits
    // (x-ratelimit-limit-requests is per day there; the token figures are per minute).
    Provider {
        name: "groq",
        base_url: Some("https://api.groq.com/openai/v1"),
        key_var: "GROQ_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxCompletionTokens,
        response_format: ResponseFormat::JsonObject,
        default_model: Some("llama-3.3-70b-versatile"),
        dialect: Dialect::RequestsPerDay,
        hint: "Groq's base URL ends in /openai/v1; is --model one of its models?",
    },
    // https://docs.mistral.ai/capabilities/structured-output/custom_structured_output
    Provider {
        name: "mistral",
        base_url: Some("https://api.mistral.ai/v1"),
        key_var: "MISTRAL_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: Some("mistral-small-latest"),
        dialect: Dialect::Standard,
        hint: "is --model a Mistral model, like mistral-small-latest?",
    },
    // https://console.upstage.ai/docs/capabilities/generate/structured-outputs
    Provider {
        name: "upstage",
        base_url: Some("https://api.upstage.ai/v1"),
        key_var: "UPSTAGE_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: Some("solar-pro2"),
        dialect: Dialect::Standard,
        hint: "is --model a Solar model, like solar-pro2 or solar-mini?",
    },
    // https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope
    // (international endpoint, Singapore; JSON mode is json_object). `max_tokens` is retired
    // for `max_completion_tokens` (alibabacloud.com/en/notice/model_studio_notice_of_changes_to_certain_model_fields_724).
    Provider {
        name: "dashscope",
        base_url: Some("https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
        key_var: "DASHSCOPE_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxCompletionTokens,
        response_format: ResponseFormat::JsonObject,
        default_model: Some("qwen-plus"),
        dialect: Dialect::Standard,
        hint: "international keys use dashscope, keys from the China (Beijing) region dashscope-cn",
    },
    // The same pages, mainland China (Beijing) endpoint.
    Provider {
        name: "dashscope-cn",
        base_url: Some("https://dashscope.aliyuncs.com/compatible-mode/v1"),
        key_var: "DASHSCOPE_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxCompletionTokens,
        response_format: ResponseFormat::JsonObject,
        default_model: Some("qwen-plus"),
        dialect: Dialect::Standard,
        hint: "keys from the international region use dashscope, Beijing keys dashscope-cn",
    },
    // https://api.ncloud-docs.com/docs/en/clovastudio-openaicompatibility (HyperCLOVA X through
    // the OpenAI-compatible API). Its field list does not promise `response_format`, so JSON
    // is asked for in the prompt.
    Provider {
        name: "clova",
        base_url: Some("https://clovastudio.stream.ntruss.com/v1/openai"),
        key_var: "CLOVA_STUDIO_API_KEY",
        key_required: true,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::Text,
        default_model: Some("HCX-005"),
        dialect: Dialect::Standard,
        hint: "is --model a HyperCLOVA X model, like HCX-005, and is the key a CLOVA Studio API key?",
    },
    // https://github.com/ollama/ollama/blob/main/docs/openai.md
    Provider {
        name: "ollama",
        base_url: Some("http://localhost:11434/v1"),
        key_var: "OLLAMA_API_KEY",
        key_required: false,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: None,
        dialect: Dialect::Standard,
        hint: "is ollama serving (ollama serve), and is --model pulled (ollama list)?",
    },
    // https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
    Provider {
        name: "vllm",
        base_url: Some("http://localhost:8000/v1"),
        key_var: "VLLM_API_KEY",
        key_required: false,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: None,
        dialect: Dialect::Standard,
        hint: "is vllm serve running, and is --model the name it serves (its --served-model-name)?",
    },
    // https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md (serves one
    // model whatever the request names; response_format with a schema is supported)
    Provider {
        name: "llamacpp",
        base_url: Some("http://localhost:8080/v1"),
        key_var: "LLAMA_API_KEY",
        key_required: false,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: Some("default"),
        dialect: Dialect::Standard,
        hint: LOCAL_HINT,
    },
    // https://lmstudio.ai/docs/app/api/endpoints/openai
    Provider {
        name: "lmstudio",
        base_url: Some("http://localhost:1234/v1"),
        key_var: "LM_API_TOKEN",
        key_required: false,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: None,
        dialect: Dialect::Standard,
        hint: LOCAL_HINT,
    },
    // https://docs.litellm.ai/docs/proxy/quick_start and
    // https://docs.litellm.ai/docs/proxy/users (per-key limits: x-ratelimit-api_key-* headers)
    Provider {
        name: "litellm",
        base_url: Some("http://localhost:4000/v1"),
        key_var: "LITELLM_API_KEY",
        key_required: false,
        auth: Auth::Bearer,
        azure_deployments: false,
        budget_field: BudgetField::MaxTokens,
        response_format: ResponseFormat::JsonSchema,
        default_model: None,
        dialect: Dialect::Standard,
        hint: "is --model a model_name of the proxy's config?",
    },
];

/// The preset called `name`.
pub(crate) fn provider(name: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The preset whose endpoint `base_url` is, when one is recognisable by host: a user who
/// only changed the URL still gets the right header dialect, budget field and hint.
pub(crate) fn by_url(base_url: &str) -> Option<&'static Provider> {
    let host = base_url.split("://").nth(1)?.split(['/', '?']).next()?.to_ascii_lowercase();
    let name = match host.as_str() {
        h if h.ends_with(".openai.azure.com") || h.ends_with(".cognitiveservices.azure.com") => {
            if base_url.contains("/openai/v1") { "azure-v1" } else { "azure" }
        }
        "api.openai.com" => "openai",
        "generativelanguage.googleapis.com" => "gemini",
        "api.anthropic.com" => "anthropic",
        "api.deepseek.com" => "deepseek",
        "openrouter.ai" => "openrouter",
        "api.groq.com" => "groq",
        "api.mistral.ai" => "mistral",
        "api.upstage.ai" => "upstage",
        "dashscope-intl.aliyuncs.com" => "dashscope",
        "dashscope.aliyuncs.com" => "dashscope-cn",
        "clovastudio.stream.ntruss.com" => "clova",
        _ => return None,
    };
    provider(name)
}

/// Every preset's name, for messages.
pub(crate) fn names() -> String {
    PROVIDERS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_a_unique_name_a_key_variable_and_an_http_url() {
        for (i, p) in PROVIDERS.iter().enumerate() {
            assert!(PROVIDERS[i + 1..].iter().all(|q| q.name != p.name), "{} twice", p.name);
            assert!(!p.key_var.is_empty() && !p.hint.is_empty(), "{}", p.name);
            if let Some(url) = p.base_url {
                assert!(url.starts_with("https://") || url.starts_with("http://localhost:"), "{url}");
                assert!(!url.ends_with('/') && !url.ends_with("/chat/completions"), "{url}");
            }
        }
    }

    #[test]
    fn a_known_host_names_its_preset() {
        assert_eq!(by_url("https://my-res.openai.azure.com").unwrap().name, "azure");
        assert_eq!(by_url("https://my-res.openai.azure.com/openai/v1").unwrap().name, "azure-v1");
        assert_eq!(by_url("https://api.groq.com/openai/v1").unwrap().name, "groq");
        assert_eq!(by_url("https://API.DEEPSEEK.COM").unwrap().name, "deepseek");
        assert!(by_url("http://127.0.0.1:4000/v1").is_none());
        assert!(by_url("not a url").is_none());
        assert_eq!(
            provider("Gemini").unwrap().base_url,
            Some("https://generativelanguage.googleapis.com/v1beta/openai")
        );
    }
}
