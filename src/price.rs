//! What tokens cost: a built-in table of common models' prices, which the config file's
//! `[prices]` table overrides and extends, and the arithmetic of a bill. A model without a
//! price shows tokens only: a guessed price would be worse than none.
//!
//! Prices are USD per million tokens, as providers publish them: input, cached input (a
//! prompt prefix the provider reuses, billed at a discount and reported in the usage's
//! `prompt_tokens_details.cached_tokens`), output, and the batch API's input and output where
//! the provider has one (half price at OpenAI and Google).

use std::collections::BTreeMap;

/// When the built-in prices were last compared with the providers' pages.
pub(crate) const PRICES_CHECKED: &str = "2026-12-04";

/// What one model's tokens cost, USD per million.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Price {
    pub(crate) input: f64,
    /// Input tokens the provider served from its prompt cache; the input price when unsaid.
    #[serde(default)]
    pub(crate) cached_input: Option<f64>,
    pub(crate) output: f64,
    /// The batch API's prices, where the provider has one.
    #[serde(default)]
    pub(crate) batch_input: Option<f64>,
    #[serde(default)]
    pub(crate) batch_output: Option<f64>,
}

/// Tokens to bill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    /// Prompt tokens, the cached ones included (as servers count them).
    pub(crate) prompt: u64,
    /// Of the prompt tokens, those served from the provider's prompt cache.
    pub(crate) cached: u64,
    pub(crate) completion: u64,
}

impl Price {
    /// USD for `tokens` sent live.
    pub(crate) fn cost(&self, tokens: Tokens) -> f64 {
        let cached = tokens.cached.min(tokens.prompt);
        let fresh = tokens.prompt - cached;
        (fresh as f64 * self.input
            + cached as f64 * self.cached_input.unwrap_or(self.input)
            + tokens.completion as f64 * self.output)
            / 1e6
    }
}

/// Built-in prices. Sources, read on [`PRICES_CHECKED`]:
/// OpenAI: <https://developers.openai.com/api/docs/pricing> (batch: half of standard);
/// Google: <https://ai.google.dev/gemini-api/docs/pricing> (batch: half);
/// DeepSeek: <https://api-docs.deepseek.com/quick_start/pricing> (cache miss as input, cache
/// hit as cached input; no batch API).
const BUILT_IN: &[(&str, f64, f64, f64, bool)] = &[
    // name, input, cached input, output, whether a half-price batch API exists
    ("gpt-5.5", 5.00, 0.50, 30.00, true),
    ("gpt-5.4", 2.50, 0.25, 15.00, true),
    ("gpt-5.4-mini", 0.75, 0.075, 4.50, true),
    ("gpt-5.4-nano", 0.20, 0.02, 1.25, true),
    ("gpt-5", 1.25, 0.125, 10.00, true),
    ("gpt-5-mini", 0.25, 0.025, 2.00, true),
    ("gpt-5-nano", 0.05, 0.005, 0.40, true),
    ("gpt-4.1", 2.00, 0.50, 8.00, true),
    ("gpt-4.1-mini", 0.40, 0.10, 1.60, true),
    ("gpt-4.1-nano", 0.10, 0.025, 0.40, true),
    ("gpt-4o", 2.50, 1.25, 10.00, true),
    ("gpt-4o-mini", 0.15, 0.075, 0.60, true),
    ("gemini-2.5-pro", 1.25, 0.125, 10.00, true),
    ("gemini-2.5-flash", 0.30, 0.03, 2.50, true),
    ("gemini-2.5-flash-lite", 0.10, 0.01, 0.40, true),
    ("gemini-2.0-flash", 0.10, 0.025, 0.40, true),
    ("deepseek-chat", 0.28, 0.028, 0.42, false),
    ("deepseek-reasoner", 0.28, 0.028, 0.42, false),
];

/// The prices a run knows: the config file's first, then the built-in ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct PriceTable {
    overrides: BTreeMap<String, Price>,
}

impl PriceTable {
    pub(crate) fn new(overrides: BTreeMap<String, Price>) -> PriceTable {
        PriceTable { overrides }
    }

