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
    /// The VAT rate's code (`vat_rates.code`); `None`: as stored (a new item: «Без НДС»).
    /// Whether the rate is in force is checked against the table by the service.
    pub vat_code: Option<String>,
    /// `service` | `commodity`; `None`: as stored (a new item: «Услуга»).
    pub payment_subject: Option<String>,
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
            vat_code: None,
            payment_subject: None,
        }),
        _ => Err(e),
    }
}

/// [`price_item`] with its receipt fields as chosen in the editor (empty or absent: as
/// stored).
pub fn price_item_for_receipts(
    name: &str,
    unit: &str,
    price: &str,
    active: bool,
    vat_code: Option<&str>,
    payment_subject: Option<&str>,
) -> Result<PriceItem, FieldErrors> {
    let mut e = Vec::new();
    let vat_code = vat_code.map(str::trim).filter(|c| !c.is_empty());
    if vat_code.is_some_and(|c| c.len() > 10 || !c.chars().all(|c| c.is_ascii_alphanumeric())) {
        err(&mut e, "vat_code", "Выберите ставку НДС из списка");
    }
    let subject = payment_subject.map(str::trim).filter(|c| !c.is_empty());
    if subject.is_some_and(|s| !PAYMENT_SUBJECTS.iter().any(|(k, _)| *k == s)) {
        err(
            &mut e,
            "payment_subject",
            "Признак предмета расчёта: «Услуга» или «Товар»",
        );
    }
    match price_item(name, unit, price, active) {
        Ok(mut item) if e.is_empty() => {
            item.vat_code = vat_code.map(str::to_owned);
            item.payment_subject = subject.map(str::to_owned);
            Ok(item)
        }
        Ok(_) => Err(e),
        Err(mut first) => {
            first.append(&mut e);
            Err(first)
        }
    }
}

// ---------------------------------------------------------------- receipts and live money

/// Признак предмета расчёта of a price-list item: (code, label).
pub const PAYMENT_SUBJECTS: [(&str, &str); 2] = [("service", "Услуга"), ("commodity", "Товар")];

pub fn subject_label(code: &str) -> &str {
    PAYMENT_SUBJECTS
        .iter()
        .find(|(k, _)| *k == code)
        .map_or(code, |(_, l)| *l)
}

/// Taxation systems (СНО) of a legal entity: (code, label), as
/// `payments::gateway::Taxation` names them.
pub const TAXATIONS: [(&str, &str); 5] = [
    ("osn", "ОСН"),
    ("usn_income", "УСН доход"),
    ("usn_income_outcome", "УСН доход − расход"),
    ("esn", "ЕСХН"),
    ("patent", "Патент"),
];

/// Who issues a legal entity's receipts: (code, label).
pub const RECEIPTS_VIA: [(&str, &str); 2] = [
    ("acquirer", "Облачная касса эквайера"),
    ("own_register", "Своя касса"),
];

/// Payment providers an entity may take payments through: (code, label). The sandbox is
/// the default: choosing it means the entity has no account of its own.
pub const PROVIDERS: [(&str, &str); 3] = [
    ("sandbox", "Песочница"),
    ("yookassa", "ЮKassa"),
    ("tbank", "Т-Банк"),
];

pub fn label_of<'a>(list: &'a [(&'a str, &'a str)], code: &'a str) -> &'a str {
    list.iter()
        .find(|(k, _)| *k == code)
        .map_or(code, |(_, l)| *l)
}

pub fn fiscal_errors(taxation: &str, receipts_via: &str) -> FieldErrors {
    let mut e = Vec::new();
    if !TAXATIONS.iter().any(|(k, _)| *k == taxation) {
        err(
            &mut e,
            "taxation",
            "Выберите систему налогообложения из списка",
        );
    }
    if !RECEIPTS_VIA.iter().any(|(k, _)| *k == receipts_via) {
        err(&mut e, "receipts_via", "Выберите, кто выдаёт чеки");
    }
    e
}

/// A VAT rate with the local dates (`YYYY-MM-DD`) it applies from and to (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatRate {
    pub code: String,
    pub name: String,
    /// Decimal text: "22".
    pub percent: String,
    pub effective_from: String,
    pub effective_to: Option<String>,
}

