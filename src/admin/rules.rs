//! What administrators may enter, checked by one set of pure functions (the server refuses
//! what they refuse; the browser shows the same messages).

use crate::catalog::form::{FieldKind, FormField};
use crate::money::Money;
use serde::{Deserialize, Serialize};

/// Field errors: (field key, message).
pub type FieldErrors = Vec<(String, String)>;

fn err(errors: &mut FieldErrors, key: &str, msg: &str) {
    errors.push((key.to_owned(), msg.to_owned()));
}

fn text_len(s: &str) -> usize {
    s.trim().chars().count()
}

/// A required one-line text of at most `max` characters.
fn required(errors: &mut FieldErrors, key: &str, value: &str, max: usize, what: &str) {
    let n = text_len(value);
    if n == 0 {
        err(errors, key, &format!("Введите {what}"));
    } else if n > max {
        err(errors, key, &format!("Не длиннее {max} символов"));
    } else if let Err(m) = crate::text::check_line(value) {
        err(errors, key, &m);
    }
}

pub fn role_name_errors(name: &str) -> FieldErrors {
    let mut e = Vec::new();
    required(&mut e, "name", name, 60, "название роли");
    e
}

pub const MIN_PASSWORD: usize = 8;

pub fn password_error(password: &str) -> Option<String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        Some(format!("Пароль не короче {MIN_PASSWORD} символов"))
    } else if n > 128 {
        Some("Пароль не длиннее 128 символов".into())
    } else {
        None
    }
}

pub fn person_name_errors(errors: &mut FieldErrors, name: &str) {
    required(errors, "full_name", name, 120, "ФИО");
}

/// ИНН: 10 digits (a company) or 12 (a sole trader); empty is allowed.
pub fn inn_error(inn: &str) -> Option<&'static str> {
    let t = inn.trim();
    if t.is_empty() || (t.chars().all(|c| c.is_ascii_digit()) && matches!(t.len(), 10 | 12)) {
        None
    } else {
        Some("ИНН — 10 или 12 цифр")
    }
}

pub fn entity_errors(name: &str, kind: &str, inn: &str, details: &str) -> FieldErrors {
    let mut e = Vec::new();
    required(&mut e, "name", name, 200, "название");
    if !matches!(kind, "management" | "partner") {
        err(&mut e, "kind", "Выберите тип");
    }
    if let Some(m) = inn_error(inn) {
        err(&mut e, "inn", m);
    }
    if text_len(details) > 2000 {
        err(&mut e, "details", "Не длиннее 2000 символов");
    } else if let Err(m) = crate::text::check_text(details) {
        err(&mut e, "details", &m);
    }
    e
}

/// A checked price-list item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceItem {
    pub name: String,
    pub unit: String,
    pub price: Money,
    pub active: bool,
}

pub fn price_item(
    name: &str,
    unit: &str,
    price: &str,
    active: bool,
) -> Result<PriceItem, FieldErrors> {
    let mut e = Vec::new();
    required(&mut e, "name", name, 200, "наименование");
    required(&mut e, "unit", unit, 20, "единицу измерения");
    let price = match Money::parse(price) {
        Ok(m) if m.is_negative() => {
            err(&mut e, "price", "Цена не может быть отрицательной");
            None
        }
        Ok(m) if m.kopecks() > 10_000_000_000 => {
            err(&mut e, "price", "Слишком большая цена");
            None
        }
        Ok(m) => Some(m),
        Err(m) => {
            err(&mut e, "price", &m.to_string());
            None
        }
    };
    match price {
        Some(price) if e.is_empty() => Ok(PriceItem {
            name: name.trim().to_owned(),
            unit: unit.trim().to_owned(),
            price,
            active,
        }),
        _ => Err(e),
    }
}

/// «да» / «нет» as typed in a spreadsheet (empty means yes).
pub fn parse_yes(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "" | "да" | "1" | "true" | "yes" | "активна" | "+" => Some(true),
        "нет" | "0" | "false" | "no" | "скрыта" | "-" => Some(false),
        _ => None,
    }
}

/// A category's background: a colour `#rgb` / `#rrggbb`, or an image address
/// (`/covers/…` or `https://…`) drawn to cover the tile. Returns the CSS value.
pub fn background_css(input: &str) -> Result<String, &'static str> {
    let t = input.trim();
    let hex = t.len() == 4 || t.len() == 7;
    if t.starts_with('#') && hex && t[1..].chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(t.to_lowercase());
    }
    let url_ok = (t.starts_with("/covers/") || t.starts_with("https://"))
        && t.len() <= 300
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._:-%?=&".contains(c));
    if url_ok {
        return Ok(format!("url({t}) center / cover"));
    }
    Err("Укажите цвет (#1f6feb) или адрес картинки (/covers/… или https://…)")
}

