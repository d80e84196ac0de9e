//! Structural cleaning of scraped Korean news pages.
//!
//! This module owns the step between "text scraped from a news page" and "text worth sending to a
//! translation model": it decides, line by line, what is article (headline, deck, body, subheads)
//! and what is page furniture, and it keeps the useful facts buried in the furniture (reporters,
//! photo credits, copyright holder) as metadata instead of body text.
//!
//! Why structural and not a list of known sentences: every Korean news site words its widgets a
//! little differently, but they all share the same *shape*. Furniture lines are short, carry no
//! sentence-final ending (다. 요. 니다.), sit in predictable places (before the body, or after the
//! byline/copyright that closes it), come as runs of list-marked links, or repeat text that appears
//! again later (portal summary boxes). Notices such as copyright or photo placeholders follow a
//! handful of conventions (`무단 전재`, `©`, `<사진 / …>`) that are patterns, not sentences.
//! Article prose, on the other hand, is made of full sentences, so a line that ends like a Korean
//! sentence is only removed by notice patterns specific enough not to occur in reporting, or when
//! it lies after the hard end of the article (the copyright notice).

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cleaned {
    /// The headline: the given title, or (when None was given) the first line that survives cleaning.
    pub title: String,
    /// The article body, paragraphs separated by "\n", NFC, whitespace normalised, without the title line.
    pub text: String,
    /// Every removed line (or removed part of a line), in input order, with why.
    pub removed: Vec<Removed>,
    pub metadata: ArticleMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Removed {
    pub line: String,
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    PageFurniture,
    Breadcrumb,
    PhotoPlaceholder,
    Promo,
    CommentWidget,
    RelatedLinks,
    Copyright,
    Byline,
    RepeatedSummary,
    TrailingHeadlines,
    Empty,
    /// The headline line itself: moved to [`Cleaned::title`], not lost.
    Title,
    /// A wire-service dateline such as "(서울=연합뉴스)" without a reporter name.
    Dateline,
    /// Sentence-like text found after the copyright notice, which closes the article.
    TrailingContent,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArticleMetadata {
    pub reporters: Vec<Reporter>,
    pub photo_credits: Vec<String>,
    pub copyright: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reporter {
    pub name: String,
    pub email: Option<String>,
}

// Compiled once: these run for every line of every article.
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex must compile")
}

const EMAIL: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}";
const TITLES: &str = r"(?:선임|수석|전문|객원|인턴|편집)?\s*(?:기자|특파원|통신원)";

/// Korean sentence-final endings followed by terminal punctuation (and optional closing quotes).
/// Headlines and widgets deliberately lack the punctuation, which is what makes this a good
/// "is prose" signal.
static SENTENCE_END: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?:다|요|죠|까|오|음|함|임|됨|라|자|네|군)\s*[.!?…]+["'”’」』)\]]*$"#));

/// Widget phrases so specific that they can be removed even though they are full sentences.
static FURNITURE_STRONG: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"글자\s*크기로\s*변경됩니다|본문\s*보기를\s*권장합니다|언론사에서\s*\S+\s*섹션으로\s*분류했습니다|이\s*기사는\s*언론사에서\s*.*분류",
    )
});
/// Short furniture lines: spacers, navigation, timestamps, portal "기사제공".
static FURNITURE_WEAK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:상단\s*여백|하단\s*여백|여백|back\s*to\s*top|top|맨\s*위로|위로\s*가기|본문\s*바로\s*가기|메뉴\s*바로\s*가기|전체\s*메뉴|기사\s*(?:스크랩|인쇄|저장)|닫기|로그인|회원\s*가입|검색|이전\s*기사|다음\s*기사|목록|기사\s*제공(?:\s*\S+)?|기사\s*원문|원문\s*보기|(?:기사\s*)?(?:입력|수정|등록|승인|송고|업데이트|최종\s*수정)\s*[:：]?\s*\d{4}[.\-/년].*|\d{4}[./\-]\d{1,2}[./\-]\d{1,2}\.?\s*(?:(?:오전|오후)\s*)?(?:\d{1,2}:\d{2}(?::\d{2})?)?\s*(?:송고|입력|수정)?)$",
    )
});
/// Lines made only of social / reading widget labels (optionally with counters).
static WIDGET: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:(?:구독(?:하기|자|중)?|좋아요|싫어요|공유(?:하기)?|추천(?:하기)?|스크랩|인쇄(?:하기)?|북마크|저장|닫기|url\s*복사|링크\s*복사|본문\s*듣기|듣기\s*(?:설정|중지)?|번역(?:하기)?|(?:글자|글씨|폰트)\s*크기(?:\s*(?:변경|조절|설정))?|가|SNS\s*(?:보내기|공유)|페이스북|트위터|카카오톡|카카오스토리|밴드|네이버\s*블로그|쏠쏠정보|흥미진진|공감백배|분석탁월|후속강추|텍스트\s*음성\s*변환\s*서비스\s*사용하기)\s*\d*\s*[,|·]?\s*)+$",
    )
});
static BREADCRUMB: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)^(?:home(?:\s+|\s*[>›»/|]\s*)\S.*|홈\s*[>›»/|]\s*\S.*|[^\s>›»]+(?:\s*[>›»]\s*[^\s>›»]+){1,5})$")
});
/// `<사진 / 뉴스비전e>`, `[사진=연합뉴스]`, `(그래픽=…)`: credit in group 1.
static PHOTO: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^[<\[(（【〈]\s*(?:사진|그래픽|이미지|영상|자료\s*사진|일러스트|캡처|출처)\s*(?:[/=:：·]\s*)?(.*?)\s*[>\])）】〉]$",
    )
});
/// `(SKT 제공)`, `[유튜브 캡처]`: the whole inside is the credit.
static PHOTO_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\s*[(\[<（]\s*(?:사진|그래픽|자료\s*사진|이미지)\s*[=/:：]\s*([^)\]>）]{1,30}?)\s*[)\]>）]$")
});
static PHOTO_CREDIT_ONLY: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[<\[(（【〈]\s*(.{1,30}?\s*(?:제공|캡처|캡쳐))\s*[>\])）】〉]$"));
/// Portal/wire promos recognisable by their fixed wording or by a link marker plus a call to act.
static PROMO_STRONG: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\(예시\)|뉴스를\s*만나보세요|제보는\s*카카오톡|카카오톡\s*okjebo|^※\s*(?:제보|기사\s*제보)|^[▶☞▷►]\s*.*(?:구독|채널\s*추가|바로\s*가기|클릭|다운로드)|^\[?(?:광고|AD)\]?$",
    )
});
static PROMO_WEAK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)구독\s*(?:하기|하세요|신청|버튼)|뉴스레터\s*(?:신청|구독|받기)|후원\s*(?:하기|하세요)|앱\s*(?:설치|다운)|바로\s*가기|네이버\s*메인|팔로우\s*하기|이벤트\s*참여",
    )
});
static COMMENT_STRONG: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"첫\s*번째\s*댓글을\s*남겨|댓글을\s*(?:남겨|작성해|입력해|달아)\s*주세요|로그인\s*후\s*댓글|댓글\s*운영\s*(?:원칙|정책)",
    )
});
static COMMENT_WEAK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:(?:기사\s*)?댓글\s*(?:\d+\s*개?|쓰기|보기|작성|닫기|더\s*보기)?|(?:최신|공감|추천|과거|답글)순|등록|취소|답글\s*\d*)$",
    )
});
static SEE_ALL: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:전체\s*보기|더\s*보기)$"));
/// Section headers of link lists ("icon관련기사", "▶ 관련기사", "[많이 본 뉴스]").
static RELATED_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:[A-Za-z]+)?\s*[\[【<〈▶☞▷►■□\-#]*\s*(?:관련\s*(?:기사|뉴스)|함께\s*(?:보면\s*좋은|볼만한|읽으면\s*좋은)\s*(?:기사|뉴스)|추천\s*(?:기사|뉴스)|많이\s*본\s*(?:기사|뉴스)|인기\s*(?:기사|뉴스)|주요\s*(?:기사|뉴스)|최신\s*(?:기사|뉴스)|이\s*시각\s*(?:주요\s*)?(?:기사|뉴스)|오늘의\s*(?:주요\s*)?(?:기사|뉴스)|실시간\s*(?:인기|주요)?\s*(?:기사|뉴스)|포토\s*뉴스|핫\s*뉴스|헤드라인)\s*[\]】>〉]*\s*(?:[:：].*)?$",
    )
});
/// List markers that, in Korean news pages, introduce links rather than prose. "◆" and "△"
/// are deliberately absent: they mark subheads inside article bodies.
static LINK_MARKER: LazyLock<Regex> = LazyLock::new(|| re(r"^[▶☞▷►→■]"));
static SUBHEAD_MARKER: LazyLock<Regex> = LazyLock::new(|| re(r"^[◆◇△▲●○【<\[]"));
static LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:-|·|•|ㆍ)\s*\S"));
static COPYRIGHT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)무단\s*(?:전재|복제|배포)|재배포\s*금지|학습\s*(?:및\s*활용\s*)?금지|copyright|ⓒ|©|저작권자|all\s*rights\s*reserved|\(c\)\s*\S",
    )
});
static COPYRIGHT_HOLDER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:©|ⓒ|\(c\)|copyright)\s*(?:©|ⓒ|\(c\))?\s*(?:(?:19|20)\d{2}(?:\s*[-~]\s*(?:19|20)?\d{2,4})?\s*)?([^,.<>\[\]()]+?)\s*(?:[,.<>\]\)]|무단|all\s*rights|$)",
    )
});
/// A line that is only a byline: optional [outlet], names, title, optional e-mail.
static BYLINE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^(?:[\[【(]\s*[^\]】)]{{1,20}}[\]】)]\s*)?(?:글\s*[·ㆍ/]?\s*사진\s*|사진\s*|글\s*)?(?P<names>[가-힣]{{2,4}}(?:\s*[,·ㆍ]\s*[가-힣]{{2,4}})*)\s*{TITLES}\s*[(<\[]?\s*(?P<email>{EMAIL})?\s*[)>\]]?$"
    ))
});
static EMAIL_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"^[(<\[]?\s*(?P<email>{EMAIL})\s*[)>\]]?$")));
/// "[뉴스비전e 김호성 기자] 본문…": outlet and reporter in brackets before the first sentence.
static BYLINE_BRACKET_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^[\[【]\s*(?:[^\]】]{{0,30}}?\s)?(?P<names>[가-힣]{{2,4}}(?:\s*[,·ㆍ]\s*[가-힣]{{2,4}})*)\s*{TITLES}\s*[\]】]\s*"
    ))
});
/// Wire style "(서울=연합뉴스) 홍길동 기자 = 본문…" (dateline optional, "=" required).
static BYLINE_WIRE_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^(?:[\[(【]\s*[^\])】=]{{1,20}}=\s*[^\])】]{{1,30}}[\])】]\s*)?(?P<names>[가-힣]{{2,4}}(?:[\s,·ㆍ]+[가-힣]{{2,4}})*)\s*{TITLES}\s*=\s*"
    ))
});
static DATELINE_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[\[(【]\s*[가-힣A-Za-z]{1,10}\s*=\s*[^\])】]{1,30}[\])】]\s*"));
static NAME_SPLIT: LazyLock<Regex> = LazyLock::new(|| re(r"[\s,·ㆍ]+"));

