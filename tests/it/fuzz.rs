//! Fuzzing of every parser of user input (property tests): money, quantities and
//! discounts, refund lines, phones, e-mails and codes, admin form and import fields,
//! percents and days, order-form answers, search text, the staff list's filters (URL ⇄
//! query) and its database query, and webhook signatures and bodies. For each: no panic,
//! a refusal carries a Russian message, and what is accepted is within the rule. The pure
//! parsers store nothing by construction; webhook intake is driven through the router with
//! random bodies and the payment tables are compared before and after.
//!
//! File names are fuzzed next to their parser (`src/text.rs`). Each property prints
//! `fuzz cases: <name>: <n>`.

use crate::common;

use axum::body::Body;
use http::Request;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;
use std::cell::Cell;
use std::fmt::Debug;
use suz::auth::model::{parse_code, Email, Phone};
use suz::catalog::form::{check_form, FieldKind, FormField, Strictness};
use suz::invoices::rules::{
    check_line, check_lines, line_amounts, parse_discount, parse_quantity, Discount, DiscountKind,
    LineInput, PriceItem, MAX_LINES, MAX_QUANTITY,
};
use suz::money::Money;
use suz::orders::filter::{Cursor, OrderFilter, PaymentFilter, SortKey};
use suz::orders::status::OrderStatus;
use suz::payments::gateway::{signature, WebhookEvent};
use suz::refunds::rules::{line_refund, refund_lines, RefundLineInput, RefundableLine};

/// Runs a property over `cases` generated inputs (shrinking a failure to its smallest
/// input) and prints how many cases ran.
fn fuzz<S>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let mut config = Config::with_cases(cases);
    config.failure_persistence = None;
    let mut runner = TestRunner::new(config);
    let ran = Cell::new(0u32);
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        test(v)
    });
    println!("fuzz cases: {name}: {}", ran.get());
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

fn russian(message: &str) -> bool {
    message
        .chars()
        .any(|c| matches!(c, 'а'..='я' | 'А'..='Я' | 'ё' | 'Ё'))
}

macro_rules! russian {
    ($m:expr, $input:expr) => {{
        let m: &str = &$m;
        prop_assert!(
            russian(m),
            "refusal without a Russian message: {m:?} for {:?}",
            $input
        );
    }};
}

/// Pieces people (and attackers) type: digits, separators, currency, signs, exponents,
/// spaces of every kind, Cyrillic, bidi overrides, NUL, emoji, huge numbers.
const PIECES: &[&str] = &[
    "0",
    "1",
    "7",
    "9",
    "12",
    "00",
    "100",
    "999",
    "1000",
    "100000",
    "100001",
    "99999999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "-",
    "+",
    ",",
    ".",
    " ",
    "  ",
    "\t",
    "\n",
    "\u{a0}",
    "\u{202f}",
    "\u{2009}",
    "₽",
    "руб",
    "руб.",
    "р.",
    "%",
    "e",
    "E",
    "e10",
    "1e5",
    "NaN",
    "inf",
    "ё",
    "Ё",
    "Ж",
    "İ",
    "ß",
    "\u{202e}",
    "\u{200b}",
    "\0",
    "👍",
    "٣",
    "１",
    "#",
    "@",
    "T",
    ":",
    "/",
    "\\",
    "\"",
    "'",
    ";",
    "*",
    "(",
    ")",
    "NEAR",
    "OR",
    "AND",
    "NOT",
    "^",
    "{",
    "}",
    "<script>",
    "%00",
    "+7",
    "8",
    "(900)",
    "900",
    "123-45-67",
    "a",
    "Z",
    "mail",
    ".ru",
    "_",
    "=",
    "&",
    "?",
    "2026",
    "-01",
    "-13",
    "-31",
    "-02-29",
    "T10:00",
    "T24:61",
    "0x1F",
];

fn pieces(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PIECES), 0..max).prop_map(|v| v.concat())
}

/// Text of every shape: any Unicode, near-valid numbers, and piles of the pieces above.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        2 => any::<String>(),
        2 => "[-+]?[0-9 ]{0,22}([.,][0-9]{0,5})?( ?(₽|руб\\.?|р\\.))?",
        1 => "[0-9 ,.+%₽\\-]{0,30}",
        3 => pieces(12),
    ]
    .boxed()
}

fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s))
}

// ---------------------------------------------------------------------------------------
// Money, quantities, discounts

