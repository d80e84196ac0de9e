//! Context-free classification of one line: the patterns of page furniture, notices, widgets
//! and bylines, and the facts (reporters, photo credits, copyright holder) they carry. The
//! position-aware passes that use these classifications are in the parent module.

use super::*;

// Compiled once: these run for every line of every article.
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex must compile")
}

const EMAIL: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}";
const TITLES: &str = r"(?:선임|수석|전문|객원|인턴|편집)?\s*(?:기자|특파원|통신원)";

/// Korean sentence-final endings followed by terminal punctuation (and optional closing quotes).
/// Headlines and widgets deliberately lack the punctuation, which is what makes this a good
/// "is prose" signal.
pub(super) static SENTENCE_END: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?:다|요|죠|까|오|음|함|임|됨|라|자|네|군)\s*[.!?…]+["'”’」』)\]]*$"#));

/// Widget phrases so specific that they can be removed even though they are full sentences.
/// Where the widget's whole sentence is known it is spelled out, so that a flattened page can be
/// cut where the widget starts (see `split`).
pub(super) static FURNITURE_STRONG: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:이\s*)?글자\s*크기로\s*변경됩니다|(?:전체\s*맥락을\s*이해하기\s*위해서는\s*)?본문\s*보기를\s*권장합니다|언론사에서\s*\S+\s*섹션으로\s*분류했습니다|이\s*기사는\s*언론사에서\s*.*분류",
    )
});
/// Short furniture lines: spacers, navigation, timestamps, portal "기사제공".
pub(super) static FURNITURE_WEAK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:상단\s*여백|하단\s*여백|여백|back\s*to\s*top|top|맨\s*위로|위로\s*가기|본문\s*바로\s*가기|메뉴\s*바로\s*가기|전체\s*메뉴|기사\s*(?:스크랩|인쇄|저장)|닫기|로그인|회원\s*가입|검색|이전\s*기사|다음\s*기사|목록|기사\s*제공(?:\s*\S+)?|기사\s*원문|원문\s*보기|(?:기사\s*)?(?:입력|수정|등록|승인|송고|업데이트|최종\s*수정)\s*[:：]?\s*\d{4}[.\-/년].*|\d{4}[./\-]\d{1,2}[./\-]\d{1,2}\.?\s*(?:(?:오전|오후)\s*)?(?:\d{1,2}:\d{2}(?::\d{2})?)?\s*(?:송고|입력|수정)?)$",
    )
});
/// Lines made only of social / reading widget labels (optionally with counters).
pub(super) static WIDGET: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:(?:구독(?:하기|자|중)?|좋아요|싫어요|공유(?:하기)?|추천(?:하기)?|스크랩|인쇄(?:하기)?|북마크|저장|닫기|url\s*복사|링크\s*복사|본문\s*듣기|듣기\s*(?:설정|중지)?|번역(?:하기)?|(?:글자|글씨|폰트)\s*크기(?:\s*(?:변경|조절|설정))?|가|SNS\s*(?:보내기|공유)|페이스북|트위터|카카오톡|카카오스토리|밴드|네이버\s*블로그|쏠쏠정보|흥미진진|공감백배|분석탁월|후속강추|텍스트\s*음성\s*변환\s*서비스\s*사용하기)\s*\d*\s*[,|·]?\s*)+$",
    )
});
pub(super) static BREADCRUMB: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)^(?:home(?:\s+|\s*[>›»/|]\s*)\S.*|홈\s*[>›»/|]\s*\S.*|[^\s>›»]+(?:\s*[>›»]\s*[^\s>›»]+){1,5})$")
});
/// `<사진 / 뉴스비전e>`, `[사진=연합뉴스]`, `(그래픽=…)`: credit in group 1.
pub(super) static PHOTO: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^[<\[(（【〈]\s*(?:사진|그래픽|이미지|영상|자료\s*사진|일러스트|캡처|출처)\s*(?:[/=:：·]\s*)?(.*?)\s*[>\])）】〉]$",
    )
});
/// `(SKT 제공)`, `[유튜브 캡처]`: the whole inside is the credit.
pub(super) static PHOTO_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\s*[(\[<（]\s*(?:사진|그래픽|자료\s*사진|이미지)\s*[=/:：]\s*([^)\]>）]{1,30}?)\s*[)\]>）]$")
});
pub(super) static PHOTO_CREDIT_ONLY: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[<\[(（【〈]\s*(.{1,30}?\s*(?:제공|캡처|캡쳐))\s*[>\])）】〉]$"));
/// Portal/wire promos recognisable by their fixed wording or by a link marker plus a call to act.
/// A marker's call to act closes the promo (within its last words): a marker followed by a
/// sentence that mentions "구독" is a link or subhead glued to prose on a flattened page.
/// Daum's "(예시)" box is two sentences; on a flattened page they are two pieces, so both are here.
pub(super) static PROMO_STRONG: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\(예시\)|뉴스를\s*만나보세요|다음\s*뉴스는\s*국내외\s*주요\s*이슈와\s*실시간\s*속보|제보는\s*카카오톡|카카오톡\s*okjebo|^※\s*(?:제보|기사\s*제보)|^[▶☞▷►]\s*.*(?:구독|채널\s*추가|바로\s*가기|클릭|다운로드)\S*(?:\s+\S+){0,2}$|^\[?(?:광고|AD)\]?$",
    )
});
pub(super) static PROMO_WEAK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)구독\s*(?:하기|하세요|신청|버튼)|뉴스레터\s*(?:신청|구독|받기)|후원\s*(?:하기|하세요)|앱\s*(?:설치|다운)|바로\s*가기|네이버\s*메인|팔로우\s*하기|이벤트\s*참여",
    )
});
pub(super) static COMMENT_STRONG: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"첫\s*번째\s*댓글을\s*남겨|댓글을\s*(?:남겨|작성해|입력해|달아)\s*주세요|로그인\s*후\s*댓글|댓글\s*운영\s*(?:원칙|정책)",
    )
});
pub(super) static COMMENT_WEAK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:(?:기사\s*)?댓글\s*(?:\d+\s*개?|쓰기|보기|작성|닫기|더\s*보기)?|(?:최신|공감|추천|과거|답글)순|등록|취소|답글\s*\d*)$",
    )
});
pub(super) static SEE_ALL: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:전체\s*보기|더\s*보기)$"));
/// Section headers of link lists ("icon관련기사", "▶ 관련기사", "[많이 본 뉴스]").
pub(super) static RELATED_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:[A-Za-z]+)?\s*[\[【<〈▶☞▷►■□\-#]*\s*(?:관련\s*(?:기사|뉴스)|함께\s*(?:보면\s*좋은|볼만한|읽으면\s*좋은)\s*(?:기사|뉴스)|추천\s*(?:기사|뉴스)|많이\s*본\s*(?:기사|뉴스)|인기\s*(?:기사|뉴스)|주요\s*(?:기사|뉴스)|최신\s*(?:기사|뉴스)|이\s*시각\s*(?:주요\s*)?(?:기사|뉴스)|오늘의\s*(?:주요\s*)?(?:기사|뉴스)|실시간\s*(?:인기|주요)?\s*(?:기사|뉴스)|포토\s*뉴스|핫\s*뉴스|헤드라인)\s*[\]】>〉]*\s*(?:[:：].*)?$",
    )
});
/// List markers that, in Korean news pages, introduce links rather than prose. "◆" and "△"
/// are deliberately absent: they mark subheads inside article bodies.
pub(super) static LINK_MARKER: LazyLock<Regex> = LazyLock::new(|| re(r"^[▶☞▷►→■]"));
pub(super) static SUBHEAD_MARKER: LazyLock<Regex> = LazyLock::new(|| re(r"^[◆◇△▲●○【<\[]"));
pub(super) static LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:-|·|•|ㆍ)\s*\S"));
pub(super) static COPYRIGHT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)무단\s*(?:전재|복제|배포)|재배포\s*금지|학습\s*(?:및\s*활용\s*)?금지|copyright|ⓒ|©|저작권자|all\s*rights\s*reserved|\(c\)\s*\S",
    )
});
pub(super) static COPYRIGHT_HOLDER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:©|ⓒ|\(c\)|copyright)\s*(?:©|ⓒ|\(c\))?\s*(?:(?:19|20)\d{2}(?:\s*[-~]\s*(?:19|20)?\d{2,4})?\s*)?([^,.<>\[\]()]+?)\s*(?:[,.<>\]\)]|무단|all\s*rights|$)",
    )
});
/// A line that is only a byline: optional [outlet], names, title, optional e-mail.
pub(super) static BYLINE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^(?:[\[【(]\s*[^\]】)]{{1,20}}[\]】)]\s*)?(?:글\s*[·ㆍ/]?\s*사진\s*|사진\s*|글\s*)?(?P<names>[가-힣]{{2,4}}(?:\s*[,·ㆍ]\s*[가-힣]{{2,4}})*)\s*{TITLES}\s*[(<\[]?\s*(?P<email>{EMAIL})?\s*[)>\]]?$"
    ))
});
pub(super) static EMAIL_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"^[(<\[]?\s*(?P<email>{EMAIL})\s*[)>\]]?$")));
/// "[뉴스비전e 김호성 기자] 본문…": outlet and reporter in brackets before the first sentence.
pub(super) static BYLINE_BRACKET_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^[\[【]\s*(?:[^\]】]{{0,30}}?\s)?(?P<names>[가-힣]{{2,4}}(?:\s*[,·ㆍ]\s*[가-힣]{{2,4}})*)\s*{TITLES}\s*[\]】]\s*"
    ))
});
/// Wire style "(서울=연합뉴스) 홍길동 기자 = 본문…" (dateline optional, "=" required).
pub(super) static BYLINE_WIRE_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^(?:[\[(【]\s*[^\])】=]{{1,20}}=\s*[^\])】]{{1,30}}[\])】]\s*)?(?P<names>[가-힣]{{2,4}}(?:[\s,·ㆍ]+[가-힣]{{2,4}})*)\s*{TITLES}\s*=\s*"
    ))
});
pub(super) static DATELINE_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[\[(【]\s*[가-힣A-Za-z]{1,10}\s*=\s*[^\])】]{1,30}[\])】]\s*"));
/// CMS spacers and skip links that open a page: on a flattened page they prefix the breadcrumb.
/// Only words that never open an article sentence are listed ("여백" alone could).
pub(super) static LEADING_SPACER: LazyLock<Regex> =
    LazyLock::new(|| re(r"^ ?(?:상단\s*여백|하단\s*여백|(?:본문|메뉴|주요\s*서비스)\s*바로\s*가기)(?: |$)"));
