//! Demo data: a realistic Russian data set, seeded once (idempotently) in demo mode.

use crate::auth::service::hash_password;
use crate::catalog::form::{Answer, FieldKind, FormField};
use crate::error::{AppError, AppResult};
use crate::orders::status::OrderStatus;
use sqlx::SqlitePool;

/// The password of every demo staff account.
pub const DEMO_PASSWORD: &str = "demo12345";

/// Demo staff: (e-mail, name, role, legal entity index).
pub const DEMO_STAFF: [(&str, &str, &str, usize); 6] = [
    ("admin@demo.ru", "Анна Администратова", "Администратор", 0),
    ("dispatcher@demo.ru", "Дмитрий Диспетчеров", "Диспетчер", 0),
    ("master@demo.ru", "Сергей Мастеров", "Исполнитель", 1),
    ("cleaner@demo.ru", "Ольга Чистякова", "Исполнитель", 2),
    ("viewer@demo.ru", "Виктор Смотрящий", "Наблюдатель", 0),
    ("accountant@demo.ru", "Бэлла Бухгалтерова", "Бухгалтер", 0),
];

/// Demo residents: (phone, full name, premises addresses).
pub const DEMO_RESIDENTS: [(&str, &str, &[&str]); 10] = [
    (
        "+79000000001",
        "Иванов Иван Петрович",
        &["ул. Ленина, д. 10, кв. 15", "ул. Ленина, д. 10, кладовая 3"],
    ),
    (
        "+79000000002",
        "Семёнова Мария Алексеевна",
        &["ул. Ленина, д. 10, кв. 42"],
    ),
    (
        "+79000000003",
        "Петров Алексей Сергеевич",
        &["пр. Мира, д. 5, кв. 7"],
    ),
    (
        "+79000000004",
        "Кузнецова Елена Викторовна",
        &["пр. Мира, д. 5, кв. 18", "пр. Мира, д. 5, офис 2"],
    ),
    (
        "+79000000005",
        "Смирнов Олег Николаевич",
        &["ул. Гагарина, д. 3, кв. 101"],
    ),
    (
        "+79000000006",
        "Волкова Анастасия Игоревна",
        &["ул. Гагарина, д. 3, кв. 56"],
    ),
    (
        "+79000000007",
        "Фёдоров Павел Андреевич",
        &["ул. Садовая, д. 21, кв. 9"],
    ),
    (
        "+79000000008",
        "Морозова Татьяна Юрьевна",
        &["ул. Садовая, д. 21, кв. 33", "ул. Садовая, д. 21, кв. 34"],
    ),
    (
        "+79000000009",
        "Ершов Константин Львович",
        &["наб. Речная, д. 1, кв. 12"],
    ),
    (
        "+79000000010",
        "Лебедева Ольга Дмитриевна",
        &["наб. Речная, д. 1, кв. 77"],
    ),
];

fn field(key: &str, label: &str, kind: FieldKind, required: bool, choices: &[&str]) -> FormField {
    FormField {
        key: key.into(),
        label: label.into(),
        kind,
        required,
        choices: choices.iter().map(|c| (*c).to_owned()).collect(),
        min: None,
        max: None,
        max_length: None,
    }
}

struct DemoService {
    category: usize,
    entity: usize,
    name: &'static str,
    short: &'static str,
    assignee: &'static str,
    prepaid: bool,
    preorder_chat: bool,
    require_attachment: bool,
    form: Vec<FormField>,
}

