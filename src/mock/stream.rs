//! Streamed answers (`"stream": true`) as OpenAI sends them: server-sent events carrying
//! `chat.completion.chunk` objects (the role first, then the content a few words at a time,
//! then the finish reason), a last chunk with `usage` and no choices when
//! `stream_options.include_usage` is set, and `data: [DONE]`. Chunks are paced by
//! `--ms-per-token`, like the tokens of a real model.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::{Value, json};

use super::answer::{MockCompletion, count_tokens};

/// Words per content chunk: enough to keep the event count sane for long translations.
const WORDS_PER_CHUNK: usize = 4;

/// The SSE body of `completion`. `guard` lives until the last event is sent: it holds the
/// server slot and the request's log entry, which must cover the whole stream.
pub(crate) fn body(
    completion: &MockCompletion,
    include_usage: bool,
    per_token: Duration,
    guard: impl Send + 'static,
) -> Body {
    let mut events: Vec<(Duration, String)> = Vec::new();
    let usage = include_usage.then_some(Value::Null);
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut chunk = json!({
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": completion.created,
            "model": completion.model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if let Some(usage) = &usage {
            chunk["usage"] = usage.clone();
        }
        chunk.to_string()
    };
    events.push((Duration::ZERO, chunk(json!({"role": "assistant", "content": "", "refusal": null}), None)));
    for piece in pieces(&completion.content) {
        let delay = per_token * count_tokens(&piece) as u32;
        events.push((delay, chunk(json!({"content": piece}), None)));
    }
    events.push((Duration::ZERO, chunk(json!({}), Some(completion.finish_reason))));
    if include_usage {
        let mut last = json!({
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": completion.created,
            "model": completion.model,
            "system_fingerprint": null,
            "choices": [],
        });
        last["usage"] = completion.usage();
        events.push((Duration::ZERO, last.to_string()));
    }
    events.push((Duration::ZERO, "[DONE]".to_string()));

    let stream =
        futures::stream::unfold((events.into_iter(), Some(guard)), |(mut events, mut guard)| async {
            let Some((delay, data)) = events.next() else {
                drop(guard.take());
                return None;
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let event = Ok::<_, Infallible>(Bytes::from(format!("data: {data}\n\n")));
            Some((event, (events, guard)))
        });
    Body::from_stream(stream)
}

/// The content split into chunks of a few words, each keeping its leading whitespace, so that
/// concatenating the chunks gives the content back exactly.
fn pieces(content: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for (i, c) in content.char_indices() {
        let starts_word = !c.is_whitespace() && (i == 0 || content[..i].ends_with(char::is_whitespace));
        if starts_word {
            if words == WORDS_PER_CHUNK {
                out.push(std::mem::take(&mut current));
                words = 0;
            }
            words += 1;
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_give_the_content_back() {
        let content = "[mock] the ministry said  on Monday\nthat exports rose 정부는 밝혔다.";
        let split = pieces(content);
        assert!(split.len() > 2);
        assert_eq!(split.concat(), content);
        assert!(pieces("").is_empty());
    }
}