/// Unicode NFC, CRLF->LF, trims each line, folds runs of spaces/tabs/NBSP/zero-width chars to one space, drops control chars.
pub fn normalize(text: &str) -> String {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    let nfc: String = unified.nfc().collect();
    let mut out = String::with_capacity(nfc.len());
    for (i, line) in nfc.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut pending_space = false;
        let mut started = false;
        for c in line.chars() {
            if is_space_like(c) {
                pending_space = started;
                continue;
            }
            if c.is_control() || is_invisible_format(c) {
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
            started = true;
        }
    }
    out
}

fn is_space_like(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}')
        || (c.is_whitespace() && c != '\n')
}

// Direction marks and similar format characters are invisible in the page; they only cost tokens.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{00AD}')
}

fn is_sentence(line: &str) -> bool {
    SENTENCE_END.is_match(line)
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Structural role needed by the later, position-aware passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    /// A standalone byline/e-mail line: the soft end of the article.
    BylineLine,
    /// A copyright notice: the hard end of the article.
    CopyrightLine,
    RelatedHeader,
}

struct Line {
    original: String,
    /// The article text of the line (after any stripped prefix).
    text: String,
    removed: Option<Reason>,
    role: Role,
    /// Parts of the line removed while the rest was kept (byline prefix, trailing photo credit).
    stripped: Vec<(String, Reason)>,
}

