//! HTML input: turn a saved news page into a headline and plain paragraphs.
//!
//! This module owns only *extraction*: which element holds the headline and which block of the
//! DOM holds the article. Readability (the `dom_smoothie` port) does the heavy lifting because it
//! scores the DOM by structure (text density, link density, paragraph counts) rather than by site
//! specific selectors, which is the same philosophy as [`super::clean`]: it works on any news site
//! without a per-site rule list. What readability leaves behind (bylines, copyright lines, promo
//! boxes inside the article container) is the job of [`super::clean::clean`], which the caller
//! runs on [`HtmlArticle::text`].
//!
//! The headline and the fallback text are read with small regexes instead of a second DOM parser:
//! they only need `<meta>`, `<title>`, `<h1>` and block boundaries, which are regular enough for
//! that, and a second parser would be one more dependency to build.

use std::sync::LazyLock;

use dom_smoothie::{Config, Readability, TextMode};
use regex::Regex;

#[derive(Debug)]
pub(crate) struct HtmlArticle {
    pub(crate) title: Option<String>,
    pub(crate) text: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HtmlError {
    #[error("no article text found in the HTML document")]
    NoContent,
    #[error("HTML document is empty")]
    Empty,
    #[error(
        "the page nests its elements {0} levels deep (more than {MAX_DEPTH}); no news page does, so it was not parsed"
    )]
    TooDeep(usize),
    #[error("the page is {0}, more than the {MAX_MIB} MiB a news page can reasonably be; it was not parsed")]
    TooLarge(Mib),
}

/// A size in bytes, shown in MiB with one decimal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mib(usize);

impl std::fmt::Display for Mib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1} MiB", self.0 as f64 / (1024.0 * 1024.0))
    }
}

/// Deeper than any real page (they nest a few dozen levels); the DOM walk recurses, so a
/// hostile page nested tens of thousands deep would exhaust the stack.
const MAX_DEPTH: usize = 1_000;
/// Larger than any real article page with its scripts inlined; parsing is roughly linear but
/// not cheap, so a pathological file must not hold a batch up for minutes.
const MAX_MIB: usize = 8;

/// Elements that never have a closing tag, so they open no level.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
    "wbr", "keygen",
];

/// How deep the page's elements nest, counted from its tags (opening tags that are not void
/// or self-closed, minus closing tags). An estimate, as tag soup allows: enough to refuse a
/// page no parser should walk.
fn nesting_depth(html: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let bytes = html.as_bytes();
    let mut at = 0;
    while let Some(offset) = memchr(b'<', &bytes[at..]) {
        let start = at + offset + 1;
        let end = memchr(b'>', &bytes[start..]).map_or(bytes.len(), |e| start + e);
        let tag = &html[start..end];
        at = end.min(bytes.len());
        if let Some(closing) = tag.strip_prefix('/') {
            if closing.starts_with(|c: char| c.is_ascii_alphabetic()) {
                depth = depth.saturating_sub(1);
            }
        } else if tag.starts_with(|c: char| c.is_ascii_alphabetic()) && !tag.ends_with('/') {
            let name = tag.split(|c: char| c.is_ascii_whitespace() || c == '/').next().unwrap_or("");
            if !VOID.iter().any(|v| v.eq_ignore_ascii_case(name)) {
                depth += 1;
                deepest = deepest.max(depth);
            }
        }
    }
    deepest
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex must compile")
}

static META_TAG: LazyLock<Regex> = LazyLock::new(|| re(r"(?is)<meta\b[^>]*>"));
static OG_TITLE_ATTR: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?is)(?:property|name)\s*=\s*["']og:title["']"#));
static CONTENT_ATTR: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?is)\bcontent\s*=\s*(?:"([^"]*)"|'([^']*)')"#));
static TITLE_TAG: LazyLock<Regex> = LazyLock::new(|| re(r"(?is)<title\b[^>]*>(.*?)</title>"));
static H1_TAG: LazyLock<Regex> = LazyLock::new(|| re(r"(?is)<h1\b[^>]*>(.*?)</h1>"));
/// " - 사이트명", " | 사이트명", " : 사이트명" at the end of a <title>.
static SITE_SUFFIX: LazyLock<Regex> = LazyLock::new(|| re(r"\s+[-|–—:]\s+[^-|–—:]{1,40}$"));
static NON_CONTENT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?is)<(script|style|noscript|template|svg|nav|header|footer|aside|form|iframe)\b[^>]*>.*?</(?:script|style|noscript|template|svg|nav|header|footer|aside|form|iframe)>",
    )
});
static COMMENTS: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)<!--.*?-->"));
static BODY: LazyLock<Regex> = LazyLock::new(|| re(r"(?is)<body\b[^>]*>(.*)</body>"));
static BLOCK_BOUNDARY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)<\s*/?\s*(?:p|div|br|li|ul|ol|h[1-6]|tr|table|section|article|blockquote|figure|figcaption|dd|dt|pre)\b[^>]*>",
    )
});
static TAG: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)<[^>]*>"));
static ENTITY: LazyLock<Regex> = LazyLock::new(|| re(r"&(#x[0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[A-Za-z]{2,8});"));

