//! Order-form fields configured per service.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Multiline,
    Number,
    DateTime,
    Choice,
    MultiChoice,
    Checkbox,
    Photo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    /// Stable key of the field within its service.
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

/// One answer of a submitted form, with the label it had at ordering time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub key: String,
    pub label: String,
    pub value: String,
}

/// What was typed into one field (multiple values for multiple choice).
pub type RawValues = Vec<(String, String)>;

/// Errors next to fields: (field key, message).
pub type FieldErrors = Vec<(String, String)>;

/// A checked form: answers with their labels, and the visit time if a date field has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedForm {
    pub answers: Vec<Answer>,
    pub visit_at: Option<i64>,
    /// Uploaded photos per field: (field key, upload id).
    pub photos: Vec<(String, i64)>,
}

/// How strictly to check: a draft may leave required fields empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    Draft,
    /// Staff submitting an order: photos are the resident's part and are not asked for.
    Submit,
    /// A resident submitting: photo fields carry upload ids and may be required.
    SubmitWithPhotos,
}

impl Strictness {
    fn submitting(self) -> bool {
        self != Strictness::Draft
    }
}

/// Most photos in one photo field.
pub const MAX_PHOTOS_PER_FIELD: usize = 10;

/// The largest number a number field takes unless its service sets another maximum: a
/// number may become the quantity of a prepaid order's invoice.
pub const MAX_NUMBER: i64 = crate::invoices::rules::MAX_QUANTITY;

/// How many days ahead a visit may be asked for.
pub const VISIT_HORIZON_DAYS: i64 = 365;

/// Why a visit time is refused, if it is: it lies from the start of today (local time) to
/// the end of the day [`VISIT_HORIZON_DAYS`] ahead.
pub fn visit_time_error(visit_at: i64, now: i64, offset_minutes: i32) -> Option<String> {
    let offset = i64::from(offset_minutes) * 60;
    let today = (now + offset).div_euclid(86_400) * 86_400 - offset;
    let last_day = today + VISIT_HORIZON_DAYS * 86_400;
    if visit_at < today {
        Some("Дата визита не может быть в прошлом".into())
    } else if visit_at >= last_day + 86_400 {
        Some(format!(
            "Дата визита не позже {}",
            crate::time::format_date(last_day, offset_minutes)
        ))
    } else {
        None
    }
}

/// Seconds since the epoch on this side, for checking a form before sending it: the
/// browser's clock in the app, the system clock on the server (which checks again).
pub fn now_here() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        (js_sys::Date::now() / 1000.0) as i64
    }
    #[cfg(all(feature = "ssr", not(feature = "hydrate")))]
    {
        crate::time::now()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        0
    }
}

fn parse_datetime_local(s: &str, offset_minutes: i32) -> Option<i64> {
    let (date, time) = s.trim().split_once('T')?;
    let day = crate::time::parse_date_input(date, offset_minutes)?;
    let (h, m) = time.split_once(':')?;
    let h: i64 = h.parse().ok()?;
    let m: i64 = m.get(..2).unwrap_or(m).parse().ok()?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(day + h * 3600 + m * 60)
}

