use super::*;

const ALIBABA: &str = include_str!("../../../fixtures/alibaba-cloud-korea.txt");
const ALIBABA_EXPECTED: &str = include_str!("../../../tests/golden/alibaba-cloud-korea.expected.txt");
const KIT: &str = include_str!("../../../fixtures/k-it-smart-city-exports.txt");
const KIT_EXPECTED: &str = include_str!("../../../tests/golden/k-it-smart-city-exports.expected.txt");

/// What cleaning takes out of the K-IT page, whether its lines were kept or flattened.
const KIT_REMOVED: [(&str, Reason); 6] = [
    ("전체 맥락을 이해하기 위해서는 본문 보기를 권장합니다.", Reason::PageFurniture),
    ("국내 정보통신(IT) 기업들이 자사의 첨단 솔루션을 연이어 해외로 수출하고 있다.", Reason::RepeatedSummary),
    ("이 글자크기로 변경됩니다.", Reason::PageFurniture),
    ("안하늘 기자 ahn708@hankookilbo.com", Reason::Byline),
    ("Copyright © 한국일보. 무단전재 및 재배포 금지.", Reason::Copyright),
    ("- 서장훈 \"이혼, 마주하기 힘든 일...쉽지 않아\" 고백", Reason::TrailingHeadlines),
];

fn reason_of(c: &Cleaned, line: &str) -> Option<Reason> {
    c.removed.iter().find(|r| r.line == line).map(|r| r.reason)
}

fn reporter(name: &str, email: Option<&str>) -> Reporter {
    Reporter { name: Some(name.to_string()), email: email.map(str::to_string) }
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
    // The page's many blank lines are dropped without being listed.
    assert!(c.removed.iter().all(|r| !r.line.trim().is_empty()), "{:?}", c.removed);
}

