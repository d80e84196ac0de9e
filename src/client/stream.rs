//! Answers streamed as server-sent events (`"stream": true`, which every compatible server
//! supports), so that a request's timeout measures the server's silence rather than the whole
//! answer: a slow local model writing a long translation is not cancelled while it writes, and
//! one that stops writing is given up on after the same silence as before. An overall cap
//! still bounds a request that never ends. A server that ignores `stream` and answers whole is
//! read whole; a server that refuses it is `Client::adapt`'s.
//!
//! The chunks are assembled into the chat completion a plain request would have returned
//! (content, finish reason, the usage of the last chunk when `stream_options.include_usage` is
//! honoured), so that everything after the wire reads one shape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::error::error_chain;
use super::header::{ResponseMeta, is_kept};
use super::wire::truncate;

/// A request's body with `stream` and `stream_options.include_usage` added as it is written,
/// without copying the body (an article's text, for every attempt).
#[derive(serde::Serialize)]
pub(super) struct Streamed<'a> {
    #[serde(flatten)]
    body: &'a Value,
    stream: bool,
    stream_options: StreamOptions,
}

#[derive(serde::Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> Streamed<'a> {
    pub(super) fn new(body: &'a Value) -> Streamed<'a> {
        Streamed { body, stream: true, stream_options: StreamOptions { include_usage: true } }
    }
}

/// Why an exchange gave no completion.
#[derive(Debug)]
pub(super) enum Failure {
    /// An HTTP error status and its body.
    Status {
        status: u16,
        body: String,
    },
    /// No byte for the silence allowed, or no end within the cap.
    Timeout(Duration),
    Connection(String),
    /// A successful status whose body is not an answer.
    Body(String),
}

/// One streamed exchange: what the response's headers said, and the completion or failure.
pub(super) struct Exchange {
    pub(super) meta: Option<ResponseMeta>,
    pub(super) outcome: Result<Value, Failure>,
}

/// Send `request` and read its answer, allowing `silence` between bytes and `cap` in all;
/// the response's headers go to `on_headers` as soon as they arrive (an answer may stream
/// for many seconds after them), and each piece of the answer is counted in `received`.
pub(super) async fn exchange(
    request: reqwest::RequestBuilder,
    silence: Duration,
    cap: Duration,
    received: &AtomicU64,
    on_headers: &(dyn Fn(&ResponseMeta) + Sync),
) -> Exchange {
    let mut meta = None;
    let receiving = receive(request, silence, &mut meta, received, on_headers);
    let outcome = match tokio::time::timeout(cap, receiving).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Failure::Timeout(cap)),
    };
    Exchange { meta, outcome }
}

async fn receive(
    request: reqwest::RequestBuilder,
    silence: Duration,
    meta: &mut Option<ResponseMeta>,
    received: &AtomicU64,
    on_headers: &(dyn Fn(&ResponseMeta) + Sync),
) -> Result<Value, Failure> {
    let response =
        tokio::time::timeout(silence, request.send()).await.map_err(|_| Failure::Timeout(silence))?.map_err(
            |e| if e.is_timeout() { Failure::Timeout(silence) } else { Failure::Connection(error_chain(&e)) },
        )?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| is_kept(name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect();
    on_headers(meta.insert(ResponseMeta { status, headers }));
    let events = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut response = response;
    let mut next = async || -> Result<Option<Vec<u8>>, Failure> {
        match tokio::time::timeout(silence, response.chunk()).await {
            Err(_) => Err(Failure::Timeout(silence)),
            Ok(Ok(bytes)) => Ok(bytes.map(|b| b.to_vec())),
            Ok(Err(e)) if e.is_timeout() => Err(Failure::Timeout(silence)),
            Ok(Err(e)) => Err(Failure::Connection(error_chain(&e))),
        }
    };
    if status >= 400 || !events {
        // An error, or a server that answered whole.
        let mut whole = Vec::new();
        while let Some(bytes) = next().await? {
            whole.extend_from_slice(&bytes);
        }
        let text = String::from_utf8_lossy(&whole).into_owned();
        if status >= 400 {
            return Err(Failure::Status { status, body: text });
        }
        return serde_json::from_str(&text).map_err(|_| Failure::Body(text));
    }
    let mut answer = Assembled::default();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(bytes) = next().await? {
        pending.extend_from_slice(&bytes);
        let before = answer.pieces;
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if answer.line(&String::from_utf8_lossy(&line))? {
                received.fetch_add(answer.pieces - before, Ordering::Relaxed);
                return Ok(answer.completion());
            }
        }
        received.fetch_add(answer.pieces - before, Ordering::Relaxed);
    }
    if answer.finish_reason.is_some() {
        // Ended without `[DONE]`, but whole.
        return Ok(answer.completion());
    }
    Err(Failure::Connection("the stream ended before the answer did".into()))
}

