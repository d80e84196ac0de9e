//! Where a request goes and how it is authenticated, for async-openai: the provider's URL
//! shape (Azure puts the deployment in the path and the API version in the query) and key
//! header (`Authorization: Bearer` or Azure's `api-key`), or no key at all for a local server.
//!
//! ko2en's own `Config`, not async-openai's `OpenAIConfig`: that one reads `OPENAI_*`
//! variables from the process environment behind the settings' back, and knows one shape.

use async_openai::config::Config;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::provider::{Auth, UrlShape};

#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    base_url: String,
    /// The deployment, for Azure's classic shape (the model's name is the deployment's).
    deployment: String,
    shape: UrlShape,
    auth: Auth,
    /// Empty when the server needs none: then no key header is sent at all.
    key: SecretString,
}

impl Endpoint {
    pub(crate) fn new(
        base_url: &str,
        model: &str,
        shape: UrlShape,
        auth: Auth,
        key: Option<&str>,
    ) -> Endpoint {
        Endpoint {
            base_url: base_url.trim_end_matches('/').to_string(),
            deployment: model.to_string(),
            shape,
            auth,
            key: SecretString::from(key.unwrap_or_default().to_string()),
        }
    }

    /// The same endpoint at another base URL, with another key.
    pub(crate) fn at(&self, base_url: &str, key: Option<&str>) -> Endpoint {
        Endpoint {
            base_url: base_url.trim_end_matches('/').to_string(),
            key: SecretString::from(key.unwrap_or_default().to_string()),
            ..self.clone()
        }
    }

    pub(crate) fn shape(&self) -> &UrlShape {
        &self.shape
    }

    /// Where the account's own services (files, batches) are: under the base URL, or on
    /// Azure's classic API under the resource's `/openai`, not a deployment's path.
    pub(crate) fn service_url(&self, path: &str) -> String {
        match &self.shape {
            UrlShape::OpenAi => format!("{}{path}", self.base_url),
            UrlShape::AzureDeployment { .. } => format!("{}/openai{path}", self.base_url),
        }
    }

    /// The full URL of chat completions, for messages (without the query's key-free parts).
    pub(crate) fn chat_url(&self) -> String {
        let mut url = self.url("/chat/completions");
        for (i, (k, v)) in self.query().iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&format!("{k}={v}"));
        }
        url
    }
}

impl Config for Endpoint {
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let key = self.key.expose_secret();
        if key.is_empty() {
            return headers;
        }
        let (name, value) = match self.auth {
            Auth::Bearer => (AUTHORIZATION, format!("Bearer {key}")),
            Auth::ApiKeyHeader => (reqwest::header::HeaderName::from_static("api-key"), key.to_string()),
        };
        // A key with a character no header can carry was refused when settings were resolved.
        if let Ok(mut value) = HeaderValue::from_str(&value) {
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        headers
    }

    fn url(&self, path: &str) -> String {
        match &self.shape {
            UrlShape::OpenAi => format!("{}{path}", self.base_url),
            UrlShape::AzureDeployment { .. } => {
                format!("{}/openai/deployments/{}{path}", self.base_url, self.deployment)
            }
        }
    }

    fn query(&self) -> Vec<(&str, &str)> {
        match &self.shape {
            UrlShape::OpenAi => Vec::new(),
            UrlShape::AzureDeployment { api_version } => vec![("api-version", api_version.as_str())],
        }
    }

    fn api_base(&self) -> &str {
        &self.base_url
    }

    fn api_key(&self) -> &SecretString {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_classic_puts_the_deployment_in_the_path_and_the_version_in_the_query() {
        let shape = UrlShape::AzureDeployment { api_version: "2024-10-21".into() };
        let e =
            Endpoint::new("https://res.openai.azure.com/", "my-gpt", shape, Auth::ApiKeyHeader, Some("k"));
        assert_eq!(
            e.chat_url(),
            "https://res.openai.azure.com/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(e.service_url("/batches"), "https://res.openai.azure.com/openai/batches");
        let headers = e.headers();
        assert_eq!(headers.get("api-key").unwrap(), "k");
        assert!(headers.get(AUTHORIZATION).is_none());
    }

    #[test]
    fn bearer_by_default_and_no_header_without_a_key() {
        let e = Endpoint::new("http://h/v1", "m", UrlShape::OpenAi, Auth::Bearer, Some("k"));
        assert_eq!(e.chat_url(), "http://h/v1/chat/completions");
        assert_eq!(e.headers().get(AUTHORIZATION).unwrap(), "Bearer k");
        let keyless = Endpoint::new("http://h/v1", "m", UrlShape::OpenAi, Auth::Bearer, None);
        assert!(keyless.headers().is_empty());
    }
}