/// Checks typed values against a service's form as of `now`. The same code runs in the
/// browser (errors next to fields before sending) and on the server (the rule that holds).
pub fn check_form(
    fields: &[FormField],
    values: &RawValues,
    strictness: Strictness,
    offset_minutes: i32,
    now: i64,
) -> Result<CheckedForm, FieldErrors> {
    let mut answers = Vec::new();
    let mut errors = FieldErrors::new();
    let mut visit_at = None;
    let mut photos = Vec::new();
    for f in fields {
        let given: Vec<&str> = values
            .iter()
            .filter(|(k, _)| *k == f.key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        let mut fail = |msg: String| errors.push((f.key.clone(), msg));
        if f.kind == FieldKind::Photo {
            if strictness != Strictness::SubmitWithPhotos {
                continue;
            }
            let ids: Vec<i64> = given
                .iter()
                .filter_map(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .collect();
            if ids.len() != given.len() {
                fail("Фото не загрузилось, приложите его ещё раз".into());
            } else if ids.is_empty() && f.required {
                fail("Приложите фото".into());
            } else if ids.len() > MAX_PHOTOS_PER_FIELD {
                fail(format!("Не больше {MAX_PHOTOS_PER_FIELD} фото"));
            } else if !ids.is_empty() {
                photos.extend(ids.iter().map(|id| (f.key.clone(), *id)));
                answers.push(Answer {
                    key: f.key.clone(),
                    label: f.label.clone(),
                    value: format!("Фото: {}", ids.len()),
                });
            }
            continue;
        }
        if given.is_empty() && f.kind != FieldKind::Checkbox {
            if f.required && strictness.submitting() {
                fail("Заполните это поле".into());
            }
            continue;
        }
        let first = given.first().copied().unwrap_or("");
        let value = match f.kind {
            FieldKind::Text | FieldKind::Multiline => {
                let limit =
                    f.max_length
                        .unwrap_or(if f.kind == FieldKind::Text { 500 } else { 4000 })
                        as usize;
                if first.chars().count() > limit {
                    fail(format!("Не длиннее {limit} символов"));
                    continue;
                }
                let allowed = if f.kind == FieldKind::Text {
                    crate::text::check_line(first)
                } else {
                    crate::text::check_text(first)
                };
                if let Err(m) = allowed {
                    fail(m);
                    continue;
                }
                first.to_owned()
            }
            FieldKind::Number => {
                let digits: String = first.chars().filter(|c| !c.is_whitespace()).collect();
                match digits.parse::<i64>() {
                    Ok(n) if f.min.is_some_and(|min| n < min) => {
                        fail(format!("Не меньше {}", f.min.unwrap_or_default()));
                        continue;
                    }
                    Ok(n) if n > f.max.unwrap_or(MAX_NUMBER) => {
                        fail(format!("Не больше {}", f.max.unwrap_or(MAX_NUMBER)));
                        continue;
                    }
                    Ok(n) if n < 0 && f.min.is_none() => {
                        fail("Введите положительное число".into());
                        continue;
                    }
                    Ok(n) => n.to_string(),
                    Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => {
                        fail(format!("Не больше {}", f.max.unwrap_or(MAX_NUMBER)));
                        continue;
                    }
                    Err(_) => {
                        fail("Введите целое число".into());
                        continue;
                    }
                }
            }
            FieldKind::DateTime => match parse_datetime_local(first, offset_minutes) {
                Some(ts) => {
                    if let Some(e) = visit_time_error(ts, now, offset_minutes) {
                        fail(e);
                        continue;
                    }
                    visit_at = visit_at.or(Some(ts));
                    crate::time::format_datetime(ts, offset_minutes)
                }
                None => {
                    fail("Укажите дату и время".into());
                    continue;
                }
            },
            FieldKind::Choice => {
                if !f.choices.iter().any(|c| c == first) {
                    fail("Выберите вариант из списка".into());
                    continue;
                }
                first.to_owned()
            }
            FieldKind::MultiChoice => {
                if let Some(bad) = given.iter().find(|v| !f.choices.iter().any(|c| c == *v)) {
                    fail(format!("Нет такого варианта: {bad}"));
                    continue;
                }
                // Keep the configured order of choices.
                f.choices
                    .iter()
                    .filter(|c| given.contains(&c.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            }
            FieldKind::Checkbox => {
                let on = matches!(first, "on" | "true" | "1" | "Да");
                if f.required && !on && strictness.submitting() {
                    fail("Отметьте, чтобы продолжить".into());
                    continue;
                }
                if on { "Да" } else { "Нет" }.to_owned()
            }
            FieldKind::Photo => continue,
        };
        answers.push(Answer {
            key: f.key.clone(),
            label: f.label.clone(),
            value,
        });
    }
    if errors.is_empty() {
        Ok(CheckedForm {
            answers,
            visit_at,
            photos,
        })
    } else {
        Err(errors)
    }
}

/// The typed values an answer list came from (to re-check a saved draft).
pub fn values_of(answers: &[Answer], fields: &[FormField]) -> RawValues {
    let mut out = RawValues::new();
    for a in answers {
        let kind = fields.iter().find(|f| f.key == a.key).map(|f| f.kind);
        match kind {
            Some(FieldKind::MultiChoice) => out.extend(
                a.value
                    .split(", ")
                    .filter(|v| !v.is_empty())
                    .map(|v| (a.key.clone(), v.to_owned())),
            ),
            Some(FieldKind::DateTime) => out.push((a.key.clone(), to_datetime_local(&a.value))),
            _ => out.push((a.key.clone(), a.value.clone())),
        }
    }
    out
}

/// A moment as a datetime-local input spells it: `2026-11-27T08:05`.
pub fn datetime_local(ts: i64, offset_minutes: i32) -> String {
    let t = crate::time::LocalDateTime::from_unix(ts, offset_minutes);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

/// `27.11.2026 08:05` back to `2026-11-27T08:05` for a datetime-local input.
pub fn to_datetime_local(shown: &str) -> String {
    let Some((date, time)) = shown.split_once(' ') else {
        return String::new();
    };
    let parts: Vec<&str> = date.split('.').collect();
    match parts.as_slice() {
        [d, m, y] => format!("{y}-{m}-{d}T{time}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-27 08:00:41 in Moscow.
    const NOW: i64 = 1_795_755_641;

    fn field(key: &str, kind: FieldKind, required: bool) -> FormField {
        FormField {
            key: key.into(),
            label: key.to_uppercase(),
            kind,
            required,
            choices: vec![],
            min: None,
            max: None,
            max_length: None,
        }
    }

    fn vals(pairs: &[(&str, &str)]) -> RawValues {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn required_fields_are_required_only_on_submit() {
        let fields = vec![field("model", FieldKind::Text, true)];
        assert_eq!(
            check_form(&fields, &vals(&[]), Strictness::Submit, 180, NOW),
            Err(vec![("model".into(), "Заполните это поле".into())])
        );
        assert_eq!(
            check_form(
                &fields,
                &vals(&[("model", "  ")]),
                Strictness::Draft,
                180,
                NOW
            )
            .unwrap()
            .answers,
            vec![]
        );
    }

    #[test]
    fn numbers_respect_limits() {
        let mut f = field("count", FieldKind::Number, true);
        f.min = Some(1);
        f.max = Some(10);
        let fields = vec![f];
        assert_eq!(
            check_form(
                &fields,
                &vals(&[("count", "3")]),
                Strictness::Submit,
                180,
                NOW
            )
            .unwrap()
            .answers[0]
                .value,
            "3"
        );
        assert_eq!(
            check_form(
                &fields,
                &vals(&[("count", "0")]),
                Strictness::Submit,
                180,
                NOW
            )
            .unwrap_err()[0]
                .1,
            "Не меньше 1"
        );
        assert_eq!(
            check_form(
                &fields,
                &vals(&[("count", "11")]),
                Strictness::Submit,
                180,
                NOW
            )
            .unwrap_err()[0]
                .1,
            "Не больше 10"
        );
        assert_eq!(
            check_form(
                &fields,
                &vals(&[("count", "три")]),
                Strictness::Submit,
                180,
                NOW
            )
            .unwrap_err()[0]
                .1,
            "Введите целое число"
        );
    }

    #[test]
    fn choices_must_be_from_the_list_and_keep_their_order() {
        let mut single = field("room", FieldKind::Choice, true);
        single.choices = vec!["Кухня".into(), "Ванная".into()];
        let mut multi = field("extras", FieldKind::MultiChoice, false);
        multi.choices = vec!["Окна".into(), "Балкон".into(), "Духовка".into()];
        let fields = vec![single, multi];
        let ok = check_form(
            &fields,
            &vals(&[
                ("room", "Ванная"),
                ("extras", "Духовка"),
                ("extras", "Окна"),
            ]),
            Strictness::Submit,
            180,
            NOW,
        )
        .unwrap();
        assert_eq!(ok.answers[0].value, "Ванная");
        assert_eq!(ok.answers[1].value, "Окна, Духовка");
        let err = check_form(
            &fields,
            &vals(&[("room", "Чердак")]),
            Strictness::Submit,
            180,
            NOW,
        )
        .unwrap_err();
        assert_eq!(
            err,
            vec![("room".into(), "Выберите вариант из списка".into())]
        );
    }

    #[test]
    fn date_time_gives_the_visit_time() {
        let fields = vec![field("visit", FieldKind::DateTime, true)];
        let ok = check_form(
            &fields,
            &vals(&[("visit", "2026-11-28T10:30")]),
            Strictness::Submit,
            180,
            NOW,
        )
        .unwrap();
        assert_eq!(ok.answers[0].value, "28.11.2026 10:30");
        assert_eq!(ok.visit_at, Some(1_795_851_000));
        assert!(check_form(
            &fields,
            &vals(&[("visit", "завтра")]),
            Strictness::Submit,
            180,
            NOW
        )
        .is_err());
        assert_eq!(to_datetime_local("28.11.2026 10:30"), "2026-11-28T10:30");
        assert_eq!(datetime_local(1_795_851_000, 180), "2026-11-28T10:30");
    }

    #[test]
    fn visit_dates_lie_between_today_and_a_year_ahead() {
        let fields = vec![field("visit", FieldKind::DateTime, true)];
        let check =
            |v: &str| check_form(&fields, &vals(&[("visit", v)]), Strictness::Draft, 180, NOW);
        for far in ["1900-01-01T10:00", "2026-11-26T23:59"] {
            assert_eq!(
                check(far).unwrap_err(),
                vec![("visit".into(), "Дата визита не может быть в прошлом".into())],
                "{far}"
            );
        }
        for far in ["9999-12-31T23:59", "2027-11-28T00:00"] {
            assert_eq!(
                check(far).unwrap_err(),
                vec![("visit".into(), "Дата визита не позже 27.11.2027".into())],
                "{far}"
            );
        }
        // Earlier today (a visit going on now) and the last day of the horizon are fine.
        assert!(check("2026-11-27T00:00").is_ok());
        assert!(check("2027-11-27T23:59").is_ok());
        // The same bound on submit.
        assert!(check_form(
            &fields,
            &vals(&[("visit", "1900-01-01T10:00")]),
            Strictness::SubmitWithPhotos,
            180,
            NOW
        )
        .is_err());
    }

    #[test]
    fn numbers_without_a_maximum_stay_within_an_invoice_quantity() {
        let fields = vec![field("count", FieldKind::Number, true)];
        let check = |v: &str| {
            check_form(
                &fields,
                &vals(&[("count", v)]),
                Strictness::Submit,
                180,
                NOW,
            )
        };
        assert_eq!(check("10000").unwrap().answers[0].value, "10000");
        for big in ["10001", "1000000000000", "99999999999999999999999"] {
            assert_eq!(
                check(big).unwrap_err(),
                vec![("count".into(), "Не больше 10000".into())],
                "{big}"
            );
        }
    }

    #[test]
    fn checkbox_and_round_trip_of_a_saved_form() {
        let mut multi = field("extras", FieldKind::MultiChoice, false);
        multi.choices = vec!["Окна".into(), "Балкон".into()];
        let fields = vec![
            field("hook", FieldKind::Checkbox, false),
            multi,
            field("visit", FieldKind::DateTime, false),
        ];
        let first = check_form(
            &fields,
            &vals(&[
                ("hook", "on"),
                ("extras", "Балкон"),
                ("extras", "Окна"),
                ("visit", "2027-01-02T03:04"),
            ]),
            Strictness::Submit,
            180,
            NOW,
        )
        .unwrap();
        assert_eq!(first.answers[0].value, "Да");
        let again = check_form(
            &fields,
            &values_of(&first.answers, &fields),
            Strictness::Submit,
            180,
            NOW,
        )
        .unwrap();
        assert_eq!(again, first);
        let unchecked = check_form(&fields, &vals(&[]), Strictness::Submit, 180, NOW).unwrap();
        assert_eq!(unchecked.answers[0].value, "Нет");
    }

    #[test]
    fn photos_are_asked_of_residents_only() {
        let fields = vec![field("photo", FieldKind::Photo, true)];
        assert!(check_form(&fields, &vals(&[]), Strictness::Submit, 180, NOW).is_ok());
        assert_eq!(
            check_form(&fields, &vals(&[]), Strictness::SubmitWithPhotos, 180, NOW),
            Err(vec![("photo".into(), "Приложите фото".into())])
        );
        assert_eq!(
            check_form(
                &fields,
                &vals(&[("photo", "abc")]),
                Strictness::SubmitWithPhotos,
                180,
                NOW
            )
            .unwrap_err()[0]
                .1,
            "Фото не загрузилось, приложите его ещё раз"
        );
        let ok = check_form(
            &fields,
            &vals(&[("photo", "7"), ("photo", "9")]),
            Strictness::SubmitWithPhotos,
            180,
            NOW,
        )
        .unwrap();
        assert_eq!(ok.photos, vec![("photo".into(), 7), ("photo".into(), 9)]);
        assert_eq!(ok.answers[0].value, "Фото: 2");
    }
}
