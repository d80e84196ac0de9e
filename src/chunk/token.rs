//! Token counting: which BPE encoding a model uses, and the counter built on the
//! process-wide tiktoken singletons.

use tiktoken_rs::CoreBPE;

/// Which BPE encoding counts tokens. o200k_base is the default: Korean costs ~0.64 tokens/char
/// there against ~1.03 in cl100k_base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[default]
    O200kBase,
    Cl100kBase,
}

impl Encoding {
    /// Best guess for a model name: gpt-4o*/gpt-4.1*/gpt-5*/o1*/o3*/o4* -> O200kBase;
    /// gpt-4*/gpt-3.5* -> Cl100kBase; anything else (llama, qwen, solar...) -> O200kBase as a
    /// reasonable estimate (their tokenizers are closer to o200k's Korean efficiency).
    pub(crate) fn for_model(model: &str) -> Encoding {
        // Accept provider-qualified names such as "openai/gpt-4o" or "azure:gpt-4".
        let m = model.trim().to_ascii_lowercase();
        let m = m.rsplit(['/', ':']).next().unwrap_or("");
        const O200K: [&str; 9] =
            ["gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "o1", "o3", "o4"];
        const CL100K: [&str; 4] = ["gpt-4", "gpt-3.5", "gpt-35", "text-embedding-"];
        if O200K.iter().any(|p| m.starts_with(p)) {
            Encoding::O200kBase
        } else if CL100K.iter().any(|p| m.starts_with(p)) {
            Encoding::Cl100kBase
        } else {
            Encoding::O200kBase
        }
    }

    /// The tiktoken name, e.g. "o200k_base".
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    /// Parses "o200k_base"/"cl100k_base" (case-insensitive, "-" for "_", "_base" optional).
    pub(crate) fn parse(s: &str) -> Option<Encoding> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        match s.strip_suffix("_base").unwrap_or(&s) {
            "o200k" => Some(Encoding::O200kBase),
            "cl100k" => Some(Encoding::Cl100kBase),
            _ => None,
        }
    }

    fn bpe(self) -> &'static CoreBPE {
        match self {
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        }
    }
}

/// Counts tokens with the process-wide tiktoken singleton (loading costs ~0.3 s, so a
/// `CoreBPE` is never built per call). Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct TokenCounter {
    encoding: Encoding,
}

impl TokenCounter {
    pub fn new(encoding: Encoding) -> Self {
        TokenCounter { encoding }
    }

    /// Number of tokens of `text`. Special-token strings like "<|endoftext|>" are counted as
    /// ordinary text, because article text is data, never control tokens.
    pub fn count(&self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        self.encoding.bpe().encode_ordinary(text).len()
    }

    pub(crate) fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// [`TokenCounter::count`] for a text likely to be counted again soon: an article's body
    /// (split for its summary and for its translation at once), a system prompt (the same for
    /// every request of a kind). The last few such counts are remembered; tokenizing is most of
    /// what preparing a request costs.
    pub(crate) fn count_again(&self, text: &str) -> usize {
        use std::collections::HashMap;
        use std::sync::{LazyLock, Mutex};
        type Seen = Mutex<HashMap<String, (Encoding, usize)>>;
        static SEEN: LazyLock<Seen> = LazyLock::new(Seen::default);
        /// Texts remembered at most (then all are forgotten at once): a window of articles in
        /// flight, and the system prompts.
        const MOST: usize = 256;
        if let Some(&(encoding, count)) = SEEN.lock().unwrap_or_else(|e| e.into_inner()).get(text)
            && encoding == self.encoding
        {
            return count;
        }
        let count = self.count(text);
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MOST {
            seen.clear();
        }
        seen.insert(text.to_string(), (self.encoding, count));
        count
    }
}