#[test]
fn fuzz_money_parse() {
    fuzz("money parse", 4096, text(), |s| {
        match Money::parse(&s) {
            Ok(m) => {
                prop_assert_eq!(Money::parse(&m.format_number()), Ok(m));
                prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
            }
            Err(e) => russian!(e.to_string(), s),
        }
        Ok(())
    });
    fuzz(
        "money format round trip",
        2048,
        any::<i64>().prop_filter("i64::MIN has no positive twin", |k| *k != i64::MIN),
        |k| {
            let m = Money::from_kopecks(k);
            prop_assert_eq!(Money::parse(&m.format_number()), Ok(m));
            prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
            Ok(())
        },
    );
    fuzz(
        "money times a decimal",
        2048,
        (any::<i64>(), any_decimal()),
        |(k, d)| {
            let _ = Money::from_kopecks(k).checked_mul_decimal(d);
            Ok(())
        },
    );
}

#[test]
fn fuzz_quantities_and_discounts() {
    fuzz("invoice quantity", 4096, text(), |s| {
        match parse_quantity(&s) {
            Ok(q) => {
                prop_assert!(q > Decimal::ZERO && q <= Decimal::from(MAX_QUANTITY), "{q}");
                prop_assert!(q.normalize().scale() <= 3, "{q}");
            }
            Err(e) => russian!(e, s),
        }
        Ok(())
    });
    let kind = prop_oneof![
        Just(DiscountKind::None),
        Just(DiscountKind::Percent),
        Just(DiscountKind::Amount)
    ];
    fuzz("invoice discount", 4096, (kind, text()), |(kind, s)| {
        match parse_discount(kind, &s) {
            Ok(Discount::None) => {}
            Ok(Discount::Percent(p)) => {
                prop_assert!(p >= Decimal::ZERO && p <= Decimal::from(100), "{p}");
                prop_assert!(p.normalize().scale() <= 2, "{p}");
            }
            Ok(Discount::Amount(m)) => prop_assert!(!m.is_negative(), "{m:?}"),
            Err(e) => russian!(e, (kind, s)),
        }
        Ok(())
    });
    fuzz(
        "invoice line amounts",
        2048,
        (any::<i64>(), any_decimal(), any_decimal(), any::<i64>()),
        |(price, q, p, off)| {
            let price = Money::from_kopecks(price);
            for d in [
                Discount::None,
                Discount::Percent(p),
                Discount::Amount(Money::from_kopecks(off)),
            ] {
                // Inputs here are unchecked (the parsers above bound them): no panic, and a
                // refusal in Russian.
                if let Err(e) = line_amounts(price, q, d) {
                    russian!(e, (price, q, d));
                }
            }
            Ok(())
        },
    );
}

fn price_items() -> impl Strategy<Value = Vec<PriceItem>> {
    proptest::collection::vec(0i64..=10_000_000_000, 1..4).prop_map(|prices| {
        prices
            .into_iter()
            .enumerate()
            .map(|(n, price)| PriceItem {
                price_item_id: n as i64 + 1,
                name: format!("Позиция {n}"),
                unit: "шт.".into(),
                price: Money::from_kopecks(price),
            })
            .collect()
    })
}

fn line_input() -> impl Strategy<Value = LineInput> {
    let kind = prop_oneof![
        Just(DiscountKind::None),
        Just(DiscountKind::Percent),
        Just(DiscountKind::Amount)
    ];
    (-1i64..6, text(), kind, text()).prop_map(|(id, quantity, discount_kind, discount_value)| {
        LineInput {
            price_item_id: id,
            quantity,
            discount_kind,
            discount_value,
        }
    })
}

#[test]
fn fuzz_invoice_lines() {
    fuzz(
        "invoice line",
        4096,
        (price_items(), line_input()),
        |(items, input)| {
            match check_line(&items, &input) {
                Ok(l) => {
                    let item = items
                        .iter()
                        .find(|i| i.price_item_id == input.price_item_id)
                        .expect("an offered item");
                    prop_assert_eq!(l.unit_price, item.price);
                    prop_assert_eq!(Some(l.gross), item.price.checked_mul_decimal(l.quantity));
                    prop_assert!(!l.amount.is_negative() && l.amount <= l.gross);
                }
                Err(e) => russian!(e, input),
            }
            Ok(())
        },
    );
    fuzz(
        "invoice lines",
        512,
        (
            price_items(),
            proptest::collection::vec(line_input(), 0..MAX_LINES + 5),
        ),
        |(items, inputs)| {
            match check_lines(&items, &inputs) {
                Ok(lines) => {
                    prop_assert!(!lines.is_empty() && lines.len() <= MAX_LINES);
                    let total = suz::invoices::rules::total(&lines).expect("a total");
                    prop_assert!(total > Money::ZERO);
                }
                Err(e) => russian!(e, inputs.len()),
            }
            Ok(())
        },
    );
}