impl VatRate {
    pub fn in_force(&self, today: &str) -> bool {
        self.effective_from.as_str() <= today
            && self.effective_to.as_deref().is_none_or(|to| to >= today)
    }
}

/// `2026-01-01` as `01.01.2026`.
pub fn show_day(day: &str) -> String {
    let mut it = day.splitn(3, '-');
    match (it.next(), it.next(), it.next()) {
        (Some(y), Some(m), Some(d)) => format!("{d}.{m}.{y}"),
        _ => day.to_owned(),
    }
}

/// The rates that may be chosen today, one per code.
pub fn rates_in_force<'a>(rates: &'a [VatRate], today: &str) -> Vec<&'a VatRate> {
    let mut out: Vec<&VatRate> = Vec::new();
    for r in rates.iter().filter(|r| r.in_force(today)) {
        if !out.iter().any(|o| o.code == r.code) {
            out.push(r);
        }
    }
    out
}

/// Why a VAT code cannot be put on a price-list item today (`None`: it can).
pub fn vat_error(rates: &[VatRate], code: &str, today: &str) -> Option<String> {
    if rates.iter().any(|r| r.code == code && r.in_force(today)) {
        return None;
    }
    match rates.iter().rfind(|r| r.code == code) {
        None => Some("Выберите ставку НДС из списка".into()),
        Some(r) => Some(match &r.effective_to {
            Some(to) if to.as_str() < today => format!(
                "Ставка «{}» действовала по {}: выберите действующую ставку",
                r.name,
                show_day(to)
            ),
            _ => format!(
                "Ставка «{}» действует с {}: выберите действующую ставку",
                r.name,
                show_day(&r.effective_from)
            ),
        }),
    }
}

fn squeeze(s: &str) -> String {
    s.trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == ',' { '.' } else { c })
        .collect()
}

/// A spreadsheet's «НДС» cell: a rate's name («НДС 22%», «Без НДС»), its code (`vat22`)
/// or its percent («22%», «22»). Empty: as stored. Whether the rate is in force is
/// checked when the item is written.
pub fn parse_vat_cell(cell: &str, rates: &[VatRate]) -> Result<Option<String>, String> {
    let t = squeeze(cell);
    if t.is_empty() {
        return Ok(None);
    }
    let percent = t.trim_end_matches('%');
    let found = rates
        .iter()
        .find(|r| squeeze(&r.name) == t || r.code == t)
        .or_else(|| {
            rates
                .iter()
                .find(|r| r.code != "none" && r.percent == percent)
        });
    match found {
        Some(r) => Ok(Some(r.code.clone())),
        None => {
            let mut names: Vec<&str> = Vec::new();
            for r in rates {
                if !names.contains(&r.name.as_str()) {
                    names.push(&r.name);
                }
            }
            Err(format!(
                "«НДС»: нет ставки «{}»; укажите одну из: {}",
                cell.trim(),
                names.join(", ")
            ))
        }
    }
}

/// A spreadsheet's «Признак предмета расчёта» cell: «Услуга» or «Товар». Empty: as stored.
pub fn parse_subject_cell(cell: &str) -> Result<Option<&'static str>, String> {
    let t = squeeze(cell);
    if t.is_empty() {
        return Ok(None);
    }
    PAYMENT_SUBJECTS
        .iter()
        .find(|(k, l)| *k == t || squeeze(l) == t)
        .map(|(k, _)| Some(*k))
        .ok_or_else(|| {
            format!(
                "«Признак предмета расчёта»: «Услуга» или «Товар», а не «{}»",
                cell.trim()
            )
        })
}

/// A legal entity's shop / terminal as typed in «Приём платежей».
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInput {
    pub provider: String,
    /// ЮKassa shopId / Т-Банк TerminalKey.
    pub shop_id: String,
    /// The secret key / terminal password (never shown back); empty: unchanged.
    pub secret: String,
    /// Or the name of an environment variable holding it.
    pub secret_env: String,
    pub api_url: String,
    /// ЮKassa only: networks notifications may come from.
    pub notify_networks: String,
}