/// Extract the headline (og:title, then <title> minus a " - SiteName"/" | SiteName" suffix,
/// then <h1>) and the main text (paragraphs separated by \n) with readability (dom_smoothie),
/// falling back to the visible text of <body>'s block elements when it finds nothing. A page
/// nested absurdly deep, or absurdly large, is refused before parsing. The caller cleans the
/// result.
pub(crate) fn extract(html: &str) -> Result<HtmlArticle, HtmlError> {
    if html.trim().is_empty() {
        return Err(HtmlError::Empty);
    }
    if html.len() > MAX_MIB << 20 {
        return Err(HtmlError::TooLarge(Mib(html.len())));
    }
    let depth = nesting_depth(html);
    if depth > MAX_DEPTH {
        return Err(HtmlError::TooDeep(depth));
    }
    let title = find_title(html);
    let mut text = readability_text(html).unwrap_or_default();
    if text.is_empty() {
        text = fallback_text(html);
    }
    if text.is_empty() {
        return Err(HtmlError::NoContent);
    }
    Ok(HtmlArticle { title, text })
}

fn readability_text(html: &str) -> Option<String> {
    let cfg = Config { text_mode: TextMode::Formatted, ..Default::default() };
    let mut reader = Readability::new(html, None, Some(cfg)).ok()?;
    let article = reader.parse().ok()?;
    let text = paragraphs(&article.text_content);
    (!text.is_empty()).then_some(text)
}