#[test]
fn golden_k_it() {
    let c = clean(None, KIT);
    assert_eq!(c.text, KIT_EXPECTED.trim_end());
    assert_eq!(c.title, "\"해외로 뻗어나가는 K-IT\"…인도네시아·사우디 첨단 스마트시티 구축 나선다");
    assert_eq!(c.metadata.reporters, vec![reporter("안하늘", Some("ahn708@hankookilbo.com"))]);
    assert!(c.metadata.photo_credits.is_empty());
    assert_eq!(c.metadata.copyright.as_deref(), Some("한국일보"));
    for (line, reason) in KIT_REMOVED {
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
fn a_bare_address_is_a_reporter_without_a_name() {
    let c = clean(
        Some("정부 새 계획"),
        "정부가 새 계획을 발표했다.\n계획은 내년부터 시행된다.\n(desk@newswire.example)\n",
    );
    assert_eq!(c.text, "정부가 새 계획을 발표했다.\n계획은 내년부터 시행된다.");
    assert_eq!(
        c.metadata.reporters,
        vec![Reporter { name: None, email: Some("desk@newswire.example".into()) }]
    );
}

#[test]
fn a_paragraph_repeated_inside_the_body_is_kept_both_times() {
    let quote = "그는 \"우리는 끝까지 책임을 다하겠다\"고 거듭 강조했다.";
    let mut body: Vec<String> = (1..=10).map(|i| format!("정부는 {i}번째 대책을 오늘 발표했다.")).collect();
    body.insert(9, quote.to_string());
    body.push(quote.to_string());
    let c = clean(Some("정부 대책 발표"), &body.join("\n"));
    assert_eq!(c.text.matches(quote).count(), 2, "{:?}", c.removed);
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

const SUBJECTS: &[&str] = &["정부는", "삼성전자는", "관계자는", "서울시가", "업계에서는", "연구진은", "KT는"];
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

/// A page of random body sentences with random noise between them, a byline and a notice:
/// its parts (a line each) and its body sentences.
fn noisy_page(rng: &mut Lcg) -> (Vec<String>, Vec<String>) {
    let mut parts = vec!["제목 줄".to_string()];
    let mut body = Vec::new();
    for _ in 0..(3 + rng.next() % 8) {
        if rng.next().is_multiple_of(2) {
            parts.push(rng.pick(NOISE).to_string());
        }
        let s = format!("{}{}{}", rng.pick(SUBJECTS), rng.pick(MIDDLES), rng.pick(ENDS));
        parts.push(s.clone());
        body.push(s);
    }
    parts.push("홍길동 기자 hong@example.com".into());
    parts.push("<저작권자 © 예시일보, 무단 전재 및 재배포 금지>".into());
    (parts, body)
}

#[test]
fn property_body_sentences_survive_surrounding_noise() {
    let mut rng = Lcg(42);
    for _ in 0..300 {
        let (lines, body) = noisy_page(&mut rng);
        let c = clean(None, &lines.join("\n"));
        let kept: Vec<&str> = c.text.lines().collect();
        for s in &body {
            assert!(kept.contains(&s.as_str()), "dropped {s:?} from\n{}", lines.join("\n"));
        }
    }
}

/// The same pages flattened to one line: cutting inside the line must not lose a body sentence
/// (noise the cuts cannot separate may stay glued to one; losing words is the failure).
#[test]
fn property_body_sentences_survive_noise_on_a_flattened_page() {
    let mut rng = Lcg(43);
    for _ in 0..300 {
        let (parts, body) = noisy_page(&mut rng);
        let page = parts.join(" ");
        let c = clean(None, &page);
        for s in &body {
            assert!(c.text.contains(s.as_str()), "dropped {s:?} from\n{page}\n{:#?}", c.removed);
        }
        assert!(!c.text.contains("hong@example.com") && !c.text.contains("예시일보"), "{}", c.text);
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

/// A page as a scraper that strips tags without keeping breaks leaves it: one line.
fn flattened(page: &str) -> String {
    page.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

fn squashed<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    parts.into_iter().flat_map(str::split_whitespace).collect::<Vec<_>>().join(" ")
}

/// The flattened page must keep exactly the original's body and headline, find the same facts,
/// and drop the same text (in the same order), whatever the reasons it gives on the way.
fn assert_flattened_cleans_like(page: &str) -> Cleaned {
    let original = clean(None, page);
    let flat_page = flattened(page);
    assert_eq!(flat_page.lines().count(), 1);
    let flat = clean(None, &flat_page);
    assert_eq!(flat.title, original.title);
    assert_eq!(squashed([flat.text.as_str()]), squashed(original.text.lines()));
    assert_eq!(flat.metadata, original.metadata);
    let dropped = |c: &Cleaned| squashed(c.removed.iter().map(|r| r.line.as_str()));
    assert_eq!(dropped(&flat), dropped(&original));
    flat
}

#[test]
fn golden_alibaba_flattened() {
    let flat = assert_flattened_cleans_like(ALIBABA);
    let expect = [
        ("상단여백", Reason::PageFurniture),
        ("HOME AI/빅데이터/SW", Reason::Breadcrumb),
        ("[뉴스비전e 김호성 기자]", Reason::Byline),
        ("<사진 / 뉴스비전e>", Reason::PhotoPlaceholder),
        ("<사진 / alibaba cloud>", Reason::PhotoPlaceholder),
        ("<사진 / SKT 제공>", Reason::PhotoPlaceholder),
        ("김호성 기자 newsvision-e@hanmail.net", Reason::Byline),
        ("<저작권자 © 뉴스비전e, 무단 전재 및 재배포 금지>", Reason::Copyright),
    ];
    for (line, reason) in expect {
        assert_eq!(reason_of(&flat, line), Some(reason), "{line}: {:#?}", flat.removed);
    }
    // The subhead and the photo placeholders around it break the body where the page did.
    assert!(
        flat.text
            .lines()
            .any(|l| l == "◆아시아 영향력 기반 클라우드 1위 노리는 알리바바...한국, 전초기지 될까")
    );
    // Everything after the copyright notice is gone: related links, comment widget, spacers.
    assert!(!flat.text.contains("댓글") && !flat.text.contains("Back to Top"), "{}", flat.text);
}

#[test]
fn golden_k_it_flattened() {
    let flat = assert_flattened_cleans_like(KIT);
    for (line, reason) in KIT_REMOVED {
        assert_eq!(reason_of(&flat, line), Some(reason), "{line}: {:#?}", flat.removed);
    }
    let promo: Vec<_> = flat.removed.iter().filter(|r| r.reason == Reason::Promo).collect();
    assert_eq!(promo.len(), 2, "Daum's box is two sentences: {promo:#?}");
    let tail = flat.removed.iter().filter(|r| r.reason == Reason::TrailingHeadlines).count();
    assert_eq!(tail, 10, "one per promo headline after the notice");
}

#[test]
fn a_flattened_page_with_a_given_title_keeps_its_body() {
    let title = "\"해외로 뻗어나가는 K-IT\"…인도네시아·사우디 첨단 스마트시티 구축 나선다";
    let flat = clean(Some(title), &flattened(KIT));
    let original = clean(Some(title), KIT);
    assert_eq!(squashed([flat.text.as_str()]), squashed(original.text.lines()));
}

#[test]
fn cuts_inside_prose_lose_no_word() {
    // Each of these has something a flattened page is cut at, inside an ordinary sentence.
    let paragraphs = [
        "영화 <기생충>은 칸 영화제에서 황금종려상을 받았다. 봉준호 감독은 \"놀랍다. 기쁘다\"고 말했다.",
        "서울 - 부산 노선은 다음 달부터 증편된다. 문의는 help@example.com 으로 받는다.",
        "삼성전자 [005930]는 이날 3% 올랐다. 저작권자 단체는 이번 개정안에 반발했다.",
        "주요 지원 대상은 △청년 △신혼부부 △고령자 등이다. ◆ 표시는 신규 사업을 뜻한다고 정부는 설명했다.",
        "홍길동 대표(사진)는 요청에 응하지 않았다. 여백 공간을 줄이는 설계가 핵심이다.",
    ];
    for p in paragraphs {
        let page = format!("제목이 될 만큼 충분히 긴 헤드라인 한 줄\n{p}");
        let c = clean(None, &page);
        assert_eq!(c.removed.len(), 1, "only the headline goes: {:#?}", c.removed);
        assert_eq!(squashed([c.text.as_str()]), p);
    }
}
