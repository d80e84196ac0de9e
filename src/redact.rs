//! Keeping the API key out of everything ko2en prints or stores.

use std::sync::LazyLock;

/// Replace `key` and anything shaped like an OpenAI-style secret (`sk-…`) with `[redacted]`.
/// Servers echo keys back in 401 messages ("Incorrect API key provided: sk-abc…").
pub(crate) fn redact(text: &str, key: Option<&str>) -> String {
    static SECRET: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"sk-[A-Za-z0-9_\-*]{6,}").expect("valid regex"));
    let mut out = text.to_string();
    if let Some(key) = key.filter(|k| k.len() >= 4) {
        out = out.replace(key, "[redacted]");
    }
    SECRET.replace_all(&out, "[redacted]").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_key_shaped_strings_are_removed() {
        let text = "Incorrect API key provided: sk-proj-abc***xyz. Key my-secret-key used.";
        let out = redact(text, Some("my-secret-key"));
        assert!(!out.contains("my-secret-key") && !out.contains("sk-proj"), "{out}");
        assert_eq!(redact("no secrets here", None), "no secrets here");
    }
}