/// What an administrator typed as a background, from its stored CSS.
pub fn background_input(css: &str) -> String {
    css.strip_prefix("url(")
        .and_then(|s| s.split_once(')'))
        .map(|(u, _)| u.to_owned())
        .unwrap_or_else(|| css.to_owned())
}

pub fn category_errors(name: &str, background: &str, icon: &str) -> FieldErrors {
    let mut e = Vec::new();
    required(&mut e, "name", name, 60, "название категории");
    if let Err(m) = background_css(background) {
        err(&mut e, "background", m);
    }
    let n = text_len(icon);
    if n == 0 || n > 4 {
        err(&mut e, "icon", "Иконка — один символ или эмодзи");
    }
    e
}

/// Hours of an SLA as typed: empty for none, else 1–8760.
pub fn parse_hours(s: &str) -> Result<Option<i64>, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<i64>() {
        Ok(h) if (1..=8760).contains(&h) => Ok(Some(h)),
        _ => Err("Часы — целое число от 1 до 8760"),
    }
}

/// Whether an order is past its service's SLA: still waiting after `take_hours`, or not
/// done after `done_hours`, counted from its creation.
pub fn overdue(
    status: crate::orders::status::OrderStatus,
    created_at: i64,
    take_hours: Option<i64>,
    done_hours: Option<i64>,
    now: i64,
) -> bool {
    use crate::orders::status::OrderStatus::*;
    let past = |h: Option<i64>| h.is_some_and(|h| now > created_at + h * 3600);
    match status {
        Waiting => past(take_hours) || past(done_hours),
        InProgress => past(done_hours),
        Done | Cancelled => false,
    }
}

/// A service as edited in the administration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceForm {
    /// None for a new service.
    pub service_id: Option<i64>,
    pub category_id: i64,
    pub legal_entity_id: i64,
    pub name: String,
    pub short_description: String,
    pub description: String,
    pub cover: String,
    pub default_assignee_id: Option<i64>,
    pub sla_take_hours: String,
    pub sla_done_hours: String,
    /// «Возможность оплаты картой при создании заказа»
    pub prepaid: bool,
    /// «Чат с оператором, до оформления заявки»
    pub preorder_chat: bool,
    pub refunds_allowed: bool,
    /// «Запретить закрывать заявку, если не приложен документ»
    pub require_attachment: bool,
    pub published: bool,
    pub fields: Vec<FormField>,
    /// Price-list items of the provider that price the service («от …»).
    pub price_item_ids: Vec<i64>,
}

pub const MAX_FIELDS: usize = 30;

/// Errors of a service and its order form. Form errors are keyed `field.<n>`.
pub fn service_errors(s: &ServiceForm) -> FieldErrors {
    let mut e = Vec::new();
    required(&mut e, "name", &s.name, 120, "название услуги");
    if text_len(&s.short_description) > 200 {
        err(&mut e, "short_description", "Не длиннее 200 символов");
    }
    if text_len(&s.description) > 5000 {
        err(&mut e, "description", "Не длиннее 5000 символов");
    }
    let cover = s.cover.trim();
    if !(cover.is_empty() || cover.starts_with("/covers/") || cover.starts_with("https://")) {
        err(
            &mut e,
            "cover",
            "Обложка — загруженная картинка или адрес https://…",
        );
    }
    if let Err(m) = parse_hours(&s.sla_take_hours) {
        err(&mut e, "sla_take_hours", m);
    }
    if let Err(m) = parse_hours(&s.sla_done_hours) {
        err(&mut e, "sla_done_hours", m);
    }
    if let (Ok(Some(take)), Ok(Some(done))) = (
        parse_hours(&s.sla_take_hours),
        parse_hours(&s.sla_done_hours),
    ) {
        if done < take {
            err(
                &mut e,
                "sla_done_hours",
                "Срок выполнения не меньше срока взятия в работу",
            );
        }
    }
    if s.prepaid && s.price_item_ids.is_empty() {
        err(
            &mut e,
            "price_item_ids",
            "Для оплаты при создании заказа выберите позицию прайс-листа",
        );
    }
    e.extend(form_errors(&s.fields));
    e
}

/// A key for a new field that no field of the form has.
pub fn new_field_key(fields: &[FormField]) -> String {
    let mut n = fields.len() + 1;
    loop {
        let key = format!("f{n}");
        if !fields.iter().any(|f| f.key == key) {
            return key;
        }
        n += 1;
    }
}

