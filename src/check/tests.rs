use super::*;

fn vals(f: &[Figure]) -> Vec<f64> {
    f.iter().map(|f| f.value).collect()
}

#[test]
fn korean_forms() {
    let f = korean_figures("약 1억 달러(약 1,350억 원)");
    assert_eq!(vals(&f), [1e8, 1.35e11]);
    assert_eq!(f[0].kind, FigureKind::Money);
    assert_eq!(f[1].text, "1,350억 원");
    assert_eq!(vals(&korean_figures("1조 2,000억 원")), [1.2e12]);
    assert_eq!(vals(&korean_figures("1억 2500만 파운드")), [1.25e8]);
    assert_eq!(vals(&korean_figures("1억 4천 2백만 명")), [1.42e8]);
    assert_eq!(vals(&korean_figures("7만 6천 헥타르")), [76000.0]);
    assert_eq!(vals(&korean_figures("22 억 5 천만 명")), [2.25e9]);
    assert_eq!(vals(&korean_figures("2~3만 명")), [2e4, 3e4]);
    assert_eq!(vals(&korean_figures("2~3년")), [2.0, 3.0]);
    assert_eq!(vals(&korean_figures("26세, 5개, 1.5배, 제1회, 1위")), [26.0, 5.0, 1.5, 1.0, 1.0]);
    let f = korean_figures("2018년 2월 8일");
    assert_eq!(vals(&f), [2018.0, 2.0, 8.0]);
    assert_eq!(f[0].kind, FigureKind::Year);
    let f = korean_figures("3.5% 그리고 3.5퍼센트");
    assert!(f.iter().all(|f| f.kind == FigureKind::Percent && f.value == 3.5));
    assert_eq!(vals(&korean_figures("１２３억")), [1.23e10]);
    assert_eq!(vals(&korean_figures("5G 서비스")), [5.0]);
    assert_eq!(vals(&korean_figures("31억€($36bn)")), [3.1e9, 3.6e10]);
    // Sino-Korean words are not figures.
    assert!(korean_figures("일요일에 일을 했다. 삼성").is_empty());
}

#[test]
fn english_forms() {
    let f = english_figures("about $100 million (about 135 billion won)");
    assert_eq!(vals(&f), [1e8, 1.35e11]);
    assert!(f.iter().all(|f| f.kind == FigureKind::Money));
    assert_eq!(f[0].text, "$100 million");
    assert_eq!(vals(&english_figures("1.35 trillion, 1,350 and 3.5%")), [1.35e12, 1350.0, 3.5]);
    let f = english_figures("3.5 percent, 40 per cent, in 2023");
    assert_eq!(f[0].kind, FigureKind::Percent);
    assert_eq!(f[1].kind, FigureKind::Percent);
    assert_eq!(f[2].kind, FigureKind::Year);
    assert_eq!(vals(&english_figures("a 26-year-old")), [26.0]);
    assert_eq!(vals(&english_figures("£2.8bn, £125m, £11million")), [2.8e9, 1.25e8, 1.1e7]);
    assert_eq!(vals(&english_figures("two to three years, twenty-five, a dozen")), [2.0, 3.0, 25.0, 12.0]);
    assert_eq!(vals(&english_figures("first, 2nd, 89th")), [1.0, 2.0, 89.0]);
    assert_eq!(vals(&english_figures("at 7.55am and 4.40 am")), [7.0, 55.0, 4.0, 40.0]);
    assert_eq!(vals(&english_figures("a million people, 5G")), [1e6, 5.0]);
}

#[test]
fn translation_pairs_match() {
    let cases = [
        ("약 1억 달러(약 1,350억 원)", "about $100 million (about 135 billion won)"),
        ("26세의 선수", "the 26-year-old player"),
        ("2~3년 걸린다", "it takes two to three years"),
        ("3.5% 올랐다", "rose 3.5 percent"),
        ("2018년 2월 8일", "on February 8, 2018"),
        ("1.5배", "1.5 times"),
        ("오후 7시 30분", "at 19:30"),
        ("10대 소년", "a teenage boy"),
        ("1년 동안", "for a year"),
        ("38만명", "380,000 people"),
    ];
    for (k, e) in cases {
        assert!(missing_figures(k, e).is_empty(), "{k} / {e}: {:?}", missing_figures(k, e));
    }
}

