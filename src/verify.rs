//! Accepting an answer: what `check` finds in a parsed reply, one repair retry when it finds
//! anything, and the record's warnings (or, under `--strict`, its failure).
//!
//! The rules themselves (how figures, Hangul, glossary terms and lengths are judged) belong to
//! [`crate::check`]; this module decides which rules apply to which field of which reply, and
//! what happens next. A repair sends the original messages, the previous answer and a short
//! list of the problems (`prompts/repair.user.j2`), never the identical request again: a cache
//! keyed on the body would return the very answer being repaired. One repair per reply at
//! most; whatever is still wrong afterwards becomes a warning naming the figure, term or field.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::check::{self, Finding};
use crate::client::ChatRequest;
use crate::glossary::Term;
use crate::pool::{CallError, Pool};
use crate::prompt::Prompts;
use crate::record::{Record, RecordError, SummaryReply, Usage, Warning};

/// The error kind of a record that `--strict` failed because of its warnings.
pub(crate) const CHECK_FAILED: &str = "check_failed";

/// An accepted reply, what it cost (the repair included) and what is still wrong with it.
#[derive(Debug, Clone)]
pub(crate) struct Checked<T> {
    pub(crate) reply: T,
    pub(crate) usage: Usage,
    pub(crate) findings: Vec<Finding>,
    /// Whether the repair went wrong the same way as the first answer (a kind of problem both
    /// had): asking a third time alike would be blind, and only a change of strategy can help
    /// (a passage is then translated in halves: see `pipeline::translate`).
    pub(crate) stubborn: bool,
}

impl<T> Checked<T> {
    pub(crate) fn new(reply: T, usage: Usage, findings: Vec<Finding>) -> Checked<T> {
        Checked { reply, usage, findings, stubborn: false }
    }
}

/// Whether `after` has a problem of a kind `before` had.
fn same_way(before: &[Finding], after: &[Finding]) -> bool {
    after.iter().any(|a| before.iter().any(|b| std::mem::discriminant(a) == std::mem::discriminant(b)))
}

/// Send `request`, check the reply with `check`, and when it finds problems send one repair
/// request. The reply with fewer problems is kept (the repair on a tie): a repair that makes
/// things worse, or fails outright, must not cost the article the answer it already had.
pub(crate) async fn complete_checked<T, F>(
    pool: &Pool,
    prompts: &Prompts,
    request: &ChatRequest<'_>,
    check: F,
) -> Result<Checked<T>, CallError>
where
    T: DeserializeOwned + Serialize,
    F: Fn(&T) -> Vec<Finding>,
{
    let first = pool.complete::<T>(request).await?;
    if pool.unchecked() {
        return Ok(Checked::new(first.reply, first.usage, Vec::new()));
    }
    let findings = check(&first.reply);
    if findings.is_empty() {
        return Ok(Checked::new(first.reply, first.usage, findings));
    }
    let problems: Vec<String> = findings.iter().map(Finding::message).collect();
    // The parsed reply re-serialised stands for the model's answer: same fields, same content.
    let previous = serde_json::to_string(&first.reply).unwrap_or_default();
    let Ok(messages) = prompts.repair(request.messages, &previous, &problems) else {
        return Ok(Checked::new(first.reply, first.usage, findings));
    };
    let repair = ChatRequest { messages: &messages, ..request.clone() };
    match pool.complete::<T>(&repair).await {
        Ok(second) => {
            let mut usage = first.usage;
            usage += second.usage;
            let second_findings = check(&second.reply);
            let stubborn = same_way(&findings, &second_findings);
            let kept = if second_findings.len() <= findings.len() {
                Checked::new(second.reply, usage, second_findings)
            } else {
                Checked::new(first.reply, usage, findings)
            };
            Ok(Checked { stubborn, ..kept })
        }
        // A batch round answers the repair later: the article waits for it.
        Err(CallError::Deferred) => Err(CallError::Deferred),
        Err(e) => {
            tracing::debug!("the repair request failed, keeping the first answer: {e}");
            let mut usage = first.usage;
            usage += e.usage();
            Ok(Checked::new(first.reply, usage, findings))
        }
    }
}