impl Line {
    fn kept(&self) -> Option<&str> {
        match self.removed {
            None => Some(&self.text),
            Some(_) => None,
        }
    }
}

fn add_reporters(meta: &mut ArticleMetadata, names: &str, email: Option<&str>) {
    for (i, name) in NAME_SPLIT.split(names.trim()).filter(|n| !n.is_empty()).enumerate() {
        // With several names and one address, the address conventionally belongs to the first.
        let email = if i == 0 { email } else { None };
        if let Some(r) = meta.reporters.iter_mut().find(|r| r.name == name) {
            if r.email.is_none() {
                r.email = email.map(str::to_string);
            }
        } else {
            meta.reporters.push(Reporter { name: name.to_string(), email: email.map(str::to_string) });
        }
    }
}

fn add_email_only(meta: &mut ArticleMetadata, email: &str) {
    if meta.reporters.iter().any(|r| r.email.as_deref() == Some(email)) {
        return;
    }
    if let Some(r) = meta.reporters.iter_mut().find(|r| r.email.is_none()) {
        r.email = Some(email.to_string());
    } else {
        // The name may be unknown (wire copy often ends with a bare address).
        meta.reporters.push(Reporter { name: String::new(), email: Some(email.to_string()) });
    }
}

fn add_credit(meta: &mut ArticleMetadata, credit: &str) {
    let credit = credit.trim();
    // "[사진 제공]" names no one; keep only credits that identify a source.
    if !credit.is_empty() && credit != "제공" && !meta.photo_credits.iter().any(|c| c == credit) {
        meta.photo_credits.push(credit.to_string());
    }
}

/// Context-free classification of one normalised line.
fn classify(line: &str, meta: &mut ArticleMetadata) -> Line {
    let mk = |removed, role| Line {
        original: line.to_string(),
        text: line.to_string(),
        removed,
        role,
        stripped: Vec::new(),
    };
    let remove = |reason| mk(Some(reason), Role::Plain);
    if line.is_empty() {
        return remove(Reason::Empty);
    }
    let sentence = is_sentence(line);
    let len = char_len(line);
    let short = !sentence && len <= 60;

    if FURNITURE_STRONG.is_match(line) {
        return remove(Reason::PageFurniture);
    }
    if PROMO_STRONG.is_match(line) {
        return remove(Reason::Promo);
    }
    if COMMENT_STRONG.is_match(line) && len <= 60 {
        return remove(Reason::CommentWidget);
    }
    if !sentence && len <= 150 && COPYRIGHT.is_match(line) {
        if meta.copyright.is_none()
            && let Some(c) = COPYRIGHT_HOLDER.captures(line)
        {
            let holder = c[1].trim();
            if !holder.is_empty() && !COPYRIGHT.is_match(holder) {
                meta.copyright = Some(holder.to_string());
            }
        }
        return mk(Some(Reason::Copyright), Role::CopyrightLine);
    }
    if len <= 80
        && let Some(c) = BYLINE_LINE.captures(line)
    {
        add_reporters(meta, &c["names"], c.name("email").map(|m| m.as_str()));
        return mk(Some(Reason::Byline), Role::BylineLine);
    }
    if let Some(c) = EMAIL_LINE.captures(line) {
        add_email_only(meta, &c["email"]);
        return mk(Some(Reason::Byline), Role::BylineLine);
    }
    if len <= 80 {
        if let Some(c) = PHOTO.captures(line) {
            add_credit(meta, &c[1]);
            return remove(Reason::PhotoPlaceholder);
        }
        if let Some(c) = PHOTO_CREDIT_ONLY.captures(line) {
            add_credit(meta, &c[1]);
            return remove(Reason::PhotoPlaceholder);
        }
    }
    if !sentence && len <= 80 && RELATED_HEADER.is_match(line) {
        return mk(Some(Reason::RelatedLinks), Role::RelatedHeader);
    }
    if short {
        if BREADCRUMB.is_match(line) {
            return remove(Reason::Breadcrumb);
        }
        if FURNITURE_WEAK.is_match(line) || WIDGET.is_match(line) {
            return remove(Reason::PageFurniture);
        }
        if COMMENT_WEAK.is_match(line) {
            return remove(Reason::CommentWidget);
        }
        if PROMO_WEAK.is_match(line) && !LIST_ITEM.is_match(line) {
            return remove(Reason::Promo);
        }
    }

    let mut kept = mk(None, Role::Plain);
    // A trailing "(사진=연합뉴스)" on a caption or paragraph: the credit is metadata, the text stays.
    if let Some(c) = PHOTO_SUFFIX.captures(&kept.text) {
        let whole = c.get(0).map_or("", |m| m.as_str());
        let rest = kept.text[..kept.text.len() - whole.len()].trim_end().to_string();
        if !rest.is_empty() {
            add_credit(meta, &c[1]);
            kept.stripped.push((whole.trim().to_string(), Reason::PhotoPlaceholder));
            kept.text = rest;
        }
    }
    // In-body prefixes: keep the sentence, move the byline/dateline to metadata.
    for (prefix_re, reason) in [
        (&*BYLINE_BRACKET_PREFIX, Reason::Byline),
        (&*BYLINE_WIRE_PREFIX, Reason::Byline),
        (&*DATELINE_PREFIX, Reason::Dateline),
    ] {
        if let Some(c) = prefix_re.captures(&kept.text) {
            let whole = c.get(0).map_or("", |m| m.as_str());
            let rest = kept.text[whole.len()..].trim().to_string();
            if rest.is_empty() {
                continue;
            }
            if let Some(names) = c.name("names") {
                add_reporters(meta, names.as_str(), None);
            }
            kept.stripped.insert(0, (whole.trim().to_string(), reason));
            kept.text = rest;
            break;
        }
    }
    kept
}