#[test]
fn changed_number_is_caught() {
    let m = missing_figures("약 1억 달러를 투자했다", "invested about $10 million");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].value, 1e8);
    assert_eq!(m[0].text, "1억 달러");
    let m = missing_figures("3.5% 올랐다", "rose 35 percent");
    assert_eq!(vals(&m), [3.5]);
}

#[test]
fn fractions_match_their_english_forms_and_a_changed_one_is_caught() {
    for (k, e) in [
        ("국민 3분의 2가 찬성했다", "two-thirds of citizens agreed"),
        ("국민 3분의 2가 찬성했다", "two thirds of citizens agreed"),
        ("국민 3분의 2가 찬성했다", "2/3 of citizens agreed"),
        ("4분의 1이 반대했다", "a quarter opposed"),
        ("4분의 1이 반대했다", "one in four opposed"),
        ("2분의 1 수준", "half the level"),
        ("5 분의 3", "three-fifths"),
    ] {
        assert!(missing_figures(k, e).is_empty(), "{k} / {e}: {:?}", missing_figures(k, e));
        assert!(unsupported_figures(k, e).is_empty(), "{k} / {e}: {:?}", unsupported_figures(k, e));
    }
    let m = missing_figures("국민 3분의 2가 찬성했다", "a third of citizens agreed");
    assert_eq!(m.iter().map(|f| f.text.as_str()).collect::<Vec<_>>(), ["3분의 2"]);
    assert_eq!(korean_figures("3분의 1").len(), 1, "one figure, not two");
}

#[test]
fn summary_direction() {
    let ko = "삼성전자는 2023년 매출 258조 원을 기록했고 직원 26만 명이다.";
    assert!(unsupported_figures(ko, "Samsung posted 258 trillion won in 2023.").is_empty());
    // Omission is fine, small number words are ignored, changed numbers are not.
    assert!(unsupported_figures(ko, "Samsung, one of two giants, grew.").is_empty());
    let u = unsupported_figures(ko, "Samsung posted 285 trillion won with 26,000 staff.");
    assert_eq!(vals(&u), [2.85e14, 26000.0]);
    assert_eq!(u[0].kind, FigureKind::Money);
    assert!(!unsupported_figures(ko, "It has eleven units.").is_empty());
    assert!(unsupported_figures("오후 7시 30분에 도착", "arrived at 19:30").is_empty());
    assert!(unsupported_figures("오후 7시에 도착", "arrived at 7:00 p.m.").is_empty());
    assert!(unsupported_figures("2023년 5월 3일", "on May 3, 2023").is_empty());
}

#[test]
fn hangul_checks() {
    assert!(hangul_outside_quotes("CEO Park Jung-ho (박정호) said").is_empty());
    assert!(hangul_outside_quotes("the app \"알리인\" launched").is_empty());
    assert!(hangul_outside_quotes("the show “나 혼자 산다” returned").is_empty());
    assert!(hangul_outside_quotes("박정호 (Park Jung-ho) said").is_empty());
    let f = hangul_outside_quotes("The company 발표했다 that profits rose.");
    assert_eq!(f.len(), 1);
    assert!(f[0].contains("발표했다"), "{f:?}");
    // Parentheses not after a romanized form, and long quoted Korean, are flagged.
    assert_eq!(hangul_outside_quotes("He said (그는 말했다).").len(), 0);
    assert_eq!(hangul_outside_quotes("(그는 말했다) he said").len(), 1);
    let long = format!("He said \"{}\".", "가나다라마바사아자차 ".repeat(5));
    assert_eq!(hangul_outside_quotes(&long).len(), 1);
    assert_eq!(hangul_outside_quotes("삼성 and 엘지").len(), 2);
}