pub fn shop_id_label(provider: &str) -> &'static str {
    if provider == "tbank" {
        "TerminalKey"
    } else {
        "shopId"
    }
}

pub fn secret_label(provider: &str) -> &'static str {
    if provider == "tbank" {
        "Пароль терминала"
    } else {
        "Секретный ключ"
    }
}

/// What the server says when a secret is typed but cannot be stored sealed.
pub const NO_SECRETS_KEY: &str =
    "Ключ для хранения секретов не задан (SUZ_SECRETS_KEY): укажите имя переменной окружения с секретом";

/// Networks as typed (comma, space or line separated addresses or CIDRs), written back
/// comma-separated.
pub fn notify_networks(input: &str) -> Result<String, String> {
    let mut out: Vec<String> = Vec::new();
    for part in input
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let (ip, prefix) = match part.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (part, None),
        };
        let ok = match ip.parse::<std::net::IpAddr>() {
            Ok(addr) => {
                let max = if addr.is_ipv4() { 32 } else { 128 };
                prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= max))
            }
            Err(_) => false,
        };
        if !ok {
            return Err(format!(
                "«{part}» — не адрес и не сеть (например, 185.71.76.0/27)"
            ));
        }
        out.push(part.to_owned());
    }
    if out.len() > 50 {
        return Err("Не больше 50 сетей".into());
    }
    Ok(out.join(","))
}

/// An environment variable's name: latin capitals, digits and `_`, not starting with a
/// digit.
pub fn env_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 100
}