/// Clean one article. `title`: Some for sources that carry one (JSONL), None for a plain text page whose headline must be found.
pub fn clean(title: Option<&str>, text: &str) -> Cleaned {
    let mut meta = ArticleMetadata::default();
    let normalized = normalize(text);
    let mut lines: Vec<Line> = if normalized.is_empty() {
        Vec::new()
    } else {
        normalized.lines().map(|l| classify(l, &mut meta)).collect()
    };

    mark_comment_followers(&mut lines);
    mark_related_runs(&mut lines);
    mark_after_end(&mut lines);
    mark_trailing_list(&mut lines);
    mark_repeated_summaries(&mut lines);

    // A given title, even an empty one, means the source said what its headline is (JSONL):
    // the first line of the text is then body, not a headline to look for.
    let given_title = title.map(|t| normalize(t).replace('\n', " "));
    let title = match given_title {
        Some(t) if t.is_empty() => t,
        Some(t) => {
            let squash = |s: &str| s.split_whitespace().collect::<String>();
            let target = squash(&t);
            if let Some(l) = lines.iter_mut().find(|l| l.kept().is_some_and(|k| squash(k) == target)) {
                l.removed = Some(Reason::Title);
            }
            t
        }
        None => {
            // Section labels and site names that survive the patterns sit above the headline and
            // are one or two short words; the headline is the first line with some substance.
            let kept: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].kept().is_some()).collect();
            let before_prose =
                kept.iter().copied().take_while(|&i| !lines[i].kept().is_some_and(is_sentence));
            let headline = before_prose
                .into_iter()
                .find(|&i| lines[i].kept().is_some_and(|k| char_len(k) >= 10 && k.contains(' ')))
                .or_else(|| kept.first().copied());
            match headline {
                Some(h) => {
                    for l in &mut lines[..h] {
                        if l.kept().is_some_and(|k| !is_sentence(k)) {
                            l.removed = Some(Reason::PageFurniture);
                        }
                    }
                    lines[h].removed = Some(Reason::Title);
                    lines[h].text.clone()
                }
                None => String::new(),
            }
        }
    };

    let mut removed = Vec::new();
    let mut body = Vec::new();
    for l in lines {
        let was_stripped = !l.stripped.is_empty();
        removed.extend(l.stripped.into_iter().map(|(line, reason)| Removed { line, reason }));
        match l.removed {
            None => body.push(l.text),
            // A stripped line later removed as a whole is reported once: parts, then remainder.
            Some(reason) if was_stripped => removed.push(Removed { line: l.text, reason }),
            Some(reason) => removed.push(Removed { line: l.original, reason }),
        }
    }
    Cleaned { title, text: body.join("\n"), removed, metadata: meta }
}

/// "전체보기" alone is ambiguous; right after a comment counter it is the comment widget's button.
fn mark_comment_followers(lines: &mut [Line]) {
    for i in 1..lines.len() {
        let prev_comment = lines[i - 1].removed == Some(Reason::CommentWidget);
        if prev_comment && lines[i].kept().is_some_and(|k| SEE_ALL.is_match(k)) {
            lines[i].removed = Some(Reason::CommentWidget);
        }
    }
}