fn refundable_lines() -> impl Strategy<Value = Vec<RefundableLine>> {
    proptest::collection::vec((1i64..=1000, 0i64..=100_000_000, 0u8..=100), 1..4).prop_map(
        |lines| {
            lines
                .into_iter()
                .enumerate()
                .map(|(n, (q, price, refunded_percent))| {
                    let amount = price * q;
                    RefundableLine {
                        line_id: n as i64 + 1,
                        name: format!("Позиция {n}"),
                        unit: "шт.".into(),
                        quantity: Decimal::from(q),
                        unit_price: Money::from_kopecks(price),
                        amount: Money::from_kopecks(amount),
                        refunded: Money::from_kopecks(amount / 100 * i64::from(refunded_percent)),
                    }
                })
                .collect()
        },
    )
}

fn refund_input() -> impl Strategy<Value = RefundLineInput> {
    (-1i64..6, text(), text()).prop_map(|(line_id, quantity, unit_price)| RefundLineInput {
        line_id,
        quantity,
        unit_price,
    })
}

#[test]
fn fuzz_refund_lines() {
    fuzz(
        "refund line",
        4096,
        (refundable_lines(), refund_input()),
        |(lines, input)| {
            let Some(line) = lines.iter().find(|l| l.line_id == input.line_id) else {
                return Ok(());
            };
            match line_refund(line, &input) {
                Ok(r) => {
                    prop_assert!(r.amount > Money::ZERO, "{r:?}");
                    prop_assert!(r.amount <= line.remaining(), "{r:?} of {line:?}");
                    prop_assert!(r.quantity <= line.quantity, "{r:?} of {line:?}");
                }
                Err(e) => russian!(e, input),
            }
            Ok(())
        },
    );
    fuzz(
        "refund lines",
        1024,
        (
            refundable_lines(),
            any::<bool>(),
            proptest::collection::vec(refund_input(), 0..5),
        ),
        |(lines, full, inputs)| {
            match refund_lines(&lines, full, &inputs) {
                Ok(out) => {
                    let left = suz::refunds::rules::refundable(&lines);
                    prop_assert!(suz::refunds::rules::total(&out) <= left);
                    for r in &out {
                        let line = lines
                            .iter()
                            .find(|l| l.line_id == r.line_id)
                            .expect("a line");
                        prop_assert!(r.amount > Money::ZERO && r.amount <= line.remaining());
                    }
                }
                Err(e) => russian!(e, (full, inputs)),
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------
// People: phones, e-mails, codes, sign-in redirects, imports of residents

#[test]
fn fuzz_phones_emails_and_codes() {
    let phone_like = prop_oneof![
        1 => text(),
        2 => "[-+() 0-9]{0,20}",
        1 => "(\\+7|8)? ?\\(?9[0-9]{2}\\)? ?[0-9]{3}-?[0-9]{2}-?[0-9]{2}",
    ];
    fuzz("phone", 4096, phone_like, |s| {
        match Phone::parse(&s) {
            Ok(p) => {
                let digits = &p.as_str()[2..];
                prop_assert!(p.as_str().starts_with("+7"), "{p:?}");
                prop_assert!(digits.len() == 10 && digits.chars().all(|c| c.is_ascii_digit()));
                prop_assert_eq!(Phone::parse(&p.pretty()), Ok(p.clone()));
            }
            Err(e) => russian!(e, s),
        }
        Ok(())
    });
    let email_like = prop_oneof![
        1 => text(),
        2 => "[ a-zA-Z0-9._@İ-]{0,12}@?[a-zA-Zа-я0-9.-]{0,12}",
        1 => "[a-z]{1,300}@[a-z]{1,10}\\.[a-z]{2,3}",
    ];
    fuzz("e-mail", 4096, email_like, |s| {
        match Email::parse(&s) {
            Ok(e) => {
                let e = e.as_str();
                prop_assert!(e.len() <= 254 && e.contains('@'), "{e:?}");
                prop_assert!(!e.chars().any(char::is_whitespace), "{e:?}");
                prop_assert_eq!(e.to_lowercase(), e.to_owned());
            }
            Err(e) => russian!(e, s),
        }
        let _ = suz::payments::api::email_ok(&s);
        Ok(())
    });
    fuzz(
        "sign-in code",
        2048,
        prop_oneof![text(), "[0-9 ]{0,8}"],
        |s| {
            match parse_code(&s) {
                Ok(c) => prop_assert!(c.len() == 6 && c.chars().all(|c| c.is_ascii_digit())),
                Err(e) => russian!(e, s),
            }
            Ok(())
        },
    );
    fuzz(
        "staff sign-in redirect",
        2048,
        prop_oneof![
            text(),
            "/staff/[a-z/.\\\\:%0-9]{0,20}",
            "(/|//|https?://)[a-z./]{0,20}"
        ],
        |s| {
            if let Some(next) = suz::auth::api::safe_staff_next(Some(&s)) {
                prop_assert!(
                    next.starts_with("/staff/") && !next.contains("//"),
                    "{next:?}"
                );
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_admin_fields_and_imports() {
    use suz::admin::rules;
    fuzz(
        "resident import row",
        2048,
        proptest::collection::vec(text(), 0..6),
        |cells| {
            match rules::resident_row(&cells) {
                Ok(r) => {
                    prop_assert!(Phone::parse(&r.phone).is_ok());
                    prop_assert!(!r.full_name.is_empty() && !r.address.is_empty());
                }
                Err(e) => russian!(e, cells),
            }
            Ok(())
        },
    );
    fuzz(
        "CSV line",
        2048,
        prop_oneof![text(), "[a-zа-я0-9;,\" ]{0,40}"],
        |line| {
            let cells = rules::csv_cells(&line);
            prop_assert!(!cells.is_empty());
            if !line.contains('"') {
                let sep = if line.contains(';') { ";" } else { "," };
                prop_assert_eq!(cells.join(sep), line);
            }
            Ok(())
        },
    );
    fuzz(
        "price-list item",
        2048,
        (text(), text(), text(), any::<bool>()),
        |(name, unit, price, active)| {
            match rules::price_item(&name, &unit, &price, active) {
                Ok(item) => {
                    prop_assert!(!item.price.is_negative());
                    prop_assert!(item.price.kopecks() <= 10_000_000_000);
                }
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    for (_, m) in &errors {
                        russian!(m, (&name, &unit, &price));
                    }
                }
            }
            Ok(())
        },
    );
    fuzz("SLA hours", 2048, text(), |s| {
        match rules::parse_hours(&s) {
            Ok(Some(h)) => prop_assert!((1..=8760).contains(&h)),
            Ok(None) => prop_assert!(s.trim().is_empty()),
            Err(e) => russian!(e, s),
        }
        let _ = rules::parse_yes(&s);
        Ok(())
    });
    fuzz(
        "category background",
        2048,
        prop_oneof![
            text(),
            "#[0-9a-fA-FЖ]{0,7}",
            "(/covers/|https://)[a-z0-9/._:%?=&();'\" -]{0,30}"
        ],
        |s| {
            match rules::background_css(&s) {
                Ok(css) => {
                    let value = rules::background_input(&css);
                    prop_assert!(
                        !value.chars().any(|c| "(){};'\"<>\\ ".contains(c)),
                        "{css:?}"
                    );
                }
                Err(e) => russian!(e, s),
            }
            Ok(())
        },
    );
    fuzz("finance percent", 2048, text(), |s| {
        match suz::finance::rules::parse_percent(&s) {
            Ok(p) => prop_assert!(p >= Decimal::ZERO && p <= Decimal::from(100) && p.scale() <= 2),
            Err(e) => russian!(e, s),
        }
        Ok(())
    });
    fuzz("finance day", 2048, date_like(), |s| {
        if let Some(day) = suz::finance::rules::parse_day(&s) {
            prop_assert_eq!(day, s.trim().to_owned());
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// Order forms

fn date_like() -> BoxedStrategy<String> {
    prop_oneof![
        2 => text(),
        2 => (any::<i64>(), 0u32..15, 0u32..34).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        2 => (1900i64..2200, 1u32..13, 1u32..32).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        1 => "[0-9]{1,20}-[0-9]{1,3}-[0-9]{1,3}",
    ]
    .boxed()
}

fn datetime_like() -> BoxedStrategy<String> {
    prop_oneof![
        1 => text(),
        3 => (date_like(), -2i64..30, -2i64..70, "[0-9:é]{0,4}")
            .prop_map(|(d, h, m, rest)| format!("{d}T{h:02}:{m:02}{rest}")),
    ]
    .boxed()
}

fn form_field() -> impl Strategy<Value = FormField> {
    let kind = proptest::sample::select(suz::admin::rules::KINDS.to_vec());
    (
        "[a-c]",
        kind,
        any::<bool>(),
        proptest::collection::vec("[а-я ]{0,6}", 0..4),
        proptest::option::of(any::<i64>()),
        proptest::option::of(any::<i64>()),
        proptest::option::of(0u32..20),
    )
        .prop_map(
            |(key, kind, required, choices, min, max, max_length)| FormField {
                label: format!("Поле {key}"),
                key,
                kind,
                required,
                choices,
                min,
                max,
                max_length,
            },
        )
}

fn form_value() -> BoxedStrategy<String> {
    prop_oneof![
        2 => text(),
        2 => datetime_like(),
        1 => Just("on".to_owned()),
        1 => "[а-я ]{0,6}",
        1 => "-?[0-9]{1,20}",
    ]
    .boxed()
}

#[test]
fn fuzz_order_form_answers() {
    let strictness = prop_oneof![
        Just(Strictness::Draft),
        Just(Strictness::Submit),
        Just(Strictness::SubmitWithPhotos)
    ];
    let now = suz::time::now();
    fuzz(
        "order form",
        4096,
        (
            // Keys are unique within a form (the form builder's rule).
            proptest::collection::vec(form_field(), 0..5).prop_map(|mut fields| {
                let mut seen = std::collections::HashSet::new();
                fields.retain(|f| seen.insert(f.key.clone()));
                fields
            }),
            proptest::collection::vec(("[a-d]", form_value()), 0..8),
            strictness,
            -720i32..=840,
        ),
        |(fields, values, strictness, offset)| {
            match check_form(&fields, &values, strictness, offset, now) {
                Ok(checked) => {
                    for a in &checked.answers {
                        let f = fields.iter().find(|f| f.key == a.key);
                        prop_assert!(f.is_some(), "an answer to no field: {a:?}");
                        let f = f.expect("a field");
                        match f.kind {
                            FieldKind::Text | FieldKind::Multiline => {
                                let limit = f.max_length.unwrap_or(if f.kind == FieldKind::Text {
                                    500
                                } else {
                                    4000
                                }) as usize;
                                prop_assert!(a.value.chars().count() <= limit);
                            }
                            FieldKind::Number => {
                                let n: i64 = a.value.parse().expect("a number answer");
                                prop_assert!(f.min.is_none_or(|min| n >= min));
                                prop_assert!(f.max.is_none_or(|max| n <= max));
                            }
                            FieldKind::Choice => {
                                prop_assert!(f.choices.contains(&a.value));
                            }
                            _ => {}
                        }
                    }
                }
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    for (key, m) in &errors {
                        prop_assert!(fields.iter().any(|f| &f.key == key));
                        russian!(m, (&fields, &values));
                    }
                }
            }
            Ok(())
        },
    );
    fuzz("shown date back to an input", 2048, text(), |s| {
        let _ = suz::catalog::form::to_datetime_local(&s);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// Search text and the list's filters

#[test]
fn fuzz_search_text() {
    fuzz("search terms", 4096, (text(), text()), |(q, other)| {
        let terms = suz::search::terms(&q);
        prop_assert!(terms.len() <= 8);
        prop_assert!(terms
            .iter()
            .all(|t| !t.is_empty() && t.chars().all(char::is_alphanumeric)));
        // A text always matches the words typed from it.
        prop_assert!(suz::search::fuzzy_matches(
            &terms,
            &suz::search::normalize(&q)
        ));
        let _ = suz::search::fuzzy_matches(&terms, &suz::search::normalize(&other));
        for t in &terms {
            let _ = suz::search::has_word_starting_with(&suz::search::normalize(&other), t);
        }
        Ok(())
    });
}

/// Percent-decoding of a query value (what the browser's router does with the URL).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

fn read_query(query: &str) -> (OrderFilter, Option<Cursor>) {
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let filter = OrderFilter::from_pairs(get);
    (filter, get("after").and_then(Cursor::from_param))
}

fn status() -> impl Strategy<Value = OrderStatus> {
    proptest::sample::select(OrderStatus::ALL.to_vec())
}

fn valid_filter() -> impl Strategy<Value = OrderFilter> {
    let day =
        (1970i64..2200, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"));
    (
        (
            prop_oneof![Just(String::new()), "[^\\s]([^\\x00]{0,40}[^\\s])?"],
            proptest::option::of(status()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
        ),
        (
            proptest::option::of(day.clone()),
            proptest::option::of(day),
            proptest::option::of(prop_oneof![
                Just(PaymentFilter::Paid),
                Just(PaymentFilter::Unpaid)
            ]),
            any::<bool>(),
            proptest::sample::select(SortKey::ALL.to_vec()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (q, status, service_id, assignee_id, legal_entity_id),
                (created_from, created_to, payment, has_refund, sort, ascending),
            )| OrderFilter {
                q,
                status,
                service_id,
                assignee_id,
                legal_entity_id,
                created_from,
                created_to,
                payment,
                has_refund,
                sort,
                ascending,
            },
        )
}

fn cursor() -> impl Strategy<Value = Cursor> {
    (any::<i64>(), any::<i64>()).prop_map(|(value, order_id)| Cursor { value, order_id })
}

#[test]
fn fuzz_list_filters() {
    const KEYS: &[&str] = &[
        "q", "status", "service", "assignee", "entity", "from", "to", "paid", "refund", "sort",
        "dir", "after",
    ];
    fuzz(
        "list filter from the URL",
        4096,
        proptest::collection::vec((proptest::sample::select(KEYS), date_like()), 0..12),
        |pairs| {
            let get = |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.as_str())
            };
            let f = OrderFilter::from_pairs(get);
            prop_assert!(f.q.chars().count() <= 200);
            for day in [&f.created_from, &f.created_to].into_iter().flatten() {
                prop_assert!(suz::time::parse_date_input(day, 0).is_some(), "{day:?}");
            }
            let _ = get("after").and_then(Cursor::from_param);
            // What the page writes back reads the same again (search text trimmed).
            let (again, _) = read_query(&f.to_query(None));
            let mut expected = f.clone();
            expected.q = f.q.trim().to_owned();
            prop_assert_eq!(again, expected);
            Ok(())
        },
    );
    fuzz(
        "list filter URL round trip",
        4096,
        (valid_filter(), proptest::option::of(cursor())),
        |(f, after)| {
            let query = f.to_query(after);
            let (again, cursor) = read_query(&query);
            let mut expected = f.clone();
            expected.q = expected.q.chars().take(200).collect();
            prop_assert_eq!(again, expected, "{}", query);
            prop_assert_eq!(cursor, after);
            Ok(())
        },
    );
}

/// The list's query (full-text search, filters, keyset cursor) with random input never
/// fails or panics on the database.
#[test]
fn fuzz_list_and_catalog_search_on_the_database() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = rt.block_on(common::spawn());
    let search_text = prop_oneof![text(), pieces(8), "[\"*^():+\\-a-zа-яё0-9 ]{0,30}"];
    let filter = (
        valid_filter(),
        search_text.clone(),
        proptest::option::of(cursor()),
        any::<bool>(),
    );
    fuzz("list query", 256, filter, |(mut f, q, after, mine)| {
        f.q = q;
        let query = suz::orders::repo::ListQuery {
            filter: f.clone(),
            after,
            only_assignee: mine.then_some(1),
            limit: 20,
            utc_offset_minutes: 180,
        };
        let listed = rt.block_on(suz::orders::repo::list_orders(app.pool(), &query));
        prop_assert!(listed.is_ok(), "{:?} for {f:?}", listed.err());
        Ok(())
    });
    fuzz("catalog search", 256, search_text, |q| {
        let found = rt.block_on(suz::catalog::repo::search(app.pool(), &q));
        prop_assert!(found.is_ok(), "{:?} for {q:?}", found.err());
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// Webhooks

fn header_like() -> BoxedStrategy<String> {
    prop_oneof![
        // A time as far from now as an i64 goes (it once overflowed the check).
        1 => Just("t=-9223372036854775808,v1=00".to_owned()),
        3 => text(),
        3 => (any::<i64>(), "[0-9a-fz]{0,70}").prop_map(|(t, v)| format!("t={t},v1={v}")),
        3 => "(t=[-0-9]{0,22}|v1=[0-9a-f]{0,64}|,| |=){0,6}",
    ]
    .boxed()
}

#[test]
fn fuzz_webhook_signatures() {
    let now = suz::time::now();
    fuzz(
        "webhook signature",
        4096,
        (
            header_like(),
            proptest::collection::vec(any::<u8>(), 0..64),
            any::<i64>(),
        ),
        |(header, body, at)| {
            let _ = signature::verify("secret", &header, &body, now);
            let _ = signature::verify("secret", &header, &body, at);
            // A genuine signature verifies exactly within the tolerance.
            let t = now.saturating_add(at % (2 * signature::TOLERANCE_SECONDS + 10));
            let good = signature::sign("secret", t, &body);
            prop_assert_eq!(
                signature::verify("secret", &good, &body, now),
                (now - t).abs() <= signature::TOLERANCE_SECONDS
            );
            prop_assert!(!signature::verify("other", &good, &body, now));
            Ok(())
        },
    );
}

/// Bodies and headers the intake may get from anyone: nothing about payments changes,
/// and nothing answers 200 or crashes (500).
#[test]
fn fuzz_webhook_intake_changes_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = rt.block_on(common::spawn());
    let secret = app
        .state
        .config
        .payments_secret
        .clone()
        .expect("a test secret");
    let snapshot = || {
        rt.block_on(async {
            let mut all = Vec::new();
            for table in [
                "payments",
                "refunds",
                "invoices",
                "ledger_entries",
                "webhook_events",
                "saved_cards",
            ] {
                let columns: String = sqlx::query_scalar(&format!(
                    "select group_concat('quote(' || name || ')', ' || '','' || ') from pragma_table_info('{table}')"
                ))
                .fetch_one(app.pool())
                .await
                .unwrap_or_else(|e| panic!("{table}: {e}"));
                let rows: Vec<String> = sqlx::query_scalar(&format!(
                    "select {columns} from {table} order by rowid"
                ))
                .fetch_all(app.pool())
                .await
                .unwrap_or_else(|e| panic!("{table}: {e}"));
                all.push((table, rows));
            }
            all
        })
    };
    let before = snapshot();
    let json_ish = prop_oneof![
        2 => proptest::collection::vec(any::<u8>(), 0..200),
        2 => text().prop_map(String::into_bytes),
        3 => (pieces(6), "(pay|rfd|evt)_[a-z0-9]{0,8}", any::<i64>())
            .prop_map(|(junk, id, n)| format!(
                r#"{{"event_id":"{id}","payment":{{"id":"{id}","status":"succeeded","amount":{n},"fee":"{junk}"}}}}"#
            ).into_bytes()),
        1 => Just(b"{\"event_id\":".to_vec()),
        1 => Just(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec()),
    ];
    let signing = prop_oneof![
        Just(None),
        header_like().prop_map(Some),
        Just(Some(String::from("genuine"))),
    ];
    fuzz(
        "webhook intake",
        512,
        (json_ish, signing),
        |(body, signing)| {
            let mut req = Request::post("/payments/webhook")
                .header(http::header::CONTENT_TYPE, "application/json");
            let genuine = signing.as_deref() == Some("genuine");
            match signing {
                Some(h) if h == "genuine" => {
                    let t = app.state.clock.now();
                    req = req.header(signature::HEADER, signature::sign(&secret, t, &body));
                }
                Some(h) => {
                    if let Ok(v) = http::HeaderValue::from_str(&h) {
                        req = req.header(signature::HEADER, v);
                    }
                }
                None => {}
            }
            // A well-formed signed event is the provider speaking: not what is fuzzed here.
            if genuine && serde_json::from_slice::<WebhookEvent>(&body).is_ok() {
                return Ok(());
            }
            let reply = rt.block_on(app.send(req.body(Body::from(body.clone())).expect("request")));
            prop_assert!(
                !reply.status.is_success() && !reply.status.is_server_error(),
                "{} {} for {:?}",
                reply.status,
                reply.body,
                String::from_utf8_lossy(&body)
            );
            Ok(())
        },
    );
    assert!(
        snapshot() == before,
        "webhook intake changed payment tables"
    );
}