/// The chunks of one answer, as they arrive.
#[derive(Debug, Default)]
struct Assembled {
    /// Tokens of content received, estimated: most servers send a token a chunk, some (Gemini,
    /// this crate's mock) a few words, so a chunk counts a token per four bytes, at least one.
    pieces: u64,
    content: String,
    refusal: String,
    finish_reason: Option<String>,
    usage: Option<Value>,
}

impl Assembled {
    /// Take one line of the event stream; true at its end (`data: [DONE]`).
    fn line(&mut self, line: &str) -> Result<bool, Failure> {
        let line = line.trim_end_matches(['\n', '\r']);
        // Comments, `event:` and `id:` lines carry nothing of the answer.
        let Some(data) = line.strip_prefix("data:") else { return Ok(false) };
        let data = data.trim_start();
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let event: Value = serde_json::from_str(data)
            .map_err(|_| Failure::Body(format!("a streamed chunk is not JSON: {}", truncate(data, 60))))?;
        if let Some(error) = event.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("no message");
            return Err(Failure::Connection(format!("the server broke off the answer: {message}")));
        }
        if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        if let Some(choice) = event.pointer("/choices/0") {
            let text = |field: &str| choice.pointer(&format!("/delta/{field}")).and_then(Value::as_str);
            if let Some(text) = text("content") {
                self.content.push_str(text);
                self.pieces += if text.is_empty() { 0 } else { text.len().div_ceil(4) as u64 };
            }
            if let Some(text) = text("refusal") {
                self.refusal.push_str(text);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(reason.to_string());
            }
        }
        Ok(false)
    }

    /// The chat completion a plain request would have returned.
    fn completion(self) -> Value {
        let refusal = (!self.refusal.is_empty()).then_some(self.refusal);
        json!({
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": self.content, "refusal": refusal},
                "finish_reason": self.finish_reason,
            }],
            "usage": self.usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(lines: &[&str]) -> Result<(bool, Value), Failure> {
        let mut answer = Assembled::default();
        let mut done = false;
        for line in lines {
            done = answer.line(line)?;
        }
        Ok((done, answer.completion()))
    }

    #[test]
    fn a_streamed_body_is_the_request_with_the_stream_fields() {
        let body = json!({"model": "m", "messages": [], "max_tokens": 5});
        let written = serde_json::to_value(Streamed::new(&body)).unwrap();
        assert_eq!(
            written,
            json!({"model": "m", "messages": [], "max_tokens": 5, "stream": true,
                   "stream_options": {"include_usage": true}})
        );
    }

    #[test]
    fn each_piece_of_content_is_counted_as_it_arrives() {
        let mut answer = Assembled::default();
        for line in [
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"{\\\"a\"}}]}\n",
            ": keep-alive\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"\\\": 1}\"},\"finish_reason\":\"stop\"}]}\n",
        ] {
            answer.line(line).unwrap();
        }
        // `{"a` (3 bytes) and `": 1}` (5 bytes): one token and two; the empty opening delta and
        // the comment none.
        assert_eq!(answer.pieces, 3, "a token per four bytes of a chunk, at least one");
        assert_eq!(answer.content, "{\"a\": 1}");
    }

    #[test]
    fn chunks_become_the_completion_a_plain_request_returns() {
        let (done, completion) = assemble(&[
            ": keep-alive\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}\r\n",
            "\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"{\\\"title\"},\"finish_reason\":null}]}\n",
            "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"_en\\\": 1}\"},\"finish_reason\":\"stop\"}]}\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5}}\n",
            "data: [DONE]\n",
        ])
        .unwrap();
        assert!(done);
        assert_eq!(completion["choices"][0]["message"]["content"], "{\"title_en\": 1}");
        assert_eq!(completion["choices"][0]["finish_reason"], "stop");
        assert_eq!(completion["usage"]["prompt_tokens"], 12);
        let parsed = super::super::wire::parse_completion(&completion, 100).unwrap();
        assert_eq!((parsed.prompt_tokens, parsed.completion_tokens), (12, 5));
    }

    #[test]
    fn a_cut_answer_an_error_mid_stream_and_a_broken_chunk_are_told_apart() {
        let (_, cut) = assemble(&[
            "data: {\"choices\":[{\"delta\":{\"content\":\"{\\\"a\"},\"finish_reason\":\"length\"}]}\n",
        ])
        .unwrap();
        assert!(matches!(
            super::super::wire::parse_completion(&cut, 50),
            Err(super::super::ClientError::Truncated { max_tokens: 50 })
        ));
        let broke = assemble(&["data: {\"error\":{\"message\":\"overloaded\"}}\n"]).unwrap_err();
        assert!(matches!(&broke, Failure::Connection(m) if m.contains("overloaded")), "{broke:?}");
        assert!(matches!(assemble(&["data: {not json\n"]), Err(Failure::Body(_))));
    }
}