/// A sentence end inside a line ([`SENTENCE_END`] without the end-of-line anchor).
pub(super) static SENTENCE_CUT: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?:다|요|죠|까|오|음|함|임|됨|라|자|네|군)\s*[.!?…]+["'”’」』)\]]*"#));
pub(super) static EMAIL_CUT: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"[(<\[]?{EMAIL}[)>\]]?")));
/// The start of a copyright notice and, when it closes like one, the whole of it (`tail`).
/// "(c)" is not a start here: inside a line it is more often a list item than a notice.
pub(super) static NOTICE_CUT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:<\s*)?(?:copyright|ⓒ|©|저작권자)(?P<tail>[^<>]{0,80}?(?:금지|all\s*rights\s*reserved)[.>)\]]*)?",
    )
});
/// A short bracketed group: a photo credit, a notice, or a tag such as "[이슈 분석]".
pub(super) static BRACKET_CUT: LazyLock<Regex> =
    LazyLock::new(|| re(r"[<\[(（【〈][^<>\[\]()（）【】〈〉]{1,60}[>\])）】〉]"));
/// List and promo markers, and "- " list items. "△"/"▲" are absent: they run inline in prose
/// ("△서울 △부산"); a "-" before a digit is a range.
pub(super) static MARKER_CUT: LazyLock<Regex> = LazyLock::new(|| re(r"[◆◇▶☞■▷►※]|-\s[^\d\s]"));
/// A link-list header after a marker ("▶ 관련기사"): on a flattened page the list or the
/// prose that follows it starts after it.
pub(super) static RELATED_CUT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"[▶☞▷►■]\s*(?:관련\s*(?:기사|뉴스)|많이\s*본\s*(?:기사|뉴스)|추천\s*(?:기사|뉴스))")
});
/// A piece that opens with one of [`MARKER_CUT`]'s markers: a subhead or a list item.
pub(super) static MARKED_PIECE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:[◆◇▶☞■▷►※]|-\s)"));
pub(super) static NAME_SPLIT: LazyLock<Regex> = LazyLock::new(|| re(r"[\s,·ㆍ]+"));