/// Errors of an account. `can_seal`: `SUZ_SECRETS_KEY` is set; `has_secret`: the
/// entity's active account at the same provider has a secret the new one keeps when none
/// is typed.
pub fn account_errors(a: &AccountInput, can_seal: bool, has_secret: bool) -> FieldErrors {
    let mut e = Vec::new();
    if !PROVIDERS.iter().any(|(k, _)| *k == a.provider) {
        err(&mut e, "provider", "Выберите провайдера из списка");
        return e;
    }
    if a.provider == "sandbox" {
        return e;
    }
    let shop = a.shop_id.trim();
    let what = shop_id_label(&a.provider);
    if shop.is_empty() {
        err(&mut e, "shop_id", &format!("Введите {what}"));
    } else if shop.len() > 64 || !shop.chars().all(|c| c.is_ascii_graphic()) {
        err(
            &mut e,
            "shop_id",
            &format!("{what} — до 64 латинских букв, цифр и знаков без пробелов"),
        );
    } else if a.provider == "yookassa" && !shop.chars().all(|c| c.is_ascii_digit()) {
        err(&mut e, "shop_id", "shopId ЮKassa — число");
    }
    let (secret, env) = (a.secret.trim(), a.secret_env.trim());
    match (secret.is_empty(), env.is_empty()) {
        (false, false) => err(
            &mut e,
            "secret",
            "Укажите либо сам секрет, либо имя переменной окружения — не оба",
        ),
        (true, true) if !has_secret => err(
            &mut e,
            "secret",
            &format!(
                "Введите {} или имя переменной окружения",
                secret_label(&a.provider).to_lowercase()
            ),
        ),
        (false, true) if !can_seal => err(&mut e, "secret", NO_SECRETS_KEY),
        (false, true) if secret.chars().count() > 200 || secret.chars().any(char::is_control) => {
            err(&mut e, "secret", "Секрет — одна строка до 200 символов")
        }
        (true, false) if !env_name_ok(env) => err(
            &mut e,
            "secret_env",
            "Имя переменной — латинские заглавные буквы, цифры и _ (например, SUZ_YOOKASSA_SECRET)",
        ),
        _ => {}
    }
    let url = a.api_url.trim();
    if !url.is_empty() {
        let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| {
                url.strip_prefix(p)
                    .is_some_and(|r| r.is_empty() || r.starts_with([':', '/']))
            });
        let https = url.strip_prefix("https://").is_some_and(|r| !r.is_empty());
        if !(https || local) || url.len() > 300 || url.chars().any(|c| c.is_whitespace()) {
            err(
                &mut e,
                "api_url",
                "Адрес API — https://… (http:// только для 127.0.0.1 и localhost)",
            );
        }
    }
    match notify_networks(&a.notify_networks) {
        Ok(n) if !n.is_empty() && a.provider != "yookassa" => err(
            &mut e,
            "notify_networks",
            "Сети уведомлений задаются только для ЮKassa",
        ),
        Ok(_) => {}
        Err(m) => err(&mut e, "notify_networks", &m),
    }
    e
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

    fn rates() -> Vec<VatRate> {
        let r = |code: &str, name: &str, percent: &str, from: &str, to: Option<&str>| VatRate {
            code: code.into(),
            name: name.into(),
            percent: percent.into(),
            effective_from: from.into(),
            effective_to: to.map(Into::into),
        };
        vec![
            r("none", "Без НДС", "0", "2019-01-01", None),
            r("vat0", "НДС 0%", "0", "2019-01-01", None),
            r("vat20", "НДС 20%", "20", "2019-01-01", Some("2025-12-31")),
            r("vat22", "НДС 22%", "22", "2026-01-01", None),
        ]
    }

    #[test]
    fn only_rates_in_force_today_can_be_put_on_an_item() {
        let rates = rates();
        let codes = |day: &str| -> Vec<String> {
            rates_in_force(&rates, day)
                .iter()
                .map(|r| r.code.clone())
                .collect()
        };
        assert_eq!(codes("2025-12-31"), ["none", "vat0", "vat20"]);
        assert_eq!(codes("2026-01-01"), ["none", "vat0", "vat22"]);
        assert_eq!(vat_error(&rates, "vat22", "2026-12-02"), None);
        assert_eq!(
            vat_error(&rates, "vat20", "2026-12-02").unwrap(),
            "Ставка «НДС 20%» действовала по 31.12.2025: выберите действующую ставку"
        );
        assert!(vat_error(&rates, "vat22", "2025-06-01")
            .unwrap()
            .contains("действует с 01.01.2026"));
        assert_eq!(
            vat_error(&rates, "vat99", "2026-12-02").unwrap(),
            "Выберите ставку НДС из списка"
        );
    }

    #[test]
    fn spreadsheet_vat_and_subject_cells() {
        let rates = rates();
        for (cell, code) in [
            ("НДС 22%", "vat22"),
            ("ндс 22 %", "vat22"),
            ("22%", "vat22"),
            ("22", "vat22"),
            ("vat22", "vat22"),
            ("Без НДС", "none"),
            ("0%", "vat0"),
            ("НДС 20%", "vat20"),
        ] {
            assert_eq!(
                parse_vat_cell(cell, &rates),
                Ok(Some(code.to_owned())),
                "{cell}"
            );
        }
        assert_eq!(parse_vat_cell("  ", &rates), Ok(None));
        let bad = parse_vat_cell("18%", &rates).unwrap_err();
        assert!(bad.starts_with("«НДС»: нет ставки «18%»"), "{bad}");
        assert_eq!(parse_subject_cell("Товар"), Ok(Some("commodity")));
        assert_eq!(parse_subject_cell(" услуга "), Ok(Some("service")));
        assert_eq!(parse_subject_cell(""), Ok(None));
        assert!(parse_subject_cell("Работа")
            .unwrap_err()
            .contains("«Услуга» или «Товар»"));
        let item = price_item_for_receipts("А", "шт.", "1", true, Some("vat22"), Some("commodity"))
            .unwrap();
        assert_eq!(
            (item.vat_code.as_deref(), item.payment_subject.as_deref()),
            (Some("vat22"), Some("commodity"))
        );
        let bad = price_item_for_receipts("", "шт.", "1", true, Some("vat 22"), Some("work"))
            .unwrap_err();
        let keys: Vec<&str> = bad.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["name", "vat_code", "payment_subject"]);
    }

    #[test]
    fn payment_accounts_as_typed() {
        let yk = AccountInput {
            provider: "yookassa".into(),
            shop_id: "123456".into(),
            secret: "live_abc".into(),
            notify_networks: "185.71.76.0/27, 77.75.156.11\n2a02:5180::/32".into(),
            ..Default::default()
        };
        assert!(account_errors(&yk, true, false).is_empty());
        assert_eq!(
            notify_networks(&yk.notify_networks).unwrap(),
            "185.71.76.0/27,77.75.156.11,2a02:5180::/32"
        );
        let keys = |a: &AccountInput, seal: bool, has: bool| -> Vec<String> {
            account_errors(a, seal, has)
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        // Without SUZ_SECRETS_KEY only a variable's name.
        assert_eq!(
            account_errors(&yk, false, false),
            [("secret".to_owned(), NO_SECRETS_KEY.to_owned())]
        );
        let env = AccountInput {
            secret: "".into(),
            secret_env: "SUZ_YOOKASSA_SECRET".into(),
            ..yk.clone()
        };
        assert!(account_errors(&env, false, false).is_empty());
        assert_eq!(
            keys(
                &AccountInput {
                    secret_env: "lower-case".into(),
                    ..env.clone()
                },
                false,
                false
            ),
            ["secret_env"]
        );
        assert_eq!(
            keys(
                &AccountInput {
                    secret_env: "X".into(),
                    ..yk.clone()
                },
                true,
                false
            ),
            ["secret"]
        );
        // No secret typed: only when the active account at the same provider keeps one.
        let none = AccountInput {
            secret: "".into(),
            ..yk.clone()
        };
        assert_eq!(keys(&none, true, false), ["secret"]);
        assert!(keys(&none, true, true).is_empty());
        assert_eq!(
            keys(
                &AccountInput {
                    provider: "paypal".into(),
                    ..yk.clone()
                },
                true,
                false
            ),
            ["provider"]
        );
        assert_eq!(
            keys(
                &AccountInput {
                    shop_id: "abc".into(),
                    ..yk.clone()
                },
                true,
                false
            ),
            ["shop_id"]
        );
        assert_eq!(
            keys(
                &AccountInput {
                    shop_id: " ".into(),
                    ..yk.clone()
                },
                true,
                false
            ),
            ["shop_id"]
        );
        assert_eq!(
            keys(
                &AccountInput {
                    notify_networks: "10.0.0.0/33".into(),
                    ..yk.clone()
                },
                true,
                false
            ),
            ["notify_networks"]
        );
        for url in [
            "http://example.com",
            "ftp://x",
            "https://",
            "http://127.0.0.1.evil.ru",
        ] {
            assert_eq!(
                keys(
                    &AccountInput {
                        api_url: url.into(),
                        ..yk.clone()
                    },
                    true,
                    false
                ),
                ["api_url"],
                "{url}"
            );
        }
        for url in [
            "https://rest-api-test.tinkoff.ru/v2",
            "http://127.0.0.1:4100",
            "http://localhost/x",
        ] {
            assert!(
                keys(
                    &AccountInput {
                        api_url: url.into(),
                        ..yk.clone()
                    },
                    true,
                    false
                )
                .is_empty(),
                "{url}"
            );
        }
        let tbank = AccountInput {
            provider: "tbank".into(),
            shop_id: "1700000000001DEMO".into(),
            secret: "pass".into(),
            ..Default::default()
        };
        assert!(account_errors(&tbank, true, false).is_empty());
        assert_eq!(
            keys(
                &AccountInput {
                    notify_networks: "10.0.0.1".into(),
                    ..tbank
                },
                true,
                false
            ),
            ["notify_networks"]
        );
        assert!(account_errors(
            &AccountInput {
                provider: "sandbox".into(),
                ..Default::default()
            },
            false,
            false
        )
        .is_empty());
        assert_eq!(fiscal_errors("usn", "bank").len(), 2);
        assert!(fiscal_errors("usn_income_outcome", "own_register").is_empty());
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_lists_name_what_the_gateway_knows() {
        use crate::payments::gateway::{PaymentSubject, Taxation};
        let taxations: Vec<(&str, &str)> = Taxation::ALL
            .iter()
            .map(|t| (t.as_str(), t.label()))
            .collect();
        assert_eq!(taxations, TAXATIONS);
        for (code, _) in PAYMENT_SUBJECTS {
            assert!(PaymentSubject::parse(code).is_some());
        }
    }
}