/// Collapse whitespace inside each paragraph and drop empty ones, so the output has exactly one
/// paragraph per line like the text inputs that [`super::clean::clean`] is tuned for.
fn paragraphs(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn find_title(html: &str) -> Option<String> {
    let og = META_TAG.find_iter(html).find_map(|m| {
        let tag = m.as_str();
        if !OG_TITLE_ATTR.is_match(tag) {
            return None;
        }
        let c = CONTENT_ATTR.captures(tag)?;
        c.get(1).or_else(|| c.get(2)).map(|v| v.as_str().to_string())
    });
    let from_title = || {
        TITLE_TAG.captures(html).map(|c| {
            let t = inline_text(&c[1]);
            SITE_SUFFIX.replace(&t, "").into_owned()
        })
    };
    let from_h1 = || H1_TAG.captures(html).map(|c| inline_text(&c[1]));
    [og.map(|t| inline_text(&t)), from_title(), from_h1()].into_iter().flatten().find(|t| !t.is_empty())
}

fn inline_text(fragment: &str) -> String {
    let stripped = TAG.replace_all(fragment, " ");
    decode_entities(&stripped).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn fallback_text(html: &str) -> String {
    let no_comments = COMMENTS.replace_all(html, "");
    let body = BODY.captures(&no_comments).map_or_else(|| no_comments.to_string(), |c| c[1].to_string());
    let visible = NON_CONTENT.replace_all(&body, "");
    let blocks = BLOCK_BOUNDARY.replace_all(&visible, "\n");
    let plain = TAG.replace_all(&blocks, "");
    paragraphs(&decode_entities(&plain))
}

fn decode_entities(s: &str) -> String {
    ENTITY
        .replace_all(s, |c: &regex::Captures| {
            let name = &c[1];
            let decoded = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
            } else if let Some(dec) = name.strip_prefix('#') {
                dec.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    "middot" => Some('·'),
                    "hellip" => Some('…'),
                    "copy" => Some('©'),
                    _ => None,
                }
            };
            decoded.map_or_else(|| c[0].to_string(), |ch| ch.to_string())
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html>
<html lang="ko"><head>
<meta charset="utf-8">
<meta property="og:title" content="정부, 반도체 인력 1만명 양성 &quot;속도전&quot;">
<title>정부, 반도체 인력 1만명 양성 - 테스트일보</title>
<script>var tracking = "기사 본문 아님";</script>
</head><body>
<header><nav><ul><li><a href="/">홈</a></li><li><a href="/economy">경제</a></li><li><a href="/it">IT/과학</a></li><li><a href="/login">로그인</a></li></ul></nav></header>
<div id="wrap">
<article id="article-view">
<h1>정부, 반도체 인력 1만명 양성 "속도전"</h1>
<div class="article-body">
<p>정부가 반도체 산업 경쟁력을 높이기 위해 향후 5년간 전문 인력 1만 명을 양성하기로 했다. 산업통상자원부는 이날 관계부처 합동으로 반도체 인재 양성 방안을 발표했다.</p>
<p>이번 방안에 따라 주요 대학에 반도체 특성화 학과가 신설되고, 기업과 연계한 실무 교육 과정도 확대된다. 정부는 이를 위해 총 4천억 원의 예산을 투입할 계획이다.</p>
<p>업계는 환영의 뜻을 밝혔다. 한 반도체 업체 관계자는 "인력난이 심각한 상황에서 정부의 지원이 큰 도움이 될 것"이라며 "현장의 수요를 반영한 교육이 중요하다"고 말했다.</p>
<p>정부는 다음 달 세부 시행 계획을 확정하고 내년 상반기부터 본격적으로 사업을 추진할 예정이다. 관련 예산은 국회 심의를 거쳐 최종 확정된다.</p>
</div>
</article>
</div>
<footer><p>회사소개 | 개인정보처리방침 | 청소년보호정책</p><p>Copyright &copy; 테스트일보. All rights reserved.</p></footer>
</body></html>"#;

    #[test]
    fn extracts_title_and_body_without_nav_or_footer() {
        let a = extract(PAGE).expect("article");
        assert_eq!(a.title.as_deref(), Some("정부, 반도체 인력 1만명 양성 \"속도전\""));
        assert!(a.text.contains("정부가 반도체 산업 경쟁력을 높이기 위해"), "{}", a.text);
        assert!(a.text.contains("관련 예산은 국회 심의를 거쳐 최종 확정된다."), "{}", a.text);
        for furniture in ["로그인", "개인정보처리방침", "IT/과학", "tracking"] {
            assert!(!a.text.contains(furniture), "{furniture} leaked: {}", a.text);
        }
        assert!(a.text.lines().count() >= 4, "paragraphs kept apart: {}", a.text);
    }

    #[test]
    fn title_falls_back_to_title_tag_without_site_suffix_then_h1() {
        let html =
            "<html><head><title>속보 제목 | 뉴스사</title></head><body><p>본문입니다.</p></body></html>";
        assert_eq!(find_title(html).as_deref(), Some("속보 제목"));
        let html = "<html><body><h1>헤드라인 <b>강조</b></h1><p>본문입니다.</p></body></html>";
        assert_eq!(find_title(html).as_deref(), Some("헤드라인 강조"));
    }

    #[test]
    fn fallback_reads_visible_block_text() {
        let html = "<html><body><nav>메뉴</nav><div>첫 문단입니다.</div><div>둘째 문단&amp;끝.</div><footer>푸터</footer></body></html>";
        assert_eq!(fallback_text(html), "첫 문단입니다.\n둘째 문단&끝.");
    }

    #[test]
    fn empty_and_contentless_documents_are_errors_not_panics() {
        assert!(matches!(extract(""), Err(HtmlError::Empty)));
        assert!(matches!(
            extract("<html><body><script>x()</script><!-- 광고 --></body></html>"),
            Err(HtmlError::NoContent)
        ));
    }

    #[test]
    fn nesting_is_counted_from_tags_and_void_or_self_closed_ones_open_no_level() {
        assert_eq!(nesting_depth("<html><body><div><p>a<br>b<img src=x/></p></div></body></html>"), 4);
        assert_eq!(nesting_depth("<p>a</p><p>b</p>"), 1);
        assert_eq!(nesting_depth("<!DOCTYPE html><!-- x --><div/>"), 0);
        assert_eq!(nesting_depth("a < b and c > d"), 0);
    }

    #[test]
    fn a_page_nested_too_deep_is_refused_before_parsing() {
        let page =
            format!("<html><body>{}기사{}</body></html>", "<div>".repeat(32_000), "</div>".repeat(32_000));
        assert!(matches!(extract(&page), Err(HtmlError::TooDeep(n)) if n > 32_000));
        let fine = format!(
            "<html><body>{}<p>정부가 계획을 발표했다.</p>{}</body></html>",
            "<div>".repeat(200),
            "</div>".repeat(200)
        );
        assert!(extract(&fine).is_ok());
    }

    #[test]
    fn a_page_larger_than_any_news_page_is_refused_saying_its_size() {
        let page = format!("<html><body><p>{}</p></body></html>", "가".repeat(3 << 20));
        let error = extract(&page).unwrap_err();
        assert!(matches!(error, HtmlError::TooLarge(_)));
        assert!(error.to_string().starts_with("the page is 9.0 MiB, more than the 8 MiB"), "{error}");
    }
}