    /// The price of `model`: as named, then without a provider's prefix (`openai/gpt-4o`,
    /// `models/gemini-2.5-flash`) or a snapshot's date (`gpt-4o-mini-2024-07-18`). No
    /// looser matching: `gpt-4o` must not price `gpt-4o-mini`.
    pub(crate) fn lookup(&self, model: &str) -> Option<Price> {
        let bare = model.rsplit('/').next().unwrap_or(model);
        let undated = strip_date(bare);
        [model, bare, undated].into_iter().find_map(|name| {
            self.overrides.get(name).copied().or_else(|| {
                BUILT_IN.iter().find(|(n, ..)| *n == name).map(|&(_, input, cached, output, batch)| Price {
                    input,
                    cached_input: Some(cached),
                    output,
                    batch_input: batch.then_some(input / 2.0),
                    batch_output: batch.then_some(output / 2.0),
                })
            })
        })
    }
}

/// `name` without a trailing `-YYYY-MM-DD`.
fn strip_date(name: &str) -> &str {
    let bytes = name.as_bytes();
    let n = bytes.len();
    let dated = n > 11 && bytes[n - 11] == b'-' && {
        let date = &name[n - 10..];
        date.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() })
    };
    if dated { &name[..n - 11] } else { name }
}

/// An amount of USD for people: cents for a few dollars, more digits for fractions of a cent.
pub(crate) fn dollars(amount: f64) -> String {
    if amount >= 1.0 {
        let cents = (amount * 100.0).round() as u64;
        format!("${}.{:02}", crate::numbers::thousands(cents / 100), cents % 100)
    } else if amount >= 0.01 || amount == 0.0 {
        format!("${amount:.2}")
    } else {
        format!("${amount:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_priced_by_its_name_its_bare_name_or_its_snapshot_and_nothing_looser() {
        let table = PriceTable::default();
        let mini = table.lookup("gpt-4o-mini").unwrap();
        assert_eq!((mini.input, mini.cached_input, mini.output), (0.15, Some(0.075), 0.60));
        assert_eq!((mini.batch_input, mini.batch_output), (Some(0.075), Some(0.30)));
        assert_eq!(table.lookup("openai/gpt-4o-mini"), Some(mini));
        assert_eq!(table.lookup("gpt-4o-mini-2024-07-18"), Some(mini));
        assert_ne!(table.lookup("gpt-4o"), Some(mini));
        assert_eq!(table.lookup("gpt-4o-mini-tts"), None, "no prefix matching");
        assert_eq!(table.lookup("qwen2.5:7b"), None);
        assert_eq!(table.lookup("deepseek-chat").unwrap().batch_input, None, "no batch API there");
    }

    #[test]
    fn the_config_files_prices_come_first_and_add_models() {
        let mine =
            Price { input: 1.0, cached_input: None, output: 2.0, batch_input: None, batch_output: None };
        let table =
            PriceTable::new(BTreeMap::from([("gpt-4o-mini".into(), mine), ("qwen-plus".into(), mine)]));
        assert_eq!(table.lookup("gpt-4o-mini"), Some(mine));
        assert_eq!(table.lookup("qwen-plus"), Some(mine));
    }

    #[test]
    fn a_bill_counts_cached_prompt_tokens_at_their_price() {
        let price = PriceTable::default().lookup("gpt-4o-mini").unwrap();
        let tokens = Tokens { prompt: 1_000_000, cached: 400_000, completion: 100_000 };
        // 600k × 0.15 + 400k × 0.075 + 100k × 0.60, per million.
        assert!((price.cost(tokens) - (0.09 + 0.03 + 0.06)).abs() < 1e-12);
        let unsaid = Price { cached_input: None, ..price };
        assert!((unsaid.cost(tokens) - (0.15 + 0.06)).abs() < 1e-12);
    }

    #[test]
    fn amounts_read_as_money() {
        assert_eq!(dollars(0.0), "$0.00");
        assert_eq!(dollars(0.004_21), "$0.0042");
        assert_eq!(dollars(0.42), "$0.42");
        assert_eq!(dollars(1_234.5), "$1,234.50");
    }
}