fn services() -> Vec<DemoService> {
    use FieldKind::*;
    let visit = || field("visit", "Дата и время визита", DateTime, true, &[]);
    vec![
        DemoService {
            category: 0,
            entity: 1,
            name: "Замена смесителя",
            short: "Демонтаж старого и установка нового смесителя",
            assignee: "master@demo.ru",
            prepaid: false,
            preorder_chat: true,
            require_attachment: true,
            form: vec![
                field("model", "Модель смесителя", Text, false, &[]),
                field(
                    "room",
                    "Помещение",
                    Choice,
                    true,
                    &["Кухня", "Ванная", "Туалет"],
                ),
                visit(),
            ],
        },
        DemoService {
            category: 0,
            entity: 1,
            name: "Устранение засора",
            short: "Прочистка канализации и сифонов",
            assignee: "master@demo.ru",
            prepaid: false,
            preorder_chat: false,
            require_attachment: false,
            form: vec![
                field(
                    "where",
                    "Где засор",
                    Choice,
                    true,
                    &["Раковина", "Ванна", "Унитаз"],
                ),
                field("photo", "Фото", Photo, false, &[]),
                visit(),
            ],
        },
        DemoService {
            category: 0,
            entity: 1,
            name: "Установка счётчиков воды",
            short: "Монтаж и опломбировка приборов учёта",
            assignee: "master@demo.ru",
            prepaid: true,
            preorder_chat: false,
            require_attachment: true,
            form: vec![
                field("count", "Количество счётчиков", Number, true, &[]),
                visit(),
            ],
        },
        DemoService {
            category: 1,
            entity: 0,
            name: "Замена розетки",
            short: "Замена розеток и выключателей",
            assignee: "dispatcher@demo.ru",
            prepaid: false,
            preorder_chat: false,
            require_attachment: false,
            form: vec![
                field("count", "Количество розеток", Number, true, &[]),
                visit(),
            ],
        },
        DemoService {
            category: 1,
            entity: 0,
            name: "Установка люстры",
            short: "Сборка и подключение светильника",
            assignee: "dispatcher@demo.ru",
            prepaid: false,
            preorder_chat: false,
            require_attachment: false,
            form: vec![
                field("weight", "Вес люстры, кг", Number, false, &[]),
                field("hook", "Есть крюк в потолке", Checkbox, false, &[]),
                visit(),
            ],
        },
        DemoService {
            category: 2,
            entity: 2,
            name: "Генеральная уборка",
            short: "Уборка квартиры целиком, включая окна",
            assignee: "cleaner@demo.ru",
            prepaid: true,
            preorder_chat: false,
            require_attachment: false,
            form: vec![
                field("area", "Площадь, м²", Number, true, &[]),
                field(
                    "extras",
                    "Дополнительно",
                    MultiChoice,
                    false,
                    &["Окна", "Балкон", "Духовка"],
                ),
                visit(),
            ],
        },
        DemoService {
            category: 2,
            entity: 2,
            name: "Уборка после ремонта",
            short: "Вывоз строительной пыли и мытьё поверхностей",
            assignee: "cleaner@demo.ru",
            prepaid: false,
            preorder_chat: true,
            require_attachment: false,
            form: vec![
                field("area", "Площадь, м²", Number, true, &[]),
                field("comment", "Комментарий", Multiline, false, &[]),
                visit(),
            ],
        },
        DemoService {
            category: 2,
            entity: 2,
            name: "Мойка окон",
            short: "Мойка окон с двух сторон",
            assignee: "cleaner@demo.ru",
            prepaid: false,
            preorder_chat: false,
            require_attachment: false,
            form: vec![
                field("windows", "Количество окон", Number, true, &[]),
                visit(),
            ],
        },
        DemoService {
            category: 3,
            entity: 0,
            name: "Замена замка",
            short: "Замена личинки или замка целиком",
            assignee: "dispatcher@demo.ru",
            prepaid: false,
            preorder_chat: false,
            require_attachment: true,
            form: vec![
                field(
                    "door",
                    "Тип двери",
                    Choice,
                    true,
                    &["Металлическая", "Деревянная"],
                ),
                field("lock", "Модель замка", Text, false, &[]),
                visit(),
            ],
        },
        DemoService {
            category: 3,
            entity: 0,
            name: "Изготовление ключа от домофона",
            short: "Магнитный ключ для подъезда",
            assignee: "dispatcher@demo.ru",
            prepaid: true,
            preorder_chat: false,
            require_attachment: false,
            form: vec![field("count", "Количество ключей", Number, true, &[])],
        },
    ]
}