/// Headline-like lines directly under a related-links header, and runs of link-marked lines,
/// are link lists. A single "▶ …" line could be a subhead, so it needs company or a header.
fn mark_related_runs(lines: &mut [Line]) {
    // Items keep the style of the first item (all marked, or all bare); a change of style or a
    // subhead marker means the article has resumed.
    let mut list_style: Option<Option<bool>> = None;
    for l in lines.iter_mut() {
        if l.role == Role::RelatedHeader {
            list_style = Some(None);
            continue;
        }
        let Some(style) = list_style else { continue };
        let Some(k) = l.kept() else {
            list_style = None;
            continue;
        };
        let marked = LINK_MARKER.is_match(k) || LIST_ITEM.is_match(k);
        let same_style = style.is_none_or(|s| s == marked);
        if is_sentence(k) || SUBHEAD_MARKER.is_match(k) || !same_style {
            list_style = None;
            continue;
        }
        list_style = Some(Some(marked));
        l.removed = Some(Reason::RelatedLinks);
    }
    let is_link = |l: &Line| l.kept().is_some_and(|k| LINK_MARKER.is_match(k) && !is_sentence(k));
    let mut i = 0;
    while i < lines.len() {
        if !is_link(&lines[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && is_link(&lines[i]) {
            i += 1;
        }
        if i - start >= 2 {
            for l in &mut lines[start..i] {
                l.removed = Some(Reason::RelatedLinks);
            }
        }
    }
}

/// The byline (soft end) or copyright notice (hard end) closes the article once some prose has
/// been seen. After the hard end nothing is article. After a soft end only headline-like lines go,
/// and only when no prose follows them (a photographer credit mid-article must not cut the body).
fn mark_after_end(lines: &mut [Line]) {
    let mut seen_prose = false;
    let mut soft_end = None;
    let mut hard_end = None;
    for (i, l) in lines.iter().enumerate() {
        if let Some(k) = l.kept()
            && is_sentence(k)
        {
            seen_prose = true;
        }
        if !seen_prose {
            continue;
        }
        match l.role {
            Role::BylineLine if soft_end.is_none() => soft_end = Some(i),
            Role::CopyrightLine => {
                hard_end = Some(i);
                break;
            }
            _ => {}
        }
    }
    if let Some(h) = hard_end {
        for l in &mut lines[h + 1..] {
            if let Some(k) = l.kept() {
                let reason = if is_sentence(k) { Reason::TrailingContent } else { Reason::TrailingHeadlines };
                l.removed = Some(reason);
            }
        }
    }
    if let Some(s) = soft_end {
        let stop = hard_end.unwrap_or(lines.len());
        let last_prose = (s + 1..stop).rev().find(|&i| lines[i].kept().is_some_and(is_sentence));
        let from = last_prose.map_or(s + 1, |p| p + 1);
        for l in &mut lines[from.min(stop)..stop] {
            if l.kept().is_some() {
                l.removed = Some(Reason::TrailingHeadlines);
            }
        }
    }
}

/// Without an end marker, a run of ≥3 headline-like list items closing the page is still a
/// "more news" block: article bullets are either prose or short key/value facts.
fn mark_trailing_list(lines: &mut [Line]) {
    let kept: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].kept().is_some()).collect();
    let mut run = Vec::new();
    for &i in kept.iter().rev() {
        let k = lines[i].kept().unwrap_or_default();
        if LIST_ITEM.is_match(k) && !is_sentence(k) && !k.contains(':') && char_len(k) >= 15 {
            run.push(i);
        } else {
            break;
        }
    }
    if run.len() >= 3 {
        for i in run {
            lines[i].removed = Some(Reason::TrailingHeadlines);
        }
    }
}