/// Problems of a summary of the article (`title`, `text`) whose glossary terms are `terms`.
/// Figures: a summary may leave numbers out but must not change or invent them. Terms: a
/// summary need not mention every name, so a term is required in the English headline when
/// the Korean headline has it, and in the English summary when the Korean summary has it.
pub(crate) fn summary_findings(
    title: &str,
    text: &str,
    terms: &[&Term],
    reply: &SummaryReply,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut english: Vec<(String, &str)> =
        vec![("headline".into(), reply.title_en.as_str()), ("summary".into(), reply.summary_en.as_str())];
    english.extend(
        reply.key_points_en.iter().enumerate().map(|(i, p)| (format!("key point {}", i + 1), p.as_str())),
    );
    for (field, value) in &english {
        findings.extend(hangul_in_english(field, value));
    }
    for (name, field, value) in [
        ("title_en", "English headline", &reply.title_en),
        ("summary_en", "English summary", &reply.summary_en),
        ("summary_ko", "Korean summary", &reply.summary_ko),
    ] {
        if value.trim().is_empty() {
            findings.push(Finding::TooShort { field: field.into(), chars: 0, expected_at_least: 1 });
        } else if check::is_placeholder(name, value) {
            findings.push(Finding::Placeholder {
                field: field.into(),
                value: value.trim().chars().take(40).collect(),
            });
        } else if check::is_refusal(value) {
            findings.push(Finding::Refusal { field: field.into() });
        }
        if let Some(excerpt) = check::repetition(value) {
            findings.push(Finding::Repetition { field: field.into(), excerpt });
        }
    }
    if !reply.summary_ko.trim().is_empty()
        && !check::is_placeholder("summary_ko", &reply.summary_ko)
        && !check::has_hangul(&reply.summary_ko)
    {
        findings.push(Finding::NoHangul { field: "Korean summary".into() });
    }
    let count = reply.key_points_en.len();
    if !(3..=5).contains(&count) {
        findings.push(Finding::KeyPointCount { count });
    }
    if let Some(excerpt) = check::repetition(&reply.key_points_en.join("\n")) {
        findings.push(Finding::Repetition { field: "key points".into(), excerpt });
    }
    // A summary of a short article may be as long as it: only one of a real article is judged.
    let (summary_chars, article_chars) = (reply.summary_ko.chars().count(), text.chars().count());
    if article_chars >= 400 && summary_chars > article_chars {
        findings.push(Finding::LongerThanArticle {
            field: "Korean summary".into(),
            chars: summary_chars,
            article_chars,
        });
    }
    let source = format!("{title}\n{text}");
    let claims = std::iter::once(reply.title_en.as_str())
        .chain([reply.summary_en.as_str()])
        .chain(reply.key_points_en.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    findings.extend(
        check::unsupported_figures(&source, &claims)
            .into_iter()
            .map(|f| Finding::UnsupportedNumber { figure: f.text }),
    );
    let in_title = terms_occurring(terms, title);
    findings.extend(missing_terms(&in_title, &reply.title_en));
    let in_summary: Vec<&Term> =
        terms_occurring(terms, &reply.summary_ko).into_iter().filter(|t| !in_title.contains(t)).collect();
    let summary_en = format!("{}\n{}", reply.summary_en, reply.key_points_en.join("\n"));
    findings.extend(missing_terms(&in_summary, &summary_en));
    findings
}

/// Problems of `english`, the translation of the Korean passage `source` (with its headline,
/// when the headline was translated with it): Hangul left over, figures lost, an answer far
/// too short for its input, and glossary terms of the passage not rendered as the glossary says.
pub(crate) fn translation_findings(source: &str, terms: &[&Term], english: &str) -> Vec<Finding> {
    let mut findings: Vec<Finding> = hangul_in_english("translation", english).into_iter().collect();
    if check::is_refusal(english) {
        findings.push(Finding::Refusal { field: "translation".into() });
    }
    // A source that repeats itself may be translated so; a translation that repeats more
    // than its source is a runaway.
    if let Some(excerpt) = check::repetition(english).filter(|_| check::repetition(source).is_none()) {
        findings.push(Finding::Repetition { field: "translation".into(), excerpt });
    }
    if let Some(expected_at_least) = check::too_short_translation(source, english) {
        findings.push(Finding::TooShort {
            field: "translation".into(),
            chars: english.trim().chars().count(),
            expected_at_least,
        });
    }
    findings.extend(
        check::missing_figures(source, english)
            .into_iter()
            .map(|f| Finding::MissingNumber { figure: f.text }),
    );
    findings.extend(missing_terms(&terms_occurring(terms, source), english));
    findings
}

/// The Hangul left in an English `field`: one finding for the field, naming up to three of its
/// places (nearby runs would otherwise come out as overlapping excerpts, each a warning).
fn hangul_in_english(field: &str, value: &str) -> Option<Finding> {
    let mut excerpts: Vec<String> = Vec::new();
    for excerpt in check::hangul_outside_quotes(value) {
        let seen = excerpts.iter().any(|e| e.contains(&excerpt) || excerpt.contains(e.as_str()));
        if !seen {
            excerpts.push(excerpt);
        }
    }
    if excerpts.is_empty() {
        return None;
    }
    excerpts.truncate(3);
    Some(Finding::HangulInEnglish { field: field.into(), excerpt: excerpts.join("\", \"") })
}

/// The terms whose Korean occurs in `text`: an article-wide term list given to every chunk
/// must only be demanded of the chunks that contain the term.
fn terms_occurring<'g>(terms: &[&'g Term], text: &str) -> Vec<&'g Term> {
    terms.iter().filter(|t| text.contains(t.ko.as_str())).copied().collect()
}