/// Seeds the demo data once; later calls change nothing.
pub async fn seed(pool: &SqlitePool) -> AppResult<()> {
    let seeded: Option<(String,)> =
        sqlx::query_as("select meta_value from app_meta where meta_key = 'demo_seeded'")
            .fetch_optional(pool)
            .await?;
    if seeded.is_some() {
        return Ok(());
    }
    let mut hashes = Vec::with_capacity(DEMO_STAFF.len());
    for _ in DEMO_STAFF {
        hashes.push(hash_password(DEMO_PASSWORD.to_owned()).await?);
    }
    let now = crate::time::now();
    let mut tx = pool.begin().await?;

    let entities = [
        ("ООО «УК Комфорт»", "management", "7701234567"),
        ("ООО «СантехСервис»", "partner", "7707654321"),
        ("ООО «ЧистоДом»", "partner", "7712345678"),
    ];
    let mut entity_ids = Vec::new();
    for (name, kind, inn) in entities {
        let id: i64 = sqlx::query_scalar("insert into legal_entities (name, kind, inn) values (?, ?, ?) returning legal_entity_id")
            .bind(name)
            .bind(kind)
            .bind(inn)
            .fetch_one(&mut *tx)
            .await?;
        entity_ids.push(id);
    }

    let price_lists: [&[(&str, &str, i64)]; 3] = [
        &[
            ("Замена розетки", "шт.", 80000),
            ("Установка люстры", "шт.", 250000),
            ("Замена замка", "шт.", 350000),
            ("Ключ от домофона", "шт.", 40000),
            ("Выезд электрика", "выезд", 50000),
        ],
        &[
            ("Замена смесителя", "шт.", 150000),
            ("Прочистка засора", "шт.", 120000),
            ("Установка счётчика воды", "шт.", 180000),
            ("Выезд сантехника", "выезд", 50000),
            ("Гибкая подводка", "шт.", 45000),
        ],
        &[
            ("Генеральная уборка", "м²", 25000),
            ("Уборка после ремонта", "м²", 35000),
            ("Мойка окна", "шт.", 60000),
            ("Мойка духовки", "шт.", 150000),
        ],
    ];
    for (entity, items) in entity_ids.iter().zip(price_lists) {
        for (name, unit, price) in items {
            sqlx::query("insert into price_items (legal_entity_id, name, unit, price_kopecks) values (?, ?, ?, ?)")
                .bind(entity)
                .bind(name)
                .bind(unit)
                .bind(price)
                .execute(&mut *tx)
                .await?;
        }
    }

    // name, scope, edit, chat, finance, admin
    let roles = [
        ("Администратор", "all", true, true, true, true),
        ("Диспетчер", "all", true, true, false, false),
        ("Исполнитель", "assigned", true, false, false, false),
        ("Наблюдатель", "all", false, false, false, false),
        ("Бухгалтер", "none", false, false, true, false),
    ];
    let mut role_ids = std::collections::HashMap::new();
    for (name, scope, edit, chat, finance, admin) in roles {
        let id: i64 = sqlx::query_scalar(
            "insert into roles (name, orders_scope, orders_edit, clients_chat, finance, admin) values (?, ?, ?, ?, ?, ?) returning role_id",
        )
        .bind(name)
        .bind(scope)
        .bind(edit)
        .bind(chat)
        .bind(finance)
        .bind(admin)
        .fetch_one(&mut *tx)
        .await?;
        role_ids.insert(name, id);
    }

    let mut staff_ids = std::collections::HashMap::new();
    for ((email, name, role, entity), hash) in DEMO_STAFF.iter().zip(hashes) {
        let role_id = role_ids
            .get(role)
            .ok_or_else(|| AppError::internal("demo role missing"))?;
        let id: i64 = sqlx::query_scalar(
            "insert into staff (email, full_name, password_hash, role_id, legal_entity_id, created_at) values (?, ?, ?, ?, ?, ?) returning staff_id",
        )
        .bind(email)
        .bind(name)
        .bind(hash)
        .bind(role_id)
        .bind(entity_ids[*entity])
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        staff_ids.insert(*email, id);
    }

    let categories = [
        ("Сантехника", "#dbeafe", "🚰"),
        ("Электрика", "#fef3c7", "💡"),
        ("Уборка", "#dcfce7", "🧹"),
        ("Двери и замки", "#fde2e2", "🔑"),
    ];
    let mut category_ids = Vec::new();
    for (pos, (name, bg, icon)) in categories.iter().enumerate() {
        let id: i64 = sqlx::query_scalar(
            "insert into categories (name, background, icon, position) values (?, ?, ?, ?) returning category_id",
        )
        .bind(name)
        .bind(bg)
        .bind(icon)
        .bind(pos as i64)
        .fetch_one(&mut *tx)
        .await?;
        category_ids.push(id);
    }

    let services = services();
    let mut service_rows = Vec::new();
    for s in &services {
        let form = serde_json::to_string(&s.form).map_err(AppError::internal)?;
        let assignee = staff_ids.get(s.assignee).copied();
        let id: i64 = sqlx::query_scalar(
            "insert into services (category_id, legal_entity_id, name, short_description, description, default_assignee_id, \
             prepaid, preorder_chat, require_attachment, sla_take_hours, sla_done_hours, form_fields) \
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, 4, 48, ?) returning service_id",
        )
        .bind(category_ids[s.category])
        .bind(entity_ids[s.entity])
        .bind(s.name)
        .bind(s.short)
        .bind(format!("{}. Работы выполняют сертифицированные специалисты.", s.short))
        .bind(assignee)
        .bind(s.prepaid)
        .bind(s.preorder_chat)
        .bind(s.require_attachment)
        .bind(form)
        .fetch_one(&mut *tx)
        .await?;
        service_rows.push((id, entity_ids[s.entity], assignee, s));
    }

    // Each service is priced by items of its provider's price list.
    let service_prices: [(&str, &[&str]); 10] = [
        (
            "Замена смесителя",
            &["Замена смесителя", "Гибкая подводка", "Выезд сантехника"],
        ),
        (
            "Устранение засора",
            &["Прочистка засора", "Выезд сантехника"],
        ),
        ("Установка счётчиков воды", &["Установка счётчика воды"]),
        ("Замена розетки", &["Замена розетки", "Выезд электрика"]),
        ("Установка люстры", &["Установка люстры", "Выезд электрика"]),
        ("Генеральная уборка", &["Генеральная уборка"]),
        ("Уборка после ремонта", &["Уборка после ремонта"]),
        ("Мойка окон", &["Мойка окна"]),
        ("Замена замка", &["Замена замка"]),
        ("Изготовление ключа от домофона", &["Ключ от домофона"]),
    ];
    for (service, items) in service_prices {
        for item in items {
            sqlx::query(
                "insert into service_prices (service_id, price_item_id) \
                 select s.service_id, pi.price_item_id from services s \
                 join price_items pi on pi.legal_entity_id = s.legal_entity_id \
                 where s.name = ? and pi.name = ?",
            )
            .bind(service)
            .bind(item)
            .execute(&mut *tx)
            .await?;
        }
    }

    let mut resident_premises = Vec::new();
    for (phone, name, addresses) in DEMO_RESIDENTS {
        let email = format!("resident{}@demo.ru", &phone[phone.len() - 2..]);
        let resident_id: i64 = sqlx::query_scalar(
            "insert into residents (phone, full_name, email, created_at) values (?, ?, ?, ?) returning resident_id",
        )
        .bind(phone)
        .bind(name)
        .bind(email)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for address in addresses {
            let premises_id: i64 = sqlx::query_scalar(
                "insert into premises (address) values (?) returning premises_id",
            )
            .bind(address)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("insert into resident_premises (resident_id, premises_id) values (?, ?)")
                .bind(resident_id)
                .bind(premises_id)
                .execute(&mut *tx)
                .await?;
            resident_premises.push((resident_id, premises_id));
        }
    }

    // About fifty orders over the last month, across all statuses.
    let dispatcher = staff_ids.get("dispatcher@demo.ru").copied();
    let mut seed_state: u64 = 0x5eed;
    let mut next = move |n: usize| {
        seed_state = seed_state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed_state >> 33) as usize) % n
    };
    for i in 0..50 {
        let (service_id, entity_id, assignee, service) = &service_rows[next(service_rows.len())];
        let (resident_id, premises_id) = resident_premises[next(resident_premises.len())];
        let status = [
            OrderStatus::Waiting,
            OrderStatus::InProgress,
            OrderStatus::Done,
            OrderStatus::Cancelled,
        ][i % 4];
        let created = now - (50 - i as i64) * 13 * 3600 - next(3600) as i64;
        let updated = if status == OrderStatus::Waiting {
            created
        } else {
            created + 2 * 3600
        };
        let answers: Vec<Answer> = service
            .form
            .iter()
            .map(|f| Answer {
                key: f.key.clone(),
                label: f.label.clone(),
                value: match f.kind {
                    FieldKind::Number => format!("{}", 1 + next(4)),
                    FieldKind::Choice => f.choices.first().cloned().unwrap_or_default(),
                    FieldKind::Checkbox => "Да".into(),
                    FieldKind::DateTime => crate::time::format_datetime(
                        created + 86_400,
                        crate::time::DEFAULT_UTC_OFFSET_MINUTES,
                    ),
                    _ => String::new(),
                },
            })
            .collect();
        let answers = serde_json::to_string(&answers).map_err(AppError::internal)?;
        let order_id: i64 = sqlx::query_scalar(
            "insert into orders (status, service_id, legal_entity_id, resident_id, premises_id, assignee_id, answers, visit_at, \
             created_at, updated_at, resident_changed_at, resident_seen_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning order_id",
        )
        .bind(status.as_db())
        .bind(service_id)
        .bind(entity_id)
        .bind(resident_id)
        .bind(premises_id)
        .bind(assignee)
        .bind(answers)
        .bind(created + 86_400)
        .bind(created)
        .bind(updated)
        .bind(updated)
        // Every third order has news the resident has not seen yet.
        .bind(if i % 3 == 0 { 0 } else { updated })
        .fetch_one(&mut *tx)
        .await?;
        crate::orders::repo::index_order(&mut tx, order_id).await?;
        sqlx::query(
            "insert into order_history (order_id, at, resident_id, kind, to_status, to_assignee_id, visible_to_resident) \
             values (?, ?, ?, 'created', 'waiting', ?, 1)",
        )
        .bind(order_id)
        .bind(created)
        .bind(resident_id)
        .bind(assignee)
        .execute(&mut *tx)
        .await?;
        if status != OrderStatus::Waiting {
            let comment = if status == OrderStatus::Cancelled {
                "Клиент отказался от услуги"
            } else {
                ""
            };
            sqlx::query(
                "insert into order_history (order_id, at, staff_id, kind, from_status, to_status, comment, visible_to_resident) \
                 values (?, ?, ?, 'status', 'waiting', ?, ?, 1)",
            )
            .bind(order_id)
            .bind(updated)
            .bind(assignee.or(dispatcher))
            .bind(status.as_db())
            .bind(comment)
            .execute(&mut *tx)
            .await?;
        }
    }

    sqlx::query("insert into app_meta (meta_key, meta_value) values ('demo_seeded', ?)")
        .bind(now.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!("demo data seeded");
    Ok(())
}