fn add_reporters(meta: &mut ArticleMetadata, names: &str, email: Option<&str>) {
    for (i, name) in NAME_SPLIT.split(names.trim()).filter(|n| !n.is_empty()).enumerate() {
        // With several names and one address, the address conventionally belongs to the first.
        let email = if i == 0 { email } else { None };
        if let Some(r) = meta.reporters.iter_mut().find(|r| r.name.as_deref() == Some(name)) {
            if r.email.is_none() {
                r.email = email.map(str::to_string);
            }
        } else {
            meta.reporters.push(Reporter { name: Some(name.to_string()), email: email.map(str::to_string) });
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
        meta.reporters.push(Reporter { name: None, email: Some(email.to_string()) });
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
pub(super) fn classify(line: &str, meta: &mut ArticleMetadata) -> Line {
    let mk = |removed, role| Line {
        original: line.to_string(),
        text: line.to_string(),
        removed,
        role,
        stripped: Vec::new(),
        glue: None,
    };
    let remove = |reason| mk(Some(reason), LineRole::Plain);
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
        return mk(Some(Reason::Copyright), LineRole::CopyrightLine);
    }
    if len <= 80
        && let Some(c) = BYLINE_LINE.captures(line)
    {
        add_reporters(meta, &c["names"], c.name("email").map(|m| m.as_str()));
        return mk(Some(Reason::Byline), LineRole::BylineLine);
    }
    if let Some(c) = EMAIL_LINE.captures(line) {
        add_email_only(meta, &c["email"]);
        return mk(Some(Reason::Byline), LineRole::BylineLine);
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
        return mk(Some(Reason::RelatedLinks), LineRole::RelatedHeader);
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

    let mut kept = mk(None, LineRole::Plain);
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