/// Portal summary boxes repeat the article's first sentences (sometimes truncated with "…")
/// before the body starts; the later occurrence is the article, the earlier one is the repeat.
fn mark_repeated_summaries(lines: &mut [Line]) {
    for i in 0..lines.len() {
        let Some(k) = lines[i].kept() else { continue };
        let needle = k.trim_end_matches(['.', '…']).trim_end_matches("...").trim_end();
        if char_len(needle) < 20 {
            continue;
        }
        let repeated = lines[i + 1..].iter().any(|l| l.kept().is_some_and(|later| later.contains(needle)));
        if repeated {
            lines[i].removed = Some(Reason::RepeatedSummary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIBABA: &str = include_str!("../../fixtures/alibaba-cloud-korea.txt");
    const ALIBABA_EXPECTED: &str = include_str!("../../tests/golden/alibaba-cloud-korea.expected.txt");
    const KIT: &str = include_str!("../../fixtures/k-it-smart-city-exports.txt");
    const KIT_EXPECTED: &str = include_str!("../../tests/golden/k-it-smart-city-exports.expected.txt");

    fn reason_of(c: &Cleaned, line: &str) -> Option<Reason> {
        c.removed.iter().find(|r| r.line == line).map(|r| r.reason)
    }

    fn reporter(name: &str, email: Option<&str>) -> Reporter {
        Reporter { name: name.to_string(), email: email.map(str::to_string) }
    }

    #[test]
    fn golden_alibaba() {
        let c = clean(None, ALIBABA);
        assert_eq!(c.text, ALIBABA_EXPECTED.trim_end());
        assert_eq!(c.title, "[이슈 분석] 마윈 회장의 방한과 알리바바의 클라우드...한국 거점화에 관심 증폭");
        assert_eq!(c.metadata.reporters, vec![reporter("김호성", Some("newsvision-e@hanmail.net"))]);
        assert_eq!(c.metadata.photo_credits, vec!["뉴스비전e", "alibaba cloud", "SKT 제공"]);
        assert_eq!(c.metadata.copyright.as_deref(), Some("뉴스비전e"));
        let expect = [
            ("상단여백", Reason::PageFurniture),
            ("HOME AI/빅데이터/SW", Reason::Breadcrumb),
            ("[뉴스비전e 김호성 기자]", Reason::Byline),
            ("<사진 / 뉴스비전e>", Reason::PhotoPlaceholder),
            ("<사진 / SKT 제공>", Reason::PhotoPlaceholder),
            ("김호성 기자 newsvision-e@hanmail.net", Reason::Byline),
            ("<저작권자 © 뉴스비전e, 무단 전재 및 재배포 금지>", Reason::Copyright),
            ("icon관련기사", Reason::RelatedLinks),
            ("기사 댓글 0", Reason::CommentWidget),
            ("전체보기", Reason::CommentWidget),
            ("첫번째 댓글을 남겨주세요.", Reason::CommentWidget),
            ("여백", Reason::PageFurniture),
            ("Back to Top", Reason::PageFurniture),
        ];
        for (line, reason) in expect {
            assert_eq!(reason_of(&c, line), Some(reason), "{line}");
        }
        let glued = c.removed.iter().find(|r| r.line.starts_with("아시아권 클라우드 생태계")).unwrap();
        assert_eq!(glued.reason, Reason::RelatedLinks);
        // Removed entries come in input order.
        let pos = |l: &str| c.removed.iter().position(|r| r.line == l).unwrap();
        assert!(pos("상단여백") < pos("<사진 / 뉴스비전e>"));
        assert!(pos("<사진 / 뉴스비전e>") < pos("Back to Top"));
    }

    #[test]
    fn golden_k_it() {
        let c = clean(None, KIT);
        assert_eq!(c.text, KIT_EXPECTED.trim_end());
        assert_eq!(c.title, "\"해외로 뻗어나가는 K-IT\"…인도네시아·사우디 첨단 스마트시티 구축 나선다");
        assert_eq!(c.metadata.reporters, vec![reporter("안하늘", Some("ahn708@hankookilbo.com"))]);
        assert!(c.metadata.photo_credits.is_empty());
        assert_eq!(c.metadata.copyright.as_deref(), Some("한국일보"));
        let expect = [
            ("전체 맥락을 이해하기 위해서는 본문 보기를 권장합니다.", Reason::PageFurniture),
            (
                "국내 정보통신(IT) 기업들이 자사의 첨단 솔루션을 연이어 해외로 수출하고 있다.",
                Reason::RepeatedSummary,
            ),
            ("이 글자크기로 변경됩니다.", Reason::PageFurniture),
            ("안하늘 기자 ahn708@hankookilbo.com", Reason::Byline),
            ("Copyright © 한국일보. 무단전재 및 재배포 금지.", Reason::Copyright),
            ("- 서장훈 \"이혼, 마주하기 힘든 일...쉽지 않아\" 고백", Reason::TrailingHeadlines),
        ];
        for (line, reason) in expect {
            assert_eq!(reason_of(&c, line), Some(reason), "{line}");
        }
        let promo = c.removed.iter().find(|r| r.line.starts_with("(예시)")).unwrap();
        assert_eq!(promo.reason, Reason::Promo);
        let tail = c.removed.iter().filter(|r| r.reason == Reason::TrailingHeadlines).count();
        assert_eq!(tail, 10);
    }

    #[test]
    fn golden_with_given_title_removes_the_headline_line() {
        let title = "\"해외로 뻗어나가는 K-IT\"…인도네시아·사우디 첨단 스마트시티 구축 나선다";
        let c = clean(Some(title), KIT);
        assert_eq!(c.title, title);
        assert_eq!(c.text, KIT_EXPECTED.trim_end());
        assert_eq!(reason_of(&c, title), Some(Reason::Title));
    }

    #[test]
    fn yonhap_style_wire_copy() {
        let page = "정부, 내년 예산 656조 원 편성…지출 증가율 역대 최저\n\
(세종=연합뉴스) 홍길동 김철수 기자 = 정부가 내년도 예산안을 656조 9천억 원 규모로 편성했다.\n\
\n\
기획재정부는 29일 국무회의에서 이같은 내용의 2024년도 예산안을 의결했다고 밝혔다.\n\
총지출 증가율은 2.8%로, 재정 통계가 정비된 2005년 이후 가장 낮은 수준이다.\n\
\n\
gildong@yna.co.kr\n\
※ 제보는 카카오톡 okjebo\n\
<저작권자(c) 연합뉴스, 무단 전재-재배포, AI 학습 및 활용 금지>\n\
2023/08/29 10:00 송고\n";
        let c = clean(Some("정부, 내년 예산 656조 원 편성…지출 증가율 역대 최저"), page);
        assert_eq!(
            c.text,
            "정부가 내년도 예산안을 656조 9천억 원 규모로 편성했다.\n\
기획재정부는 29일 국무회의에서 이같은 내용의 2024년도 예산안을 의결했다고 밝혔다.\n\
총지출 증가율은 2.8%로, 재정 통계가 정비된 2005년 이후 가장 낮은 수준이다."
        );
        assert_eq!(
            c.metadata.reporters,
            vec![reporter("홍길동", Some("gildong@yna.co.kr")), reporter("김철수", None)]
        );
        assert_eq!(c.metadata.copyright.as_deref(), Some("연합뉴스"));
        assert_eq!(reason_of(&c, "(세종=연합뉴스) 홍길동 김철수 기자 ="), Some(Reason::Byline));
        assert_eq!(reason_of(&c, "※ 제보는 카카오톡 okjebo"), Some(Reason::Promo));
        assert_eq!(reason_of(&c, "gildong@yna.co.kr"), Some(Reason::Byline));
        assert_eq!(reason_of(&c, "2023/08/29 10:00 송고"), Some(Reason::PageFurniture));
    }

    #[test]
    fn naver_portal_style_page() {
        let page = "기사제공 한국일보\n구독\n입력 2023.11.02. 오전 10:00 수정 2023.11.02. 오전 11:20\n\
좋아요 공유하기\n본문 듣기 글자 크기 변경\n\
카카오, 새 AI 모델 공개\n\
카카오가 자체 개발한 새 인공지능(AI) 모델을 2일 공개했다.\n\
[사진=카카오 제공]\n\
회사는 이 모델을 연내 주요 서비스에 적용할 계획이라고 밝혔다.\n\
▶ 관련기사\n\
▶ 네이버, 하이퍼클로바X 공개\n\
▶ SKT, 에이닷 고도화\n\
◆ 경쟁사 대응은\n\
업계에서는 빅테크 간 AI 경쟁이 더 치열해질 것으로 보고 있다.\n\
안하늘 기자 ahn708@hankookilbo.com\n\
쏠쏠정보 0 흥미진진 0 공감백배 0 분석탁월 0 후속강추 0\n\
이 기사는 언론사에서 IT 섹션으로 분류했습니다.\n\
Copyright ⓒ 한국일보. All rights reserved.\n\
▶ 네이버에서 한국일보 구독하기\n\
많이 본 뉴스\n\
- 서울 아파트값 3주 연속 상승…강남은 보합세로 전환\n";
        let c = clean(None, page);
        assert_eq!(c.title, "카카오, 새 AI 모델 공개");
        assert_eq!(
            c.text,
            "카카오가 자체 개발한 새 인공지능(AI) 모델을 2일 공개했다.\n\
회사는 이 모델을 연내 주요 서비스에 적용할 계획이라고 밝혔다.\n\
◆ 경쟁사 대응은\n\
업계에서는 빅테크 간 AI 경쟁이 더 치열해질 것으로 보고 있다."
        );
        assert_eq!(c.metadata.photo_credits, vec!["카카오 제공"]);
        assert_eq!(c.metadata.copyright.as_deref(), Some("한국일보"));
        for (line, reason) in [
            ("기사제공 한국일보", Reason::PageFurniture),
            ("구독", Reason::PageFurniture),
            ("좋아요 공유하기", Reason::PageFurniture),
            ("본문 듣기 글자 크기 변경", Reason::PageFurniture),
            ("▶ 관련기사", Reason::RelatedLinks),
            ("▶ SKT, 에이닷 고도화", Reason::RelatedLinks),
            ("쏠쏠정보 0 흥미진진 0 공감백배 0 분석탁월 0 후속강추 0", Reason::PageFurniture),
            ("Copyright ⓒ 한국일보. All rights reserved.", Reason::Copyright),
        ] {
            assert_eq!(reason_of(&c, line), Some(reason), "{line}");
        }
    }

    #[test]
    fn list_like_body_is_kept() {
        let page = "정부, 소상공인 지원 대책 발표\n\
정부가 소상공인 부담을 줄이기 위한 종합 대책을 내놨다. 주요 내용은 다음과 같다.\n\
- 전기요금 분할 납부 기간을 6개월로 늘린다.\n\
- 정책자금 대출 금리를 1%포인트 낮춘다.\n\
- 폐업 소상공인의 재취업 지원 예산을 2배로 확대한다.\n\
· 신청은 다음 달 1일부터 온라인으로 받는다.\n\
△지원 대상: 연 매출 3억 원 이하 사업자\n\
△신청 기간: 12월 1일~31일\n\
중소벤처기업부는 \"현장의 목소리를 반영했다\"고 설명했다.\n";
        let c = clean(None, page);
        assert_eq!(c.title, "정부, 소상공인 지원 대책 발표");
        let expected: Vec<&str> = page.lines().skip(1).collect();
        assert_eq!(c.text, expected.join("\n"));
        assert!(c.removed.iter().all(|r| r.reason == Reason::Title), "{:?}", c.removed);
    }

    #[test]
    fn page_without_noise_only_normalises() {
        let page = "  서울 첫눈, 평년보다 닷새 늦어  \r\n기상청은 22일 서울에 첫눈이\u{a0}\u{a0}관측됐다고 밝혔다.\r\n\
이는 평년보다 5일 늦은 것이다.\t\t\r\n\"당분간 추위가 이어질 전망\"\r\n기상청은 주말까지 기온이 평년보다 낮겠다고 예보했다.";
        let c = clean(None, page);
        assert_eq!(c.title, "서울 첫눈, 평년보다 닷새 늦어");
        assert_eq!(
            c.text,
            "기상청은 22일 서울에 첫눈이 관측됐다고 밝혔다.\n이는 평년보다 5일 늦은 것이다.\n\
\"당분간 추위가 이어질 전망\"\n기상청은 주말까지 기온이 평년보다 낮겠다고 예보했다."
        );
        assert_eq!(
            c.removed,
            vec![Removed { line: "서울 첫눈, 평년보다 닷새 늦어".into(), reason: Reason::Title }]
        );
        assert_eq!(c.metadata, ArticleMetadata::default());
    }

    #[test]
    fn section_label_caption_credit_and_headline_tail_without_end_marker() {
        let page = "IT/과학\n\
반도체 수출 14개월 만에 반등\n\
▲ 반도체 생산 라인 모습 (사진=연합뉴스)\n\
반도체 수출이 14개월 만에 증가세로 돌아섰다.\n\
사진 홍길동 기자\n\
■ 하반기 전망\n\
산업부는 하반기에도 회복세가 이어질 것으로 내다봤다.\n\
- 美 연준, 기준금리 동결…\"인플레 둔화 더 확인해야\"\n\
- 코스피 2,500선 회복…외국인 사흘째 순매수 이어가\n\
- 서울 아파트값 3주 연속 상승…강남은 보합세로 전환\n";
        let c = clean(None, page);
        assert_eq!(c.title, "반도체 수출 14개월 만에 반등");
        assert_eq!(
            c.text,
            "▲ 반도체 생산 라인 모습\n\
반도체 수출이 14개월 만에 증가세로 돌아섰다.\n\
■ 하반기 전망\n\
산업부는 하반기에도 회복세가 이어질 것으로 내다봤다."
        );
        assert_eq!(reason_of(&c, "IT/과학"), Some(Reason::PageFurniture));
        assert_eq!(reason_of(&c, "(사진=연합뉴스)"), Some(Reason::PhotoPlaceholder));
        assert_eq!(c.metadata.photo_credits, vec!["연합뉴스"]);
        assert_eq!(c.metadata.reporters, vec![reporter("홍길동", None)]);
        let tail = c.removed.iter().filter(|r| r.reason == Reason::TrailingHeadlines).count();
        assert_eq!(tail, 3);
    }

    #[test]
    fn empty_input() {
        for input in ["", "\n\n", "   \r\n\t"] {
            let c = clean(None, input);
            assert_eq!(c.text, "");
            assert_eq!(c.title, "");
        }
        let c = clean(Some("제목"), "");
        assert_eq!((c.title.as_str(), c.text.as_str()), ("제목", ""));
    }

    #[test]
    fn nfd_hangul_becomes_nfc() {
        let nfd: String = "한국어 기사입니다.".nfd().collect();
        assert_ne!(nfd, "한국어 기사입니다.");
        assert_eq!(normalize(&nfd), "한국어 기사입니다.");
        let c = clean(Some("제목"), &format!("{nfd}\n{nfd}두 번째 문장입니다."));
        assert!(c.text.starts_with("한국어 기사입니다."));
    }

    #[test]
    fn normalize_rules() {
        assert_eq!(normalize("a\u{200b}\u{200b} b\r\n\u{feff}c\u{7}d\t"), "a b\ncd");
        assert_eq!(normalize(" x \u{3000} y "), "x y");
    }

    /// Tiny deterministic generator: no extra dependency for property-style tests.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) as usize
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.next() % xs.len()]
        }
    }

    const SUBJECTS: &[&str] =
        &["정부는", "삼성전자는", "관계자는", "서울시가", "업계에서는", "연구진은", "KT는"];
    const MIDDLES: &[&str] = &[
        " 이번 조치에 대해",
        " 지난달 발표한 계획에 따라",
        " 댓글 관리 정책을 두고",
        " 관련기사 보도 이후",
        " 저작권 문제를 검토하면서",
        " 구독 서비스를 확대하며",
        " 사진 자료를 공개하고",
        " '채널 구독하세요' 문구를 두고",
        " 무단 전재 문제를 놓고",
    ];
    const ENDS: &[&str] = &[
        " 입장을 밝혔다.",
        " 계획이라고 설명했다.",
        " 예정입니다.",
        " 것으로 보인다.",
        " 할까요?",
        " 증가했다.",
    ];
    const NOISE: &[&str] = &[
        "여백",
        "상단여백",
        "HOME 경제",
        "<사진 / 연합뉴스>",
        "기사 댓글 0",
        "전체보기",
        "icon관련기사",
        "▶ 관련기사",
        "좋아요",
        "구독",
        "",
        "Back to Top",
        "이 글자크기로 변경됩니다.",
        "(사진=뉴스1)",
    ];

    #[test]
    fn property_body_sentences_survive_surrounding_noise() {
        let mut rng = Lcg(42);
        for _ in 0..300 {
            let mut lines = vec!["제목 줄".to_string()];
            let mut body = Vec::new();
            for _ in 0..(3 + rng.next() % 8) {
                if rng.next().is_multiple_of(2) {
                    lines.push(rng.pick(NOISE).to_string());
                }
                let s = format!("{}{}{}", rng.pick(SUBJECTS), rng.pick(MIDDLES), rng.pick(ENDS));
                lines.push(s.clone());
                body.push(s);
            }
            lines.push("홍길동 기자 hong@example.com".into());
            lines.push("<저작권자 © 예시일보, 무단 전재 및 재배포 금지>".into());
            let c = clean(None, &lines.join("\n"));
            let kept: Vec<&str> = c.text.lines().collect();
            for s in &body {
                assert!(kept.contains(&s.as_str()), "dropped {s:?} from\n{}", lines.join("\n"));
            }
        }
    }

    #[test]
    fn property_normalize_is_idempotent() {
        let mut rng = Lcg(7);
        let pieces = [
            "가",
            "한",
            "\u{1100}\u{1161}",
            " ",
            "\t",
            "\u{a0}",
            "\u{200b}",
            "\r\n",
            "\n",
            "\u{7}",
            "a",
            ".",
            "다.",
            "\u{feff}",
            "\u{3000}",
            "é",
            "e\u{301}",
        ];
        for _ in 0..500 {
            let s: String = (0..rng.next() % 40).map(|_| rng.pick(&pieces)).collect();
            let once = normalize(&s);
            assert_eq!(normalize(&once), once, "{s:?}");
            assert!(once.lines().all(|l| l == l.trim()));
            assert!(!once.contains("  "));
        }
    }

    #[test]
    fn clean_never_panics_on_odd_input() {
        let mut rng = Lcg(99);
        let pieces = [
            "[",
            "]",
            "<",
            ">",
            "기자",
            " ",
            "\n",
            "=",
            "©",
            "@",
            "a.kr",
            "▶",
            "- ",
            "다.",
            "가나다라마바",
            "…",
            "...",
        ];
        for _ in 0..500 {
            let s: String = (0..rng.next() % 30).map(|_| rng.pick(&pieces)).collect();
            let _ = clean(None, &s);
            let _ = clean(Some(&s), &s);
        }
    }
}