pub fn kind_label(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "Текст",
        FieldKind::Multiline => "Многострочный текст",
        FieldKind::Number => "Число",
        FieldKind::DateTime => "Дата и время",
        FieldKind::Choice => "Выбор одного",
        FieldKind::MultiChoice => "Выбор нескольких",
        FieldKind::Checkbox => "Флажок",
        FieldKind::Photo => "Фото",
    }
}

pub const KINDS: [FieldKind; 8] = [
    FieldKind::Text,
    FieldKind::Multiline,
    FieldKind::Number,
    FieldKind::DateTime,
    FieldKind::Choice,
    FieldKind::MultiChoice,
    FieldKind::Checkbox,
    FieldKind::Photo,
];

/// Errors of an order form: a label for each field, choices for choice fields, sane
/// limits, unique keys.
pub fn form_errors(fields: &[FormField]) -> FieldErrors {
    let mut e = Vec::new();
    if fields.len() > MAX_FIELDS {
        err(&mut e, "fields", &format!("Не больше {MAX_FIELDS} полей"));
    }
    for (i, f) in fields.iter().enumerate() {
        let key = format!("field.{i}");
        let n = i + 1;
        let key_ok = !f.key.is_empty()
            && f.key.len() <= 32
            && f.key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok || fields[..i].iter().any(|o| o.key == f.key) {
            err(
                &mut e,
                &key,
                &format!("Поле {n}: повторяющийся или неверный ключ"),
            );
        }
        let label = text_len(&f.label);
        if label == 0 {
            err(&mut e, &key, &format!("Поле {n}: введите подпись"));
        } else if label > 100 {
            err(
                &mut e,
                &key,
                &format!("Поле {n}: подпись не длиннее 100 символов"),
            );
        }
        let choices = matches!(f.kind, FieldKind::Choice | FieldKind::MultiChoice);
        if choices {
            let real: Vec<_> = f.choices.iter().filter(|c| !c.trim().is_empty()).collect();
            if real.len() < 2 {
                err(
                    &mut e,
                    &key,
                    &format!("Поле {n}: нужно не меньше двух вариантов"),
                );
            }
            if real.iter().any(|c| c.chars().count() > 100) {
                err(
                    &mut e,
                    &key,
                    &format!("Поле {n}: вариант не длиннее 100 символов"),
                );
            }
        }
        if let (Some(min), Some(max)) = (f.min, f.max) {
            if min > max {
                err(&mut e, &key, &format!("Поле {n}: минимум больше максимума"));
            }
        }
        if f.max_length.is_some_and(|m| m == 0 || m > 5000) {
            err(&mut e, &key, &format!("Поле {n}: длина от 1 до 5000"));
        }
    }
    e
}

/// A row of a residents import (.xlsx or CSV: Телефон, ФИО, E-mail, Адрес).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentRow {
    pub phone: String,
    pub full_name: String,
    pub email: Option<String>,
    pub address: String,
}

pub fn resident_row(cells: &[String]) -> Result<ResidentRow, String> {
    let cell = |i: usize| cells.get(i).map(|s| s.trim()).unwrap_or("");
    let phone = crate::auth::model::Phone::parse(cell(0))?;
    let name = cell(1);
    if name.is_empty() {
        return Err("не указано ФИО".into());
    }
    if name.chars().count() > 120 {
        return Err("ФИО длиннее 120 символов".into());
    }
    crate::text::check_line(name).map_err(|m| format!("ФИО: {m}"))?;
    let email = match cell(2) {
        "" => None,
        e => Some(crate::auth::model::Email::parse(e)?.as_str().to_owned()),
    };
    let address = cell(3);
    if address.is_empty() {
        return Err("не указан адрес помещения".into());
    }
    if address.chars().count() > 300 {
        return Err("адрес длиннее 300 символов".into());
    }
    crate::text::check_line(address).map_err(|m| format!("адрес: {m}"))?;
    Ok(ResidentRow {
        phone: phone.as_str().to_owned(),
        full_name: name.to_owned(),
        email,
        address: address.to_owned(),
    })
}

