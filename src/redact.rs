//! Keeping the API key out of everything ko2en prints or stores.

use std::sync::LazyLock;

/// Replace `key` and anything shaped like a secret with `[redacted]`: OpenAI-style keys
/// (`sk-…`), and whatever follows `Bearer` or an `api-key:` / `x-api-key:` header, whatever
/// the key's shape (Azure's are hex). Servers echo keys back in 401 messages ("Incorrect API
/// key provided: sk-abc…") and in error pages that dump the request's headers.
pub(crate) fn redact(text: &str, keys: &[&str]) -> String {
    static SECRET: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)(sk-[A-Za-z0-9_\-*]{6,})|(\bbearer\s+)[^\s"',;]+|(\b(?:x-)?api[-_]key["']?\s*[:=]\s*["']?)[^\s"',;]+"#,
        )
        .expect("valid regex")
    });
    let mut out = text.to_string();
    for key in keys.iter().filter(|k| k.len() >= 4) {
        out = out.replace(key, "[redacted]");
    }
    SECRET
        .replace_all(&out, |c: &regex::Captures<'_>| {
            let prefix = c.get(2).or_else(|| c.get(3)).map_or("", |m| m.as_str());
            format!("{prefix}[redacted]")
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_key_shaped_strings_are_removed() {
        let text = "Incorrect API key provided: sk-proj-abc***xyz. Key my-secret-key used.";
        let out = redact(text, &["my-secret-key"]);
        assert!(!out.contains("my-secret-key") && !out.contains("sk-proj"), "{out}");
        assert_eq!(redact("no secrets here", &[]), "no secrets here");
    }

    #[test]
    fn bearer_tokens_and_api_key_headers_are_removed_whatever_their_shape() {
        let text =
            "headers: Authorization: Bearer 0123abcdef4567; api-key: 9f8e7d6c5b4a, \"x-api-key\": \"zzz999\"";
        let out = redact(text, &[]);
        for secret in ["0123abcdef4567", "9f8e7d6c5b4a", "zzz999"] {
            assert!(!out.contains(secret), "{out}");
        }
        assert!(out.contains("Bearer [redacted]") && out.contains("api-key: [redacted]"), "{out}");
    }
}