fn missing_terms(terms: &[&Term], english: &str) -> Vec<Finding> {
    check::missing_terms(terms, english)
        .into_iter()
        .map(|t| Finding::MissingTerm { ko: t.ko.clone(), en: t.en.clone() })
        .collect()
}

/// The record's warning for a finding: its kind (`missing_term`, `missing_number`,
/// `unsupported_number`, `hangul_in_english`, `too_short`) and one sentence naming what.
pub(crate) fn warning(finding: &Finding) -> Warning {
    let kind = serde_json::to_value(finding)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_else(|| "check".into());
    Warning { kind, message: finding.message() }
}

/// Under `--strict`, a record with warnings fails (`error.kind` = `check_failed`); the
/// warnings stay, so the user sees what failed it. An earlier error is never replaced.
pub(crate) fn enforce_strict(record: &mut Record, strict: bool) {
    if !strict || record.error.is_some() || record.warnings.is_empty() {
        return;
    }
    let n = record.warnings.len();
    record.error = Some(RecordError {
        kind: CHECK_FAILED.into(),
        message: format!(
            "{n} check{} failed under --strict (see warnings): {}",
            if n == 1 { "" } else { "s" },
            record.warnings.iter().map(|w| w.message.as_str()).collect::<Vec<_>>().join(" ")
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SourceRef;

    fn term(ko: &str, en: &str) -> Term {
        Term { ko: ko.into(), en: en.into() }
    }

    fn kinds(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(|f| warning(f).kind).collect()
    }

    #[test]
    fn a_faithful_translation_has_no_findings() {
        let park = term("박정호", "Park Jung-ho");
        let source = "박정호 사장은 1,350억 원을 투자한다고 밝혔다.";
        let english = "President Park Jung-ho said the company would invest 135 billion won.";
        assert_eq!(translation_findings(source, &[&park], english), vec![]);
    }

    #[test]
    fn a_translation_names_each_missing_figure_term_and_leftover_korean() {
        let park = term("박정호", "Park Jung-ho");
        let other = term("삼성전자", "Samsung Electronics");
        let source = "박정호 사장은 1,350억 원을 투자한다고 밝혔다.";
        let english = "President Park Jeong-ho said the company would invest a lot 투자한다.";
        let findings = translation_findings(source, &[&park, &other], english);
        assert_eq!(kinds(&findings), ["hangul_in_english", "missing_number", "missing_term"]);
        assert!(warning(&findings[1]).message.contains("1,350억 원"));
        assert!(warning(&findings[2]).message.contains("Park Jung-ho"));
    }

    #[test]
    fn an_empty_or_truncated_translation_is_too_short() {
        let source = "정부는 오늘 새로운 수출 지원 계획을 발표했다. 업계는 환영했다.";
        assert_eq!(kinds(&translation_findings(source, &[], "")), ["too_short"]);
        assert_eq!(kinds(&translation_findings(source, &[], "The government")), ["too_short"]);
    }

    #[test]
    fn a_summary_may_omit_figures_but_not_invent_them() {
        let reply = SummaryReply {
            title_en: "Exports rise".into(),
            summary_ko: "수출이 늘었다.".into(),
            summary_en: "Exports rose by 12 percent to 300 million dollars.".into(),
            key_points_en: vec!["Exports rose.".into(), "Chips led.".into(), "More is expected.".into()],
        };
        let findings = summary_findings("수출 증가", "수출이 12% 늘어 3억 달러를 기록했다.", &[], &reply);
        assert_eq!(findings, vec![]);
        let invented = SummaryReply { summary_en: "Exports rose by 15 percent.".into(), ..reply };
        let findings = summary_findings("수출 증가", "수출이 12% 늘었다.", &[], &invented);
        assert_eq!(kinds(&findings), ["unsupported_number"]);
        assert!(findings[0].message().contains("15"));
    }

    #[test]
    fn a_summary_needs_a_term_only_where_the_korean_side_has_it() {
        let park = term("박정호", "Park Jung-ho");
        let reply = SummaryReply {
            title_en: "SK Telecom chief meets Jack Ma".into(),
            summary_ko: "박정호 사장이 마윈 회장을 만났다.".into(),
            summary_en: "The chief executive met Jack Ma.".into(),
            key_points_en: vec!["They met.".into(), "They talked.".into(), "They parted.".into()],
        };
        let findings = summary_findings("SK텔레콤 사장, 마윈 회장 만나", "박정호 사장이 …", &[&park], &reply);
        assert_eq!(kinds(&findings), ["missing_term"]);
        let without = SummaryReply { summary_ko: "사장이 마윈 회장을 만났다.".into(), ..reply };
        assert_eq!(
            summary_findings("SK텔레콤 사장, 마윈 회장 만나", "박정호 사장이 …", &[&park], &without),
            vec![]
        );
    }

    /// What an OpenAI-API emulator answered with its schema's examples, and what a small local
    /// model wrote (issue 17): each problem once, on its field.
    #[test]
    fn placeholders_runaways_and_counts_from_real_servers_are_each_said_once() {
        let emulator = SummaryReply {
            title_en: "title_en".into(),
            summary_ko: "mock-summary_ko".into(),
            summary_en: "mock-summary_en".into(),
            key_points_en: vec!["mock-key_points_en".into()],
        };
        let text = "정부는 올해 수출이 늘었다고 밝혔다.";
        let findings = summary_findings("수출 증가", text, &[], &emulator);
        assert_eq!(kinds(&findings), ["placeholder", "placeholder", "placeholder", "key_point_count"]);
        assert!(findings[2].message().contains("Korean summary"), "{}", findings[2].message());

        let bullet = "The government plans to expand exports to Southeast Asia next year.";
        let runaway = SummaryReply {
            title_en: "Exports rise".into(),
            summary_ko: "Exports rose this year.".into(),
            summary_en: "The government said exports rose this year.".into(),
            key_points_en: vec![bullet.into(); 7],
        };
        let findings = summary_findings("수출 증가", text, &[], &runaway);
        assert_eq!(kinds(&findings), ["no_hangul", "key_point_count", "repetition"]);
        assert!(findings[1].message().contains("7 key points"));

        let refusal = SummaryReply {
            title_en: "Exports rise".into(),
            summary_ko: "수출이 늘었다.".into(),
            summary_en: "I'm sorry, but I can't help with summarizing this article.".into(),
            key_points_en: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(kinds(&summary_findings("수출 증가", text, &[], &refusal)), ["refusal"]);
    }

    #[test]
    fn hangul_left_in_one_field_is_one_warning_however_many_places() {
        let source = "정부는 수출 지원 계획을 발표했고 업계는 환영했다.";
        let english = "The government 발표했다 an export plan, and the industry 환영했다 it 크게.";
        let findings = translation_findings(source, &[], english);
        assert_eq!(kinds(&findings), ["hangul_in_english"], "{findings:?}");
    }

    /// A pool and prompts talking to a fresh in-process mock.
    async fn mock_pool() -> (crate::mock::MockServer, Pool, Prompts) {
        let (server, pool) = crate::pool::mock_pool(crate::client::ResponseFormat::JsonSchema, 2, None).await;
        (server, pool, Prompts::load(None).unwrap())
    }

    #[tokio::test]
    async fn a_reply_with_problems_is_repaired_once_and_a_clean_one_is_not() {
        use crate::client::ReplySchema;
        use crate::prompt::Messages;
        use crate::record::{TranslationReply, strict_schema};
        let (server, pool, prompts) = mock_pool().await;
        let schema = ReplySchema { name: "passage_translation", schema: strict_schema::<TranslationReply>() };
        let messages = Messages::new("Translate.".into(), "<passage>박정호 사장이 말했다.</passage>".into());
        let request = ChatRequest {
            messages: &messages,
            schema: &schema,
            max_tokens: 500,
            kind: crate::sizing::AnswerKind::Translation,
            input_tokens: 10,
        };

        let clean = complete_checked(&pool, &prompts, &request, |_: &TranslationReply| vec![]).await.unwrap();
        assert_eq!((clean.usage.requests, server.requests_received()), (1, 1));

        let missing = Finding::MissingTerm { ko: "박정호".into(), en: "Park Jung-ho".into() };
        let always = |_: &TranslationReply| vec![missing.clone()];
        let repaired = complete_checked(&pool, &prompts, &request, always).await.unwrap();
        assert_eq!(repaired.usage.requests, 2, "one repair, never more");
        assert_eq!(server.requests_received(), 3);
        assert_eq!(repaired.findings, vec![missing]);
    }

    #[test]
    fn strict_turns_warnings_into_a_check_failed_error_and_keeps_earlier_errors() {
        let source = SourceRef { path: "a.txt".into(), line: None };
        let mut record = Record::new("a".into(), source, "m");
        enforce_strict(&mut record, true);
        assert!(record.error.is_none(), "no warnings, nothing to fail");
        record.warnings.push(Warning { kind: "missing_term".into(), message: "Term X is absent.".into() });
        enforce_strict(&mut record.clone(), false);
        let mut strict = record.clone();
        enforce_strict(&mut strict, true);
        let error = strict.error.unwrap();
        assert_eq!(error.kind, CHECK_FAILED);
        assert!(error.message.contains("Term X is absent."));
        record.error = Some(RecordError { kind: "timeout".into(), message: "slow".into() });
        enforce_strict(&mut record, true);
        assert_eq!(record.error.unwrap().kind, "timeout");
    }
}
