//! What real models get wrong beyond figures and names, seen against real servers: a
//! placeholder where an answer should be (a schema's example `"mock-summary_ko"`, the field's
//! own name, `"string"`), a Korean field with no Korean in it, a runaway that repeats one
//! sentence until its budget runs out, a summary longer than its article, and a refusal
//! instead of an answer. Each is judged on one field and said once.

use crate::glossary::is_hangul;

/// Words a model writes instead of an answer when it echoes a schema or a template.
const PLACEHOLDERS: [&str; 12] =
    ["string", "text", "str", "...", "…", "n/a", "na", "none", "null", "todo", "tbd", "placeholder"];

/// Whether `value` stands in for an answer rather than giving one: empty of letters, a
/// template word, or the field's own name in it (`summary_ko`, `mock-summary_ko`, `<title_en>`).
pub(crate) fn is_placeholder(field: &str, value: &str) -> bool {
    let folded: String =
        value.trim().to_lowercase().chars().map(|c| if c == '-' || c == ' ' { '_' } else { c }).collect();
    let bare = folded.trim_matches(|c: char| !c.is_alphanumeric());
    if value.trim().is_empty() {
        return false; // said as too short
    }
    PLACEHOLDERS.contains(&bare)
        || PLACEHOLDERS.contains(&folded.as_str())
        || folded.contains(field)
        || !value.chars().any(char::is_alphanumeric)
}

/// Whether a Korean field has Korean in it at all.
pub(crate) fn has_hangul(value: &str) -> bool {
    value.chars().any(is_hangul)
}

/// How many times the same sentence may come back, and how long a run of words may repeat,
/// before it is a runaway: real summaries and news prose repeat neither.
const SAME_SENTENCE: usize = 3;
const REPEATED_WORDS: usize = 8;
const REPEATED_RUNS: usize = 3;

/// A runaway: the same sentence (of four words or more) three times, or the same eight words
/// in a row three times. Returns the repeated text, shortened.
pub(crate) fn repetition(text: &str) -> Option<String> {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for sentence in text.split(['.', '!', '?', '\n', '。']).map(str::trim) {
        if sentence.split_whitespace().count() < 4 {
            continue;
        }
        let key = sentence.to_lowercase();
        let n = counts.entry(key).or_default();
        *n += 1;
        if *n >= SAME_SENTENCE {
            return Some(shorten(sentence));
        }
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    if words.len() < REPEATED_WORDS * REPEATED_RUNS {
        return None;
    }
    let mut runs: std::collections::HashMap<&[String], usize> = std::collections::HashMap::new();
    for window in words.windows(REPEATED_WORDS) {
        let n = runs.entry(window).or_default();
        *n += 1;
        if *n >= REPEATED_RUNS {
            return Some(shorten(&window.join(" ")));
        }
    }
    None
}

/// Openings of an answer that declines to answer.
const REFUSALS: [&str; 9] = [
    "i'm sorry, but",
    "i am sorry, but",
    "i cannot help",
    "i can't help",
    "i cannot assist",
    "i can't assist",
    "i'm unable to",
    "i am unable to",
    "as an ai",
];

/// Whether `value` is a refusal rather than an answer (said at its start, where models say it).
pub(crate) fn is_refusal(value: &str) -> bool {
    let start: String =
        value.trim_start().chars().take(80).collect::<String>().to_lowercase().replace('’', "'");
    REFUSALS.iter().any(|r| start.starts_with(r))
}

fn shorten(text: &str) -> String {
    let short: String = text.chars().take(60).collect();
    if short.len() < text.len() { format!("{short}…") } else { short }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seen against an OpenAI-API emulator answering with its schema's examples.
    #[test]
    fn a_schema_echo_or_a_template_word_is_a_placeholder_and_an_answer_is_not() {
        for (field, value) in [
            ("summary_ko", "mock-summary_ko"),
            ("summary_en", "summary_en"),
            ("title_en", "<title_en>"),
            ("summary_en", "string"),
            ("summary_en", "..."),
            ("summary_en", "N/A"),
        ] {
            assert!(is_placeholder(field, value), "{field}: {value:?}");
        }
        assert!(!is_placeholder("summary_en", "Exports rose 3.5% to a record."));
        assert!(
            !is_placeholder("title_en", "Text messages reveal the plan"),
            "a word at the start is not one"
        );
        assert!(!is_placeholder("summary_ko", "반도체 수출이 늘었다."));
    }

    #[test]
    fn a_runaway_is_caught_and_ordinary_prose_is_not() {
        let runaway = "The company will expand its cloud business in Korea. ".repeat(3);
        assert_eq!(
            repetition(&runaway).as_deref(),
            Some("The company will expand its cloud business in Korea")
        );
        let loop_words =
            format!("Intro. {}", "and the growth of the market continues to rise and ".repeat(5));
        assert!(repetition(&loop_words).is_some(), "the same eight words again and again");
        let prose = "Exports rose 3.5%. The ministry said chips led the rise. Officials expect more growth next year, \
                     while the industry plans more investment. The ministry said it will support the sector.";
        assert_eq!(repetition(prose), None);
    }

    #[test]
    fn a_refusal_is_told_from_an_answer_that_mentions_one() {
        assert!(is_refusal("I'm sorry, but I can't help with that request."));
        assert!(is_refusal("  As an AI language model, I cannot summarize this."));
        assert!(!is_refusal("The minister said: \"I cannot help but worry about exports.\""));
    }
}
