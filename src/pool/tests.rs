//! Unit tests of the pool against the in-process mock: identical calls sent once, answers
//! committed before they are used, fenced replies parsed.

use super::*;
use crate::sizing::AnswerKind;

/// A pool talking to a fresh in-process mock (the server must outlive the pool's use), with
/// `cache` if given.
pub(crate) async fn mock_pool(
    response_format: crate::client::ResponseFormat,
    concurrency: usize,
    cache: Option<Cache>,
) -> (crate::mock::MockServer, Pool) {
    let server =
        crate::mock::MockServer::start("127.0.0.1:0".parse().expect("an address"), Default::default())
            .await
            .expect("the mock starts");
    let endpoint = crate::client::EndpointSettings {
        model: crate::mock::MOCK_MODEL.into(),
        response_format,
        temperature: None,
        timeout: std::time::Duration::from_secs(30),
        stream: true,
        protocol: Default::default(),
        hint: None,
    };
    let route = crate::client::Route { base_url: server.base_url(), api_key: None };
    let client = Client::new(&route, &endpoint).expect("a client");
    let counter = TokenCounter::new(crate::chunk::Encoding::O200kBase);
    let settings = PoolSettings {
        concurrency,
        pinned: true,
        budget: Budget::default(),
        retry: RetryPolicy::default(),
        budgets: crate::sizing::BudgetRule::default(),
        price: None,
        max_cost: None,
        dry: None,
    };
    let pool = Pool::new(vec![client], settings, counter, cache, "mock".into());
    (server, pool)
}

use crate::client::ResponseFormat;
use crate::record::TranslationReply;

#[test]
fn fenced_json_is_accepted_and_broken_json_is_an_invalid_reply() {
    let fenced = "```json\n{\"translation_en\": \"Hello\"}\n```";
    assert_eq!(parse_reply::<TranslationReply>(fenced).unwrap().translation_en, "Hello");
    assert!(matches!(
        parse_reply::<TranslationReply>("{\"translation_en\": "),
        Err(ClientError::InvalidReply(_))
    ));
}

fn translation_request() -> (crate::prompt::Messages, crate::client::ReplySchema) {
    let messages = crate::prompt::Prompts::load(None)
        .unwrap()
        .translation(
            &crate::prompt::TranslationInput {
                title: None,
                text: "정부가 새 계획을 발표했다.",
                context: None,
                glossary: &[],
            },
            None,
        )
        .unwrap();
    let schema = crate::client::ReplySchema {
        name: "passage_translation",
        schema: crate::record::strict_schema::<TranslationReply>(),
    };
    (messages, schema)
}

/// The request of `translation_request`'s parts.
fn chat<'a>(
    messages: &'a crate::prompt::Messages,
    schema: &'a crate::client::ReplySchema,
) -> ChatRequest<'a> {
    ChatRequest { messages, schema, max_tokens: 512, kind: AnswerKind::Summary, input_tokens: 0 }
}

#[tokio::test]
async fn identical_calls_in_flight_are_sent_once() {
    let (mock, pool) = mock_pool(ResponseFormat::JsonSchema, 5, None).await;
    let (messages, schema) = translation_request();
    let request = chat(&messages, &schema);
    let calls = (0..5).map(|_| pool.complete::<TranslationReply>(&request));
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(|a| a.is_ok()), "{answers:?}");
    assert_eq!(mock.requests_received(), 1);
    let stats = pool.stats();
    assert_eq!((stats.sent.load(Ordering::Relaxed), stats.shared.load(Ordering::Relaxed)), (1, 4));
    // Every copy reports what the one answer cost.
    let usages: Vec<Usage> = answers.iter().map(|a| a.as_ref().unwrap().usage).collect();
    assert!(usages.windows(2).all(|w| w[0] == w[1]) && usages[0].requests == 1);
}

#[tokio::test]
async fn an_answer_is_in_the_cache_before_the_caller_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&dir.path().join("c.sqlite"), false).unwrap();
    let (mock, pool) = mock_pool(ResponseFormat::JsonSchema, 5, Some(cache.clone())).await;
    let (messages, schema) = translation_request();
    let request = chat(&messages, &schema);
    let first = pool.complete::<TranslationReply>(&request).await.unwrap();
    let key = call_key("mock", pool.client().prepare(&request).body());
    assert_eq!(cache.answer(key).await.map(|a| a.usage), Some(first.usage));
    let again = pool.complete::<TranslationReply>(&request).await.unwrap();
    assert_eq!(again.reply, first.reply);
    assert_eq!((mock.requests_received(), pool.stats().from_cache.load(Ordering::Relaxed)), (1, 1));
}