/// Splits a CSV line (`;` or `,`, double quotes).
pub fn csv_cells(line: &str) -> Vec<String> {
    let sep = if line.contains(';') { ';' } else { ',' };
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::status::OrderStatus;

    fn field(key: &str, label: &str, kind: FieldKind, choices: &[&str]) -> FormField {
        FormField {
            key: key.into(),
            label: label.into(),
            kind,
            required: false,
            choices: choices.iter().map(|c| c.to_string()).collect(),
            min: None,
            max: None,
            max_length: None,
        }
    }

    #[test]
    fn price_items_need_a_name_a_unit_and_a_price_people_type() {
        let ok = price_item(" Замена крана ", "шт.", "1 500,50", true).unwrap();
        assert_eq!(ok.name, "Замена крана");
        assert_eq!(ok.price.kopecks(), 150_050);
        let bad = price_item("", "", "-5", true).unwrap_err();
        let keys: Vec<_> = bad.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["name", "unit", "price"]);
        assert!(price_item("А", "шт.", "абв", true).is_err());
    }

    #[test]
    fn backgrounds_are_a_colour_or_a_picture_and_never_other_css() {
        assert_eq!(background_css("#1F6FEB").unwrap(), "#1f6feb");
        assert_eq!(
            background_css("/covers/abc.png").unwrap(),
            "url(/covers/abc.png) center / cover"
        );
        assert_eq!(
            background_input("url(/covers/abc.png) center / cover"),
            "/covers/abc.png"
        );
        assert!(background_css("red; position:fixed").is_err());
        assert!(background_css("https://x.ru/a.png);color:red").is_err());
        assert!(background_css("#12345").is_err());
    }

    #[test]
    fn forms_need_labels_choices_and_unique_keys() {
        let good = vec![
            field("f1", "Что случилось", FieldKind::Text, &[]),
            field("f2", "Где", FieldKind::Choice, &["Кухня", "Ванная"]),
        ];
        assert!(form_errors(&good).is_empty());
        let bad = vec![
            field("f1", "", FieldKind::Text, &[]),
            field("f1", "Где", FieldKind::Choice, &["Кухня"]),
        ];
        let e = form_errors(&bad);
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(new_field_key(&good), "f3");
        let mut limits = field("n", "Сколько", FieldKind::Number, &[]);
        limits.min = Some(5);
        limits.max = Some(1);
        assert_eq!(form_errors(&[limits]).len(), 1);
    }

    #[test]
    fn sla_counts_from_creation() {
        let h = 3600;
        assert!(!overdue(OrderStatus::Waiting, 0, Some(2), Some(24), h));
        assert!(overdue(OrderStatus::Waiting, 0, Some(2), Some(24), 3 * h));
        assert!(!overdue(
            OrderStatus::InProgress,
            0,
            Some(2),
            Some(24),
            3 * h
        ));
        assert!(overdue(
            OrderStatus::InProgress,
            0,
            Some(2),
            Some(24),
            25 * h
        ));
        assert!(!overdue(OrderStatus::Done, 0, Some(2), Some(24), 25 * h));
        assert!(!overdue(OrderStatus::Waiting, 0, None, None, 1000 * h));
        assert_eq!(parse_hours(""), Ok(None));
        assert_eq!(parse_hours("48"), Ok(Some(48)));
        assert!(parse_hours("0").is_err());
        assert!(parse_hours("1,5").is_err());
    }

    #[test]
    fn import_rows_are_read_and_refused_with_reasons() {
        let row =
            |cells: &[&str]| resident_row(&cells.iter().map(|c| c.to_string()).collect::<Vec<_>>());
        let ok = row(&[
            "8 (900) 123-45-67",
            "Петров Пётр",
            "P@Mail.ru",
            "ул. Ленина, 1, кв. 2",
        ])
        .unwrap();
        assert_eq!(ok.phone, "+79001234567");
        assert_eq!(ok.email.as_deref(), Some("p@mail.ru"));
        assert!(row(&["123", "Петров", "", "адрес"]).is_err());
        assert_eq!(
            row(&["+79001234567", "", "", "адрес"]).unwrap_err(),
            "не указано ФИО"
        );
        assert!(row(&["+79001234567", "Петров", "", ""]).is_err());
        assert_eq!(
            csv_cells(r#"+79001234567;"Иванов; Иван";;"ул. ""Новая"", 5""#),
            vec!["+79001234567", "Иванов; Иван", "", "ул. \"Новая\", 5"]
        );
        assert_eq!(parse_yes("Нет"), Some(false));
        assert_eq!(parse_yes(""), Some(true));
        assert_eq!(parse_yes("может"), None);
    }

    #[test]
    fn entities_and_passwords() {
        assert!(entity_errors("ООО «Ромашка»", "partner", "7701234567", "").is_empty());
        assert_eq!(entity_errors("", "x", "123", "").len(), 3);
        assert!(password_error("short").is_some());
        assert!(password_error("long enough").is_none());
    }
}