#[test]
fn lengths() {
    assert_eq!(too_short_translation("가".repeat(100).as_str(), "short"), Some(80));
    assert_eq!(too_short_translation("짧다", ""), Some(20));
    assert_eq!(too_short_translation("", ""), None);
    assert_eq!(too_short_translation("가".repeat(100).as_str(), &"a".repeat(80)), None);
}

#[test]
fn terms_and_messages() {
    let g = crate::glossary::Glossary::parse(
        "SK텔레콤\tSK Telecom\n박정호\tPark Jung-ho\nSK\tSK Group\n",
        true,
        "g",
    )
    .unwrap();
    let terms = g.terms_in("SK텔레콤 박정호 대표");
    let m = missing_terms(&terms, "sk  telecom CEO said the risk…");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].en, "Park Jung-ho");
    let sk = g.terms_in("SK");
    assert_eq!(missing_terms(&sk, "The risk grew").len(), 1);
    let f = Finding::MissingTerm { ko: "박정호".into(), en: "Park Jung-ho".into() };
    assert!(f.message().contains("Park Jung-ho"));
    let f = Finding::MissingNumber { figure: "1억 달러".into() };
    assert!(f.message().contains("1억 달러"));
    let f = Finding::TooShort { field: "body".into(), chars: 3, expected_at_least: 20 };
    assert!(f.message().contains("body"));
    let j = serde_json::to_string(&f).unwrap();
    assert_eq!(j, r#"{"kind":"too_short","field":"body","chars":3,"expected_at_least":20}"#);
    let j = serde_json::to_string(&korean_figures("3.5%")[0]).unwrap();
    assert_eq!(j, r#"{"text":"3.5%","value":3.5,"kind":"percent"}"#);
}

#[test]
fn sino_korean_numbers_in_words_are_figures_when_a_counter_follows() {
    // As written in the corpus (tests/data, shared/corpus).
    assert_eq!(vals(&korean_figures("피해액은 천만원을 넘었다")), [1e7]);
    assert_eq!(vals(&korean_figures("이용자가 백만 명을 돌파했다")), [1e6]);
    assert_eq!(vals(&korean_figures("천억원 규모의 투자")), [1e11]);
    assert_eq!(vals(&korean_figures("수출액 백만 달러")), [1e6]);
    assert_eq!(vals(&korean_figures("약 십억 년 전")), [1e9]);
    // The grammar: digits times 십/백/천, sections times 만/억/조.
    assert_eq!(vals(&korean_figures("삼십 명이 다쳤다")), [30.0]);
    assert_eq!(vals(&korean_figures("삼천오백만 원")), [3.5e7]);
    assert_eq!(vals(&korean_figures("이십만 가구")), [2e5]);
    assert_eq!(vals(&korean_figures("삼십여 명")), [30.0]);
    let money = korean_figures("오백만 달러를 투자");
    assert_eq!((money[0].kind, money[0].text.as_str()), (FigureKind::Money, "오백만 달러"));
    // Digits and words mixed were already read: "3천5백만".
    assert_eq!(vals(&korean_figures("3천5백만 원")), [3.5e7]);
}

#[test]
fn words_that_only_look_like_numbers_are_not_figures() {
    for text in [
        "조사 대상은 없었다",    // 조사: an investigation
        "구조대가 출동했다",     // 구조: rescue
        "구조원 두 명",          // 구조: rescue
        "이천시에서 열렸다",     // 이천: Icheon
        "천만에요",              // not at all
        "오만 명이 모였다",      // 오만: also arrogance, and Oman
        "일부 지역",             // 일: one, in a word
        "이번 조치는 삼십 가지", // no counter follows 삼십
        "삼십오 명",             // ends in a digit: not read
    ] {
        assert_eq!(vals(&korean_figures(text)), Vec::<f64>::new(), "{text}");
    }
}
